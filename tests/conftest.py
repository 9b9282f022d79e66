"""Shared test configuration: Hypothesis profiles and the repository's paths."""

import os
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SITE = Path(os.environ.get("BOOK_SITE") or ROOT / "_build" / "html")  # BOOK_SITE: test another build

# "ci" is the profile of record: fixed derandomised examples, so a run is reproducible.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def noisy_clusters(n_train, n_test, spread=1.0, seed=0):
    """``X_train, y_train, X_test, y_test``: ten class centres in 784 dimensions plus unit noise.

    A stand-in for MNIST-sized data, so the experiments' tests need not load a data set.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 784)) * spread
    y = rng.integers(0, 10, n_train + n_test)
    X = centres[y] + rng.standard_normal((n_train + n_test, 784))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def noisy_split(n_train, n_eval, spread=1.0, seed=0, eval_set="test"):
    """:func:`noisy_clusters` as a :class:`nabla.data.Split`, its second part the evaluation set (``eval_set``)."""
    from nabla.data import Split

    return Split(*noisy_clusters(n_train, n_eval, spread, seed), eval_set)
