"""nabla.experiments.mlp (chapter 13, book/mlp.md): the networks, the initialisations, the split, the runs."""

import numpy as np
import pytest

from nabla import experiments, nn, ops, optim, train
from nabla.experiments import mlp
from nabla.engine import Tensor

from conftest import noisy_clusters


@pytest.fixture(scope="module")
def tiny_data():
    """Ten noisy clusters in 784 dimensions, so these tests need not load MNIST."""
    return noisy_clusters(80, 40)


def test_mlp_is_nablas_mlp():
    X = np.random.default_rng(1).standard_normal((5, 784))
    ours = mlp.MLP([784, 16, 16, 10], ops.sigmoid, rng=np.random.default_rng(3))
    theirs = nn.MLP([784, 16, 16, 10], ops.sigmoid, rng=np.random.default_rng(3))
    assert np.array_equal(ours(Tensor(X)).value, theirs(Tensor(X)).value)
    assert len(ours.parameters()) == 6


def test_residual_mlp_adds_the_input_of_each_later_hidden_layer():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 784))
    net = mlp.ResidualMLP([784, 8, 8, 10], ops.relu, rng=np.random.default_rng(0))
    (W1, b1), (W2, b2), (W3, b3) = [(layer.W.value, layer.b.value) for layer in net.layers]
    A1 = np.maximum(X @ W1 + b1, 0)
    A2 = A1 + np.maximum(A1 @ W2 + b2, 0)
    assert np.allclose(net(Tensor(X)).value, A2 @ W3 + b3, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="same width; got \\[8, 16\\]"):
        mlp.ResidualMLP([784, 8, 16, 10])


def test_initialisations():
    rng = np.random.default_rng(0)
    zeros = mlp.initialize(mlp.MLP([784, 32, 10], rng=rng), "zeros", rng)
    assert all(np.all(p.value == 0) for p in zeros.parameters())
    normal = mlp.initialize(mlp.MLP([784, 512, 10], rng=rng), "normal", rng)
    assert abs(normal.layers[0].W.value.std() - 1) < 0.01 and np.all(normal.layers[0].b.value == 0)
    glorot = mlp.MLP([784, 512, 10], rng=rng)
    a = np.sqrt(6 / (784 + 512))
    assert np.abs(glorot.layers[0].W.value).max() <= a and abs(glorot.layers[0].W.value.std() - a / np.sqrt(3)) < 1e-3
    with pytest.raises(ValueError, match="init must be"):
        mlp.initialize(glorot, "ones", rng)


def test_zero_initialised_relu_net_only_learns_the_output_bias(tiny_data):
    spec = mlp.variant_settings("zeros", mlp.SCALES["smoke"])
    model = mlp.make_model(spec, 16, seed=0)
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.1), *tiny_data, epochs=2, batch_size=8)
    W1, b1, W2, b2 = (p.value for p in model.parameters())
    assert not np.any(W1) and not np.any(b1) and not np.any(W2)  # exactly zero: ReLU'(0) = 0 and A = 0
    assert np.any(b2)
    assert len(run.minibatch_losses) == 20


def test_variant_settings():
    settings = mlp.SCALES["budget"]
    assert mlp.variant_settings("relu", settings) == {
        "activation": "relu", "hidden_layers": 1, "residual": False, "init": "glorot", "lr": settings["lr"], "momentum": 0.0,
    }
    assert mlp.variant_settings("momentum", settings)["momentum"] == settings["mu"]
    assert mlp.variant_settings("sgd_fast", settings)["lr"] == pytest.approx(settings["lr"] / (1 - settings["mu"]))
    assert mlp.variant_settings("sgd_fast", settings)["momentum"] == 0.0
    assert mlp.variant_settings("residual", settings)["hidden_layers"] == 2


def test_split_is_seeded_disjoint_and_standardised():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 1000)
    settings = {"fraction": 0.5, "validation": 100, "seed": 0}
    X_train, y_train, X_val, y_val = mlp.split(images, labels, settings)
    assert X_train.shape == (400, 784) and X_val.shape == (100, 784) and y_train.shape == (400,)
    assert abs(X_train.mean()) < 1e-12 and abs(X_train.std() - 1) < 1e-12
    again = mlp.split(images, labels, settings)
    assert all(np.array_equal(a, b) for a, b in zip((X_train, y_train, X_val, y_val), again))
    rows = {tuple(x) for x in X_train}
    assert not any(tuple(x) in rows for x in X_val)  # random images: no duplicates, so disjoint rows


def test_run_records_every_variant_seed_and_epoch(tiny_data):
    result = mlp.run("smoke", data=tiny_data, passes=2)
    settings = result["settings"]
    assert result["experiment"] == "mlp" and settings["passes"] == 2 and settings["seeds"] == 2
    assert len(result["records"]) == len(mlp.VARIANTS) * 2 * 3
    assert set(result["summary"]) == set(mlp.VARIANTS)
    first = result["records"][0]
    assert {"variant", "seed", "lr", "momentum", "epoch", "steps", "train_loss", "val_accuracy"} <= set(first)
    assert [r["steps"] for r in result["records"][:3]] == [0, 3, 6]  # ceil(80 / 32) minibatches per epoch
    finals = [r["val_accuracy"] for r in result["records"] if r["variant"] == "relu" and r["epoch"] == 2]
    assert result["summary"]["relu"]["final_val_accuracy_mean"] == pytest.approx(np.mean(finals))
    assert result["summary"]["relu"]["final_val_accuracy_std"] == pytest.approx(np.std(finals, ddof=1))


def test_same_seed_same_run_and_names_are_checked(tiny_data):
    one = mlp.run("smoke", data=tiny_data, variants=["residual"], passes=1)
    two = experiments.run("mlp", "smoke", data=tiny_data, variants=["residual"], passes=1)
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(one["records"]) == strip(two["records"])
    with pytest.raises(ValueError, match="no variant 'tanh'"):
        mlp.run("smoke", data=tiny_data, variants=["tanh"])
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        mlp.run("smoke", data=tiny_data, epochs=3)
    assert "mlp" in experiments.NAMES
