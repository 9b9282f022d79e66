r"""Width and interpolation (chapter 15, book/width.md).

One hidden layer of width H (784 -> H -> 10, ReLU), weights $10^{-6} z$ with $z \sim N(0, 1)$
and biases 0 (``nn.init`` scheme ``"tiny"``), trained by per-example SGD (B = 1, passes of n
draws with replacement, the fused step) at $\eta^*/2$, where $\eta^*$ is the divergent learning
rate of width 16 (:func:`nabla.lr_search.search_eta_star`). For each width: the four curves
(training and test loss and accuracy after every pass) and the interpolation epoch, the first
pass with 100 % training accuracy.

``full`` is the course material's setting: widths 8, 16, 32, 128, 512 on 12 % of FashionMNIST
(7200 images), 120 passes, the whole test set. ``budget`` keeps the widths but trains on 2 %
(1200 images) for 40 passes and tests on 2000 images, so the story (wider interpolates sooner)
shows in under a minute.
"""

from __future__ import annotations

import time
from functools import partial

import pandas as pd

from nabla import data, lr_search
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, seeded_mlp, settings_for
from nabla.fastpath import FusedSGD
from nabla.train import fit

COMMON = {"dataset": "fashion_mnist", "init": "tiny", "batch_size": 1, "search_width": 16, "search_start": 1e-4}

SCALES = {
    "full": {**COMMON, "widths": [8, 16, 32, 128, 512], "fraction": 0.12, "test_size": None, "epochs": 120, "search_epochs": 2, "seed": 0},
    "budget": {**COMMON, "widths": [8, 16, 32, 128, 512], "fraction": 0.02, "test_size": 2000, "epochs": 40, "search_epochs": 1, "seed": 0},
    "smoke": {**COMMON, "widths": [8, 32], "fraction": 0.004, "test_size": 200, "epochs": 2, "search_epochs": 1, "seed": 0},
}


def load(settings, root=None):
    """The split: a seeded ``fraction`` of FashionMNIST to train on, standardised per pixel; a seeded ``test_size`` of its test set."""
    return data.split(settings["dataset"], settings["fraction"], settings["seed"], test_size=settings["test_size"], root=root)


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Train every width at $\eta^*/2$ of width 16; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per width and epoch (pass), the keys of :data:`nabla.train.RECORD_KEYS`
    plus ``width`` and ``lr``. ``summary``: ``eta_star``, ``lr`` (= eta_star / 2), the search's
    ``trials`` [(lr, diverged), ...] and ``interpolation`` {width: epoch or None}.
    ``overrides`` replace settings (e.g. ``epochs=5``); ``split`` (a :class:`nabla.data.Split`)
    skips loading FashionMNIST; ``root`` is the data root.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    D, seed = split.X_train.shape[1], settings["seed"]
    search = lr_search.search_eta_star(
        partial(seeded_mlp, [D, settings["search_width"], CLASSES], settings["init"], seed), split,
        settings["batch_size"], settings["search_epochs"], seed, settings["search_start"],
    )
    lr = search.eta_star / 2
    records, interpolation = [], {}
    for width in settings["widths"]:
        model = seeded_mlp([D, width, CLASSES], settings["init"], seed)
        result = fit(model, FusedSGD(lr), split, epochs=settings["epochs"], batch_size=settings["batch_size"],
                     sampling="replacement", seed=seed, progress=progress, description=f"width {width}")
        records += [{"width": width, "lr": lr, **record} for record in result.records]
        interpolation[str(width)] = result.interpolation
    summary = {"eta_star": search.eta_star, "lr": lr, "trials": search.trials, "interpolation": interpolation}
    return Result("width", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# The scale's own seed and two more: the full run is made for each (``--seed K`` writes
# results/width-full-seed=K.csv), so that a claim about it can be checked against chance.
FULL_SEEDS = (0, 1, 2)


# ---- the chapter's figures and tables ------------------------------------------------------

METRICS = [("train_loss", "training loss"), ("eval_loss", "test loss"),
           ("train_accuracy", "training accuracy"), ("eval_accuracy", "test accuracy")]


def four_curves(frame, title):
    """Training and test loss and accuracy against passes, one line per width (a run's ``frame``); ``(fig, axes)``."""
    from nabla.plotting import log_axis, white_figure

    fig, axes = white_figure(nrows=2, ncols=2, figsize=(11, 7.5), sharex=True)
    for ax, (column, label) in zip(axes.flat, METRICS):
        for k, (width, run) in enumerate(frame.groupby("width")):
            ax.plot(run["epoch"], run[column], color=f"C{k}", label=f"$H = {width}$")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    log_axis(axes[0, 0])  # the training loss falls over orders of magnitude
    axes[1, 0].axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    for ax in axes[1]:
        ax.set_xlabel("passes over the training set")
    axes[0, 0].legend(title="width")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def interpolation_passes(runs):
    """``{seed: Result}`` -> a DataFrame: one row per width, one column per seed, the interpolation pass (NaN: never)."""
    return pd.DataFrame({f"seed {seed}": {int(H): (float("nan") if p is None else p) for H, p in run.summary["interpolation"].items()}
                         for seed, run in runs.items()}).rename_axis("width H")


def plot_interpolation(ax, passes, epochs, title):
    """Passes to interpolation against width, one marker style per seed (``passes``: :func:`interpolation_passes`);
    a width that never interpolates in ``epochs`` passes is a red cross on a line at the top, labelled "never"."""
    widths, top = list(passes.index), epochs * 1.12
    for k, column in enumerate(passes.columns):
        done = passes[column].dropna()
        ax.plot(done.index, done.values, "os^vD"[k % 5] + "-", color=f"C{k}", alpha=0.8, label=f"{column}: first pass at 100 % training accuracy")
        never = passes.index[passes[column].isna()]
        ax.plot(never, [top] * len(never), "x", color="C3", markersize=11, markeredgewidth=2.5,
                label=f"never in {epochs} passes" if k == 0 else None)
    ax.axhline(epochs, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(H) for H in widths])
    ax.set_ylim(0, epochs * 1.25)
    ax.set_xlabel("width $H$ (log scale)")
    ax.set_ylabel("passes to interpolation")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
