r"""The divergent learning rate $\eta^*$ (chapter 14, book/divergent-lr.md).

For a one-hidden-layer ReLU network of width 16 (Glorot initialisation) and each batch size B:
the automated search of :func:`nabla.lr_search.find_divergent_lr` (powers of 10 from
$10^{-4}$, then powers of 2; "diverges" is :func:`nabla.lr_search.diverged` after
``search_epochs`` passes), then training curves at $\eta^*/2$, $\eta^*$ and $2\eta^*$, which
show why the experiments train at $\eta^*/2$: $\eta^*$ is at the edge, $2\eta^*$ is past it.

``full``: 12 % of FashionMNIST, B in 1, 4, 16, 20 passes per curve, the whole test set.
``budget``: 2 %, B in 1 and 16, 5 passes, 2000 test images.
"""

from __future__ import annotations

import time
from functools import partial

from nabla import lr_search
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, seeded_mlp, settings_for
from nabla.experiments.width import load

COMMON = {"dataset": "fashion_mnist", "init": "glorot", "width": 16, "search_start": 1e-4, "factors": [0.5, 1.0, 2.0]}

SCALES = {
    "full": {**COMMON, "batch_sizes": [1, 4, 16], "fraction": 0.12, "test_size": None, "epochs": 20, "search_epochs": 2, "seed": 0},
    "budget": {**COMMON, "batch_sizes": [1, 16], "fraction": 0.02, "test_size": 2000, "epochs": 5, "search_epochs": 1, "seed": 0},
    "smoke": {**COMMON, "batch_sizes": [1], "fraction": 0.004, "test_size": 200, "epochs": 2, "search_epochs": 1, "seed": 0},
}


def sweep(settings, split, factors, progress=False):
    """:func:`nabla.lr_search.sweep_batch_sizes` with the settings of this experiment (or minibatch's, which has the same keys)."""
    make_model = partial(seeded_mlp, [split.X_train.shape[1], settings["width"], CLASSES], settings["init"], settings["seed"])
    return lr_search.sweep_batch_sizes(
        make_model, split, settings["batch_sizes"], factors, epochs=settings["epochs"],
        search_epochs=settings["search_epochs"], seed=settings["seed"], start=settings["search_start"], progress=progress,
    )


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Search $\eta^*_B$ for every batch size B and train at ``factors`` x $\eta^*_B$; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per (batch size, factor, epoch), the keys of
    :data:`nabla.train.RECORD_KEYS` plus ``batch_size``, ``factor``, ``eta_star``, ``lr`` and
    ``diverged`` (the run stopped on a non-finite loss). ``summary``: per batch size (string
    key) ``eta_star`` and the search's ``trials`` [(lr, diverged), ...].
    ``overrides``, ``split`` and ``root`` as in :func:`nabla.experiments.width.run`.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    records, summary = [], {}
    for B, search, factor, lr, result in sweep(settings, split, settings["factors"], progress):
        summary[str(B)] = {"eta_star": search.eta_star, "trials": search.trials}
        records += [
            {"batch_size": B, "factor": factor, "eta_star": search.eta_star, "lr": lr, "diverged": result.diverged, **r}
            for r in result.records
        ]
    return Result("divergent_lr", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# ---- what the chapter shows: tables and figures --------------------------------------------


def trials_table(search, losses):
    """The search's trials as a table: trial, phase (powers of 10 up to the first divergence, then powers of 2),
    learning rate, the training loss before and after the pass (``losses``: ``{lr: (before, after)}``), diverges."""
    import pandas as pd

    first_divergent = next(k for k, (_, bad) in enumerate(search.trials) if bad)
    return pd.DataFrame([{"trial": k + 1, "phase": "powers of 10" if k <= first_divergent else "powers of 2", "learning rate": lr,
                          "loss before": losses[lr][0], "loss after one pass": losses[lr][1], "diverges": bad}
                         for k, (lr, bad) in enumerate(search.trials)])


def eta_table(searches):
    """``{B: search}`` as a table: $\\eta^*_B$, its ratio to the smallest B's, and the trials (``!``: diverged)."""
    import pandas as pd

    first = searches[min(searches)].eta_star
    return pd.DataFrame({"B": list(searches), "eta*_B": [s.eta_star for s in searches.values()],
                         "eta*_B / eta*_1": [s.eta_star / first for s in searches.values()],
                         "trials": [", ".join(f"{lr:g}{'!' if bad else ''}" for lr, bad in s.trials) for s in searches.values()]}
                        ).set_index("B")


def plot_factors(axes, curves, title, top=50.0):
    r"""Training loss against passes at $\eta^*/2$, $\eta^*$ and $2\eta^*$, one panel per batch size.

    ``curves``: the records of :func:`run` as a DataFrame. The loss at $2\eta^*$ can grow by tens
    of orders of magnitude; the axis stops at ``top``, and the legend says where that curve went.
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    names = {0.5: "\\eta^*/2", 1.0: "\\eta^*", 2.0: "2\\eta^*"}
    for ax, (B, runs) in zip(axes, curves.groupby("batch_size")):
        for k, (factor, one) in enumerate(runs.groupby("factor")):
            label = f"${names[factor]} = {one['lr'].iloc[0]:g}$"
            loss = one["train_loss"].to_numpy(dtype=float)
            if not np.isfinite(loss).all():
                label += f", NaN from pass {int(one['epoch'].iloc[np.argmax(~np.isfinite(loss))])}"
            elif loss.max() > top:
                label += f", off the scale: {loss[-1]:.0e} at pass {int(one['epoch'].iloc[-1])}"
            ax.semilogy(one["epoch"], loss, "o-", color=f"C{k}", markersize=3, label=label)
        ax.set_ylim(0.05, top)
        ax.set_title(f"{title}, $B = {B}$", fontsize=10)
        ax.set(xlabel="passes", ylabel="training loss (log scale)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))  # below: the curves fill the panel
        ax.grid(alpha=0.3)


def plot_eta_star(ax, eta, full):
    r"""$\eta^*_B$ against B on log axes: ``eta`` (``{B: eta*_B}``, the budget run) with a bar up to
    $2\eta^*_B$, the full runs ``full`` (``{label: {B: eta*_B}}``, at most two), and a line proportional to B."""
    import numpy as np

    B, values = np.array(list(eta)), np.array(list(eta.values()))
    ax.errorbar(B, values, yerr=[np.zeros(len(values)), values], fmt="o-", color="C0", capsize=4,
                label="budget run, width 64: $\\eta^*_B$, bar up to $2\\eta^*_B$")
    styles = [dict(marker="s", markersize=10, markerfacecolor="none", linestyle="--"), dict(marker="^", markersize=6, linestyle="")]
    for k, (label, found) in enumerate(full.items()):
        sizes = np.array(sorted(found))
        shift = 1.1 if k == 1 else 1.0  # nudge the second run's points right so that coinciding ones stay visible
        ax.plot(sizes * shift, [found[b] for b in sizes], color=f"C{k + 1}", label=label, **styles[k])
    ax.plot(B, values[0] * B / B[0], ":", color="grey", label="proportional to $B$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(B, [str(b) for b in B])
    ax.set(xlabel="batch size $B$ (log scale)", ylabel="divergent learning rate $\\eta^*_B$ (log scale)",
           title="The divergent learning rate grows with the batch size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
