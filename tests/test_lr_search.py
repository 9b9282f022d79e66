"""nabla.lr_search: the divergence criterion on a quadratic, the search for eta*, and the sweep over batch sizes."""

import math
from functools import partial

import numpy as np
import pytest

from nabla import lr_search, nn
from nabla.data import Split

D, C = 784, 10


def quadratic_diverges(a, steps=5, x0=1.0):
    """Gradient descent on f(x) = a x^2 / 2, judged by lr_search.diverged after ``steps`` steps."""

    def diverges(lr):
        x = x0
        for _ in range(steps):
            x -= lr * a * x
        return lr_search.diverged(a * x0**2 / 2, a * x**2 / 2)

    return diverges


@pytest.mark.parametrize("a", [0.5, 3.0, 4.0, 10.0, 250.0])
def test_divergence_criterion_matches_the_analytic_boundary_on_a_quadratic(a):
    diverges = quadratic_diverges(a)
    boundary = 2 / a
    assert not diverges(boundary * (1 - 1e-6))
    assert diverges(boundary * (1 + 1e-6))
    for lr in np.geomspace(1e-4, 100, 50):
        assert diverges(lr) == (lr > boundary * (1 + 1e-12)) or abs(lr - boundary) < 1e-12


@pytest.mark.parametrize("a", [0.5, 4.0])
def test_at_exactly_two_over_a_the_loss_oscillates_and_does_not_diverge(a):
    assert not quadratic_diverges(a)(2 / a)  # (1 - 2)^2k = 1: the loss comes back to where it started


def test_divergence_criterion_on_nan_and_inf():
    assert lr_search.diverged(1.0, math.nan) and lr_search.diverged(1.0, math.inf)
    assert lr_search.diverged(1.0, 1.0 + 1e-12) and not lr_search.diverged(1.0, 1.0) and not lr_search.diverged(1.0, 0.5)


def test_eta_star_search_on_a_quadratic_goes_by_tens_then_doubles():
    search = lr_search.find_divergent_lr(quadratic_diverges(3.0))  # diverges for lr > 2/3
    assert search.eta_star == 0.4
    assert search.trials == [(1e-4, False), (1e-3, False), (1e-2, False), (0.1, False), (1.0, True), (0.2, False), (0.4, False), (0.8, True)]


@pytest.mark.parametrize("a", [0.01, 0.7, 3.0, 20.0, 3e4, 1e7])
def test_eta_star_brackets_the_analytic_boundary(a):
    search = lr_search.find_divergent_lr(quadratic_diverges(a))
    assert search.eta_star <= 2 / a < 2 * search.eta_star
    tried = dict(search.trials)
    assert tried[search.eta_star] is False and tried[float(f"{2 * search.eta_star:.12g}")] is True


def test_eta_star_search_goes_down_when_the_start_diverges():
    search = lr_search.find_divergent_lr(quadratic_diverges(3e4))  # 2/a = 6.7e-5 < 1e-4
    assert search.trials == [(1e-4, True), (1e-5, False), (2e-5, False), (4e-5, False), (8e-5, True)]
    assert search.eta_star == 4e-5


def test_eta_star_search_fails_clearly():
    with pytest.raises(ValueError, match="no learning rate up to"):
        lr_search.find_divergent_lr(lambda lr: False)
    with pytest.raises(ValueError, match="every learning rate down to"):
        lr_search.find_divergent_lr(lambda lr: True)
    for lr in (0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
            lr_search.find_divergent_lr(lambda lr: True, start=lr)


def make_mlp(width=8, seed=0):
    return nn.MLP([D, width, C], rng=np.random.default_rng(seed))


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, D)), rng.integers(0, C, 40)
    return Split(X, y, X[:10], y[:10], "test")


def test_eta_star_on_a_tiny_mlp(problem):
    search = lr_search.search_eta_star(make_mlp, problem)
    assert not lr_search.sgd_diverges(make_mlp, problem, search.eta_star)
    assert lr_search.sgd_diverges(make_mlp, problem, 2 * search.eta_star)
    lrs = [lr for lr, _ in search.trials]
    first_bad = next(i for i, (_, bad) in enumerate(search.trials) if bad)
    assert lrs[: first_bad + 1] == [float(f"{1e-4 * 10**k:.12g}") for k in range(first_bad + 1)]  # powers of ten
    assert all(b / a == 2 for a, b in zip(lrs[first_bad + 1 :], lrs[first_bad + 2 :]))  # then doubling


def test_the_l2_penalty_is_part_of_the_objective(problem):
    """With reg, the fused step multiplies the weights by 1 - lr reg: beyond lr reg = 2 they flip and grow, and the objective with them."""
    assert not lr_search.sgd_diverges(make_mlp, problem, 0.01)
    assert not lr_search.sgd_diverges(make_mlp, problem, 0.01, reg=1.0)
    assert lr_search.sgd_diverges(make_mlp, problem, 0.01, reg=500.0)


def test_sweep_searches_each_batch_size_and_trains_at_its_factors(problem):
    rows = list(lr_search.sweep_batch_sizes(make_mlp, problem, [1, 4], [0.5, 2.0], epochs=2))
    assert [(B, factor) for B, _, factor, _, _ in rows] == [(1, 0.5), (1, 2.0), (4, 0.5), (4, 2.0)]
    for B, search, factor, lr, run in rows:
        assert search.eta_star == lr_search.search_eta_star(make_mlp, problem, B).eta_star
        assert lr == factor * search.eta_star and run.eval_set == "test"
        assert [r["steps"] for r in run.records][:2] == [0, round(40 / B)]
    assert partial(lr_search.sweep_batch_sizes, make_mlp, problem, [1], [1.0], epochs=1)  # a generator: nothing runs yet
