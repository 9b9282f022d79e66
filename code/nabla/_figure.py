r"""Figures whose text can be read where the book shows them.

The site shows a figure at its natural size, ``dpi`` pixels an inch, but at most as wide as its
text column, :data:`COLUMN_PX` pixels on a desktop screen; a wider figure is shrunk to fit, and
its text with it. A label of $s$ points on a figure $W$ inches wide therefore reads at
$s \cdot \min(\text{dpi}, \text{COLUMN\_PX} / W) / 72$ pixels: a 10-point legend on a 16-inch
figure at 6.6 px, an 8-point one on a narrow figure at 11 px. :class:`ReadableFigure`
raises every label, title, tick label and legend entry to :func:`minimum_points` of its width
when it is drawn, and lays the figure out again if it was laid out by ``tight_layout``.

Text placed with ``ax.text`` on axes drawn without a frame (the nodes of a computation graph,
sized against the boxes around them) is left as drawn.
:func:`nabla.plotting.white_figure` makes every figure of the book a :class:`ReadableFigure`.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text

COLUMN_PX = 757  # the text column of a chapter at a 1366 px wide window (tests/test_site_browser.py measures it)
MIN_TEXT_PX = 10  # the smallest text a reader should have to read on that column


def minimum_points(width_inches, dpi=100):
    """The font size, in points, that reads at MIN_TEXT_PX pixels on a figure this wide, as the column shows it."""
    if not width_inches > 0 or not dpi > 0:
        raise ValueError(f"minimum_points: a figure's width and dpi must be positive, got {width_inches!r} inches at {dpi!r} dpi")
    return MIN_TEXT_PX * 72 / min(dpi, COLUMN_PX / width_inches)


def page_texts(figure):
    """Every non-empty text of a figure but those placed on frameless axes (a drawn graph's node labels)."""
    placed = {id(text) for ax in figure.axes if not ax.axison for text in ax.texts}
    return [text for text in figure.findobj(Text) if id(text) not in placed and text.get_text()]


class ReadableFigure(Figure):
    """A matplotlib ``Figure`` that raises its small text to :func:`minimum_points` of its width when drawn."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tight_layout = None  # the keyword arguments of the last tight_layout call, if any

    def tight_layout(self, **kwargs):
        self._tight_layout = kwargs
        super().tight_layout(**kwargs)

    def raise_small_text(self):
        """Raise every text of :func:`page_texts` below the minimum to it; whether any was raised."""
        minimum = minimum_points(self.get_figwidth(), self.dpi)
        small = [text for text in page_texts(self) if text.get_fontsize() < minimum - 1e-9]
        for text in small:
            text.set_fontsize(minimum)
        for ax in self.axes:  # ticks made at draw time copy these settings, not the texts above
            for axis, which in [(a, w) for a in ("x", "y") for w in ("major", "minor")]:
                ticks = getattr(ax, f"{axis}axis").get_major_ticks() if which == "major" else getattr(ax, f"{axis}axis").get_minor_ticks()
                if ticks and ticks[0].label1.get_fontsize() < minimum - 1e-9:
                    ax.tick_params(axis=axis, which=which, labelsize=minimum)
                    small.append(ticks[0].label1)
        return bool(small)

    def draw(self, renderer):
        # Saving with a tight bounding box draws twice and, the second time, crops the figure
        # (so its width changes) and pins every Axes where it is: raise and lay out only before that.
        pinned = any(ax.get_axes_locator() is not None for ax in self.axes)
        if not pinned and self.raise_small_text() and self._tight_layout is not None:
            super().tight_layout(**self._tight_layout)
        super().draw(renderer)
