"""Linear and MLP: Glorot initialisation, parameters, and gradients checked end to end."""

import numpy as np
import pytest
import torch

import nabla as nb
from nabla.gradcheck import check_against_torch, check_backward


def test_linear_has_glorot_weights_and_zero_bias():
    layer = nb.nn.Linear(300, 100, rng=np.random.default_rng(0))
    a = np.sqrt(6 / 400)
    assert layer.W.shape == (300, 100) and layer.b.shape == (100,)
    assert np.all(np.abs(layer.W.value) <= a) and np.abs(layer.W.value).max() > 0.99 * a
    assert np.var(layer.W.value) == pytest.approx(a**2 / 3, rel=0.02)  # the variance of U(-a, a)
    np.testing.assert_array_equal(layer.b.value, 0.0)


def test_mlp_parameters_are_every_layers_weights_and_biases():
    mlp = nb.nn.MLP([5, 4, 3, 2], rng=np.random.default_rng(0))
    assert [p.shape for p in mlp.parameters()] == [(5, 4), (4,), (4, 3), (3,), (3, 2), (2,)]


def test_mlp_gradients_match_central_differences_and_torch():
    rng = np.random.default_rng(1)
    mlp = nb.nn.MLP([5, 4, 3], activation=nb.tanh, rng=rng)
    X, labels = rng.standard_normal((6, 5)), np.array([0, 1, 2, 2, 1, 0])
    W1, b1, W2, b2 = (p.value for p in mlp.parameters())

    def ours(X, W1, b1, W2, b2):
        return nb.cross_entropy(nb.tanh(X @ W1 + b1) @ W2 + b2, labels)

    def theirs(X, W1, b1, W2, b2):
        return torch.nn.functional.cross_entropy(torch.tanh(X @ W1 + b1) @ W2 + b2, torch.from_numpy(labels))

    check_backward(ours, X, W1, b1, W2, b2)
    check_against_torch(ours, theirs, X, W1, b1, W2, b2)
    # and the module computes exactly that function
    loss = nb.cross_entropy(mlp(nb.Tensor(X)), labels)
    assert loss.item() == ours(*(nb.Tensor(a) for a in (X, W1, b1, W2, b2))).item()


def test_zero_grad_forgets_every_gradient():
    mlp = nb.nn.MLP([3, 2], rng=np.random.default_rng(0))
    nb.sum(mlp(nb.Tensor(np.ones((1, 3))))).backward()
    assert all(p.grad is not None for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad is None for p in mlp.parameters())


def test_an_mlp_needs_two_sizes():
    with pytest.raises(ValueError, match=r"MLP: sizes needs an input and an output size, got \[3\]"):
        nb.nn.MLP([3])
