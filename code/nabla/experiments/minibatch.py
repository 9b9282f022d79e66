r"""Minibatching: updates against gradient computations (chapter 16, book/minibatch.md).

One hidden layer of width 64 (784 -> 64 -> 10, ReLU, Glorot initialisation), trained by
minibatch SGD with B indices drawn with replacement per update and round(n / B) updates per
pass, for B in 1, 2, 4, 8, 16, each at its own $\eta^*_B / 2$
(:func:`nabla.train.find_divergent_lr` with batch size B). The records carry ``updates`` and
``examples`` (= updates x B, the gradient computations), so the curves can be drawn against
either, and the summary gives the updates and passes each B needed to interpolate.

``full`` is the course material's setting: 10 % of FashionMNIST (6000 images), 50 passes, the
whole test set. ``budget`` trains on 2 % (1200 images) for 30 passes and tests on 2000 images.
"""

from __future__ import annotations

import time

from nabla import train
from nabla.experiments import load_data, settings_for, sweep_batch_sizes

COMMON = {"dataset": "fashion_mnist", "init": "glorot", "width": 64, "search_start": 1e-4}

SCALES = {
    "full": {**COMMON, "batch_sizes": [1, 2, 4, 8, 16], "fraction": 0.10, "test_size": None, "passes": 50, "search_passes": 2, "seed": 0},
    "budget": {**COMMON, "batch_sizes": [1, 2, 4, 8, 16], "fraction": 0.02, "test_size": 2000, "passes": 30, "search_passes": 1, "seed": 0},
    "smoke": {**COMMON, "batch_sizes": [1, 4], "fraction": 0.004, "test_size": 200, "passes": 2, "search_passes": 1, "seed": 0},
}


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""Train width 64 at $\eta^*_B/2$ for every batch size B; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per batch size and pass, the keys of :class:`nabla.train.TrainingRun`'s
    records plus ``batch_size``, ``eta_star`` and ``lr``. ``summary``: per batch size (as a string
    key) ``eta_star``, ``trials``, ``interpolation`` (pass or None) and ``interpolation_updates``.
    ``overrides``, ``data`` and ``root`` as in :func:`nabla.experiments.width.run`.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    data = data if data is not None else load_data(settings, root)
    records, summary = [], {}
    for B, search, _, lr, result in sweep_batch_sizes(settings, data, [0.5], progress):
        records += [{"batch_size": B, "eta_star": search.eta_star, "lr": lr, **r} for r in result.records]
        p = result.interpolation
        summary[str(B)] = {
            "eta_star": search.eta_star,
            "lr": lr,
            "trials": search.trials,
            "interpolation": p,
            "interpolation_updates": None if p is None else p * train.updates_per_pass(len(data[0]), B),
        }
    return {"experiment": "minibatch", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
