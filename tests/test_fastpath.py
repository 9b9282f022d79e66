"""nabla.fastpath: the fused steps against nabla's and torch's autograd, in place, on one BLAS thread; FusedSGD in fit."""

import numpy as np
import pytest
import torch

from nabla import Tensor, data, fastpath, nn, ops, optim, train
from nabla.data import Split

D, C = 784, 10


def random_problem(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), rng.integers(0, C, n)


def mlp(width, init="glorot", seed=3):
    rng = np.random.default_rng(seed)
    model = nn.MLP([D, width, C], rng=rng)
    return model if init == "glorot" else nn.init(model, init, rng)


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


def autograd_step(model, X, y, lr, reg):
    """The same update by nabla's autograd: the batch's cross-entropy plus reg / 2 times the squared weights."""
    loss = ops.cross_entropy(model(Tensor(X)), y)
    for W in fastpath.weights(model):
        loss = loss + 0.5 * reg * ops.sum(W * W)
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.value -= lr * p.grad


def assert_same_training(X, y, width, batch_size, reg, lr, steps=100, init="glorot"):
    """fast_step (or the per-example step), nabla's autograd and torch make the same 100 updates, to 1e-10."""
    fast, slow = mlp(width, init), mlp(width, init)
    batches = np.random.default_rng(4).integers(0, len(X), size=(steps, batch_size))
    expected = torch_steps(fast, X, y, batches, lr, reg)
    if batch_size == 1:  # the per-example path FusedSGD uses for B = 1
        step = fastpath.per_example_stepper(fast, X, y, reg)
        for (i,) in batches.tolist():
            step(i, lr)
    else:
        for batch in batches:
            fastpath.fast_step(fast, X[batch], y[batch], lr, reg)
    for batch in batches:
        autograd_step(slow, X[batch], y[batch], lr, reg)
    moved = max(np.abs(p.value - q).max() for p, q in zip(mlp(width, init).parameters(), expected))
    assert moved > 1e-3, "the test is only meaningful if training moved the parameters"
    for name, p, q, t in zip(["W1", "b1", "W2", "b2"], fast.parameters(), slow.parameters(), expected):
        np.testing.assert_allclose(p.value, t, rtol=0, atol=1e-10, err_msg=f"fast vs torch: {name}")
        np.testing.assert_allclose(q.value, t, rtol=0, atol=1e-10, err_msg=f"nabla autograd vs torch: {name}")


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("reg", [0.0, 1e-2])
@pytest.mark.parametrize("width", [7, 32])
def test_fast_path_matches_nabla_and_torch_over_100_steps(batch_size, reg, width):
    X, y = random_problem()
    assert_same_training(X, y, width, batch_size, reg, lr=0.02)


def test_fast_path_matches_with_tiny_initialisation():
    X, y = random_problem()
    assert_same_training(X, y, 16, 1, 0.0, lr=0.05, init="tiny")


@pytest.fixture(scope="module")
def fashion_rows():
    try:
        split = data.split("fashion_mnist", fraction=0.002, seed=0)
    except data.DataError as error:  # pragma: no cover - the data root is seeded on the build machines
        pytest.skip(f"FashionMNIST not available: {error}")
    return split.X_train[:60], split.y_train[:60]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_fast_path_matches_on_real_fashion_mnist_rows(fashion_rows, batch_size):
    X, y = fashion_rows
    assert_same_training(X, y, 32, batch_size, 1e-3, lr=0.01)


def test_the_minibatch_fast_step_matches_at_batch_size_one_too():
    X, y = random_problem()
    a, b = mlp(16), mlp(16)
    step = fastpath.per_example_stepper(a, X, y, 1e-2)
    for i in np.random.default_rng(0).integers(0, len(X), 100).tolist():
        step(i, 0.02)
        fastpath.fast_step(b, X[i : i + 1], y[i : i + 1], 0.02, 1e-2)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=0, atol=1e-10)


# ---- in place, by BLAS ---------------------------------------------------------------------


def test_the_blas_updates_write_into_the_parameters_themselves():
    """scipy's dger and dgemm are handed W.T with overwrite: they must change W's own memory, in float64.

    Were W copied on the way in (wrong order or dtype), the update would land in the copy and be lost.
    """
    rng = np.random.default_rng(0)
    W, x, g = rng.standard_normal((D, 7)), rng.standard_normal(D), rng.standard_normal(7)
    X, G = rng.standard_normal((3, D)), rng.standard_normal((3, 7))
    W_0, address = W.copy(), W.ctypes.data
    updated = fastpath.dger(0.5, g, x, a=W.T, overwrite_a=True)
    assert np.shares_memory(updated, W) and updated.dtype == np.float64
    updated = fastpath.dgemm(0.2, G.T, X.T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)
    assert np.shares_memory(updated, W) and updated.dtype == np.float64
    fastpath.add_outer(W, -0.25, x, g)
    fastpath.add_gram(W, -0.1, X, G)
    assert W.ctypes.data == address and W.dtype == np.float64 and W.flags.c_contiguous
    np.testing.assert_allclose(W, W_0 + 0.25 * np.outer(x, g) + 0.1 * X.T @ G, rtol=0, atol=1e-12)


