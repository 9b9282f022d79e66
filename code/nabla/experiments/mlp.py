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
(:func:`nabla.data.flatten_and_standardize_globally`); the validation part is mapped with the
same two numbers, as a test set would be. MNIST's test set is not used here.

``full``: all 60000 training images (54000 to train on, 6000 to validate), width 128, 10
epochs. ``budget``: 5000 of them (4000 / 1000), width 64, 8 epochs, so that the 24 runs fit in
a chapter's build.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import data, nn, ops, optim, train
from nabla.experiments import CLASSES, settings_for, split_validation

COMMON = {"dataset": "mnist", "batch_size": 32, "lr": 0.01, "mu": 0.9, "seeds": 3, "seed": 0}

SCALES = {
    "full": {**COMMON, "fraction": 1.0, "validation": 6000, "width": 128, "passes": 10},
    "budget": {**COMMON, "fraction": 5000 / 60000, "validation": 1000, "width": 64, "passes": 8},
    "smoke": {**COMMON, "fraction": 600 / 60000, "validation": 200, "width": 16, "passes": 2, "seeds": 2},
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


class MLP(nn.Module):
    r"""$D \to H_1 \to \dots \to C$: ``nn.Linear`` layers with ``activation`` between them.

    ``sizes = [784, 64, 10]`` is one hidden layer of 64 units: $A = \phi(XW_1 + b_1)$ and the
    logits $L = AW_2 + b_2$. The same network as ``nabla.nn.MLP``, written out in book/mlp.md.
    """

    def __init__(self, sizes, activation=ops.relu, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.layers = [nn.Linear(d, m, rng) for d, m in zip(sizes[:-1], sizes[1:])]
        self.activation = activation

    def forward(self, X):
        A = X
        for layer in self.layers[:-1]:
            A = self.activation(layer(A))
        return self.layers[-1](A)  # logits: no activation after the last layer


class ResidualMLP(MLP):
    r"""An :class:`MLP` whose hidden layers after the first add their input to their output.

    $A_1 = \phi(XW_1 + b_1)$, then $A_k = A_{k-1} + \phi(A_{k-1} W_k + b_k)$: the sum needs
    $A_{k-1}W_k$ to have the shape of $A_{k-1}$, so every hidden layer has the same width H.
    """

    def __init__(self, sizes, activation=ops.relu, rng=None):
        if len(set(sizes[1:-1])) != 1:
            raise ValueError(f"ResidualMLP: a skip connection adds a layer's input to its output, so every hidden layer needs the same width; got {sizes[1:-1]}")
        super().__init__(sizes, activation, rng)

    def forward(self, X):
        A = self.activation(self.layers[0](X))
        for layer in self.layers[1:-1]:
            A = A + self.activation(layer(A))  # the skip connection: (N, H) + (N, H)
        return self.layers[-1](A)


def initialize(model, init, rng):
    r"""Set every layer's W and b: ``"glorot"`` leaves ``nn.Linear``'s $U(-a, a)$, $a = \sqrt{6/(D+M)}$;
    ``"zeros"`` sets everything to 0; ``"normal"`` draws $W_{ij} \sim N(0, 1)$ and sets b = 0."""
    if init not in ("glorot", "zeros", "normal"):
        raise ValueError(f"initialize: init must be 'glorot', 'zeros' or 'normal', got {init!r}")
    for layer in model.layers:
        if init == "zeros":
            layer.W.value[...] = 0.0
        elif init == "normal":
            layer.W.value[...] = rng.standard_normal(layer.W.shape)
        layer.b.value[...] = 0.0
    return model


def variant_settings(variant, settings):
    """The full description of one variant: BASE with the variant's changes, and its learning rate."""
    spec = {**BASE, **VARIANTS[variant]}
    spec["lr"] = settings["lr"] / (1 - settings["mu"]) if spec.pop("effective_lr") else settings["lr"]
    spec["momentum"] = settings["mu"] if spec["momentum"] else 0.0
    return spec


def make_model(spec, width, seed, D=784):
    """A fresh network for one variant (see :data:`VARIANTS`), initialised from ``seed``."""
    rng = np.random.default_rng(seed)
    sizes = [D] + [width] * spec["hidden_layers"] + [CLASSES]
    kind = ResidualMLP if spec["residual"] else MLP
    return initialize(kind(sizes, ACTIVATIONS[spec["activation"]], rng), spec["init"], rng)


def split(images, labels, settings):
    """``X_train, y_train, X_val, y_val``: a seeded fraction of the images, a seeded validation part held out.

    ``settings["fraction"]`` of the images are kept (:func:`nabla.data.subsample`), then
    ``settings["validation"]`` of those are held out at random, and both parts are standardised
    with the training part's one mean and standard deviation (:func:`nabla.experiments.split_validation`).
    """
    return split_validation(images, labels, settings, standardize="global")


def load(settings, root=None):
    """:func:`split` of the training set of ``settings["dataset"]`` (MNIST), loaded by :func:`nabla.data.load`."""
    return split(*data.load(data.FOLDERS[settings["dataset"]], train=True, root=root), settings)


def train_variant(spec, seed, settings, data, progress=False, description=None):
    """Train one variant from one seed with :func:`nabla.train.fit`; its :class:`~nabla.train.FitRun`."""
    X_train, y_train, X_val, y_val = data
    model = make_model(spec, settings["width"], seed, D=X_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    return train.fit(
        model, optimizer, X_train, y_train, X_val, y_val, epochs=settings["passes"],
        batch_size=settings["batch_size"], seed=seed, progress=progress, description=description,
    )


def run(scale="budget", progress=False, root=None, data=None, variants=None, **overrides):
    """Train every variant from every seed; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per variant, seed and epoch: the keys of :class:`nabla.train.FitRun`'s
    records plus ``variant``, ``seed``, ``lr``, ``momentum`` and ``diverged``. ``summary``:
    for each variant, the mean and standard deviation (n - 1 in the denominator) over seeds of
    the final validation accuracy, and how many runs diverged. ``data`` = (X_train, y_train, X_val, y_val) skips
    loading MNIST; ``variants`` (a list of names) trains only those; ``overrides`` replace
    settings (``passes`` is the number of epochs).
    """
    settings = settings_for(SCALES, scale, overrides)
    names = list(VARIANTS) if variants is None else list(variants)
    for name in names:
        if name not in VARIANTS:
            raise ValueError(f"no variant {name!r}; the variants are {', '.join(VARIANTS)}")
    start = time.perf_counter()
    data = data if data is not None else load(settings, root)
    records, summary = [], {}
    # One BLAS thread: the products of a minibatch of 32 are too small for two threads to
    # share, and on a busy machine a second thread costs several times what it saves.
    with threadpool_limits(limits=1, user_api="blas"):
        for name in names:
            spec = variant_settings(name, settings)
            finals, diverged = [], 0
            for seed in range(settings["seed"], settings["seed"] + settings["seeds"]):
                result = train_variant(spec, seed, settings, data, progress, f"{name}, seed {seed}")
                records += [
                    {"variant": name, "seed": seed, "lr": spec["lr"], "momentum": spec["momentum"], "diverged": result.diverged, **r}
                    for r in result.records
                ]
                finals.append(result.records[-1]["val_accuracy"])
                diverged += result.diverged
            summary[name] = {
                "final_val_accuracy_mean": float(np.mean(finals)),
                "final_val_accuracy_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
                "diverged": diverged,
            }
    return {"experiment": "mlp", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
