"""nabla.experiments.divergent_lr (chapter 14, book/divergent-lr.md): the tables and figures the chapter shows."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nabla import lr_search  # noqa: E402
from nabla.experiments import divergent_lr  # noqa: E402
from nabla.plotting import white_figure  # noqa: E402


def quadratic_search(a):
    """The search on f(x) = a x^2 / 2 after 5 steps of gradient descent, and the losses it compared."""
    losses = {}

    def diverges(lr):
        losses[lr] = (a / 2, a * (1 - lr * a) ** 10 / 2)
        return lr_search.diverged(*losses[lr])

    return lr_search.find_divergent_lr(diverges), losses


def test_trials_table_splits_the_search_into_its_two_phases():
    search, losses = quadratic_search(3.0)  # 2 / a = 0.667: powers of ten up to 1, then doublings of 0.1
    table = divergent_lr.trials_table(search, losses)
    assert table["learning rate"].tolist() == [lr for lr, _ in search.trials] == [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 0.2, 0.4, 0.8]
    assert table["phase"].tolist() == ["powers of 10"] * 5 + ["powers of 2"] * 3
    assert table["diverges"].tolist() == [bad for _, bad in search.trials]
    assert table["loss after one pass"].tolist() == [losses[lr][1] for lr, _ in search.trials]


def test_eta_table_gives_each_batch_size_its_ratio_to_the_smallest():
    searches = {B: quadratic_search(a)[0] for B, a in [(1, 100.0), (4, 30.0), (16, 3.0)]}
    table = divergent_lr.eta_table(searches)
    assert table.index.tolist() == [1, 4, 16]
    assert table["eta*_B"].tolist() == [searches[B].eta_star for B in (1, 4, 16)]
    assert table["eta*_B / eta*_1"].tolist() == pytest.approx([1.0, searches[4].eta_star / searches[1].eta_star, searches[16].eta_star / searches[1].eta_star])
    assert table.loc[1, "trials"].endswith("!")  # the last trial of a search diverged


def test_plot_factors_says_where_a_diverged_curve_went():
    rows = [{"batch_size": B, "factor": factor, "lr": factor * 0.1, "epoch": epoch, "train_loss": loss}
            for B in (1, 16) for factor, losses in [(0.5, [2.3, 1.0, 0.5]), (1.0, [2.3, 2.0, 3.0]), (2.0, [2.3, 1e40, np.nan])]
            for epoch, loss in enumerate(losses)]
    fig, axes = white_figure(ncols=2)
    divergent_lr.plot_factors(axes, pd.DataFrame(rows), "test")
    labels = [text.get_text() for text in axes[0].get_legend().get_texts()]
    assert labels[0] == "$\\eta^*/2 = 0.05$" and labels[2] == "$2\\eta^* = 0.2$, NaN from pass 2"
    assert axes[1].get_title() == "test, $B = 16$"


def test_plot_eta_star_draws_the_budget_run_and_each_full_run():
    fig, ax = white_figure()
    divergent_lr.plot_eta_star(ax, {1: 0.02, 4: 0.04, 16: 0.2}, {"full, width 64": {1: 0.01, 16: 0.2}, "full, width 16": {1: 0.01, 16: 0.2}})
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "full, width 64" in labels and "full, width 16" in labels and "proportional to $B$" in labels
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["1", "4", "16"]
