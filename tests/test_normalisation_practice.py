"""nabla.experiments.normalisation_practice: the deep MLP with a norm option, its init scale, and the three studies."""

import math

import numpy as np
import pytest

from nabla import Tensor, experiments, nn
from nabla.experiments import normalisation_practice as normalization
from nabla.experiments.normalisation_practice import activation_rms

from conftest import noisy_split


@pytest.fixture(scope="module")
def tiny_data():
    """Ten noisy class centres in 784 dimensions, so the tests need not load FashionMNIST."""
    return noisy_split(100, 40, eval_set="validation")


SIZES = [100, 64, 64, 64, 64, 64, 10]


def DeepMLP(sizes, norm=None, init_scale=1.0, rng=None):
    """The experiment's network: nn.MLP with a norm and He weights times the init scale."""
    return nn.MLP(sizes, norm=None if norm == "none" else norm, init="he", init_scale=init_scale, rng=rng)


def test_layers_and_shapes():
    for norm, count in ((None, 0), ("none", 0), ("batch", 5), ("layer", 5)):
        model = DeepMLP(SIZES, norm=norm, rng=np.random.default_rng(0))
        assert len(model.layers) == 6 and len(model.norms) == count
        assert model(Tensor(np.ones((3, 100)))).shape == (3, 10)
    # gamma and beta of every normalisation layer are parameters: 6 (W, b) pairs + 5 (gamma, beta)
    assert len(DeepMLP(SIZES, norm="batch", rng=np.random.default_rng(0)).parameters()) == 22
    with pytest.raises(ValueError, match="norm must be"):
        DeepMLP(SIZES, norm="group")
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        DeepMLP(SIZES, init_scale=0.0)
    settings = {**normalization.SCALES["smoke"], "depth": 6, "width": 64}
    for norm in ("none", "batch"):
        ours, theirs = normalization.make_model(settings, norm, 0.5, seed=3, D=100), DeepMLP(SIZES, norm, 0.5, np.random.default_rng(3))
        assert all(np.array_equal(p.value, q.value) for p, q in zip(ours.parameters(), theirs.parameters()))


def test_same_seed_same_weights_whatever_the_norm():
    plain, batch = (DeepMLP(SIZES, norm=n, init_scale=0.5, rng=np.random.default_rng(3)) for n in ("none", "batch"))
    for a, b in zip(plain.layers, batch.layers):
        assert np.array_equal(a.W.value, b.W.value) and np.all(a.b.value == 0)
    # the weights are He-scaled normals times s: variance s^2 * 2 / fan_in
    W = plain.layers[1].W.value
    assert W.std() == pytest.approx(0.5 * math.sqrt(2 / 64), rel=0.05)


def test_activation_scale_is_s_to_the_depth_without_normalisation():
    X = np.random.default_rng(1).standard_normal((2000, 100))
    for s in (0.5, 1.0, 2.0):
        rms = activation_rms(DeepMLP(SIZES, init_scale=s, rng=np.random.default_rng(0)), X)
        ratios = np.array(rms[1:]) / np.array(rms[:-1])
        assert np.allclose(ratios, s, rtol=0.25), (s, ratios)
        assert rms[-1] == pytest.approx(s ** len(rms), rel=0.5)


def test_batch_norm_fixes_the_scale_whatever_s():
    X = np.random.default_rng(1).standard_normal((2000, 100))
    for s in (0.1, 10.0):
        rms = activation_rms(DeepMLP(SIZES, norm="batch", init_scale=s, rng=np.random.default_rng(0)), X)
        # relu of a standardised feature: the root mean square of max(z, 0) for z ~ N(0, 1) is sqrt(1/2)
        assert np.allclose(rms, math.sqrt(0.5), atol=0.05), (s, rms)


def test_smoke_run_records_and_summary(tiny_data):
    result = normalization.run("smoke", split=tiny_data)
    settings, summary = result.settings, result.summary
    assert result.experiment == "normalisation_practice" and set(summary) == {"curves", "init_scale", "batch_size"}
    assert set(summary["init_scale"]) == {str(s) for s in settings["init_scales"]}
    assert set(summary["batch_size"]) == {str(B) for B in settings["batch_sizes"]}
    assert set(summary["batch_size"]["2"]) == {"none", "batch", "layer"}
    first = result.records[0]
    assert {"study", "norm", "init_scale", "batch_size", "lr", "seed", "epoch", "steps", "train_loss",
            "eval_accuracy", "minibatch_loss", "diverged"} <= set(first)
    assert first["epoch"] == 0 and first["minibatch_loss"] is None
    rows = [r for r in result.records if r["study"] == "batch_size" and r["batch_size"] == 16 and r["norm"] == "layer"]
    assert rows[-1]["lr"] == 0.01 * 16 / 32 and rows[-1]["steps"] == math.ceil(100 / 16)


