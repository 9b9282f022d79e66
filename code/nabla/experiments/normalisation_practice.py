r"""Normalisation in practice (chapter 18, book/normalisation-practice.md).

A deep fully connected network, ``depth`` Linear layers of ``width`` units (784 -> 64 -> ... ->
64 -> 10), each hidden layer Linear -> norm -> ReLU with norm none, batch norm
(``nabla.nn.BatchNorm1d``) or layer norm (``nabla.nn.LayerNorm``): ``nabla.nn.MLP`` with
``norm``, trained on FashionMNIST by :func:`nabla.train.fit` with ``nabla.optim.SGD`` and
momentum. Every weight matrix starts as (``nn.MLP``'s ``init="he"``, ``init_scale`` = $s$)

$$ W_{ij} = s \sqrt{2 / d_{\text{in}}}\; z_{ij}, \qquad z_{ij} \sim N(0, 1), \qquad b = 0, $$

the He (Kaiming) scale times an *init scale* $s$: at $s = 1$ a ReLU layer keeps the mean square of
its input, and the activations of layer $l$ have a root mean square of about $s^l$ (see
:func:`activation_rms`). Three studies:

* ``curves``: without and with batch norm, $s = 1$, minibatches of 32, at each learning rate of
  ``curve_lrs``: the loss and accuracy, training and validation, after every epoch;
* ``init_scale``: without and with batch norm, for every $s$ of ``init_scales`` (a log grid),
  at ``sweep_lr``: the final validation accuracy;
* ``batch_size``: none, batch norm and layer norm for every B of ``batch_sizes``, each for the
  same number of epochs (so every run sees the same number of examples) at the learning rate
  ``reference_lr * B / 32``, proportional to B, so that every run moves its weights about as far
  per example seen; each batch-norm network is also tested with batch statistics and with
  recalibrated running averages (:func:`recalibrate`), to separate noisy training from a
  train/test mismatch.

The data: a seeded ``fraction`` of FashionMNIST's training set, of which ``validation`` images
are held out at random; both parts are standardised pixel by pixel with the training part's
statistics (:func:`nabla.data.split`). The test set is not used. Runs of the
same seed start from the same weights (the normalisation layers draw no random numbers) and see
the same minibatches, so within a study the normalisation is the only difference.

``full``: 12 % of FashionMNIST (6000 images to train on, 1200 to validate), 15 epochs of curves,
4 per init scale and 2 per batch size, two seeds for the two sweeps. ``budget``: 5 % (2000 / 1000),
5, 3 and 2 epochs, the two sweeps on a seeded 1000 of the 2000 training images, one seed.
"""

from __future__ import annotations

import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import Tensor, data, nn, optim, train
from nabla.data import Split
from nabla.experiments._normalisation_practice_figures import (  # noqa: F401 - the chapter's figures, re-exported
    NORM_COLOURS,
    NORM_NAMES,
    plot_activation_rms,
    plot_curves,
    plot_sweep,
    sweep_figure,
)
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, settings_for

NORMS = ("none", "batch", "layer")

COMMON = {
    "dataset": "fashion_mnist",
    "depth": 8,
    "width": 64,
    "momentum": 0.9,
    "batch_size": 32,
    "curve_lrs": [0.01, 0.1],
    "sweep_lr": 0.01,
    "init_scales": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
    "batch_sizes": [2, 4, 16, 64, 256],
    "reference_lr": 0.01,
    "seed": 0,
}

SCALES = {
    "full": {**COMMON, "fraction": 0.12, "validation": 1200, "curve_epochs": 15, "sweep_epochs": 4,
             "batch_epochs": 2, "sweep_train_size": None, "seeds": 2, "epochs": 15},
    "budget": {**COMMON, "fraction": 0.05, "validation": 1000, "curve_epochs": 5, "sweep_epochs": 3,
               "batch_epochs": 2, "sweep_train_size": 1000, "seeds": 1, "epochs": 5},
    "smoke": {**COMMON, "fraction": 0.005, "validation": 100, "depth": 4, "width": 16, "curve_lrs": [0.01],
              "init_scales": [0.1, 1.0, 10.0], "batch_sizes": [2, 16], "curve_epochs": 2, "sweep_epochs": 1,
              "batch_epochs": 1, "sweep_train_size": None, "seeds": 1, "epochs": 2},
}


