r"""The figures the chapters share, drawn with matplotlib only, on a white background.

The book has a dark mode; a figure with a transparent background would put black axes and
labels on a dark page. Every figure here therefore has a white figure *and* axes face colour.

* :func:`white_figure` is ``plt.subplots`` with a white face colour: every chapter's plots start there.
  Its figures are :class:`nabla._figure.ReadableFigure`: their text reads on the page's column.
* :func:`draw_graph` draws a computation graph from the engine itself (book/computation-graphs.md).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch, Patch

from nabla._figure import ReadableFigure
from nabla._graph_layout import columns_of, graph_nodes, node_size, order_within_columns
from nabla.engine import as_int

WHITE = "white"

# Pale fills under black text and arrows: leaves, computed tensors, op nodes.
LEAF_COLOUR = "#fff2cc"
TENSOR_COLOUR = "#dae8fc"
OP_COLOUR = "#f8cecc"
EDGE_COLOUR = "#333333"

FONT_SIZE = 10.0  # points, at the figure's natural size
COLUMN_GAP = 20.0  # points of arrow between one column of nodes and the next
ROW_GAP = 16.0  # points between two nodes of one column
LEGEND_HEIGHT = 30.0  # points kept free above the graph for the legend
MIN_WIDTH = 300.0  # points: the width of the legend
BAND_GAP = 24.0  # points between two bands of columns (draw_graph(..., rows=2))


def white_figure(**kwargs):
    """``plt.subplots(**kwargs)`` with a white figure and axes face colour: ``(fig, ax)``.

    Every figure in the book is made through this so that it stays legible in the site's
    dark mode. Keyword arguments are those of ``plt.subplots`` (``figsize``, ``nrows``, ...).
    """
    kwargs.setdefault("facecolor", WHITE)
    kwargs.setdefault("FigureClass", ReadableFigure)  # text raised to read on the page's column
    subplot_kw = dict(kwargs.pop("subplot_kw", None) or {})
    subplot_kw.setdefault("facecolor", WHITE)
    return plt.subplots(subplot_kw=subplot_kw, **kwargs)


# ---- draw_graph: drawing -----------------------------------------------------------------


def draw_graph(tensor, ax=None, rows=1):
    r"""Draw the computation graph that computed ``tensor``; return the matplotlib Figure.

    Tensors are boxes, labelled with their ``.name`` if set and with their shape otherwise
    (leaves, the tensors the reader made, in yellow; computed tensors in blue). Op nodes are
    ellipses labelled with the op's class name (``Add``, ``Broadcast``, ...). Arrows run
    input tensor → op node → output tensor, in columns from the leaves (left) to ``tensor``
    (right). The graph is read from the engine itself, through ``tensor.topological_order()``
    and each node's ``source.inputs``, so the picture is the graph ``backward()`` will walk.

    Every patch carries a ``gid``: ``"tensor"`` or ``"op"`` for nodes (their labels
    ``"tensor-label"`` and ``"op-label"``) and ``"edge"`` for arrows, so tests can count them.

    With ``ax=None`` a new white figure sized to the graph is made; otherwise the graph is
    drawn into ``ax`` (its text shrunk if ``ax`` is too small). In a notebook, assign the
    result (``fig = draw_graph(y)``) so that the figure is not displayed twice.

    ``rows`` > 1 cuts a long graph into that many bands of columns, stacked top to bottom and
    read like lines of text; an arrow that skips columns bends, so that it is not hidden behind
    the nodes it passes.

    Used in book/computation-graphs.md and book/batchnorm.md.
    """
    nodes, edges = graph_nodes(tensor)
    column, predecessors, successors = columns_of(nodes, edges)
    layers = order_within_columns(nodes, column, predecessors, successors)
    rows = as_int(rows, "draw_graph: rows")
    per_band = -(-len(layers) // rows)  # columns per band, rounded up
    bands = [layers[i:i + per_band] for i in range(0, len(layers), per_band)]

    # The layout, in points at FONT_SIZE: each column as wide as its widest node.
    font = FontProperties(size=FONT_SIZE)
    size = {key: node_size(kind, label, font) for key, (kind, label, _) in nodes.items()}

    def column_height(layer):
        return sum(size[k][1] for k in layer) + ROW_GAP * (len(layer) - 1) if layer else 0.0

    band_widths = [sum(max(size[k][0] for k in layer) for layer in band) + COLUMN_GAP * (len(band) - 1)
                   for band in bands]
    band_heights = [max(column_height(layer) for layer in band) for band in bands]
    graph_width = max(band_widths)
    total_width = max(graph_width, MIN_WIDTH)  # room for the legend above a small graph
    graph_height = sum(band_heights) + BAND_GAP * (len(bands) - 1)
    total_height = graph_height + LEGEND_HEIGHT

    centre = {}
    band_top = graph_height
    for band, band_width, band_height in zip(bands, band_widths, band_heights):
        x_left = (total_width - band_width) / 2
        for layer in band:
            width = max(size[k][0] for k in layer)
            y_top = band_top - band_height / 2 + column_height(layer) / 2
            for key in layer:
                h = size[key][1]
                centre[key] = (x_left + width / 2, y_top - h / 2)
                y_top -= h + ROW_GAP
            x_left += width + COLUMN_GAP
        band_top -= band_height + BAND_GAP

    margin = 8.0
    if ax is None:
        fig, ax = white_figure(figsize=((total_width + 2 * margin) / 72, (total_height + 2 * margin) / 72))
        ax.set_position([margin / (total_width + 2 * margin), margin / (total_height + 2 * margin),
                         total_width / (total_width + 2 * margin), total_height / (total_height + 2 * margin)])
        scale, x_span, y_span = 1.0, total_width, total_height
    else:
        fig = ax.figure
        ax_width, ax_height = ax.get_window_extent().size / fig.dpi * 72  # in points
        # One data unit is `scale` points both ways (at most 1: shrink to fit, never enlarge).
        scale = min(1.0, ax_width / total_width, ax_height / total_height)
        x_span, y_span = ax_width / scale, ax_height / scale
    fig.set_facecolor(WHITE)
    ax.set_facecolor(WHITE)
    ax.set_xlim((total_width - x_span) / 2, (total_width + x_span) / 2)
    ax.set_ylim((total_height - y_span) / 2, (total_height + y_span) / 2)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)

    patches = {}
    for key, (kind, label, _) in nodes.items():
        (x, y), (w, h) = centre[key], size[key]
        if kind == "op":
            patch = Ellipse((x, y), w, h, facecolor=OP_COLOUR, edgecolor=EDGE_COLOUR, linewidth=1, zorder=2)
        else:
            patch = FancyBboxPatch(
                (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=4",
                facecolor=LEAF_COLOUR if kind == "leaf" else TENSOR_COLOUR,
                edgecolor=EDGE_COLOUR, linewidth=1, zorder=2,
            )
        patch.set_gid("op" if kind == "op" else "tensor")
        ax.add_patch(patch)
        patches[key] = patch
        text = ax.text(x, y, label, ha="center", va="center", fontsize=FONT_SIZE * scale, zorder=3)
        text.set_gid("op-label" if kind == "op" else "tensor-label")

    seen = {}
    for a, b in edges:
        # The second use of one tensor by one op (a * a) bends away from the first.
        repeat = seen[(a, b)] = seen.get((a, b), -1) + 1
        bend = 0.0 if repeat == 0 else 0.35 * (-1) ** repeat * ((repeat + 1) // 2)
        skips = column[b] - column[a] > 2 and column[a] // per_band == column[b] // per_band
        if skips and repeat == 0 and abs(centre[a][1] - centre[b][1]) < 1:  # level: it would run behind nodes
            bend = -0.15  # bows upwards, over the nodes between
        arrow = FancyArrowPatch(
            centre[a], centre[b], patchA=patches[a], patchB=patches[b],
            arrowstyle="-|>", mutation_scale=12 * scale, shrinkA=0, shrinkB=1,
            connectionstyle=f"arc3,rad={bend}", color=EDGE_COLOUR, linewidth=1, zorder=1,
        )
        arrow.set_gid("edge")
        ax.add_patch(arrow)

    handles = [
        Patch(facecolor=LEAF_COLOUR, edgecolor=EDGE_COLOUR, label="leaf tensor"),
        Patch(facecolor=TENSOR_COLOUR, edgecolor=EDGE_COLOUR, label="computed tensor"),
        Patch(facecolor=OP_COLOUR, edgecolor=EDGE_COLOUR, label="op node"),
    ]
    ax.legend(handles=handles, loc="upper center", ncol=3, frameon=False, fontsize=9 * scale,
              handlelength=1.2, columnspacing=1.2, borderaxespad=0.2)
    return fig


# ---- the PyTorch experiments' figures (book/augmentation.md, book/pytorch-apis.md) -------


def image_grid(rows, row_labels=(), column_titles=(), title=None):
    """Grey-scale images in a grid on a white figure: ``rows[i][j]``, (H, W) in [0, 1], in row i, column j; ``(fig, axes)``."""
    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = white_figure(nrows=n_rows, ncols=n_cols, figsize=(1.1 * n_cols, 1.1 * n_rows + 0.3), squeeze=False)
    for ax, image in zip(axes.flat, (image for row in rows for image in row)):
        ax.imshow(np.asarray(image), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, label in zip(axes[:, 0], row_labels):
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    for ax, text in zip(axes[0], column_titles):
        ax.set_title(text, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def lines_by(ax, rows, x, y, by, styles=None, labels=None, **kwargs):
    """On ``ax``, one line of ``y`` against ``x`` per value of ``by``, from ``rows`` (dicts, e.g. an experiment's records).

    The values of ``by`` come in the order they first appear. ``styles`` maps a value to keyword
    arguments of ``ax.plot`` (colour, line style, marker), ``labels`` to its legend entry (the
    value itself by default); ``kwargs`` go to every line. Rows whose ``y`` is None or NaN are left
    out, so a measurement made only every few epochs is a line through the epochs that have it.
    The axes get a light grid.
    """
    groups = {}
    for row in rows:
        if row[y] is not None and not np.isnan(row[y]):
            groups.setdefault(row[by], []).append((row[x], row[y]))
    for value, points in groups.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, label=(labels or {}).get(value, value), **{**kwargs, **(styles or {}).get(value, {})})
    ax.grid(alpha=0.3)
    return ax


def points_by(ax, rows, x, y, colour, marker, label=None, markers="os^vD<>"):
    """On ``ax``, a point at (``x``, ``y``) for every row, its colour by the row's ``colour`` key and its marker by ``marker``.

    One legend entry per (colour, marker) pair, e.g. per learning rate and batch size, written by
    ``label(colour value, marker value)``; both keys' values are taken in sorted order. The axes
    get a light grid.
    """
    label = label or (lambda c, m: f"{colour} = {c:g}, {marker} = {m:g}")
    colours = {value: f"C{k}" for k, value in enumerate(sorted({row[colour] for row in rows}))}
    shapes = {value: markers[k] for k, value in enumerate(sorted({row[marker] for row in rows}))}
    for c in colours:
        for m in shapes:
            points = [(row[x], row[y]) for row in rows if row[colour] == c and row[marker] == m]
            if points:
                ax.plot(*zip(*points), shapes[m], color=colours[c], markersize=7, label=label(c, m))
    ax.grid(alpha=0.3)
    return ax


# ---- the nabla training chapters' figures (book/mlp.md to book/regularisation.md) ---------


def missing(ax, name):
    """Mark a panel whose results (``name``, e.g. ``"results/mlp-full.csv"``) are not in this copy of the book: a note where the axes would be."""
    ax.text(0.5, 0.5, f"{name} not found", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def log_axis(ax, axis="y"):
    """A log scale on ``axis`` labelled as plain numbers (0.05, not $5 \\times 10^{-2}$), minor ticks at 2 and 5 labelled too."""
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter

    def two_and_five(value, position):
        leading = value / 10 ** np.floor(np.log10(value))
        return f"{value:g}" if round(leading) in (2, 5) else ""

    getattr(ax, f"set_{axis}scale")("log")
    scale = getattr(ax, f"{axis}axis")
    scale.set_major_formatter(FormatStrFormatter("%g"))
    scale.set_minor_formatter(FuncFormatter(two_and_five))
    ax.tick_params(axis=axis, which="minor", labelsize=8)


def band(ax, frame, y, label, colour, x="epoch"):
    """The mean of column ``y`` over the rows of ``frame`` that share ``x`` (seeds, repeats) against ``x``, one standard deviation either side as a band."""
    by_x = frame.groupby(x)[y]
    mean, sd = by_x.mean(), by_x.std()
    ax.plot(mean.index, mean.values, "o-", markersize=3, color=colour, label=label)
    ax.fill_between(mean.index, mean - sd, mean + sd, color=colour, alpha=0.25, linewidth=0)


def band_grid(frames, key, groups, panels, title, legend="lower right"):
    """Mean $\\pm$ sd bands of some groups of runs: one row of panels per results frame, one panel per measured column.

    ``frames``: ``{row title: DataFrame, or None for results not in this copy}`` (e.g. the budget
    and the full run, the title naming its file); ``groups``: ``{value of column key: legend label}``, one colour each;
    ``panels``: ``[(column, axis label, options)]`` with options ``log`` (a log axis) and
    ``bottom`` (where the axis starts; ``"auto"``: a little below the lowest mean after epoch 1,
    so that epoch 0, at chance, lies below the axis). Returns ``(fig, axes)``.
    """
    fig, axes = white_figure(nrows=len(frames), ncols=len(panels), figsize=(5.5 * len(panels), 3.6 * len(frames)), squeeze=False)
    for row, (name, frame) in zip(axes, frames.items()):
        if frame is None:
            for ax in row:
                missing(ax, name)
            continue
        for ax, (column, label, options) in zip(row, panels):
            for k, (value, group) in enumerate(groups.items()):
                band(ax, frame[frame[key] == value], column, group, f"C{k}")
            if options.get("log"):
                log_axis(ax)
            bottom = options.get("bottom")
            if bottom == "auto":
                bottom = np.floor((min(frame[(frame[key] == v) & (frame["epoch"] == 1)][column].mean() for v in groups) - 0.01) * 20) / 20
            if bottom is not None:
                ax.set_ylim(bottom, 1.0)
            ax.set_title(name, fontsize=10)
            ax.set(xlabel="epoch", ylabel=label)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc=legend)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def budget_and_full(draw, budget, full, name, figsize=(11, 4.2), **kwargs):
    """Two panels: ``draw(ax, budget, title)`` for the budget run, then for the full run of experiment
    ``name`` (a note if ``full`` is None); ``(fig, axes)``. ``kwargs`` go to :func:`white_figure`."""
    fig, axes = white_figure(ncols=2, figsize=figsize, **kwargs)
    draw(axes[0], budget, "Budget run (this build)")
    if full is None:
        missing(axes[1], f"results/{name}-full.csv")
    else:
        draw(axes[1], full, f"Full run (results/{name}-full.csv)")
    fig.tight_layout()
    return fig, axes


def decision_regions(ax, score, u, v, X, y, names):
    """Points X (n, 2) coloured by label y (``names``: {label: legend name}) on the grid ``u`` x ``v`` of a plane, where
    ``score`` (points (m, 2) -> (m,)) is positive shaded orange, its zero line drawn black (book/gradient-descent.md)."""
    S = score(np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)).reshape(len(v), len(u))
    ax.contourf(u, v, S > 0, levels=[0.5, 1.5], colors=["C1"], alpha=0.2)
    if S.min() < 0 < S.max():
        ax.contour(u, v, S, levels=[0.0], colors="k", linewidths=1)
    for k, (label, name) in enumerate(names.items()):
        ax.scatter(X[y == label, 0], X[y == label, 1], s=6, color=f"C{k}", alpha=0.6, label=name)