def test_passes_caps_the_epochs_and_studies_select(tiny_data):
    result = normalization.run("smoke", split=tiny_data, epochs=1, studies=("curves",))
    assert set(result.summary) == {"curves"}
    assert max(r["epoch"] for r in result.records) == 1
    with pytest.raises(ValueError, match="unknown studies"):
        normalization.run("smoke", split=tiny_data, studies=("depth",))
    with pytest.raises(ValueError, match="unknown setting 'passes'"):
        normalization.run("smoke", split=tiny_data, passes=3)


def test_a_diverging_run_is_recorded_as_diverged(tiny_data):
    result = normalization.run("smoke", split=tiny_data, studies=("init_scale",), init_scales=[1000.0], depth=6)
    (outcome,) = result.summary["init_scale"]["1000.0"]["none"]
    assert outcome["diverged"] and outcome["train_loss"] is None
    assert not result.summary["init_scale"]["1000.0"]["batch"][0]["diverged"]


def test_a_last_batch_of_one_is_refused_for_batch_norm(tiny_data):
    with pytest.raises(ValueError, match="last minibatch of 1"):
        normalization.train_one(normalization.SCALES["smoke"], "batch", 1.0, 0.01, 3, 1, 0, tiny_data)


def test_discovered_by_the_command_line():
    assert "normalisation_practice" in experiments.NAMES
    assert experiments.experiment("normalisation_practice") is normalization


def test_recalibrate_sets_population_statistics_and_batch_statistics_restore():
    X = np.random.default_rng(2).standard_normal((300, 100)) * 3 + 1
    model = DeepMLP(SIZES, norm="batch", rng=np.random.default_rng(0))
    first = model.norms[0]
    Z = (Tensor(X) @ model.layers[0].W + model.layers[0].b).value
    normalization.recalibrate(model, X)
    assert np.allclose(first.stats.mean, Z.mean(axis=0)) and np.allclose(first.stats.var, Z.var(axis=0, ddof=1))
    assert first.momentum == 0.1
    # In test mode with recalibrated statistics the whole set is normalised as in one train-mode
    # batch, up to the running variance's Bessel factor 300/299 (about 0.1 % per layer).
    model.eval()
    test_mode = model(Tensor(X)).value
    before = [layer.stats.mean.copy() for layer in model.norms]
    model.train()
    assert np.allclose(test_mode, model(Tensor(X)).value, rtol=0.02, atol=0.02)
    for layer, mean in zip(model.norms, before):
        layer.stats.mean = mean
    y = np.random.default_rng(3).integers(0, 10, 300)
    normalization.batch_statistics_accuracy(model, X, y, 4)
    assert all(np.array_equal(layer.stats.mean, mean) for layer, mean in zip(model.norms, before))


def test_batch_norm_runs_of_the_batch_study_are_also_tested_two_other_ways(tiny_data):
    result = normalization.run("smoke", split=tiny_data, studies=("batch_size",))
    for B in ("2", "16"):
        (batch,) = result.summary["batch_size"][B]["batch"]
        assert 0 <= batch["eval_accuracy_batch_statistics"] <= 1 and 0 <= batch["eval_accuracy_recalibrated"] <= 1
        assert "eval_accuracy_recalibrated" not in result.summary["batch_size"][B]["layer"][0]


def test_the_chapters_figures_and_divergence_epoch(tiny_data):
    import matplotlib.pyplot as plt
    import pandas as pd

    curves = pd.DataFrame({"study": "curves", "lr": 0.1, "norm": ["none"] * 3 + ["batch"] * 3, "epoch": [0, 1, 2] * 2,
                           "train_loss": [2.3, np.nan, np.nan, 2.3, 1.0, 0.5], "eval_loss": [2.3, np.nan, np.nan, 2.3, 1.1, 0.7]})
    assert normalization.diverged_at(curves, 0.1, "none") == 1 and normalization.diverged_at(curves, 0.1, "batch") is None
    assert normalization.final_val_loss(curves, 0.1, "batch") == 0.7
    result = normalization.run("smoke", split=tiny_data, studies=("curves", "init_scale"))
    assert len(normalization.plot_curves(result.frame, "smoke").axes) == 2  # one learning rate: loss and accuracy
    assert len(normalization.sweep_figure(result.summary, None, "init_scale", ("none", "batch"), "s").axes) == 2
    rms = {(s, norm): [1.0, 1.0, 1.0] for s in (0.5, 1.0) for norm in ("none", "batch")}
    fig, ax = normalization.plot_activation_rms(rms, (0.5, 1.0), np.arange(1, 4))
    assert len(ax.get_lines()) == 6
    plt.close("all")
