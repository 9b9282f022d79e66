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


def compare(frames, variants, title, accuracy_from="auto", legend="lower right"):
    """The chapter's figure of some variants: validation accuracy and training loss (log scale), mean $\\pm$ sd over seeds.

    ``frames``: ``{row title: DataFrame of the records, or None}``, one row of panels each;
    ``variants``: ``{variant: legend label}``; ``accuracy_from``: where the accuracy axis starts
    (see :func:`nabla.plotting.band_grid`). Returns ``(fig, axes)``.
    """
    from nabla.plotting import band_grid

    panels = [("eval_accuracy", "validation accuracy", {"bottom": accuracy_from}),
              ("train_loss", "training loss (cross-entropy)", {"log": True})]
    return band_grid(frames, "variant", variants, panels, title, legend)


# ---- the standardisation trap of the chapter's data section ------------------------------------


def describe(parts):
    """A table of ``{name: (X, y)}``: images, mean, standard deviation, extremes, share of the commonest digit."""
    import pandas as pd

    return pd.DataFrame({name: {"images": len(X), "mean": X.mean(), "standard deviation": X.std(), "smallest": X.min(),
                                "largest": X.max(), "share of the commonest digit": np.bincount(y).max() / len(y)}
                         for name, (X, y) in parts.items()}).T.round(3)


def extremes(standardised):
    """For ``{name: (X_train, X_test)}``: the largest |x'| of each part, and how many test images exceed 1e5 anywhere."""
    import pandas as pd

    return pd.DataFrame({name: {"largest |x'|, training images": np.abs(X_train).max(),
                                "largest |x'|, test images": np.abs(X_test).max(),
                                "test images with |x'| > 1e5": int((np.abs(X_test) > 1e5).any(axis=1).sum())}
                         for name, (X_train, X_test) in standardised.items()}).T


def standardisation_trap(standardised, y_kept, test_labels, blank, inked, settings):
    """Train the base network one epoch on each standardisation of the kept images; what happened to the blank pixels' weights.

    ``standardised``: ``{name: (X_kept, X_test)}``; ``blank``: the pixels blank in every kept
    image; ``inked``: the test images with ink at one of them. One row per standardisation: are
    the rows of $W_1$ at the blank pixels unchanged after the epoch, and the test accuracy on the
    ``inked`` images and on the others.
    """
    import pandas as pd

    rows = {}
    for name, (X_kept, X_test) in standardised.items():
        model = seeded_mlp([X_kept.shape[1], settings["width"], CLASSES], "glorot", 0)
        W1_start = model.layers[0].W.value.copy()
        train.fit(model, optim.SGD(model.parameters(), lr=settings["lr"]), data.Split(X_kept, y_kept), epochs=1, seed=0)
        right = train.logits(model, X_test).argmax(axis=1) == test_labels
        rows[name] = {"rows of W1 at blank pixels unchanged": np.array_equal(W1_start[blank], model.layers[0].W.value[blank]),
                      "test accuracy, images inked at a blank pixel": right[inked].mean(),
                      "test accuracy, the other images": right[~inked].mean()}
    return pd.DataFrame(rows).T


def initial_scales(X, y, width, inits=("glorot", "normal")):
    """Before training, for the base network under each initialisation: the sd of $Z = XW_1$, of the logits, and the loss on (X, y)."""
    import pandas as pd

    rows = {}
    for init in inits:
        model = seeded_mlp([X.shape[1], width, CLASSES], init, 0)
        rows[init] = {"sd of Z": (X @ model.layers[0].W.value).std(), "sd of the logits": train.logits(model, X).std(),
                      "initial training loss": train.evaluate(model, X, y)[0]}
    return pd.DataFrame(rows).T


# ---- the chapter's checks of single steps -------------------------------------------------------


class SGDThatRemembers(optim.SGD):
    """SGD that keeps a copy of every parameter after its first step, to compare with a step taken by hand."""

    def step(self):
        super().step()
        if not hasattr(self, "after_first_step"):
            self.after_first_step = [p.value.copy() for p in self.params]


def train_from_zeros(activation, X, y, settings):
    """The base network with ``activation`` and every weight and bias 0, trained one epoch on (X, y) from seed 0; its parameters' values."""
    model = seeded_mlp([X.shape[1], settings["width"], CLASSES], "zeros", 0, activation=activation)
    train.fit(model, optim.SGD(model.parameters(), lr=settings["lr"]), data.Split(X, y), epochs=1,
              batch_size=settings["batch_size"], seed=0)
    return [p.value for p in model.parameters()]
