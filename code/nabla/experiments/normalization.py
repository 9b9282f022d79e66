r"""Normalisation in practice (chapter 18, book/normalisation-practice.md).

A deep fully connected network, ``depth`` Linear layers of ``width`` units (784 -> 64 -> ... ->
64 -> 10), each hidden layer Linear -> norm -> ReLU with norm none, batch norm
(``nabla.nn.BatchNorm1d``) or layer norm (``nabla.nn.LayerNorm``), trained on FashionMNIST by
:func:`nabla.train.fit` with ``nabla.optim.SGD`` and momentum. Every weight matrix starts as

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
statistics (:func:`nabla.data.flatten_and_standardize`). The test set is not used. Runs of the
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

from nabla import data, nn, ops, optim, train
from nabla.experiments import CLASSES, settings_for, split_validation
from nabla.engine import Tensor

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
             "batch_epochs": 2, "sweep_train_size": None, "seeds": 2, "passes": 15},
    "budget": {**COMMON, "fraction": 0.05, "validation": 1000, "curve_epochs": 5, "sweep_epochs": 3,
               "batch_epochs": 2, "sweep_train_size": 1000, "seeds": 1, "passes": 5},
    "smoke": {**COMMON, "fraction": 0.005, "validation": 100, "depth": 4, "width": 16, "curve_lrs": [0.01],
              "init_scales": [0.1, 1.0, 10.0], "batch_sizes": [2, 16], "curve_epochs": 2, "sweep_epochs": 1,
              "batch_epochs": 1, "sweep_train_size": None, "seeds": 1, "passes": 2},
}


class DeepMLP(nn.Module):
    r"""$D \to H \to \dots \to H \to C$: ``len(sizes) - 1`` Linear layers, Linear -> norm -> ReLU between them.

    ``norm``: None (or ``"none"``), ``"batch"`` (``nn.BatchNorm1d``) or ``"layer"`` (``nn.LayerNorm``),
    one normalisation layer per hidden layer, none after the last Linear layer (the logits).
    Every weight is $s\sqrt{2/d_{\text{in}}}\, z$ with $z \sim N(0, 1)$, $s$ = ``init_scale``, and
    every bias 0; ``rng`` draws the weights (layer by layer, so the same seed gives the same
    weights whatever ``norm`` is). The bias of a Linear layer followed by batch norm is
    redundant (batch norm subtracts the batch mean, and with it any constant), but harmless.
    """

    def __init__(self, sizes, norm=None, init_scale=1.0, rng=None):
        norm = "none" if norm is None else norm
        if norm not in NORMS:
            raise ValueError(f"DeepMLP: norm must be None, 'none', 'batch' or 'layer', got {norm!r}")
        if not (isinstance(init_scale, (int, float)) and math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"DeepMLP: init_scale must be a finite number > 0, got {init_scale!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.norm, self.init_scale = norm, float(init_scale)
        self.layers = []
        for d, m in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(d, m, rng)
            layer.W.value[...] = init_scale * math.sqrt(2.0 / d) * rng.standard_normal((d, m))  # He scale times s
            self.layers.append(layer)
        kind = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[norm]
        self.norms = [] if kind is None else [kind(m) for m in sizes[1:-1]]

    def hidden(self, X):
        """The activations after every hidden layer's ReLU, as a list of tensors (N, H), and the logits (N, C)."""
        activations = []
        for k, layer in enumerate(self.layers[:-1]):
            Z = layer(X)
            if self.norms:
                Z = self.norms[k](Z)
            X = ops.relu(Z)
            activations.append(X)
        return activations, self.layers[-1](X)

    def forward(self, X):
        return self.hidden(X)[1]


def make_model(settings, norm, init_scale, seed, D=784):
    """A fresh :class:`DeepMLP` of the settings' depth and width, weights drawn from ``seed``."""
    sizes = [D] + [settings["width"]] * (settings["depth"] - 1) + [CLASSES]
    return DeepMLP(sizes, norm=norm, init_scale=init_scale, rng=np.random.default_rng(seed))


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


def split(images, labels, settings):
    """``X_train, y_train, X_val, y_val``: a seeded fraction of the images, a seeded validation part held out.

    Both parts are standardised pixel by pixel with the training part's mean and standard
    deviation (:func:`nabla.experiments.split_validation`), the validation part as a test set would be.
    """
    return split_validation(images, labels, settings, standardize="pixel")


def load(settings, root=None):
    """:func:`split` of FashionMNIST's training set (:func:`nabla.data.load_fashion_mnist`)."""
    return split(*data.load_fashion_mnist(train=True, root=root), settings)


# ---- one run --------------------------------------------------------------------------------


def train_one(settings, norm, init_scale, lr, batch_size, epochs, seed, data, progress=False, description=None):
    """Train one fresh :class:`DeepMLP` with SGD and momentum; ``(model, FitRun)``.

    The weights are drawn from ``seed``, the minibatches' order from ``seed + 1``.
    """
    X_train, y_train, X_val, y_val = data
    if norm == "batch" and len(X_train) % batch_size == 1:
        # fit's last minibatch would hold one example, whose batch variance is 0.
        raise ValueError(
            f"batch norm with B = {batch_size} on {len(X_train)} examples leaves a last minibatch of 1; "
            "choose a training set size that B does not leave a remainder of 1 on"
        )
    model = make_model(settings, norm, init_scale, seed, D=X_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=settings["momentum"])
    # Some runs are meant to diverge (a large init scale without normalisation): their overflows
    # are the result being measured, not a bug to warn about.
    with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
        run = train.fit(model, optimizer, X_train, y_train, X_val, y_val, epochs=epochs, batch_size=batch_size,
                        seed=seed + 1, progress=progress, description=description)
    return model, run


