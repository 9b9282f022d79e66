r"""Width and interpolation (chapter 15, book/width.md).

One hidden layer of width H (784 -> H -> 10, ReLU), weights $10^{-6} z$ with $z \sim N(0, 1)$
and biases 0, trained by per-example SGD (B = 1) at $\eta^*/2$, where $\eta^*$ is the divergent
learning rate of width 16 (:func:`nabla.train.find_divergent_lr`). For each width: the four
curves (training and test loss and accuracy after every pass) and the interpolation pass, the
first pass with 100 % training accuracy.

``full`` is the course material's setting: widths 8, 16, 32, 128, 512 on 12 % of FashionMNIST
(7200 images), 120 passes, the whole test set. ``budget`` keeps the widths but trains on 2 %
(1200 images) for 40 passes and tests on 2000 images, so the story (wider interpolates sooner)
shows in under a minute.
"""

from __future__ import annotations

import time

from nabla.experiments import interpolation_by, load_data, search_eta_star, settings_for, train_mlp

COMMON = {"dataset": "fashion_mnist", "init": "tiny", "batch_size": 1, "search_width": 16, "search_start": 1e-4}

SCALES = {
    "full": {**COMMON, "widths": [8, 16, 32, 128, 512], "fraction": 0.12, "test_size": None, "passes": 120, "search_passes": 2, "seed": 0},
    "budget": {**COMMON, "widths": [8, 16, 32, 128, 512], "fraction": 0.02, "test_size": 2000, "passes": 40, "search_passes": 1, "seed": 0},
    "smoke": {**COMMON, "widths": [8, 32], "fraction": 0.004, "test_size": 200, "passes": 2, "search_passes": 1, "seed": 0},
}


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""Train every width at $\eta^*/2$ of width 16; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per width and pass, the keys of :class:`nabla.train.TrainingRun`'s
    records plus ``width`` and ``lr``. ``summary``: ``eta_star``, ``lr`` (= eta_star / 2), the
    search's ``trials`` [(lr, diverged), ...] and ``interpolation`` {width: pass or None}.
    ``overrides`` replace settings (e.g. ``passes=5``); ``data`` = (X_train, y_train, X_test,
    y_test) skips loading FashionMNIST; ``root`` is the data root.
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    data = data if data is not None else load_data(settings, root)
    X_train, y_train = data[:2]
    search = search_eta_star(settings, settings["search_width"], settings["batch_size"], settings["init"], X_train, y_train)
    lr = search.eta_star / 2
    records = []
    for width in settings["widths"]:
        result = train_mlp(settings, width, settings["batch_size"], lr, data, progress, f"width {width}")
        records += [{"width": width, "lr": lr, **record} for record in result.records]
    summary = {
        "eta_star": search.eta_star,
        "lr": lr,
        "trials": search.trials,
        "interpolation": {str(k): v for k, v in interpolation_by(records, "width").items()},
    }
    return {"experiment": "width", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
