r"""Minibatching: updates against gradient computations (chapter 16, book/minibatch.md).

One hidden layer of width 64 (784 -> 64 -> 10, ReLU, Glorot initialisation), trained by
minibatch SGD with B indices drawn with replacement per update and round(n / B) updates per
pass, for B in 1, 2, 4, 8, 16, each at its own $\eta^*_B / 2$
(:func:`nabla.lr_search.find_divergent_lr` with batch size B). The records carry ``steps``
(updates) and ``examples`` (= steps x B, the gradient computations), so the curves can be drawn
against either, and the summary gives the updates and passes each B needed to interpolate.

``full`` is the course material's setting: 10 % of FashionMNIST (6000 images), 50 passes, the
whole test set. ``budget`` trains on 2 % (1200 images) for 30 passes and tests on 2000 images.
"""

from __future__ import annotations

import time

import numpy as np

from nabla.experiments._results import Result
from nabla.experiments._settings import settings_for
from nabla.experiments.divergent_lr import sweep
from nabla.experiments.width import load

COMMON = {"dataset": "fashion_mnist", "init": "glorot", "width": 64, "search_start": 1e-4}

SCALES = {
    "full": {**COMMON, "batch_sizes": [1, 2, 4, 8, 16], "fraction": 0.10, "test_size": None, "epochs": 50, "search_epochs": 2, "seed": 0},
    "budget": {**COMMON, "batch_sizes": [1, 2, 4, 8, 16], "fraction": 0.02, "test_size": 2000, "epochs": 30, "search_epochs": 1, "seed": 0},
    "smoke": {**COMMON, "batch_sizes": [1, 4], "fraction": 0.004, "test_size": 200, "epochs": 2, "search_epochs": 1, "seed": 0},
}


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Train width 64 at $\eta^*_B/2$ for every batch size B; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per batch size and epoch, the keys of :data:`nabla.train.RECORD_KEYS`
    plus ``batch_size``, ``eta_star`` and ``lr``. ``summary``: per batch size (as a string key)
    ``eta_star``, ``lr``, ``trials``, ``interpolation`` (the epoch, or None) and
    ``interpolation_steps`` (the updates made by then).
    ``overrides``, ``split`` and ``root`` as in :func:`nabla.experiments.width.run`.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    records, summary = [], {}
    for B, search, _, lr, result in sweep(settings, split, [0.5], progress):
        records += [{"batch_size": B, "eta_star": search.eta_star, "lr": lr, **r} for r in result.records]
        epoch = result.interpolation
        summary[str(B)] = {
            "eta_star": search.eta_star,
            "lr": lr,
            "trials": search.trials,
            "interpolation": epoch,
            "interpolation_steps": None if epoch is None else result.records[epoch]["steps"],
        }
    return Result("minibatch", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# The scale's own seed and two more (``--seed K`` writes results/minibatch-full-seed=K.csv).
FULL_SEEDS = (0, 1, 2)


# ---- the chapter's tables and figures ------------------------------------------------------


def per_batch_size(summary, n):
    """A run's ``summary`` as a table, one row per batch size B: eta*_B, the learning rate, updates per pass
    (``n`` training images) and the passes, updates and gradient computations (updates x B) to interpolate."""
    import pandas as pd

    from nabla.train import updates_per_epoch

    rows = []
    for B in sorted(int(B) for B in summary):
        s, passes = summary[str(B)], summary[str(B)]["interpolation"]
        rows.append({"B": B, "eta*_B": s["eta_star"], "learning rate eta*_B / 2": s["lr"],
                     "updates per pass": updates_per_epoch(n, B, "replacement"), "passes to interpolate": passes,
                     "updates to interpolate": s["interpolation_steps"],
                     "gradient computations to interpolate": None if passes is None else s["interpolation_steps"] * B})
    return pd.DataFrame(rows).set_index("B")


PANELS = [("train_loss", "training loss"), ("train_accuracy", "training accuracy"), ("eval_accuracy", "test accuracy")]
AXES = [("steps", "updates (log scale)"), ("examples", "examples seen (thousands)")]


def curves(frame, title):
    """Training loss, training accuracy and test accuracy against updates (top) and examples (bottom), one line per B."""
    from nabla.plotting import white_figure

    fig, axes = white_figure(nrows=2, ncols=3, figsize=(13, 7.5))
    for row, (x, xlabel) in zip(axes, AXES):
        for ax, (column, ylabel) in zip(row, PANELS):
            for k, (B, run) in enumerate(frame.groupby("batch_size")):
                run = run[run["epoch"] >= 1] if x == "steps" else run  # log axis: no zero
                ax.plot(run[x] / (1 if x == "steps" else 1000), run[column], color=f"C{k}", label=f"$B = {B}$")
            ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log" if x == "steps" else "linear",
                   yscale="log" if column == "train_loss" else "linear")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(title="batch size")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def plot_counts(ax, tables, title):
    """Updates and gradient computations to interpolate against B on log-log axes, one line of each per table
    (``tables``: ``{label: per_batch_size table}``, e.g. one per seed), and the updates at B = 1 divided by B."""
    for k, (label, table) in enumerate(tables.items()):
        sizes = np.array(table.index)
        ax.loglog(sizes, table["updates to interpolate"], "o-", color="C0", alpha=0.8,
                  label="updates to interpolate" if k == 0 else None)
        ax.loglog(sizes, table["gradient computations to interpolate"], "s--", color="C1", alpha=0.8,
                  label="gradient computations to interpolate" if k == 0 else None)
    first = next(iter(tables.values()))
    sizes = np.array(first.index)
    ax.loglog(sizes, first["updates to interpolate"].iloc[0] / sizes, ":", color="grey", label="updates at $B = 1$, divided by $B$")
    ax.set_xticks(sizes, [str(B) for B in sizes])
    ax.set(xlabel="batch size $B$ (log scale)", ylabel="count (log scale)", title=title)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3, which="both")
