"""The layers of nabla.nn: Linear and MLP (Glorot initialisation, parameters, gradients checked end to end),
Dropout, Conv2d and the pooling and flattening layers, BatchNorm1d and LayerNorm (against torch).

The ops the layers call are tested in tests/ops/; here, what a layer adds: its parameters, its
initialisation, its train and test modes."""

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


# ---- one MLP for Part III: residual, norm, dropout, initialisation ---------------------------


def test_mlp_hidden_computes_each_option_as_its_chapter_writes_it():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 5))
    plain = nb.nn.MLP([5, 4, 4, 3], rng=np.random.default_rng(0))
    (W1, b1), (W2, b2), (W3, b3) = [(layer.W.value, layer.b.value) for layer in plain.layers]
    A1 = np.maximum(X @ W1 + b1, 0)
    A2 = np.maximum(A1 @ W2 + b2, 0)
    activations, logits = plain.hidden(nb.Tensor(X))
    assert np.allclose(activations[1].value, A2) and np.allclose(logits.value, A2 @ W3 + b3)
    residual = nb.nn.MLP([5, 4, 4, 3], residual=True, rng=np.random.default_rng(0))  # eq. mlp-skip
    assert np.allclose(residual(nb.Tensor(X)).value, (A1 + np.maximum(A1 @ W2 + b2, 0)) @ W3 + b3)
    batch = nb.nn.MLP([5, 4, 4, 3], norm="batch", rng=np.random.default_rng(0))
    Z1 = X @ W1 + b1
    assert np.allclose(batch.hidden(nb.Tensor(X))[0][0].value, np.maximum((Z1 - Z1.mean(0)) / np.sqrt(Z1.var(0) + 1e-5), 0))
    layer = nb.nn.MLP([5, 4, 4, 3], norm="layer", rng=np.random.default_rng(0))
    mean, var = Z1.mean(1, keepdims=True), Z1.var(1, keepdims=True)
    assert np.allclose(layer.hidden(nb.Tensor(X))[0][0].value, np.maximum((Z1 - mean) / np.sqrt(var + 1e-5), 0))
    assert len(batch.parameters()) == len(layer.parameters()) == 6 + 4  # gamma and beta of two layers


def test_dropout_follows_every_hidden_layer_in_train_mode_only():
    X = nb.Tensor(np.random.default_rng(2).standard_normal((50, 5)))
    model = nb.nn.MLP([5, 40, 40, 3], dropout=0.25, rng=np.random.default_rng(0), dropout_rng=np.random.default_rng(1))
    plain = nb.nn.MLP([5, 40, 40, 3], rng=np.random.default_rng(0))
    assert [d.p for d in model.dropouts] == [0.25, 0.25] and nb.nn.MLP([5, 4, 3], dropout=0.0).dropouts == []
    dropped, kept = model.hidden(X)[0][0].value, plain.hidden(X)[0][0].value
    on = kept > 0  # where ReLU lets a unit through, dropout zeroes it or scales it by 1 / (1 - p)
    assert np.allclose(dropped[on][dropped[on] != 0], kept[on][dropped[on] != 0] / 0.75)
    assert 0.2 < np.mean(dropped[on] == 0) < 0.3
    assert np.array_equal(model.eval()(X).value, plain(X).value)  # test mode: dropout is the identity


def test_the_same_seed_gives_the_same_weights_whatever_the_options():
    reference = [p.value for p in nb.nn.MLP([5, 4, 4, 3], rng=np.random.default_rng(7)).parameters()]
    for options in ({"norm": "batch"}, {"norm": "layer"}, {"dropout": 0.5}, {"residual": True}, {"activation": nb.sigmoid}):
        model = nb.nn.MLP([5, 4, 4, 3], rng=np.random.default_rng(7), **options)
        assert all(np.array_equal(p.value, q) for p, q in zip(model.parameters(), reference))


def test_mlp_refuses_options_it_cannot_build():
    with pytest.raises(ValueError, match=r"every hidden layer needs the same width; got \[4, 6\]"):
        nb.nn.MLP([5, 4, 6, 3], residual=True)
    with pytest.raises(ValueError, match="norm must be None, 'batch' or 'layer', got 'group'"):
        nb.nn.MLP([5, 4, 3], norm="group")
    with pytest.raises(ValueError, match="p must lie in"):
        nb.nn.MLP([5, 4, 3], dropout=1.0)


@pytest.mark.parametrize("scheme, scale, std", [("he", 2.0, 2 * np.sqrt(2 / 400)), ("normal", 0.5, 0.5), ("tiny", None, 1e-6),
                                                ("normal", None, 1.0), ("glorot", None, np.sqrt(2 / 500))])
def test_init_draws_each_scheme_at_its_scale_and_zeroes_the_biases(scheme, scale, std):
    model = nb.nn.MLP([400, 100, 10], rng=np.random.default_rng(0))
    for layer in model.layers:
        layer.b.value[...] = 1.0
    assert nb.nn.init(model, scheme, np.random.default_rng(1), scale) is model
    W = model.layers[0].W.value
    assert W.std() == pytest.approx(std, rel=0.02) and abs(W.mean()) < 0.05 * std
    assert all(np.all(layer.b.value == 0) for layer in model.layers)
    again = nb.nn.init(nb.nn.MLP([400, 100, 10]), scheme, np.random.default_rng(1), scale)
    assert np.array_equal(again.layers[1].W.value, model.layers[1].W.value)  # seeded


