"""Tests of nabla.plotting: the drawn graph is the engine's graph, and figures are white."""

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch

import nabla as nb
from nabla.plotting import draw_graph, white_figure

WHITE = to_rgba("white")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def graph_of(tensor):
    """What the engine says the graph is: (tensors, op nodes, arrows), counted independently."""
    tensors = tensor.topological_order()
    op_nodes = {id(t.source): t.source for t in tensors if t.source is not None}
    arrows = sum(len(node.inputs) + len(node.outputs) for node in op_nodes.values())
    return tensors, list(op_nodes.values()), arrows


def drawn(fig, gid):
    ax = fig.axes[0]
    return [a for a in ax.patches + ax.texts if a.get_gid() == gid]


def broadcast_expression():
    rng = np.random.default_rng(0)
    X = nb.Tensor(rng.standard_normal((4, 3)), name="X")
    b = nb.Tensor(rng.standard_normal(3), name="b")
    return nb.mean((X + b) * X)


def diamond():
    a = nb.Tensor(np.array([1.0, 2.0]), name="a")
    return (a * 2) + (a * 3)


@pytest.mark.parametrize("make", [broadcast_expression, diamond])
def test_one_patch_per_tensor_op_and_arrow(make):
    y = make()
    tensors, op_nodes, arrows = graph_of(y)
    fig = draw_graph(y)
    assert len(drawn(fig, "tensor")) == len(tensors)
    assert len(drawn(fig, "op")) == len(op_nodes)
    assert len(drawn(fig, "edge")) == arrows
    assert all(isinstance(p, FancyBboxPatch) for p in drawn(fig, "tensor"))
    assert all(isinstance(p, Ellipse) for p in drawn(fig, "op"))
    assert all(isinstance(p, FancyArrowPatch) for p in drawn(fig, "edge"))


def test_labels_are_op_class_names_and_tensor_names_or_shapes():
    y = broadcast_expression()
    fig = draw_graph(y)
    op_labels = sorted(t.get_text() for t in drawn(fig, "op-label"))
    assert op_labels == sorted(t.source.op.__name__ for t in y.topological_order() if t.source is not None)
    assert "Broadcast" in op_labels and "Mean" in op_labels
    tensor_labels = [t.get_text() for t in drawn(fig, "tensor-label")]
    assert "X" in tensor_labels and "b" in tensor_labels
    assert "()" in tensor_labels  # the unnamed scalar output is labelled by its shape
    assert tensor_labels.count("(4, 3)") == 3  # b broadcast, X + b, (X + b) * X


def test_a_tensor_used_twice_by_one_op_gets_two_arrows():
    a = nb.Tensor(np.array([1.0, 2.0]), name="a")
    fig = draw_graph(a * a)
    arrows = drawn(fig, "edge")
    assert len(arrows) == 3  # a -> Multiply twice, Multiply -> output
    bends = [arrow.get_connectionstyle().rad for arrow in arrows]
    assert bends.count(0) == 2  # the first use of a, and the output
    assert len(set(bends)) == 2  # the second use is curved, so both arrows are visible


def test_every_arrow_points_right_from_leaves_to_output():
    y = broadcast_expression()
    fig = draw_graph(y)
    # matplotlib has no public getter for an arrow's end points; _posA_posB is where it keeps them.
    ends = [arrow._posA_posB for arrow in drawn(fig, "edge")]
    assert all(start[0] < end[0] for start, end in ends)
    x_of = {t.get_text(): t.get_position()[0] for t in drawn(fig, "tensor-label")}
    all_x = [t.get_position()[0] for t in drawn(fig, "tensor-label") + drawn(fig, "op-label")]
    assert x_of["b"] == min(all_x)  # b is the deepest leaf: b -> Broadcast -> Add -> Multiply -> Mean
    assert x_of["()"] == max(all_x)  # the output is the rightmost node


def test_figure_and_axes_are_white_with_no_ticks():
    fig = draw_graph(diamond())
    ax = fig.axes[0]
    assert to_rgba(fig.get_facecolor()) == WHITE
    assert to_rgba(ax.get_facecolor()) == WHITE
    assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    fig.savefig(io.BytesIO(), format="png")  # it renders


def test_draws_into_a_given_axes():
    fig, ax = white_figure(figsize=(3, 2))
    assert draw_graph(diamond(), ax=ax) is fig
    assert len(drawn(fig, "op")) == 5  # two Broadcasts of the constants, two Multiplies, one Add
    fig.savefig(io.BytesIO(), format="png")


def centred_chain():
    """X feeds Mean and Subtract: one arrow skips the columns of Mean, mu and Broadcast."""
    X = nb.Tensor(np.arange(6.0).reshape(3, 2), name="X")
    Z = X - nb.mean(X, axis=0)
    return nb.mean((Z * Z + 1.0) ** 0.5)


