"""nabla.experiments.mlp (chapter 13, book/mlp.md): the variants, their networks and initialisations, the runs."""

import numpy as np
import pytest

from nabla import experiments, nn, ops, optim, train
from nabla.experiments import mlp

from conftest import noisy_split


@pytest.fixture(scope="module")
def tiny_split():
    """Ten noisy clusters in 784 dimensions, so these tests need not load MNIST."""
    return noisy_split(80, 40, eval_set="validation")


def test_each_variant_builds_the_network_it_names():
    settings = mlp.SCALES["smoke"]
    sizes = {name: [p.shape for p in mlp.make_model(mlp.variant_settings(name, settings), 16, 0).parameters()] for name in mlp.VARIANTS}
    assert sizes["relu"] == [(784, 16), (16,), (16, 10), (10,)]
    assert sizes["deeper"] == sizes["residual"] == [(784, 16), (16,), (16, 16), (16,), (16, 10), (10,)]
    residual = mlp.make_model(mlp.variant_settings("residual", settings), 16, 0)
    assert residual.residual and residual.activation is ops.relu
    assert mlp.make_model(mlp.variant_settings("sigmoid", settings), 16, 0).activation is ops.sigmoid
    relu = mlp.make_model(mlp.variant_settings("relu", settings), 16, 0)
    glorot = nn.MLP([784, 16, 10], rng=np.random.default_rng(0))
    assert all(np.array_equal(p.value, q.value) for p, q in zip(relu.parameters(), glorot.parameters()))
    zeros = mlp.make_model(mlp.variant_settings("zeros", settings), 16, 0)
    assert all(np.all(p.value == 0) for p in zeros.parameters())
    normal = mlp.make_model(mlp.variant_settings("normal", settings), 512, 0)
    assert abs(normal.layers[0].W.value.std() - 1) < 0.01 and np.all(normal.layers[0].b.value == 0)


def test_zero_initialised_relu_net_only_learns_the_output_bias(tiny_split):
    model = mlp.make_model(mlp.variant_settings("zeros", mlp.SCALES["smoke"]), 16, seed=0)
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.1), tiny_split, epochs=2, batch_size=8)
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


def test_run_records_every_variant_seed_and_epoch(tiny_split):
    result = mlp.run("smoke", split=tiny_split, epochs=2)
    settings = result.settings
    assert result.experiment == "mlp" and settings["epochs"] == 2 and settings["seeds"] == 2
    assert result.eval_set == "validation" and len(result.records) == len(mlp.VARIANTS) * 2 * 3
    assert set(result.summary) == set(mlp.VARIANTS)
    first = result.records[0]
    assert list(first) == ["variant", "seed", "lr", "momentum", "diverged", *train.RECORD_KEYS]
    assert [r["steps"] for r in result.records[:3]] == [0, 3, 6]  # ceil(80 / 32) minibatches per epoch
    finals = [r["eval_accuracy"] for r in result.records if r["variant"] == "relu" and r["epoch"] == 2]
    assert result.summary["relu"]["final_eval_accuracy_mean"] == pytest.approx(np.mean(finals))
    assert result.summary["relu"]["final_eval_accuracy_std"] == pytest.approx(np.std(finals, ddof=1))


def test_same_seed_same_run_and_names_are_checked(tiny_split):
    one = mlp.run("smoke", split=tiny_split, variants=["residual"], epochs=1)
    two = experiments.run("mlp", "smoke", split=tiny_split, variants=["residual"], epochs=1)
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(one.records) == strip(two.records)
    with pytest.raises(ValueError, match="no variant 'tanh'"):
        mlp.run("smoke", split=tiny_split, variants=["tanh"])
    with pytest.raises(ValueError, match="unknown setting 'passes'"):
        mlp.run("smoke", split=tiny_split, passes=3)