def epoch_rows(run, **keys):
    """The run's records, each with ``keys`` and ``minibatch_loss``: the mean train-mode loss of that epoch's minibatches."""
    rows, previous = [], 0
    for record in run.records:
        losses = run.minibatch_losses[previous : record["steps"]]
        minibatch_loss = float(np.mean(losses)) if record["epoch"] > 0 and losses else None
        previous = record["steps"]
        rows.append({**keys, **record, "minibatch_loss": minibatch_loss, "diverged": run.diverged})
    return rows


def outcome(run):
    """What the summary keeps of one run: the final validation accuracy, training loss, and divergence."""
    last = run.records[-1]
    loss = last["train_loss"]
    return {
        "val_accuracy": last["val_accuracy"],
        "train_loss": loss if math.isfinite(loss) else None,  # JSON has no NaN
        "diverged": bool(run.diverged or not math.isfinite(loss)),
    }


def epochs_of(settings, key):
    """The epochs of one study, capped by ``passes``: the most epochs any run makes (the command line's ``--passes``)."""
    return min(settings[key], settings["passes"])


def batch_lr(settings, B):
    """``reference_lr * B / 32``: the learning rate of batch size B in the batch-size study."""
    return settings["reference_lr"] * B / 32


# ---- the experiment ------------------------------------------------------------------------


def run(scale="budget", progress=False, root=None, data=None, studies=("curves", "init_scale", "batch_size"), **overrides):
    r"""Run the three studies; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per run and epoch with ``study``, ``norm``, ``init_scale``,
    ``batch_size``, ``lr``, ``seed``, the keys of :class:`nabla.train.FitRun`'s records
    (``val_*`` on the validation part), ``minibatch_loss`` and ``diverged``. ``summary``:
    ``{study: {setting: {norm: [outcome per seed]}}}`` with the setting as a string (the learning
    rate, the init scale, the batch size) and each outcome a dict of :func:`outcome`; batch-norm
    runs of the batch-size study add ``val_accuracy_batch_statistics``
    (:func:`batch_statistics_accuracy` with their own B) and ``val_accuracy_recalibrated``
    (test mode after :func:`recalibrate` on their training set).
    ``data`` = (X_train, y_train, X_val, y_val) skips loading FashionMNIST; ``studies`` picks
    some of the three; ``overrides`` replace settings (``passes``, the largest of the studies'
    epochs, caps every study's epochs when lowered).
    """
    settings = settings_for(SCALES, scale, overrides)
    unknown = set(studies) - {"curves", "init_scale", "batch_size"}
    if unknown:
        raise ValueError(f"unknown studies {sorted(unknown)}; the studies are curves, init_scale, batch_size")
    start = time.perf_counter()
    data = data if data is not None else load(settings, root)
    seeds = [settings["seed"] + k for k in range(settings["seeds"])]
    records, summary = [], {study: {} for study in studies}

    def one(study, setting, norm, init_scale, lr, B, epochs, seed, run_data):
        model, fit = train_one(settings, norm, init_scale, lr, B, epochs, seed, run_data, progress,
                               description=f"{study} {setting}, {norm}, seed {seed}")
        records.extend(epoch_rows(fit, study=study, norm=norm, init_scale=init_scale, batch_size=B, lr=lr, seed=seed))
        result = outcome(fit)
        if study == "batch_size" and norm == "batch":
            # Two other ways to test the same batch-norm network: with the statistics of each
            # validation batch of B, as in training, and with recalibrated running statistics.
            X_fit, _, X_val, y_val = run_data
            with threadpool_limits(limits=1, user_api="blas"):
                result["val_accuracy_batch_statistics"] = batch_statistics_accuracy(model, X_val, y_val, B)
                recalibrate(model, X_fit).eval()
                result["val_accuracy_recalibrated"] = train.evaluate(model, X_val, y_val)[1]
        summary[study].setdefault(str(setting), {}).setdefault(norm, []).append(result)

    if "curves" in studies:
        for lr in settings["curve_lrs"]:
            for norm in ("none", "batch"):
                one("curves", lr, norm, 1.0, lr, settings["batch_size"], epochs_of(settings, "curve_epochs"), settings["seed"], data)
    # The two sweeps make many runs: at budget scale they train on a seeded part of the training set.
    X_train, y_train, X_val, y_val = data
    size = settings["sweep_train_size"]
    if size is not None and size < len(X_train):
        rows = np.sort(np.random.default_rng(settings["seed"]).choice(len(X_train), size, replace=False))
        X_train, y_train = X_train[rows], y_train[rows]
    sweep_data = (X_train, y_train, X_val, y_val)
    if "init_scale" in studies:
        for seed in seeds:
            for s in settings["init_scales"]:
                for norm in ("none", "batch"):
                    one("init_scale", s, norm, s, settings["sweep_lr"], settings["batch_size"],
                        epochs_of(settings, "sweep_epochs"), seed, sweep_data)
    if "batch_size" in studies:
        for seed in seeds:
            for B in settings["batch_sizes"]:
                for norm in NORMS:
                    one("batch_size", B, norm, 1.0, batch_lr(settings, B), B, epochs_of(settings, "batch_epochs"),
                        seed, sweep_data)
    return {"experiment": "normalization", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
