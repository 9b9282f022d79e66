"""nabla.experiments.regularization: dropout and weight decay runs, at smoke scale on made-up data."""

import math

import numpy as np
import pytest

from nabla import experiments, nn, optim, ops
from nabla.experiments import regularization
from nabla.engine import Tensor

from conftest import noisy_clusters


@pytest.fixture(scope="module")
def tiny_data():
    """Ten noisy clusters in 784 dimensions, so the tests need not load FashionMNIST."""
    return noisy_clusters(100, 50)


@pytest.fixture(scope="module")
def smoke(tiny_data):
    return regularization.run("smoke", data=tiny_data)


def test_records_hold_both_series_with_one_shared_baseline(smoke):
    settings, records = smoke["settings"], smoke["records"]
    assert smoke["experiment"] == "regularization" and settings["passes"] == 2
    runs = sorted({(r["keep"], r["weight_decay"]) for r in records})
    assert runs == [(0.5, 0.0), (1.0, 0.0), (1.0, 0.01)]  # the baseline (1, 0) is trained once
    assert len(records) == len(runs) * (settings["passes"] + 1)
    assert {"epoch", "steps", "train_accuracy", "val_accuracy", "val_loss", "weight_norm", "minibatch_loss", "repeat"} <= set(records[0])
    assert [r["steps"] for r in records[:3]] == [0, 4, 8]  # 100 images in minibatches of 32: 4 steps per epoch
    assert math.isnan(records[0]["minibatch_loss"]) and records[1]["minibatch_loss"] > 0


def test_summary_keys_and_gap(smoke):
    summary = smoke["summary"]
    assert set(summary["dropout"]) == {"1.0", "0.5"} and set(summary["weight_decay"]) == {"0.0", "0.01"}
    assert summary["dropout"]["1.0"] == summary["weight_decay"]["0.0"]  # the shared baseline
    for entry in [*summary["dropout"].values(), *summary["weight_decay"].values()]:
        assert entry["gap"] == pytest.approx(entry["train_accuracy"] - entry["val_accuracy"])
        assert entry["val_accuracy_min"] <= entry["val_accuracy"] <= entry["val_accuracy_max"]


def test_every_run_starts_from_the_same_network(smoke):
    first = [r for r in smoke["records"] if r["epoch"] == 0]
    assert len({(r["train_loss"], r["val_loss"], r["weight_norm"]) for r in first}) == 1


def test_runs_are_deterministic(tiny_data, smoke):
    again = regularization.run("smoke", data=tiny_data)
    # repr, because the minibatch loss of epoch 0 is NaN, which equals nothing, not even itself
    drop = lambda records: repr([{k: v for k, v in r.items() if k != "seconds"} for r in records])  # noqa: E731
    assert drop(again["records"]) == drop(smoke["records"])


def test_repeats_differ_but_share_the_data(tiny_data):
    result = regularization.run("smoke", data=tiny_data, repeats=2, keeps=[1.0], weight_decays=[0.0])
    by_repeat = {}
    for r in result["records"]:
        by_repeat.setdefault(r["repeat"], []).append(r)
    assert set(by_repeat) == {0, 1}
    assert by_repeat[0][0]["weight_norm"] != by_repeat[1][0]["weight_norm"]  # other initial weights


def test_weight_decay_shrinks_the_weights(tiny_data):
    result = regularization.run("smoke", data=tiny_data, keeps=[1.0], weight_decays=[0.0, 1.0], passes=3)
    norms = result["summary"]["weight_decay"]
    assert norms["1.0"]["weight_norm"] < norms["0.0"]["weight_norm"]


def test_norm_recording_sgd_records_after_every_step_and_updates_like_sgd():
    X, y = np.random.default_rng(1).standard_normal((8, 5)), np.arange(8) % 3
    models = [nn.MLP([5, 4, 3], rng=np.random.default_rng(0)) for _ in range(2)]
    recording = regularization.NormRecordingSGD(models[0], lr=0.1, weight_decay=0.01)
    plain = optim.SGD(models[1].parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(3):
        for model, optimizer in zip(models, (recording, plain)):
            optimizer.zero_grad()
            ops.cross_entropy(model(Tensor(X)), y).backward()
            optimizer.step()
    assert len(recording.norms) == 4 and recording.norms[-1] == regularization.weight_norm(models[0])
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert np.array_equal(a.value, b.value)


def test_dropout_mlp_keep_probability_is_one_minus_p():
    sizes = [6, 5, 5, 2]
    model = regularization.DropoutMLP(sizes, 0.8, np.random.default_rng(0), np.random.default_rng(1))
    assert [d.p for d in model.dropouts] == [pytest.approx(0.2)] * 2
    assert len(model.parameters()) == 6
    plain = regularization.DropoutMLP(sizes, 1.0, np.random.default_rng(0), np.random.default_rng(1))
    reference = nn.MLP(sizes, rng=np.random.default_rng(0))
    assert plain.dropouts == []
    X = Tensor(np.random.default_rng(2).standard_normal((3, 6)))
    assert np.array_equal(plain(X).value, reference(X).value)
    assert np.array_equal(model.eval()(X).value, reference(X).value)  # test mode: dropout is the identity
    with pytest.raises(ValueError, match="keep probability must lie in"):
        regularization.DropoutMLP(sizes, 0.0, np.random.default_rng(0), np.random.default_rng(1))


def test_unknown_settings_are_refused(tiny_data):
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        experiments.run("regularization", "smoke", data=tiny_data, epochs=3)


def test_center_and_scale_uses_training_statistics_and_stays_bounded():
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (50, 4, 4)).astype(np.uint8)
    train_images[:, 0, 0] = 0  # a pixel dark in every training image: sigma_j = 0
    val_images = rng.integers(0, 256, (20, 4, 4)).astype(np.uint8)
    val_images[:, 0, 0] = 255
    X_train, X_val = regularization.center_and_scale(train_images, val_images)
    assert X_train.shape == (50, 16) and X_val.shape == (20, 16)
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-12) and np.isclose(X_train.std(), 1.0)
    assert np.all(np.isfinite(X_val)) and np.abs(X_val).max() < 10  # no division by a zero sigma_j
    mu = train_images.reshape(50, -1).mean(axis=0)
    assert np.allclose(X_val * np.sqrt(np.mean((train_images.reshape(50, -1) - mu) ** 2)) + mu, val_images.reshape(20, -1))