def make_model(settings, norm, init_scale, seed, D=784):
    r"""A fresh ``nn.MLP`` of the settings' depth and width with ``norm`` ("none", "batch" or "layer") and He weights times ``init_scale``, drawn from ``seed``.

    The weights are drawn layer by layer, and the normalisation layers draw nothing, so the same
    seed gives the same weights whatever ``norm`` is. The bias of a Linear layer followed by batch
    norm is redundant (batch norm subtracts the batch mean, and with it any constant), but harmless.
    """
    sizes = [D] + [settings["width"]] * (settings["depth"] - 1) + [CLASSES]
    norm = None if norm == "none" else norm
    return nn.MLP(sizes, norm=norm, init="he", init_scale=init_scale, rng=np.random.default_rng(seed))


def activation_rms(model, X):
    r"""The root mean square $\sqrt{\operatorname{mean}(A^2)}$ of every hidden layer's activations on X, as a list.

    In the model's current mode (train mode: batch norm uses the statistics of X itself). For a
    network without normalisation at init scale $s$, layer $l$ gives about $s^l$: each layer
    multiplies the mean square by $2 s^2$ (fan-in times the weights' variance) and the ReLU halves it.
    """
    with np.errstate(all="ignore"):
        activations, _ = model.hidden(Tensor(np.asarray(X, dtype=np.float64)))
        return [float(np.sqrt(np.mean(A.value**2))) for A in activations]


def recalibrate(model, X):
    r"""Set every batch-norm layer's running statistics to those of the whole set X, layer by layer; the model.

    A train-mode forward pass of X in one batch with ``momentum = 1`` makes each layer's running
    mean and variance the mean and (Bessel-corrected) variance of its input over X, the input
    computed with the layers before it already normalised by X's statistics: the "population"
    statistics that test mode is meant to use. The parameters do not change.
    """
    momenta = [layer.momentum for layer in model.norms]
    try:
        for layer in model.norms:
            layer.momentum = 1.0
        model.train()
        with np.errstate(all="ignore"):
            model(Tensor(np.asarray(X, dtype=np.float64)))
    finally:
        for layer, momentum in zip(model.norms, momenta):
            layer.momentum = momentum
    return model


def batch_statistics_accuracy(model, X, y, batch_size):
    """Accuracy on (X, y) in train mode, in consecutive batches of ``batch_size``: batch norm as in training.

    Each prediction depends on the other examples of its batch. A last incomplete batch is
    left out. The running statistics are restored afterwards, so the model is unchanged.
    """
    saved = [(layer.stats.mean.copy(), layer.stats.var.copy(), layer.stats.updates) for layer in model.norms]
    model.train()
    right = total = 0
    with np.errstate(all="ignore"):
        for begin in range(0, len(X) - batch_size + 1, batch_size):
            L = model(Tensor(X[begin : begin + batch_size])).value
            right += int(np.sum(np.argmax(L, axis=1) == y[begin : begin + batch_size]))
            total += batch_size
    for layer, (mean, var, updates) in zip(model.norms, saved):
        layer.stats.mean, layer.stats.var, layer.stats.updates = mean, var, updates
    return right / total


# ---- data ----------------------------------------------------------------------------------


def load(settings, root=None):
    """The split: a seeded ``fraction`` of FashionMNIST's training set, ``validation`` of it held out, standardised per pixel."""
    return data.split(settings["dataset"], settings["fraction"], settings["seed"], hold_out=settings["validation"], root=root)


# ---- one run --------------------------------------------------------------------------------


