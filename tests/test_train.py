"""nabla.train: the fast path against nabla's and torch's autograd, sampling, bookkeeping, eta*."""

import math

import numpy as np
import pytest
import torch

from nabla import data, nn, ops, optim, train
from nabla.engine import Tensor

D, C = 784, 10


def random_problem(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), rng.integers(0, C, n)


def torch_steps(model, X, y, batches, lr, reg):
    """The same SGD updates by torch's autograd, float64; the final parameters as numpy arrays."""
    W1, b1, W2, b2 = (torch.tensor(p.value, requires_grad=True) for p in model.parameters())
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    for batch in batches:
        batch = torch.from_numpy(batch)
        logits = torch.relu(X[batch] @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(logits, y[batch]) + reg / 2 * ((W1 * W1).sum() + (W2 * W2).sum())
        loss.backward()
        with torch.no_grad():
            for p in (W1, b1, W2, b2):
                p -= lr * p.grad
                p.grad = None
    return [p.detach().numpy() for p in (W1, b1, W2, b2)]


def assert_same_training(X, y, width, batch_size, reg, lr, steps=100, init="glorot"):
    """fast_step, autograd_step and torch make the same 100 updates, to 1e-10."""
    fast, slow = train.init_mlp([D, width, C], init=init, seed=3), train.init_mlp([D, width, C], init=init, seed=3)
    batches = np.random.default_rng(4).integers(0, len(X), size=(steps, batch_size))
    expected = torch_steps(fast, X, y, batches, lr, reg)
    if batch_size == 1:  # the per-example path train() uses for B = 1
        step = train.per_example_stepper(fast, X, y, reg)
        for (i,) in batches.tolist():
            step(i, lr)
    else:
        for batch in batches:
            train.fast_step(fast, X[batch], y[batch], lr, reg)
    for batch in batches:
        train.autograd_step(slow, X[batch], y[batch], lr, reg)
    moved = max(np.abs(p.value - q).max() for p, q in zip(train.init_mlp([D, width, C], init=init, seed=3).parameters(), expected))
    assert moved > 1e-3, "the test is only meaningful if training moved the parameters"
    for name, p, q, t in zip(["W1", "b1", "W2", "b2"], fast.parameters(), slow.parameters(), expected):
        np.testing.assert_allclose(p.value, t, rtol=0, atol=1e-10, err_msg=f"fast vs torch: {name}")
        np.testing.assert_allclose(q.value, t, rtol=0, atol=1e-10, err_msg=f"nabla autograd vs torch: {name}")


# ---- the fast path matches autograd --------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("reg", [0.0, 1e-2])
@pytest.mark.parametrize("width", [7, 32])
def test_fast_path_matches_nabla_and_torch_over_100_steps(batch_size, reg, width):
    X, y = random_problem()
    assert_same_training(X, y, width, batch_size, reg, lr=0.02)


def test_the_blas_updates_write_into_the_parameters_themselves():
    """scipy's dger and dgemm are handed W.T with overwrite: they must change W's own memory, in float64.

    Were W copied on the way in (wrong order or dtype), the update would land in the copy and be lost.
    """
    rng = np.random.default_rng(0)
    W, x, g = rng.standard_normal((D, 7)), rng.standard_normal(D), rng.standard_normal(7)
    X, G = rng.standard_normal((3, D)), rng.standard_normal((3, 7))
    W_0, address = W.copy(), W.ctypes.data
    updated = train.dger(0.5, g, x, a=W.T, overwrite_a=True)
    assert np.shares_memory(updated, W) and updated.dtype == np.float64
    updated = train.dgemm(0.2, G.T, X.T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)
    assert np.shares_memory(updated, W) and updated.dtype == np.float64
    train.add_outer(W, -0.25, x, g)
    train.add_gram(W, -0.1, X, G)
    assert W.ctypes.data == address and W.dtype == np.float64 and W.flags.c_contiguous
    np.testing.assert_allclose(W, W_0 + 0.25 * np.outer(x, g) + 0.1 * X.T @ G, rtol=0, atol=1e-12)


def test_the_steps_update_the_models_arrays_in_place():
    X, y = random_problem()
    for batch_size in (1, 4):
        model = train.init_mlp([D, 8, C], seed=0)
        arrays = [p.value for p in model.parameters()]
        before = [a.copy() for a in arrays]
        if batch_size == 1:
            train.per_example_stepper(model, X, y)(3, 0.1)
        else:
            train.fast_step(model, X[:batch_size], y[:batch_size], 0.1)
        for a, b, p in zip(arrays, before, model.parameters()):
            assert p.value is a and not np.array_equal(a, b)


@pytest.mark.parametrize("bad", [lambda W: W.astype(np.float32), lambda W: np.asfortranarray(W)])
def test_weights_blas_cannot_update_in_place_are_refused(bad):
    X, y = random_problem()
    model = train.init_mlp([D, 8, C], seed=0)
    model.layers[0].W.value = bad(model.layers[0].W.value)
    with pytest.raises(TypeError, match="needs writeable C-contiguous float64"):
        train.per_example_stepper(model, X, y)
    with pytest.raises(TypeError, match="needs writeable C-contiguous float64"):
        train.fast_step(model, X[:2], y[:2], 0.1)


def test_the_steps_run_on_one_blas_thread_and_evaluation_on_all(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {info["filepath"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    everywhere = blas_threads()
    assert len(everywhere) >= 1  # numpy's OpenBLAS (and scipy's, a second library)
    seen = {"step": [], "evaluate": []}
    real_stepper, real_evaluate = train.per_example_stepper, train.evaluate

    def stepper(*args):
        step = real_stepper(*args)
        return lambda i, lr: seen["step"].append(blas_threads()) or step(i, lr)

    monkeypatch.setattr(train, "per_example_stepper", stepper)
    monkeypatch.setattr(train, "evaluate", lambda *args: seen["evaluate"].append(blas_threads()) or real_evaluate(*args))
    X, y = random_problem(5)
    train.train(train.init_mlp([D, 4, C], seed=0), X, y, lr=0.01, passes=1)
    assert seen["step"] and all(set(t.values()) == {1} and t.keys() == everywhere.keys() for t in seen["step"])
    assert seen["evaluate"] and all(t == everywhere for t in seen["evaluate"])
    assert blas_threads() == everywhere  # restored


def test_the_minibatch_fast_step_matches_at_batch_size_one_too():
    X, y = random_problem()
    a, b = train.init_mlp([D, 16, C], seed=3), train.init_mlp([D, 16, C], seed=3)
    step = train.per_example_stepper(a, X, y, 1e-2)
    for i in np.random.default_rng(0).integers(0, len(X), 100).tolist():
        step(i, 0.02)
        train.fast_step(b, X[i : i + 1], y[i : i + 1], 0.02, 1e-2)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=0, atol=1e-10)


def test_fast_path_matches_with_tiny_initialisation():
    X, y = random_problem()
    assert_same_training(X, y, 16, 1, 0.0, lr=0.05, init="tiny")


@pytest.fixture(scope="module")
def fashion_rows():
    try:
        X_train, y_train, _, _ = data.prepare("fashion_mnist", fraction=0.002, seed=0)
    except data.DataError as error:  # pragma: no cover - the data root is seeded on the build machines
        pytest.skip(f"FashionMNIST not available: {error}")
    return X_train[:60], y_train[:60]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_fast_path_matches_on_real_fashion_mnist_rows(fashion_rows, batch_size):
    X, y = fashion_rows
    assert_same_training(X, y, 32, batch_size, 1e-3, lr=0.01)


def test_train_fast_and_autograd_give_the_same_run():
    X, y = random_problem(40)
    runs = [
        train.train(train.init_mlp([D, 8, C], seed=1), X, y, X[:10], y[:10], lr=0.01, passes=3, batch_size=2, reg=1e-3, method=m)
        for m in ("fast", "autograd")
    ]
    assert [r.method for r in runs] == ["fast", "autograd"]
    for a, b in zip(*(r.records for r in runs)):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "penalty", "updates"):
            assert a[key] == pytest.approx(b[key], abs=1e-10)


def test_general_path_trains_any_nabla_model():
    X, y = random_problem(40)
    model = nn.MLP([D, 8, 6, C], activation=ops.tanh, rng=np.random.default_rng(0))
    assert not train.is_fast_mlp(model)
    run = train.train(model, X, y, lr=0.05, passes=3)
    assert run.method == "autograd"
    assert run.records[-1]["train_loss"] < run.records[0]["train_loss"]
    assert math.isnan(run.records[-1]["test_loss"])  # no test set given


# ---- initialisation ----------------------------------------------------------------------


def test_tiny_initialisation_is_seeded_small_normal_weights_and_zero_biases():
    model = train.init_mlp([D, 64, C], init="tiny", seed=0)
    W1, b1, W2, b2 = (p.value for p in model.parameters())
    assert np.std(W1) == pytest.approx(1e-6, rel=0.02) and np.abs(np.mean(W1)) < 1e-7
    assert np.all(b1 == 0) and np.all(b2 == 0)
    again = train.init_mlp([D, 64, C], init="tiny", seed=0)
    for p, q in zip(model.parameters(), again.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_glorot_initialisation_is_nn_linears():
    model = train.init_mlp([D, 16, C], init="glorot", seed=5)
    reference = nn.MLP([D, 16, C], rng=np.random.default_rng(5))
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_unknown_initialisation_is_refused():
    with pytest.raises(ValueError, match="init must be 'glorot' or 'tiny'"):
        train.init_mlp([D, 4, C], init="zeros")


# ---- sampling and per-pass bookkeeping ---------------------------------------------------


def test_a_pass_draws_n_single_examples_with_replacement():
    rng = np.random.default_rng(0)
    batches = train.sample_pass(rng, 100, 1)
    assert batches.shape == (100, 1)
    assert batches.min() >= 0 and batches.max() < 100
    assert len(np.unique(batches)) < 100  # with replacement: about 1/e of the examples are missed
    np.testing.assert_array_equal(batches, train.sample_pass(np.random.default_rng(0), 100, 1))
    counts = np.bincount(train.sample_pass(np.random.default_rng(1), 100_000, 1).ravel() % 10, minlength=10)
    assert np.all(np.abs(counts / 100_000 - 0.1) < 0.01)  # uniform


@pytest.mark.parametrize("n, B, updates", [(100, 1, 100), (100, 4, 25), (10, 3, 3), (7, 2, 4), (5, 5, 1)])
def test_a_minibatch_pass_makes_round_n_over_B_updates(n, B, updates):
    assert train.updates_per_pass(n, B) == updates
    assert train.sample_pass(np.random.default_rng(0), n, B).shape == (updates, B)


@pytest.mark.parametrize("B", [1, 3])
def test_train_makes_the_right_number_of_updates_and_records_every_pass(monkeypatch, B):
    X, y = random_problem(20)
    calls = []
    real, real_stepper = train.fast_step, train.per_example_stepper

    def counting_stepper(*args):
        step = real_stepper(*args)
        return lambda i, lr: calls.append(1) or step(i, lr)

    monkeypatch.setattr(train, "fast_step", lambda model, Xb, yb, lr, reg: calls.append(len(Xb)) or real(model, Xb, yb, lr, reg))
    monkeypatch.setattr(train, "per_example_stepper", counting_stepper)
    run = train.train(train.init_mlp([D, 4, C], seed=0), X, y, lr=0.01, passes=3, batch_size=B)
    per_pass = round(20 / B)
    assert calls == [B] * (3 * per_pass)
    assert [r["pass"] for r in run.records] == [0, 1, 2, 3]
    assert [r["updates"] for r in run.records] == [0, per_pass, 2 * per_pass, 3 * per_pass]
    assert [r["examples"] for r in run.records] == [0, per_pass * B, 2 * per_pass * B, 3 * per_pass * B]


def test_the_same_seed_gives_the_same_run():
    X, y = random_problem(20)
    a, b = (train.train(train.init_mlp([D, 4, C], seed=0), X, y, lr=0.01, passes=2, seed=7) for _ in range(2))
    c = train.train(train.init_mlp([D, 4, C], seed=0), X, y, lr=0.01, passes=2, seed=8)
    assert [r["train_loss"] for r in a.records] == [r["train_loss"] for r in b.records]
    assert [r["train_loss"] for r in a.records] != [r["train_loss"] for r in c.records]


def test_evaluate_is_mean_cross_entropy_and_accuracy():
    L = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    y = np.array([0, 1])
    loss, accuracy = train.cross_entropy_and_accuracy(L, y)
    expected = -np.mean([2 - np.log(np.exp(2) + 2), 0 - np.log(2 + np.exp(5))])
    assert loss == pytest.approx(expected, rel=1e-14) and accuracy == 0.5
    assert np.isfinite(train.cross_entropy_and_accuracy(np.array([[1e308, -1e308]]), np.array([0]))[0])


# ---- interpolation ---------------------------------------------------------------------


def test_interpolation_is_the_first_pass_with_full_training_accuracy():
    records = [{"pass": p, "train_accuracy": a} for p, a in enumerate([1.0, 0.5, 0.99, 1.0, 0.98, 1.0])]
    assert train.interpolation_pass(records) == 3  # pass 0 (before training) does not count
    assert train.interpolation_pass(records[:3]) is None


def test_a_wide_network_interpolates_a_small_set():
    X, y = random_problem(30)
    run = train.train(train.init_mlp([D, 64, C], seed=0), X, y, lr=0.01, passes=20)
    assert run.interpolation is not None
    first = next(r["pass"] for r in run.records if r["train_accuracy"] == 1.0)
    assert run.interpolation == first and all(r["train_accuracy"] < 1 for r in run.records[1:first])


def test_a_network_that_cannot_fit_never_interpolates():
    X, y = random_problem(200)
    run = train.train(train.init_mlp([D, 1, C], seed=0), X, y, lr=1e-3, passes=2)
    assert run.interpolation is None


# ---- the L2 penalty ---------------------------------------------------------------------


def test_penalty_is_half_reg_times_the_squared_weights_not_biases():
    model = train.init_mlp([D, 5, C], seed=0)
    for layer in model.layers:
        layer.b.value[...] = 3.0  # biases must not count
    W1, W2 = model.layers[0].W.value, model.layers[1].W.value
    assert train.penalty(model, 0.1) == pytest.approx(0.05 * (np.sum(W1**2) + np.sum(W2**2)), rel=1e-14)
    assert train.penalty(model, 0.0) == 0.0


def test_reg_decays_weights_but_not_biases():
    """The same step with and without reg differs by exactly -lr * reg * W in the weights, 0 in the biases."""
    X, y = random_problem(1)
    a, b = train.init_mlp([D, 5, C], seed=0), train.init_mlp([D, 5, C], seed=0)
    train.fast_step(a, X, y, 0.1, reg=0.5)
    train.fast_step(b, X, y, 0.1, reg=0.0)
    W1_0 = train.init_mlp([D, 5, C], seed=0).layers[0].W.value
    np.testing.assert_allclose(a.layers[0].W.value - b.layers[0].W.value, -0.1 * 0.5 * W1_0, atol=1e-15)
    np.testing.assert_array_equal(a.layers[0].b.value, b.layers[0].b.value)
    np.testing.assert_array_equal(a.layers[1].b.value, b.layers[1].b.value)


# ---- divergence and eta* -------------------------------------------------------------------


def quadratic_diverges(a, steps=5, x0=1.0):
    """Gradient descent on f(x) = a x^2 / 2, judged by train.diverged after ``steps`` steps."""

    def diverges(lr):
        x = x0
        for _ in range(steps):
            x -= lr * a * x
        return train.diverged(a * x0**2 / 2, a * x**2 / 2)

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
    assert train.diverged(1.0, math.nan) and train.diverged(1.0, math.inf)
    assert train.diverged(1.0, 1.0 + 1e-12) and not train.diverged(1.0, 1.0) and not train.diverged(1.0, 0.5)


def test_eta_star_search_on_a_quadratic_goes_by_tens_then_doubles():
    search = train.find_divergent_lr(quadratic_diverges(3.0))  # diverges for lr > 2/3
    assert search.eta_star == 0.4
    assert search.trials == [(1e-4, False), (1e-3, False), (1e-2, False), (0.1, False), (1.0, True), (0.2, False), (0.4, False), (0.8, True)]


@pytest.mark.parametrize("a", [0.01, 0.7, 3.0, 20.0, 3e4, 1e7])
def test_eta_star_brackets_the_analytic_boundary(a):
    search = train.find_divergent_lr(quadratic_diverges(a))
    assert search.eta_star <= 2 / a < 2 * search.eta_star
    tried = dict(search.trials)
    assert tried[search.eta_star] is False and tried[float(f"{2 * search.eta_star:.12g}")] is True


def test_eta_star_search_goes_down_when_the_start_diverges():
    search = train.find_divergent_lr(quadratic_diverges(3e4))  # 2/a = 6.7e-5 < 1e-4
    assert search.trials == [(1e-4, True), (1e-5, False), (2e-5, False), (4e-5, False), (8e-5, True)]
    assert search.eta_star == 4e-5


def test_eta_star_search_fails_clearly():
    with pytest.raises(ValueError, match="no learning rate up to"):
        train.find_divergent_lr(lambda lr: False)
    with pytest.raises(ValueError, match="every learning rate down to"):
        train.find_divergent_lr(lambda lr: True)


def test_eta_star_on_a_tiny_mlp():
    X, y = random_problem(40, seed=2)
    make = lambda: train.init_mlp([D, 8, C], seed=0)  # noqa: E731
    search = train.find_divergent_lr(lambda lr: train.sgd_diverges(make, X, y, lr))
    assert not train.sgd_diverges(make, X, y, search.eta_star)
    assert train.sgd_diverges(make, X, y, 2 * search.eta_star)
    lrs = [lr for lr, _ in search.trials]
    first_bad = next(i for i, (_, bad) in enumerate(search.trials) if bad)
    assert lrs[: first_bad + 1] == [float(f"{1e-4 * 10**k:.12g}") for k in range(first_bad + 1)]  # powers of ten
    assert all(b / a == 2 for a, b in zip(lrs[first_bad + 1 :], lrs[first_bad + 2 :]))  # then doubling


def test_training_stops_when_the_loss_blows_up():
    X, y = random_problem(40)
    run = train.train(train.init_mlp([D, 8, C], seed=0), X, y, lr=1e6, passes=20)
    assert run.diverged and len(run.records) < 21 and not math.isfinite(run.records[-1]["train_loss"])


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("B", [0, -1, 2.5, True])
def test_bad_batch_size_is_refused(B):
    X, y = random_problem(10)
    with pytest.raises(ValueError, match="batch size B must be an integer >= 1"):
        train.train(train.init_mlp([D, 4, C]), X, y, lr=0.1, passes=1, batch_size=B)


def test_batch_larger_than_the_data_is_refused():
    X, y = random_problem(10)
    with pytest.raises(ValueError, match="larger than the 10 training examples"):
        train.train(train.init_mlp([D, 4, C]), X, y, lr=0.1, passes=1, batch_size=11)


@pytest.mark.parametrize("lr", [0, -0.1, math.nan, math.inf])
def test_bad_learning_rate_is_refused(lr):
    X, y = random_problem(10)
    with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
        train.train(train.init_mlp([D, 4, C]), X, y, lr=lr, passes=1)
    with pytest.raises(ValueError, match="learning rate"):
        train.find_divergent_lr(lambda lr: True, start=lr)


def test_labels_that_do_not_match_the_features_are_refused():
    X, y = random_problem(10)
    with pytest.raises(ValueError, match=r"labels y have shape \(9,\) but features X have shape \(10, 784\)"):
        train.train(train.init_mlp([D, 4, C]), X, y[:9], lr=0.1, passes=1)
    with pytest.raises(ValueError, match="test: labels"):
        train.train(train.init_mlp([D, 4, C]), X, y, X[:5], y[:4], lr=0.1, passes=1)
    with pytest.raises(TypeError, match="integer class indices"):
        train.train(train.init_mlp([D, 4, C]), X, y.astype(float), lr=0.1, passes=1)


def test_fast_method_on_another_model_is_refused():
    X, y = random_problem(10)
    model = nn.MLP([D, 4, 4, C], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="one-hidden-layer ReLU"):
        train.train(model, X, y, lr=0.1, passes=1, method="fast")


# ---- fit: minibatch training with an optimizer --------------------------------------------


def test_fit_makes_one_optimizer_step_per_minibatch_of_a_seeded_permutation():
    X, y = random_problem(50)
    model = nn.MLP([D, 8, C], rng=np.random.default_rng(0))
    twin = nn.MLP([D, 8, C], rng=np.random.default_rng(0))
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), X, y, X[:10], y[:10], epochs=2, batch_size=16, seed=3)

    # the same updates by hand: epochs of a permutation from the seed, minibatches of 16, 16, 16, 2
    sgd, rng, losses = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9), np.random.default_rng(3), []
    for _ in range(2):
        permutation = rng.permutation(50)
        for begin in range(0, 50, 16):
            batch = permutation[begin : begin + 16]
            sgd.zero_grad()
            loss = ops.cross_entropy(twin(Tensor(X[batch])), y[batch])
            loss.backward()
            sgd.step()
            losses.append(loss.item())
    assert run.minibatch_losses == losses
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    assert [r["epoch"] for r in run.records] == [0, 1, 2]
    assert [r["steps"] for r in run.records] == [0, 4, 8]
    assert run.records[-1]["train_loss"] == pytest.approx(train.evaluate(model, X, y)[0])
    assert run.records[-1]["val_accuracy"] == train.evaluate(model, X[:10], y[:10])[1]
    assert not run.diverged


