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