def train_one(settings, norm, init_scale, lr, batch_size, epochs, seed, split, progress=False, description=None):
    """Train one fresh network (:func:`make_model`) with SGD and momentum; ``(model, Run)``.

    The weights are drawn from ``seed``, the minibatches' order from ``seed + 1``.
    """
    if norm == "batch" and len(split.X_train) % batch_size == 1:
        # fit's last minibatch would hold one example, whose batch variance is 0.
        raise ValueError(
            f"batch norm with B = {batch_size} on {len(split.X_train)} examples leaves a last minibatch of 1; "
            "choose a training set size that B does not leave a remainder of 1 on"
        )
    model = make_model(settings, norm, init_scale, seed, D=split.X_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=settings["momentum"])
    # Some runs are meant to diverge (a large init scale without normalisation): their overflows
    # are the result being measured, not a bug to warn about.
    with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
        run = train.fit(model, optimizer, split, epochs=epochs, batch_size=batch_size, seed=seed + 1, progress=progress,
                        description=description)
    return model, run


def outcome(run):
    """What the summary keeps of one run: the final validation accuracy, training loss, and divergence."""
    last = run.records[-1]
    loss = last["train_loss"]
    return {
        "eval_accuracy": last["eval_accuracy"],
        "train_loss": loss if math.isfinite(loss) else None,  # JSON has no NaN
        "diverged": bool(run.diverged or not math.isfinite(loss)),
    }


def epochs_of(settings, key):
    """The epochs of one study, capped by ``epochs``: the most epochs any run makes (the command line's ``--epochs``)."""
    return min(settings[key], settings["epochs"])


def batch_lr(settings, B):
    """``reference_lr * B / 32``: the learning rate of batch size B in the batch-size study."""
    return settings["reference_lr"] * B / 32


# ---- the experiment ------------------------------------------------------------------------