def test_fit_measures_in_test_mode_and_leaves_the_model_training():
    class Probe(nn.Module):
        def __init__(self):
            self.linear = nn.Linear(D, C, rng=np.random.default_rng(0))
            self.modes = []

        def forward(self, X):
            self.modes.append(self.training)
            return self.linear(X)

    X, y = random_problem(20)
    model = Probe()
    train.fit(model, optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1, batch_size=10)
    # record(0) on the training set, two training minibatches, record(1): eval, train, train, eval
    assert model.modes == [False, True, True, False]
    assert model.training


def test_fit_stops_on_a_non_finite_loss():
    X, y = random_problem(40)
    model = nn.MLP([D, 8, C], rng=np.random.default_rng(0))
    run = train.fit(model, optim.SGD(model.parameters(), lr=1e200), X, y, epochs=5, batch_size=4)
    assert run.diverged and len(run.records) < 6
    assert not math.isfinite(run.minibatch_losses[-1])


def test_fit_refuses_bad_input():
    X, y = random_problem(20)
    model = nn.MLP([D, 8, C], rng=np.random.default_rng(0))
    sgd = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="labels y have shape \\(19,\\) but features X have shape \\(20, 784\\)"):
        train.fit(model, sgd, X, y[:19], epochs=1)
    with pytest.raises(TypeError, match="features X must be floating point, got dtype int64"):
        train.fit(model, sgd, X.astype(np.int64), y, epochs=1)
    with pytest.raises(ValueError, match="validation: examples of shape \\(5,\\) but training examples of shape \\(784,\\)"):
        train.fit(model, sgd, X, y, X[:, :5], y, epochs=1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got 1.5"):
        train.fit(model, sgd, X, y, epochs=1.5, batch_size=4)
    with pytest.raises(ValueError, match="batch size B = 21 is larger than the 20 training examples"):
        train.fit(model, sgd, X, y, epochs=1, batch_size=21)