def test_rows_cut_a_long_graph_into_bands_and_keep_every_node_and_arrow():
    y = centred_chain()
    tensors, op_nodes, arrows = graph_of(y)
    one, two = draw_graph(y), draw_graph(y, rows=2)
    assert len(drawn(two, "tensor")) == len(tensors) and len(drawn(two, "op")) == len(op_nodes)
    assert len(drawn(two, "edge")) == arrows
    (w1, h1), (w2, h2) = one.get_size_inches(), two.get_size_inches()
    assert w2 < 0.7 * w1 and h2 > h1  # narrower and taller
    y_of = {t.get_text(): t.get_position()[1] for t in drawn(two, "tensor-label")}
    assert y_of["X"] > y_of["()"]  # the first band is above the second: the leaf on top, the output below
    two.savefig(io.BytesIO(), format="png")


def test_an_arrow_that_skips_columns_on_one_level_bends():
    fig = draw_graph(centred_chain())
    ends_and_bends = [(arrow._posA_posB, arrow.get_connectionstyle().rad) for arrow in drawn(fig, "edge")]
    long = [rad for (start, end), rad in ends_and_bends if end[0] - start[0] > 150 and abs(end[1] - start[1]) < 1]
    assert long and all(rad != 0 for rad in long)  # X -> Subtract would otherwise run behind Mean and Broadcast


@pytest.mark.parametrize("rows, error", [(0, ValueError), (2.5, ValueError), ("2", TypeError)])
def test_rows_must_be_a_positive_int(rows, error):
    with pytest.raises(error, match="draw_graph: rows"):
        draw_graph(centred_chain(), rows=rows)


def test_a_leaf_alone_is_one_box():
    fig = draw_graph(nb.Tensor(np.zeros((2, 2))))
    assert [t.get_text() for t in drawn(fig, "tensor-label")] == ["(2, 2)"]
    assert drawn(fig, "op") == [] and drawn(fig, "edge") == []


def test_white_figure_is_white_and_passes_arguments_on():
    fig, axes = white_figure(nrows=1, ncols=2, figsize=(4, 2))
    assert to_rgba(fig.get_facecolor()) == WHITE
    assert len(axes) == 2 and all(to_rgba(ax.get_facecolor()) == WHITE for ax in axes)
    assert tuple(fig.get_size_inches()) == (4, 2)


# ---- the training chapters' figures ---------------------------------------------------------


def seeded_runs():
    """Two groups of three seeds' runs, four epochs each, as a DataFrame of records."""
    import pandas as pd

    rows = [{"variant": v, "seed": s, "epoch": e, "eval_accuracy": 0.1 + 0.2 * e + 0.01 * s + (v == "b") * 0.05,
             "train_loss": 2.0 / (1 + e) * (1 + 0.1 * s)} for v in ("a", "b") for s in range(3) for e in range(4)]
    return pd.DataFrame(rows)


def test_band_draws_the_mean_over_seeds_and_one_sd_either_side():
    from nabla.plotting import band

    frame = seeded_runs()
    fig, ax = white_figure()
    band(ax, frame[frame["variant"] == "a"], "eval_accuracy", "a", "C0")
    (line,) = ax.get_lines()
    expected = frame[frame["variant"] == "a"].groupby("epoch")["eval_accuracy"]
    assert np.allclose(line.get_ydata(), expected.mean()) and line.get_label() == "a"
    (fill,) = ax.collections
    top = fill.get_paths()[0].vertices[:, 1].max()
    assert np.isclose(top, (expected.mean() + expected.std()).max())


def test_band_grid_draws_a_row_per_frame_and_notes_a_missing_one():
    from nabla.plotting import band_grid

    frame = seeded_runs()
    panels = [("eval_accuracy", "accuracy", {"bottom": "auto"}), ("train_loss", "loss", {"log": True})]
    fig, axes = band_grid({"budget": frame, "full (results/x-full.csv)": None}, "variant", {"a": "A", "b": "B"}, panels, "title")
    assert axes.shape == (2, 2) and to_rgba(fig.get_facecolor()) == WHITE
    assert [line.get_label() for line in axes[0, 0].get_lines()] == ["A", "B"]
    assert axes[0, 1].get_yscale() == "log" and axes[0, 0].get_ylim()[0] == pytest.approx(0.3)
    assert not axes[1, 0].axison and "full (results/x-full.csv) not found" in axes[1, 0].texts[0].get_text()
    assert [label.get_text() for label in axes[0, 0].get_legend().get_texts()] == ["A", "B"]


def test_budget_and_full_draws_both_or_notes_the_missing_one():
    from nabla.plotting import budget_and_full

    drawn = []
    fig, axes = budget_and_full(lambda ax, data, title: drawn.append((data, title)), "b", "f", "width")
    assert drawn == [("b", "Budget run (this build)"), ("f", "Full run (results/width-full.csv)")]
    fig, axes = budget_and_full(lambda ax, data, title: drawn.append((data, title)), "b", None, "width")
    assert len(drawn) == 3 and "results/width-full.csv not found" in axes[1].texts[0].get_text()


def test_log_axis_labels_plain_numbers():
    from nabla.plotting import log_axis

    fig, ax = white_figure()
    ax.plot([0.05, 0.5, 5], [0.05, 0.5, 5])
    log_axis(ax)
    fig.canvas.draw()
    assert ax.get_yscale() == "log"
    labels = {t.get_text() for t in ax.get_yticklabels(minor=True)} | {t.get_text() for t in ax.get_yticklabels()}
    assert {"0.1", "1", "0.2", "0.5"} <= labels