def test_zeros_and_bad_schemes():
    model = nb.nn.init(nb.nn.MLP([5, 4, 3], rng=np.random.default_rng(0)), "zeros", np.random.default_rng(0))
    assert all(np.all(p.value == 0) for p in model.parameters())
    with pytest.raises(ValueError, match="the scheme must be one of 'glorot', 'he', 'normal', 'tiny', 'zeros', got 'ones'"):
        nb.nn.init(model, "ones", np.random.default_rng(0))
    with pytest.raises(ValueError, match="the scale must be a finite number > 0, got 0.0"):
        nb.nn.init(model, "he", np.random.default_rng(0), 0.0)


def test_init_at_construction_draws_each_layer_after_its_glorot_weights():
    """``MLP(..., init=scheme)`` re-draws layer k right after building it: Glorot 1, scheme 1, Glorot 2, scheme 2."""
    rng = np.random.default_rng(3)
    model = nb.nn.MLP([20, 8, 8, 4], init="he", init_scale=0.5, rng=np.random.default_rng(3))
    for layer, (d, m) in zip(model.layers, [(20, 8), (8, 8), (8, 4)]):
        nb.nn.glorot_uniform(rng, d, m)
        assert np.array_equal(layer.W.value, 0.5 * np.sqrt(2.0 / d) * rng.standard_normal((d, m)))


# ---- Dropout ----------------------------------------------------------------------------


def test_the_layer_switches_between_train_and_test_mode_like_torch():
    layer = nb.nn.Dropout(0.5, rng=np.random.default_rng(8))
    assert layer.training and layer.parameters() == []
    X = nb.Tensor(np.ones((20, 20)))
    S = layer(X)
    assert set(np.unique(S.value)) == {0.0, 2.0}
    assert layer.eval() is layer and not layer.training
    assert layer(X) is X
    assert layer.train() is layer and layer.training
    assert not np.array_equal(layer(X).value, S.value)  # a fresh mask at every call
    assert not layer.train(False).training


def test_the_layer_passes_gradients_through_its_mask():
    layer = nb.nn.Dropout(0.25, rng=np.random.default_rng(9))
    X = nb.Tensor(np.random.default_rng(10).standard_normal((5, 4)))
    S = layer(X)
    nb.sum(S).backward()
    kept = S.source.context.mask
    np.testing.assert_allclose(X.grad, kept / 0.75, rtol=1e-15)


# ---- Conv2d, MaxPool2d, Flatten ----------------------------------------------------------


def test_conv2d_layer_has_glorot_weights_zero_bias_and_the_right_output_shape():
    layer = nb.nn.Conv2d(3, 8, 5, padding=2, rng=np.random.default_rng(0))
    a = np.sqrt(6 / ((3 + 8) * 25))
    assert layer.W.shape == (8, 3, 5, 5) and layer.b.shape == (8,)
    assert np.all(np.abs(layer.W.value) <= a) and np.var(layer.W.value) == pytest.approx(a**2 / 3, rel=0.1)
    np.testing.assert_array_equal(layer.b.value, 0.0)
    assert layer(nb.Tensor(np.ones((2, 3, 9, 7)))).shape == (2, 8, 9, 7)
    assert layer.parameters() == [layer.W, layer.b]


def test_a_small_cnn_matches_its_torch_twin():
    rng = np.random.default_rng(0)
    conv, pool, flatten = nb.nn.Conv2d(2, 3, 3, padding=1, rng=rng), nb.nn.MaxPool2d(2), nb.nn.Flatten()
    linear = nb.nn.Linear(3 * 3 * 4, 5, rng=rng)
    conv.b = nb.Tensor(rng.standard_normal(3))
    X, labels = rng.standard_normal((4, 2, 6, 8)), rng.integers(0, 5, size=4)

    def loss_of(X, W, b, V, c):
        conv.W, conv.b, linear.W, linear.b = W, b, V, c
        return nb.cross_entropy(linear(flatten(pool(nb.relu(conv(X))))), labels)

    def torch_loss_of(X, W, b, V, c):
        H = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(X, W, b, padding=1)), 2)
        return torch.nn.functional.cross_entropy(H.flatten(1) @ V + c, torch.as_tensor(labels))

    parameters = [conv.W.value, conv.b.value, linear.W.value, linear.b.value]
    check_against_torch(loss_of, torch_loss_of, X, *parameters)
    assert pool.parameters() == [] and flatten.parameters() == []


# ---- BatchNorm1d, LayerNorm --------------------------------------------------------------


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_batchnorm1d_layer_matches_torch_in_train_and_eval(rng):
    ours, theirs = nb.nn.BatchNorm1d(4, momentum=0.2), torch.nn.BatchNorm1d(4, momentum=0.2, dtype=torch.float64)
    assert [p.name for p in ours.parameters()] == ["gamma", "beta"]
    for _ in range(3):
        X = rng.standard_normal((6, 4))
        np.testing.assert_allclose(ours(X).value, theirs(torch.from_numpy(X)).detach().numpy(), rtol=1e-12, atol=1e-12)
    X = rng.standard_normal((2, 4))
    assert ours.eval() is ours and not ours.training
    np.testing.assert_allclose(ours(X).value, theirs.eval()(torch.from_numpy(X)).detach().numpy(), rtol=1e-12)
    assert ours.stats.updates == 3
    assert ours.train().training


def test_layernorm_layer_matches_torch(rng):
    ours, theirs = nb.nn.LayerNorm(4), torch.nn.LayerNorm(4, dtype=torch.float64)
    X = rng.standard_normal((3, 4))
    np.testing.assert_allclose(ours(X).value, theirs(torch.from_numpy(X)).detach().numpy(), rtol=1e-12)
    assert [p.name for p in ours.parameters()] == ["gamma", "beta"]
