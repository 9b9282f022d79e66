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
