r"""Regularisation: dropout and L2 weight decay on a network that overfits (chapter 19, book/regularisation.md).

A ReLU MLP with two hidden layers of 256 units (784 -> 256 -> 256 -> 10, Glorot initialisation)
is trained by :func:`nabla.train.fit` with plain minibatch SGD (B = 32) on a small seeded subset
of FashionMNIST's training set, and measured after every epoch on that subset and on a seeded
validation split held out of the same subset (the test set is never touched). The network has
far more parameters than there are training images, so without regularisation its training
accuracy reaches 100 % while the validation accuracy stalls: it overfits. Two regularisers,
each on its own, one run per strength:

* **dropout** after each hidden ReLU (``nn.MLP(..., dropout=p)``), for each *keep probability*
  $q$ in ``keeps``. The layer's ``p`` is the probability of *dropping* a unit, so it is built
  with ``p = 1 - q``; $q = 1$ means no dropout layer at all;
* **L2 weight decay**: ``nabla.optim.SGD(..., weight_decay=lam)`` for each $\lambda$ in
  ``weight_decays``, which adds $\lambda\theta$ to the gradient of *every* parameter (biases
  included): the gradient of $\frac\lambda2\sum_\theta\lVert\theta\rVert^2$.

The run with $q = 1$ and $\lambda = 0$ is the unregularised baseline; it belongs to both series
and is trained once. Within a repeat every run starts from the same weights and sees the same
minibatches; the dropout masks come from their own generator. ``repeats`` > 1 trains everything
again from other initial weights, minibatch orders and masks (on the same data split), to show
how much of a difference between two runs is the draw.

The data (:func:`nabla.data.split` with ``standardize="center"``): a seeded ``fraction`` of the
training set, ``validation`` images of it held out, both centred per pixel and scaled by one
number with the training part's statistics (:func:`nabla.data.center_and_scale`).

``full``: 2000 training and 2000 validation images, 50 epochs, six keep probabilities and a
log grid of seven weight decays, three repeats. ``budget``: 1000 and 500 images, 25 epochs, four
keep probabilities and five weight decays, one repeat, so that the chapter runs in well under a
minute.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import data, nn, optim, train
from nabla.experiments._results import Result
from nabla.plotting import white_figure
from nabla.experiments._settings import CLASSES, settings_for
from nabla.fastpath import weights

COMMON = {"dataset": "fashion_mnist", "hidden": [256, 256], "batch_size": 32, "lr": 0.05, "last": 5}

SCALES = {
    "full": {
        **COMMON, "fraction": 4000 / 60000, "validation": 2000, "epochs": 50, "repeats": 3,
        "keeps": [1.0, 0.9, 0.8, 0.65, 0.5, 0.3], "weight_decays": [0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "seed": 0,
    },
    "budget": {
        **COMMON, "fraction": 1500 / 60000, "validation": 500, "epochs": 25, "repeats": 1,
        "keeps": [1.0, 0.8, 0.5, 0.3], "weight_decays": [0.0, 1e-3, 1e-2, 3e-2, 1e-1], "seed": 0,
    },
    "smoke": {
        **COMMON, "hidden": [32], "fraction": 150 / 60000, "validation": 50, "epochs": 2, "repeats": 1, "last": 1,
        "keeps": [1.0, 0.5], "weight_decays": [0.0, 1e-2], "seed": 0,
    },
}


def weight_norm(model):
    r"""$\sqrt{\sum_W \lVert W\rVert_F^2}$ over the weight matrices (not the biases), as a float."""
    return float(np.sqrt(sum(np.sum(W.value * W.value) for W in weights(model))))


class NormRecordingSGD(optim.SGD):
    """``optim.SGD`` that also records the model's :func:`weight_norm` after every step.

    ``norms[k]`` is the norm after k steps (``norms[0]`` before training), so a record of
    :func:`nabla.train.fit` with ``steps = k`` pairs with ``norms[k]``. The update is SGD's.
    """

    def __init__(self, model, **kwargs):
        super().__init__(model.parameters(), **kwargs)
        self.model = model
        self.norms = [weight_norm(model)]

    def step(self):
        super().step()
        self.norms.append(weight_norm(self.model))


def load(settings, root=None):
    """The split: a seeded ``fraction`` of FashionMNIST's training set, ``validation`` of it held out, centred and scaled."""
    return data.split(settings["dataset"], settings["fraction"], settings["seed"], hold_out=settings["validation"],
                      standardize="center", root=root)


