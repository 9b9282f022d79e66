r"""Six optimizers training one network (chapter 17, book/optimizers.md).

The MLP 784 -> 64 -> 10 (ReLU, Glorot initialisation from ``np.random.default_rng(seed)``),
trained with mean cross-entropy on minibatches of 32 by :func:`nabla.train.fit` (epochs of a
permutation drawn from ``np.random.default_rng(seed + 1)``), once with each of SGD, momentum,
Nesterov, AdaGrad, RMSProp and Adam at the learning rates the chapter chose on the training
loss. Runs with the same seed start from the same weights and see the same minibatches: the
optimizer is the only difference. After every epoch: loss and accuracy on the training subset
and on the test set; at the end, the test accuracy of every class.

``full``: 25 % of FashionMNIST (15 000 images), 20 epochs, seeds 0 to 4, the whole test set
(the chapter's build runs 5 %, 5 epochs, 5 seeds). ``budget``: 5 %, 5 epochs, seed 0, on 2000
test images. The steps run on one BLAS thread, as in the chapter: a minibatch of 32 against a
784 x 64 matrix is too small for two threads to share.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import nn, optim, train
from nabla.experiments import CLASSES, load_data, settings_for

# The chapter's choice: each optimizer's best learning rate of a sweep over 0.0003 ... 0.3 by the
# training loss after one epoch (book/optimizers.md, "Six optimizers training one network").
CONFIGURATIONS = {
    "SGD": (optim.SGD, {"lr": 0.1}),
    "momentum": (optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "Nesterov": (optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "AdaGrad": (optim.Adagrad, {"lr": 0.01}),
    "RMSProp": (optim.RMSprop, {"lr": 0.001}),
    "Adam": (optim.Adam, {"lr": 0.003}),
}

COMMON = {"dataset": "fashion_mnist", "width": 64, "batch_size": 32}

SCALES = {
    "full": {**COMMON, "fraction": 0.25, "test_size": None, "passes": 20, "seeds": [0, 1, 2, 3, 4], "seed": 0},
    "budget": {**COMMON, "fraction": 0.05, "test_size": 2000, "passes": 5, "seeds": [0], "seed": 0},
    "smoke": {**COMMON, "fraction": 0.005, "test_size": 200, "passes": 1, "seeds": [0], "seed": 0},
}


def train_one(name, data, width, passes, batch_size, seed, progress=False):
    """Train a fresh MLP with optimizer ``name`` of :data:`CONFIGURATIONS`; the model and its :class:`nabla.train.FitRun`."""
    X_train, y_train, X_test, y_test = data
    optimizer_class, kwargs = CONFIGURATIONS[name]
    model = nn.MLP([X_train.shape[1], width, CLASSES], rng=np.random.default_rng(seed))
    run = train.fit(
        model, optimizer_class(model.parameters(), **kwargs), X_train, y_train, X_test, y_test,
        epochs=passes, batch_size=batch_size, seed=seed + 1, progress=progress, description=f"{name}, seed {seed}",
    )
    return model, run


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    """Train every optimizer from every seed; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per optimizer, seed and epoch: ``optimizer``, ``seed``, ``lr`` and the
    keys of :class:`nabla.train.FitRun`'s records, where ``val_*`` is measured on the test set.
    ``summary``: ``test_accuracy`` {optimizer: [final accuracy per seed]} and ``per_class``
    {optimizer: [[accuracy of class c for c in 0..9] per seed]} (None for a class the test set lacks). ``data`` = (X_train, y_train,
    X_test, y_test) skips loading FashionMNIST. ``overrides`` replace settings (``passes=2``).
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    # The data subset is drawn with `seed`; the runs' initialisations and orders with `seeds`.
    data = data if data is not None else load_data(settings, root)
    X_test, y_test = data[2], data[3]
    records, accuracy, per_class = [], {}, {}
    for name in CONFIGURATIONS:
        for seed in settings["seeds"]:
            with threadpool_limits(limits=1, user_api="blas"):
                model, fit = train_one(name, data, settings["width"], settings["passes"], settings["batch_size"], seed, progress)
            records += [{"optimizer": name, "seed": seed, "lr": CONFIGURATIONS[name][1]["lr"], **r} for r in fit.records]
            predictions = train.logits(model, X_test).argmax(axis=1)
            accuracy.setdefault(name, []).append(float(np.mean(predictions == y_test)))
            per_class.setdefault(name, []).append(
                [float(np.mean(predictions[y_test == c] == c)) if np.any(y_test == c) else None for c in range(CLASSES)]
            )
    summary = {"test_accuracy": accuracy, "per_class": per_class}
    return {"experiment": "optimizers", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
