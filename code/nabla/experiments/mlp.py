r"""An MLP from scratch (chapter 13, book/mlp.md): MNIST, eight variants of one network, three seeds each.

The base network is $D \to H \to C$ with ReLU, Glorot initialisation (``nabla.nn.Linear``'s own)
and plain minibatch SGD, trained by :func:`nabla.train.fit` on a seeded part of MNIST's training
set, with a seeded validation split held out of it. Each variant changes one thing:

==========  ===============================================================
variant     what changes
==========  ===============================================================
relu        nothing: the base network
sigmoid     the hidden activation is the logistic sigmoid
deeper      a second hidden layer of the same width H
residual    the second hidden layer gets a skip connection, A + relu(A W + b)
zeros       every weight and bias starts at 0
normal      every weight starts as a standard normal N(0, 1), biases at 0
momentum    SGD with momentum mu = 0.9, same learning rate eta
sgd_fast    plain SGD at momentum's effective learning rate eta / (1 - mu)
==========  ===============================================================

Every variant is trained from ``seeds`` seeds (seed, seed + 1, ...), which fix the
initialisation and the order of the minibatches; the data (the subset and the validation
split) come from ``seed`` alone, so every run sees the same images. Records: one row per
variant, seed and epoch, with the validation accuracy after every epoch.

The images are standardised with *one* mean and standard deviation, those of the training part
(``standardize="global"`` of :func:`nabla.data.split`); the validation part is mapped with the
same two numbers, as a test set would be. MNIST's test set is not used here.

``full``: all 60000 training images (54000 to train on, 6000 to validate), width 128, 10
epochs. ``budget``: 5000 of them (4000 / 1000), width 64, 8 epochs, so that the 24 runs fit in
a chapter's build.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import data, ops, optim, train
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, seeded_mlp, settings_for

COMMON = {"dataset": "mnist", "batch_size": 32, "lr": 0.01, "mu": 0.9, "seeds": 3, "seed": 0}

SCALES = {
    "full": {**COMMON, "fraction": 1.0, "validation": 6000, "width": 128, "epochs": 10},
    "budget": {**COMMON, "fraction": 5000 / 60000, "validation": 1000, "width": 64, "epochs": 8},
    "smoke": {**COMMON, "fraction": 600 / 60000, "validation": 200, "width": 16, "epochs": 2, "seeds": 2},
}

ACTIVATIONS = {"relu": ops.relu, "sigmoid": ops.sigmoid}

# What each variant changes, relative to BASE. "momentum": SGD with momentum mu at the settings'
# learning rate eta; "effective_lr": plain SGD at momentum's effective rate eta / (1 - mu).
BASE = {"activation": "relu", "hidden_layers": 1, "residual": False, "init": "glorot", "momentum": False, "effective_lr": False}
VARIANTS = {
    "relu": {},
    "sigmoid": {"activation": "sigmoid"},
    "deeper": {"hidden_layers": 2},
    "residual": {"hidden_layers": 2, "residual": True},
    "zeros": {"init": "zeros"},
    "normal": {"init": "normal"},
    "momentum": {"momentum": True},
    "sgd_fast": {"effective_lr": True},
}


def variant_settings(variant, settings):
    """The full description of one variant: BASE with the variant's changes, and its learning rate."""
    spec = {**BASE, **VARIANTS[variant]}
    spec["lr"] = settings["lr"] / (1 - settings["mu"]) if spec.pop("effective_lr") else settings["lr"]
    spec["momentum"] = settings["mu"] if spec["momentum"] else 0.0
    return spec


def make_model(spec, width, seed, D=784):
    """A fresh network for one variant (see :data:`VARIANTS`), initialised from ``seed``."""
    sizes = [D] + [width] * spec["hidden_layers"] + [CLASSES]
    return seeded_mlp(sizes, spec["init"], seed, activation=ACTIVATIONS[spec["activation"]], residual=spec["residual"])


def load(settings, root=None):
    """The split: a seeded ``fraction`` of MNIST's training set, ``validation`` of it held out, standardised globally."""
    return data.split(settings["dataset"], settings["fraction"], settings["seed"], hold_out=settings["validation"],
                      standardize="global", root=root)


def train_variant(spec, seed, settings, split, progress=False, description=None):
    """Train one variant from one seed with :func:`nabla.train.fit`; its :class:`~nabla.train.Run`."""
    model = make_model(spec, settings["width"], seed, D=split.X_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    return train.fit(model, optimizer, split, epochs=settings["epochs"], batch_size=settings["batch_size"], seed=seed,
                     progress=progress, description=description)


def run(scale="budget", progress=False, root=None, split=None, variants=None, **overrides):
    """Train every variant from every seed; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per variant, seed and epoch: the keys of :data:`nabla.train.RECORD_KEYS`
    plus ``variant``, ``seed``, ``lr``, ``momentum`` and ``diverged``. ``summary``: for each
    variant, the mean and standard deviation (n - 1 in the denominator) over seeds of the final
    validation accuracy, and how many runs diverged. ``split`` skips loading MNIST; ``variants``
    (a list of names) trains only those; ``overrides`` replace settings.
    """
    settings = settings_for(SCALES, scale, overrides)
    names = list(VARIANTS) if variants is None else list(variants)
    for name in names:
        if name not in VARIANTS:
            raise ValueError(f"no variant {name!r}; the variants are {', '.join(VARIANTS)}")
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    records, summary = [], {}
    # One BLAS thread: the products of a minibatch of 32 are too small for two threads to
    # share, and on a busy machine a second thread costs several times what it saves.
    with threadpool_limits(limits=1, user_api="blas"):
        for name in names:
            spec = variant_settings(name, settings)
            finals, diverged = [], 0
            for seed in range(settings["seed"], settings["seed"] + settings["seeds"]):
                result = train_variant(spec, seed, settings, split, progress, f"{name}, seed {seed}")
                records += [
                    {"variant": name, "seed": seed, "lr": spec["lr"], "momentum": spec["momentum"], "diverged": result.diverged, **r}
                    for r in result.records
                ]
                finals.append(result.records[-1]["eval_accuracy"])
                diverged += result.diverged
            summary[name] = {
                "final_eval_accuracy_mean": float(np.mean(finals)),
                "final_eval_accuracy_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
                "diverged": diverged,
            }
    return Result("mlp", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# ---- what the chapter reads off the records ----------------------------------------------------


def finals(frame, variant, column="eval_accuracy"):
    """The last epoch's value of ``column`` in each seed's run of ``variant``, as an array (``frame``: the records as a DataFrame)."""
    rows = frame[frame["variant"] == variant]
    return rows[rows["epoch"] == rows["epoch"].max()][column].to_numpy()


def curve(frame, variant, column="eval_accuracy"):
    """The mean over seeds of ``column`` at every epoch of ``variant``, as an array."""
    return frame[frame["variant"] == variant].groupby("epoch")[column].mean().to_numpy()


def final_table(frames, variants):
    """Final validation accuracy (mean and sd over seeds) and training loss of each variant, per scale.

    ``frames``: ``{scale: DataFrame of the records, or None}``; ``variants``: ``{variant: row label}``.
    """
    import pandas as pd

    columns = {}
    for scale, frame in frames.items():
        if frame is None:
            continue
        columns[f"val. accuracy, {scale}"] = [finals(frame, v).mean() for v in variants]
        columns[f"sd, {scale}"] = [finals(frame, v).std(ddof=1) for v in variants]
        columns[f"training loss, {scale}"] = [finals(frame, v, "train_loss").mean() for v in variants]
    return pd.DataFrame(columns, index=list(variants.values())).round(4)