def repeat_seeds(seed, repeat):
    """``(init_rng, mask_rng, fit_seed)`` of one repeat: independent streams, all derived from ``seed``."""
    init_seq, mask_seq, fit_seq = np.random.SeedSequence([seed, repeat]).spawn(3)
    return np.random.default_rng(init_seq), np.random.default_rng(mask_seq), int(fit_seq.generate_state(1)[0])


def make_model(sizes, keep, init_rng, mask_rng):
    """``nn.MLP`` with ReLU and, for a keep probability ``keep`` < 1, dropout ``p = 1 - keep`` after every hidden layer.

    ``init_rng`` draws the weights, ``mask_rng`` the dropout masks, so that the keep probability
    does not change the initial weights: with ``keep = 1`` the network is ``nn.MLP(sizes, rng=init_rng)``.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"regularisation: the keep probability must lie in (0, 1], got keep = {keep}")
    return nn.MLP(sizes, dropout=1 - keep, rng=init_rng, dropout_rng=mask_rng)


def train_one(settings, keep, weight_decay, repeat, split, progress, description):
    """One run of :func:`nabla.train.fit`; its per-epoch records, with keep, weight_decay, repeat, weight_norm and minibatch_loss."""
    init_rng, mask_rng, fit_seed = repeat_seeds(settings["seed"], repeat)
    model = make_model([split.X_train.shape[1], *settings["hidden"], CLASSES], keep, init_rng, mask_rng)
    optimizer = NormRecordingSGD(model, lr=settings["lr"], weight_decay=weight_decay)
    run = train.fit(model, optimizer, split, epochs=settings["epochs"], batch_size=settings["batch_size"], seed=fit_seed,
                    progress=progress, description=description)
    if run.diverged:
        raise RuntimeError(f"regularisation: the run with keep {keep} and weight decay {weight_decay} diverged")
    # minibatch_loss: the mean loss of the epoch's minibatches, in *train* mode (dropout on), each before its update.
    return [
        {"keep": keep, "weight_decay": weight_decay, "repeat": repeat, **record, "minibatch_loss": loss,
         "weight_norm": optimizer.norms[record["steps"]]}
        for record, loss in zip(run.records, run.minibatch_loss_per_epoch())
    ]


FINAL_KEYS = ("train_accuracy", "eval_accuracy", "gap", "train_loss", "eval_loss", "weight_norm")


def final(records, last):
    """One run's means over its last ``last`` epochs: accuracies, their gap, losses, weight norm."""
    tail = records[-last:]
    means = {key: float(np.mean([r[key] for r in tail])) for key in FINAL_KEYS if key != "gap"}
    means["gap"] = means["train_accuracy"] - means["eval_accuracy"]
    return means


