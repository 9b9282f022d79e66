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


# ---- the chapter's tables and checks -----------------------------------------------------------


def test_describe_and_extremes_tabulate_each_part(tiny_split):
    table = mlp.describe({"training": (tiny_split.X_train, tiny_split.y_train)})
    assert table.loc["training", "images"] == 80
    assert table.loc["training", "largest"] == pytest.approx(round(tiny_split.X_train.max(), 3))
    X_test = tiny_split.X_eval.copy()
    X_test[3, 0] = 2e5
    extremes = mlp.extremes({"scaled": (tiny_split.X_train, X_test)})
    assert extremes.loc["scaled", "largest |x'|, test images"] == 2e5
    assert extremes.loc["scaled", "test images with |x'| > 1e5"] == 1


def test_standardisation_trap_leaves_the_weights_of_blank_pixels_untrained(tiny_split):
    X_kept, X_test = tiny_split.X_train.copy(), tiny_split.X_eval.copy()
    blank = np.zeros(784, dtype=bool)
    blank[:5] = True
    X_kept[:, blank] = 0.0  # blank in every kept image
    inked = np.zeros(len(X_test), dtype=bool)
    inked[:3] = True
    settings = {**mlp.SCALES["smoke"], "lr": 0.1}
    trap = mlp.standardisation_trap({"a": (X_kept, X_test)}, tiny_split.y_train, tiny_split.y_eval, blank, inked, settings)
    assert trap.loc["a", "rows of W1 at blank pixels unchanged"]
    assert 0 <= trap.loc["a", "test accuracy, images inked at a blank pixel"] <= 1


def test_initial_scales_of_a_standard_normal_start_are_larger(tiny_split):
    scales = mlp.initial_scales(tiny_split.X_train, tiny_split.y_train, 16)
    assert scales.loc["normal", "sd of Z"] > 5 * scales.loc["glorot", "sd of Z"]
    assert scales.loc["normal", "initial training loss"] > scales.loc["glorot", "initial training loss"]


def test_train_from_zeros_with_the_sigmoid_keeps_the_hidden_units_equal(tiny_split):
    settings = {**mlp.SCALES["smoke"], "lr": 0.1}
    W1, b1, W2, b2 = mlp.train_from_zeros(ops.relu, tiny_split.X_train, tiny_split.y_train, settings)
    assert not W1.any() and not W2.any() and b2.any()
    W1, b1, W2, b2 = mlp.train_from_zeros(ops.sigmoid, tiny_split.X_train, tiny_split.y_train, settings)
    assert W1.any() and np.allclose(W1, W1[:, :1], rtol=1e-12, atol=1e-15) and np.allclose(W2, W2[:1], rtol=1e-12, atol=1e-15)


def test_sgd_that_remembers_keeps_the_first_step_only():
    model = nn.MLP([4, 3, 2], rng=np.random.default_rng(0))
    optimizer = mlp.SGDThatRemembers(model.parameters(), lr=0.1)
    for _ in range(2):
        for p in model.parameters():
            p.grad = np.ones_like(p.value)
        optimizer.step()
    assert all(np.allclose(first, p.value + 0.1) for first, p in zip(optimizer.after_first_step, model.parameters()))


def test_compare_draws_one_row_per_frame(tiny_split):
    import matplotlib

    matplotlib.use("Agg")
    frame = mlp.run("smoke", split=tiny_split, variants=["relu", "sigmoid"], epochs=1).frame
    fig, axes = mlp.compare({"smoke": frame, "missing": None}, {"relu": "ReLU", "sigmoid": "sigmoid"}, "title")
    assert axes.shape == (2, 2) and axes[0, 0].get_ylabel() == "validation accuracy"
