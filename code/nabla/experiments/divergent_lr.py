r"""The divergent learning rate $\eta^*$ (chapter 14, book/divergent-lr.md).

For a one-hidden-layer ReLU network of width 16 (Glorot initialisation) and each batch size B:
the automated search of :func:`nabla.train.find_divergent_lr` (powers of 10 from $10^{-4}$, then
powers of 2; "diverges" is :func:`nabla.train.diverged` after ``search_passes`` passes), then
training curves at $\eta^*/2$, $\eta^*$ and $2\eta^*$, which show why the experiments train at
$\eta^*/2$: $\eta^*$ is at the edge, $2\eta^*$ is past it.

``full``: 12 % of FashionMNIST, B in 1, 4, 16, 20 passes per curve, the whole test set.
``budget``: 2 %, B in 1 and 16, 5 passes, 2000 test images.
"""

from __future__ import annotations

import time

from nabla.experiments import load_data, settings_for, sweep_batch_sizes

COMMON = {"dataset": "fashion_mnist", "init": "glorot", "width": 16, "search_start": 1e-4, "factors": [0.5, 1.0, 2.0]}

SCALES = {
    "full": {**COMMON, "batch_sizes": [1, 4, 16], "fraction": 0.12, "test_size": None, "passes": 20, "search_passes": 2, "seed": 0},
    "budget": {**COMMON, "batch_sizes": [1, 16], "fraction": 0.02, "test_size": 2000, "passes": 5, "search_passes": 1, "seed": 0},
    "smoke": {**COMMON, "batch_sizes": [1], "fraction": 0.004, "test_size": 200, "passes": 2, "search_passes": 1, "seed": 0},
}


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""Search $\eta^*_B$ for every batch size B and train at ``factors`` x $\eta^*_B$.

    ``records``: one dict per (batch size, factor, pass), the keys of
    :class:`nabla.train.TrainingRun`'s records plus ``batch_size``, ``factor``, ``eta_star``,
    ``lr`` and ``diverged`` (the run stopped on a non-finite loss). ``summary``: per batch size
    (string key) ``eta_star`` and the search's ``trials`` [(lr, diverged), ...].
    ``overrides``, ``data`` and ``root`` as in :func:`nabla.experiments.width.run`.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    data = data if data is not None else load_data(settings, root)
    records, summary = [], {}
    for B, search, factor, lr, result in sweep_batch_sizes(settings, data, settings["factors"], progress):
        summary[str(B)] = {"eta_star": search.eta_star, "trials": search.trials}
        records += [
            {"batch_size": B, "factor": factor, "eta_star": search.eta_star, "lr": lr, "diverged": result.diverged, **r}
            for r in result.records
        ]
    return {"experiment": "divergent_lr", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