def over_repeats(finals):
    """The mean over repeats of each of :func:`final`'s numbers, and the lowest and highest of the accuracies and gap."""
    summary = {key: float(np.mean([f[key] for f in finals])) for key in FINAL_KEYS}
    for key in ("eval_accuracy", "gap"):
        summary[f"{key}_min"] = min(f[key] for f in finals)
        summary[f"{key}_max"] = max(f[key] for f in finals)
    return summary


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Train the baseline, every keep probability and every weight decay; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per run, repeat and epoch (epoch 0 before training): the keys of
    :data:`nabla.train.RECORD_KEYS` (measured in test mode, ``eval_*`` on the validation part)
    plus ``keep``, ``weight_decay``, ``repeat``, ``weight_norm`` (of the weight matrices, after
    that epoch) and ``minibatch_loss`` (the epoch's mean minibatch loss, in train mode). The
    dropout series is the runs with ``weight_decay == 0``, the weight decay series those with
    ``keep == 1``; the baseline is in both. ``summary``: ``{"dropout": {keep: ...},
    "weight_decay": {lam: ...}}`` (string keys), each the means over the last ``last`` epochs
    (:func:`final`) averaged over repeats, with the range over repeats (:func:`over_repeats`).
    ``split`` skips loading FashionMNIST; ``root`` is the data root; ``overrides`` replace
    settings (e.g. ``epochs=5``).
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    runs = [(keep, 0.0) for keep in settings["keeps"]]
    runs += [(1.0, lam) for lam in settings["weight_decays"] if (1.0, lam) not in runs]
    records, finals = [], {run: [] for run in runs}
    # Minibatches of 32 make small matrix products, which one BLAS thread does faster than two
    # threads handing work to each other (and much faster when another process holds a core).
    with threadpool_limits(limits=1, user_api="blas"):
        for repeat in range(settings["repeats"]):
            for keep, lam in runs:
                description = f"repeat {repeat}, keep {keep:g}, weight decay {lam:g}"
                rows = train_one(settings, keep, lam, repeat, split, progress, description)
                finals[keep, lam].append(final(rows, settings["last"]))
                records += rows
    summary = {
        "dropout": {str(keep): over_repeats(finals[keep, 0.0]) for keep in settings["keeps"]},
        "weight_decay": {str(lam): over_repeats(finals[1.0, lam]) for lam in settings["weight_decays"]},
    }
    return Result("regularisation", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)



# ---- the course's run: CS231n's dropout experiment, on FashionMNIST, over seeds ---------------

COURSE_RUN = {"train": 500, "validation": 1000, "hidden": [500], "keeps": [1.0, 0.25], "lr": 5e-4, "batch_size": 100, "epochs": 25}


def course_run(seeds, epochs=COURSE_RUN["epochs"], split=None, root=None):
    r"""The course's dropout run (``COURSE_RUN``: 500 training images, one hidden layer of 500, keep
    1 against 0.25, Adam $5\cdot10^{-4}$, B = 100, 25 epochs) on FashionMNIST, once per seed.

    Seed s draws the images (``validation`` held out of a seeded subset, centred and scaled), the
    weights, the minibatch order and the masks; both keep probabilities of a seed share all of
    them but the masks. One dict per seed and keep: ``seed``, ``keep``, the last epoch's
    ``train_accuracy`` and ``eval_accuracy`` (test mode), and ``best_eval_accuracy`` over the
    epochs, the numbers the course's Solver printed. ``split`` replaces the data of every seed.
    """
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for seed in seeds:
            images = COURSE_RUN["train"] + COURSE_RUN["validation"]
            seed_split = split if split is not None else data.split(
                "fashion_mnist", images / 60000, seed, hold_out=COURSE_RUN["validation"], standardize="center", root=root)
            for keep in COURSE_RUN["keeps"]:
                init_rng, mask_rng, fit_seed = repeat_seeds(seed, 0)
                model = make_model([seed_split.X_train.shape[1], *COURSE_RUN["hidden"], CLASSES], keep, init_rng, mask_rng)
                run = train.fit(model, optim.Adam(model.parameters(), lr=COURSE_RUN["lr"]), seed_split, epochs=epochs,
                                batch_size=COURSE_RUN["batch_size"], seed=fit_seed)
                last = run.records[-1]
                rows.append({"seed": seed, "keep": keep, "train_accuracy": last["train_accuracy"], "eval_accuracy": last["eval_accuracy"],
                             "best_eval_accuracy": max(r["eval_accuracy"] for r in run.records[1:])})
    return rows

# ---- what the chapter shows: the series, their tables and figures ----------------------------

SERIES = {"dropout": "keep", "weight_decay": "weight_decay"}


def series(runs, kind):
    """The runs of one series: dropout (no weight decay) or weight decay (keep probability 1)."""
    return runs[runs["weight_decay"] == 0] if kind == "dropout" else runs[runs["keep"] == 1]


def strengths(kind, values):
    """The values of a series from the weakest regularisation to the strongest."""
    return sorted(values, reverse=(kind == "dropout"))


def name(kind, value):
    """A strength as a legend says it: the keep probability and the layers' p, or the weight decay."""
    return f"$q = {value:g}$ ($p = {1 - value:.2g}$)" if kind == "dropout" else f"$\\lambda = {value:g}$"


def accuracy_curves(runs, kind, title):
    """Training and validation accuracy (means over repeats) against epoch, one panel per strength."""
    rows = series(runs, kind)
    key = SERIES[kind]
    mean = rows.groupby([key, "epoch"])[["train_accuracy", "eval_accuracy"]].mean()
    values = strengths(kind, rows[key].unique())
    nrows = -(-len(values) // 5)  # at most five panels a row, the rows as even as they can be
    ncols = -(-len(values) // nrows)
    fig, axes = white_figure(nrows=nrows, ncols=ncols, figsize=(3.0 * ncols, 2.7 * nrows + 0.5), sharex=True, sharey=True, squeeze=False)
    for ax, value in zip(axes.flat, values):
        curve = mean.loc[value].loc[1:]  # from epoch 1: at epoch 0 both are near 0.1, far below the chart
        ax.plot(curve.index, curve["train_accuracy"], color="C0", label="training")
        ax.plot(curve.index, curve["eval_accuracy"], color="C1", linestyle="--", label="validation")
        ax.fill_between(curve.index, curve["eval_accuracy"], curve["train_accuracy"], color="C0", alpha=0.12, label="gap")
        ax.set_title(name(kind, value), fontsize=10)
        ax.set_ylim(0.6, 1.01)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(values):]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (test mode)")
    axes[0, 0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def final_table(summary, kind, repeats):
    """The final numbers (means over the last five epochs, and over repeats) of one series, as a DataFrame."""
    import pandas as pd

    rows = {float(value): numbers for value, numbers in summary[kind].items()}
    values = strengths(kind, rows)
    table = pd.DataFrame(
        {
            "training accuracy": [rows[v]["train_accuracy"] for v in values],
            "validation accuracy": [rows[v]["eval_accuracy"] for v in values],
            "gap": [rows[v]["gap"] for v in values],
            "validation loss": [rows[v]["eval_loss"] for v in values],
            "weight norm": [rows[v]["weight_norm"] for v in values],
        },
        index=pd.Index(values, name="keep probability q" if kind == "dropout" else "weight decay λ"),
    )
    if kind == "dropout":
        table.insert(0, "Dropout(p = 1 - q)", [round(1 - v, 2) for v in values])
    if repeats > 1:
        table["validation accuracy, lowest and highest repeat"] = [
            f"{rows[v]['eval_accuracy_min']:.3f} to {rows[v]['eval_accuracy_max']:.3f}" for v in values
        ]
    return table.round(3)


ZERO_AT = 1e-5  # where lambda = 0 is drawn on the log axis


def positions(kind, values):
    """Where the strengths sit on the x axis: a weight decay of 0 at ZERO_AT, the left end of the log axis."""
    return [v if kind == "dropout" or v > 0 else ZERO_AT for v in values]


def against_strength(axes, summary, kind, label, is_full):
    """Final accuracies (top) and gap (bottom) against the strength of one regulariser, for one run."""
    rows = {float(value): numbers for value, numbers in summary[kind].items()}
    values = sorted(rows)
    x = positions(kind, values)
    # The full run solid and dashed, with filled markers; the budget run dotted, with open ones.
    def style(marker, linestyle):
        if is_full:
            return dict(marker=marker, linestyle=linestyle, markersize=6)
        return dict(marker=marker, linestyle=":", markersize=6, markerfacecolor="white")

    top, bottom = axes
    top.plot(x, [rows[v]["train_accuracy"] for v in values], color="C0", label=f"training accuracy, {label}", **style("o", "-"))
    val = np.array([rows[v]["eval_accuracy"] for v in values])
    spread = [val - [rows[v]["eval_accuracy_min"] for v in values], [rows[v]["eval_accuracy_max"] for v in values] - val]
    top.errorbar(x, val, yerr=spread if is_full else None, color="C1", capsize=3, label=f"validation accuracy, {label}", **style("s", "--"))
    bottom.plot(x, [rows[v]["gap"] for v in values], color="C2", label=f"gap, {label}", **style("D", "-"))


def strength_figure(panels):
    """panels: (summary, label, is_full) for each run to draw; a 2 x 2 figure, dropout left, weight decay right."""
    fig, axes = white_figure(nrows=2, ncols=2, figsize=(11, 7), sharex="col")
    for kind, column in (("dropout", 0), ("weight_decay", 1)):
        for run_summary, label, is_full in panels:
            against_strength(axes[:, column], run_summary, kind, label, is_full)
        axes[0, column].set_ylabel("final accuracy (test mode)")
        axes[1, column].set_ylabel("final gap, training $-$ validation")
        axes[1, column].set_ylim(bottom=0)
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
    axes[1, 0].set_xlabel("keep probability $q$ (dropout layers with $p = 1 - q$)")
    axes[1, 0].invert_xaxis()  # shared with the top panel: regularisation grows to the right
    axes[1, 1].set_xscale("log")
    axes[1, 1].set_xticks([ZERO_AT, 1e-4, 1e-3, 1e-2, 1e-1], ["0", "$10^{-4}$", "$10^{-3}$", "$10^{-2}$", "$10^{-1}$"])
    axes[1, 1].set_xlabel("weight decay $\\lambda$ (0 drawn at the left)")
    axes[0, 0].set_title("dropout")
    axes[0, 1].set_title("weight decay")
    handles = [h for ax in axes[:, 0] for h in ax.get_legend_handles_labels()[0]]
    labels = [t for ax in axes[:, 0] for t in ax.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="lower center", ncol=3 if len(panels) == 1 else 2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 * len(panels) + 0.02, 1, 1))
    return fig


def weight_norm_figure(runs, title):
    """The norm of the weight matrices against epoch, one line per weight decay of the series."""
    fig, ax = white_figure(figsize=(6.5, 3.8))
    for k, (lam, run) in enumerate(series(runs, "weight_decay").groupby("weight_decay")):
        ax.plot(run["epoch"], run["weight_norm"], color=f"C{k}", label=name("weight_decay", lam))
    ax.set_xlabel("epoch")
    ax.set_ylabel("norm of all weight matrices")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def validation_loss_figure(runs, shown, title):
    """The validation loss (mean over repeats) against epoch: dropout left, weight decay right, one line per strength of ``shown``."""
    fig, axes = white_figure(ncols=2, figsize=(11, 3.8), sharey=True)
    for ax, (kind, values) in zip(axes, shown.items()):
        rows = series(runs, kind)
        for k, value in enumerate(values):
            val_loss = rows[rows[SERIES[kind]] == value].groupby("epoch")["eval_loss"].mean()
            ax.plot(val_loss.index[1:], val_loss.iloc[1:], color=f"C{k}", label=name(kind, value))
        ax.set_xlabel("epoch")
        ax.set_title(f"{'dropout' if kind == 'dropout' else 'weight decay'} ({title})", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation loss (test mode)")
    fig.tight_layout()
    return fig


def key_of(value):
    """A strength as a piece of a glue key: 0.5 -> ``0p5``, 0.001 -> ``0p001``."""
    return f"{value:g}".replace(".", "p")


def quoted(summary, kind):
    """The final numbers of one series as the chapter quotes them, ``{"KIND-VALUE-METRIC": text}``.

    ``train`` and ``val``: the accuracies in percent to one decimal; ``gap``: in points, to one
    decimal; ``loss``: the validation loss to two decimals; ``norm``: the weight norm to the unit;
    ``valmin`` and ``valmax``: the lowest and highest repeat's validation accuracy.
    """
    texts = {}
    for value, numbers in summary[kind].items():
        prefix = f"{kind.replace('_', '-')}-{key_of(float(value))}"
        texts.update({f"{prefix}-train": f"{numbers['train_accuracy'] * 100:.1f} %", f"{prefix}-val": f"{numbers['eval_accuracy'] * 100:.1f} %",
                      f"{prefix}-gap": f"{numbers['gap'] * 100:.1f}", f"{prefix}-loss": f"{numbers['eval_loss']:.2f}",
                      f"{prefix}-norm": f"{numbers['weight_norm']:.0f}", f"{prefix}-valmin": f"{numbers['eval_accuracy_min'] * 100:.1f} %",
                      f"{prefix}-valmax": f"{numbers['eval_accuracy_max'] * 100:.1f} %"})
    return texts