def run(scale="budget", progress=False, root=None, split=None, studies=("curves", "init_scale", "batch_size"), **overrides):
    r"""Run the three studies; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per run and epoch with ``study``, ``norm``, ``init_scale``,
    ``batch_size``, ``lr``, ``seed``, the keys of :data:`nabla.train.RECORD_KEYS` (``eval_*`` on
    the validation part), ``minibatch_loss`` (the epoch's mean, in train mode) and ``diverged``.
    ``summary``: ``{study: {setting: {norm: [outcome per seed]}}}`` with the setting as a string
    (the learning rate, the init scale, the batch size) and each outcome a dict of
    :func:`outcome`; batch-norm runs of the batch-size study add
    ``eval_accuracy_batch_statistics`` (:func:`batch_statistics_accuracy` with their own B) and
    ``eval_accuracy_recalibrated`` (test mode after :func:`recalibrate` on their training set).
    ``split`` skips loading FashionMNIST; ``studies`` picks some of the three; ``overrides``
    replace settings (``epochs``, the largest of the studies' epochs, caps every study's epochs
    when lowered).
    """
    settings = settings_for(SCALES, scale, overrides)
    unknown = set(studies) - {"curves", "init_scale", "batch_size"}
    if unknown:
        raise ValueError(f"unknown studies {sorted(unknown)}; the studies are curves, init_scale, batch_size")
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    seeds = [settings["seed"] + k for k in range(settings["seeds"])]
    records, summary = [], {study: {} for study in studies}

    def one(study, setting, norm, init_scale, lr, B, epochs, seed, run_split):
        model, fit = train_one(settings, norm, init_scale, lr, B, epochs, seed, run_split, progress,
                               description=f"{study} {setting}, {norm}, seed {seed}")
        keys = {"study": study, "norm": norm, "init_scale": init_scale, "batch_size": B, "lr": lr, "seed": seed}
        records.extend({**keys, **record, "minibatch_loss": loss, "diverged": fit.diverged}
                       for record, loss in zip(fit.records, fit.minibatch_loss_per_epoch()))
        result = outcome(fit)
        if study == "batch_size" and norm == "batch":
            # Two other ways to test the same batch-norm network: with the statistics of each
            # validation batch of B, as in training, and with recalibrated running statistics.
            with threadpool_limits(limits=1, user_api="blas"):
                result["eval_accuracy_batch_statistics"] = batch_statistics_accuracy(model, run_split.X_eval, run_split.y_eval, B)
                recalibrate(model, run_split.X_train).eval()
                result["eval_accuracy_recalibrated"] = train.evaluate(model, run_split.X_eval, run_split.y_eval)[1]
        summary[study].setdefault(str(setting), {}).setdefault(norm, []).append(result)

    if "curves" in studies:
        for lr in settings["curve_lrs"]:
            for norm in ("none", "batch"):
                one("curves", lr, norm, 1.0, lr, settings["batch_size"], epochs_of(settings, "curve_epochs"), settings["seed"], split)
    sweep_split = sweep_part(settings, split)
    if "init_scale" in studies:
        for seed in seeds:
            for s in settings["init_scales"]:
                for norm in ("none", "batch"):
                    one("init_scale", s, norm, s, settings["sweep_lr"], settings["batch_size"],
                        epochs_of(settings, "sweep_epochs"), seed, sweep_split)
    if "batch_size" in studies:
        for seed in seeds:
            for B in settings["batch_sizes"]:
                for norm in NORMS:
                    one("batch_size", B, norm, 1.0, batch_lr(settings, B), B, epochs_of(settings, "batch_epochs"),
                        seed, sweep_split)
    return Result("normalisation_practice", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


def sweep_part(settings, split):
    """The split the two sweeps train on: a seeded ``sweep_train_size`` of the training part (all of it if None), the same validation part.

    The sweeps make many runs: at budget scale they train on fewer images.
    """
    size = settings["sweep_train_size"]
    if size is None or size >= len(split.X_train):
        return split
    rows = np.sort(np.random.default_rng(settings["seed"]).choice(len(split.X_train), size, replace=False))
    return Split(split.X_train[rows], split.y_train[rows], split.X_eval, split.y_eval, split.eval_set)


# ---- what the chapter reads off the summary ----------------------------------------------------


def accuracy(summary, study, setting, norm):
    """The final validation accuracy of one setting of one study, averaged over seeds."""
    return float(np.mean([o["eval_accuracy"] for o in summary[study][str(setting)][norm]]))


def all_diverged(summary, study, setting, norm):
    """Whether every seed's run of one setting diverged."""
    return all(o["diverged"] for o in summary[study][str(setting)][norm])


def final_table(summary, study):
    """The final validation accuracy (mean over seeds) of every setting and norm of one study, and how many runs diverged."""
    import pandas as pd

    rows = {}
    for setting, by_norm in summary[study].items():
        for norm in by_norm:
            rows.setdefault(setting, {})[f"{NORM_NAMES[norm]}: validation accuracy"] = round(accuracy(summary, study, setting, norm), 3)
        for norm, outcomes in by_norm.items():
            rows[setting][f"{NORM_NAMES[norm]}: runs diverged"] = f"{sum(o['diverged'] for o in outcomes)} of {len(outcomes)}"
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(study)


def three_ways(summary):
    """The batch-norm networks of the batch-size study tested three ways (means over seeds), and layer norm beside them."""
    import pandas as pd

    rows = {}
    for B, by_norm in summary["batch_size"].items():
        outcomes = by_norm["batch"]
        rows[int(B)] = {
            "running averages (test mode)": np.mean([o["eval_accuracy"] for o in outcomes]),
            "batch statistics of B": np.mean([o["eval_accuracy_batch_statistics"] for o in outcomes]),
            "recalibrated averages (test mode)": np.mean([o["eval_accuracy_recalibrated"] for o in outcomes]),
            "layer norm, for comparison": np.mean([o["eval_accuracy"] for o in by_norm["layer"]]),
        }
    return pd.DataFrame(rows).T.rename_axis("batch size B").sort_index()


# ---- the chapter's figures -----------------------------------------------------------------------


def final_val_loss(records, lr, norm):
    """The validation loss after the last epoch of one run of the curves study."""
    curve = records[(records["study"] == "curves") & (records["lr"] == lr) & (records["norm"] == norm)]
    return float(curve["eval_loss"].iloc[-1])


def diverged_at(records, lr, norm):
    """The first epoch at which a run of the curves study had a NaN training loss, or None if it never did."""
    curve = records[(records["study"] == "curves") & (records["lr"] == lr) & (records["norm"] == norm)]
    nan = curve[curve["train_loss"].isna()]
    return int(nan["epoch"].iloc[0]) if len(nan) else None
