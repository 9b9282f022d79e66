"""nabla._figure: every figure's text reads at MIN_TEXT_PX pixels or more on the book's column."""

import io

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib.text import Text  # noqa: E402

from nabla._figure import COLUMN_PX, MIN_TEXT_PX, ReadableFigure, minimum_points  # noqa: E402
from nabla.plotting import draw_graph, white_figure  # noqa: E402


def rendered(fig):
    """The figure as the page gets it (the notebook's inline backend saves with a tight bounding box)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    return buffer.getvalue()


def pixels_on_the_column(fig, points, dpi=100):
    """How tall text of ``points`` reads at the figure's natural size, shrunk to the column if wider."""
    natural_px = fig.get_figwidth() * dpi
    return points * dpi / 72 * min(1.0, COLUMN_PX / natural_px)


@pytest.mark.parametrize("figsize", [(6, 4), (11, 4.2), (16, 7.5)])
def test_every_label_title_tick_and_legend_reads_at_the_minimum(figsize):
    fig, axes = white_figure(ncols=2, figsize=figsize, dpi=100)
    assert isinstance(fig, ReadableFigure)
    for ax in axes:
        ax.plot([1, 2, 3], [3, 1, 2], label="a run")
        ax.set(xlabel="passes", ylabel="loss", yscale="log")
        ax.set_title("seed 0", fontsize=7)
        ax.text(2, 2, "a note on the data", fontsize=6)
    axes[0].legend(fontsize=6, title="runs")
    fig.suptitle("a title", fontsize=8)
    fig.tight_layout()
    rendered(fig)
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    ticks = [t for ax in axes for t in ax.get_xticklabels(which="both") + ax.get_yticklabels(which="both") if t.get_text()]
    assert ticks and texts
    for text in texts + ticks:
        assert pixels_on_the_column(fig, text.get_fontsize()) >= MIN_TEXT_PX - 1e-6, (text.get_text(), text.get_fontsize())
    matplotlib.pyplot.close(fig)


def test_a_figure_that_fits_the_column_keeps_its_sizes():
    fig, ax = white_figure(figsize=(5, 3), dpi=100)
    ax.set_title("small", fontsize=8)
    rendered(fig)
    assert ax.title.get_fontsize() == 8  # 5 inches is narrower than the column: 8 points read at 11 px
    matplotlib.pyplot.close(fig)


def test_a_drawn_graph_keeps_the_sizes_its_boxes_were_drawn_for():
    import numpy as np

    import nabla as nb

    X = nb.Tensor(np.ones((2, 3)), name="X")
    fig = draw_graph(nb.sum(X * X))
    labels = [(t.get_text(), t.get_fontsize()) for ax in fig.axes for t in ax.texts]
    rendered(fig)
    assert labels and [(t.get_text(), t.get_fontsize()) for ax in fig.axes for t in ax.texts] == labels
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("width", [0, -1.0, float("nan")])
def test_a_width_that_is_not_positive_is_refused(width):
    with pytest.raises(ValueError, match="must be positive"):
        minimum_points(width)
    with pytest.raises(ValueError, match="must be positive"):
        minimum_points(5.0, dpi=width)


def test_saving_with_a_tight_bounding_box_lays_out_once_and_warns_nothing(recwarn):
    # The second draw of a tight save crops the figure and pins the Axes: raising again there
    # made tight_layout warn that the Axes were "not compatible" (a chapter's build failed on it).
    fig, axes = white_figure(ncols=3, figsize=(14, 4), dpi=100)
    for ax in axes:
        ax.semilogy([0, 1, 2], [3, 1, 2], label="a run")
        ax.legend(fontsize=8)
    fig.tight_layout()
    rendered(fig)
    rendered(fig)
    assert [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)] == []
    matplotlib.pyplot.close(fig)