def test_the_steps_update_the_models_arrays_in_place():
    X, y = random_problem()
    for batch_size in (1, 4):
        model = mlp(8)
        arrays = [p.value for p in model.parameters()]
        before = [a.copy() for a in arrays]
        if batch_size == 1:
            fastpath.per_example_stepper(model, X, y)(3, 0.1)
        else:
            fastpath.fast_step(model, X[:batch_size], y[:batch_size], 0.1)
        for a, b, p in zip(arrays, before, model.parameters()):
            assert p.value is a and not np.array_equal(a, b)


@pytest.mark.parametrize("bad", [lambda W: W.astype(np.float32), lambda W: np.asfortranarray(W)])
def test_weights_blas_cannot_update_in_place_are_refused(bad):
    X, y = random_problem()
    model = mlp(8)
    model.layers[0].W.value = bad(model.layers[0].W.value)
    with pytest.raises(TypeError, match="needs writeable C-contiguous float64"):
        fastpath.per_example_stepper(model, X, y)
    with pytest.raises(TypeError, match="needs writeable C-contiguous float64"):
        fastpath.fast_step(model, X[:2], y[:2], 0.1)


def test_an_example_out_of_range_is_refused():
    X, y = random_problem(5)
    with pytest.raises(IndexError, match="example -1 is out of range for 5 examples"):
        fastpath.per_example_stepper(mlp(4), X, y)(-1, 0.1)


# ---- the L2 penalty -------------------------------------------------------------------------


def test_penalty_is_half_reg_times_the_squared_weights_not_biases():
    model = mlp(5)
    for layer in model.layers:
        layer.b.value[...] = 3.0  # biases must not count
    W1, W2 = model.layers[0].W.value, model.layers[1].W.value
    assert fastpath.penalty(model, 0.1) == pytest.approx(0.05 * (np.sum(W1**2) + np.sum(W2**2)), rel=1e-14)
    assert fastpath.penalty(model, 0.0) == 0.0
    assert [p.shape for p in fastpath.weights(model)] == [(D, 5), (5, C)]


def test_reg_decays_weights_but_not_biases():
    """The same step with and without reg differs by exactly -lr * reg * W in the weights, 0 in the biases."""
    X, y = random_problem(1)
    a, b = mlp(5), mlp(5)
    fastpath.fast_step(a, X, y, 0.1, reg=0.5)
    fastpath.fast_step(b, X, y, 0.1, reg=0.0)
    W1_0 = mlp(5).layers[0].W.value
    np.testing.assert_allclose(a.layers[0].W.value - b.layers[0].W.value, -0.1 * 0.5 * W1_0, atol=1e-15)
    np.testing.assert_array_equal(a.layers[0].b.value, b.layers[0].b.value)
    np.testing.assert_array_equal(a.layers[1].b.value, b.layers[1].b.value)


# ---- FusedSGD: the fast path inside fit ------------------------------------------------------


@pytest.mark.parametrize("B, sampling", [(1, "replacement"), (2, "replacement"), (3, "permutation")])
def test_fused_sgd_in_fit_makes_the_same_updates_as_plain_sgd_by_autograd(B, sampling):
    X, y = random_problem(40)
    split = Split(X, y, X[:10], y[:10], "test")
    fused = train.fit(mlp(8), fastpath.FusedSGD(0.01), split, epochs=3, batch_size=B, sampling=sampling, seed=1)
    model = mlp(8)
    slow = train.fit(model, optim.SGD(model.parameters(), lr=0.01), split, epochs=3, batch_size=B, sampling=sampling, seed=1)
    assert not fused.minibatch_losses and len(slow.minibatch_losses) == slow.records[-1]["steps"]
    for a, b in zip(fused.records, slow.records, strict=True):
        assert a["steps"] == b["steps"] and a["examples"] == b["examples"]
        for key in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-10), key


def test_fused_sgd_trains_a_one_hidden_layer_relu_mlp_only():
    X, y = random_problem(10)
    for model in (nn.MLP([D, 4, 4, C]), nn.MLP([D, 4, C], activation=ops.tanh), nn.MLP([D, 4, C], dropout=0.5),
                  nn.MLP([D, 4, C], norm="layer")):
        assert not fastpath.is_fast_mlp(model)
        with pytest.raises(ValueError, match="one-hidden-layer ReLU nn.MLP only"):
            train.fit(model, fastpath.FusedSGD(0.1), Split(X, y), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
        fastpath.FusedSGD(0.0)
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        fastpath.FusedSGD(0.1, reg=-1.0)


def test_the_steps_run_on_one_blas_thread_and_evaluation_on_all(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {info["filepath"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    everywhere = blas_threads()
    assert len(everywhere) >= 1  # numpy's OpenBLAS (and scipy's, a second library)
    seen = {"step": [], "evaluate": []}
    real_stepper, real_evaluate = fastpath.per_example_stepper, train.evaluate

    def stepper(*args):
        step = real_stepper(*args)
        return lambda i, lr: seen["step"].append(blas_threads()) or step(i, lr)

    monkeypatch.setattr(fastpath, "per_example_stepper", stepper)
    monkeypatch.setattr(train, "evaluate", lambda *args: seen["evaluate"].append(blas_threads()) or real_evaluate(*args))
    X, y = random_problem(5)
    train.fit(mlp(4), fastpath.FusedSGD(0.01), Split(X, y), epochs=1, batch_size=1, sampling="replacement")
    assert seen["step"] and all(set(t.values()) == {1} and t.keys() == everywhere.keys() for t in seen["step"])
    assert seen["evaluate"] and all(t == everywhere for t in seen["evaluate"])
    assert blas_threads() == everywhere  # restored
