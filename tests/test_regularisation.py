"""nabla.experiments.regularisation: dropout and weight decay runs, at smoke scale on made-up data."""

import numpy as np
import pytest

from nabla import Tensor, experiments, nn, ops, optim
from nabla.experiments import regularisation as regularization

from conftest import noisy_split


@pytest.fixture(scope="module")
def tiny_data():
    """Ten noisy clusters in 784 dimensions, so the tests need not load FashionMNIST."""
    return noisy_split(100, 50, eval_set="validation")


@pytest.fixture(scope="module")
def smoke(tiny_data):
    return regularization.run("smoke", split=tiny_data)


def test_records_hold_both_series_with_one_shared_baseline(smoke):
    settings, records = smoke.settings, smoke.records
    assert smoke.experiment == "regularisation" and settings["epochs"] == 2 and smoke.eval_set == "validation"
    runs = sorted({(r["keep"], r["weight_decay"]) for r in records})
    assert runs == [(0.5, 0.0), (1.0, 0.0), (1.0, 0.01)]  # the baseline (1, 0) is trained once
    assert len(records) == len(runs) * (settings["epochs"] + 1)
    assert {"epoch", "steps", "train_accuracy", "eval_accuracy", "eval_loss", "weight_norm", "minibatch_loss", "repeat"} <= set(records[0])
    assert [r["steps"] for r in records[:3]] == [0, 4, 8]  # 100 images in minibatches of 32: 4 steps per epoch
    assert records[0]["minibatch_loss"] is None and records[1]["minibatch_loss"] > 0


def test_summary_keys_and_gap(smoke):
    summary = smoke.summary
    assert set(summary["dropout"]) == {"1.0", "0.5"} and set(summary["weight_decay"]) == {"0.0", "0.01"}
    assert summary["dropout"]["1.0"] == summary["weight_decay"]["0.0"]  # the shared baseline
    for entry in [*summary["dropout"].values(), *summary["weight_decay"].values()]:
        assert entry["gap"] == pytest.approx(entry["train_accuracy"] - entry["eval_accuracy"])
        assert entry["eval_accuracy_min"] <= entry["eval_accuracy"] <= entry["eval_accuracy_max"]


def test_every_run_starts_from_the_same_network(smoke):
    first = [r for r in smoke.records if r["epoch"] == 0]
    assert len({(r["train_loss"], r["eval_loss"], r["weight_norm"]) for r in first}) == 1


def test_runs_are_deterministic(tiny_data, smoke):
    again = regularization.run("smoke", split=tiny_data)
    drop = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert drop(again.records) == drop(smoke.records)


def test_repeats_differ_but_share_the_data(tiny_data):
    result = regularization.run("smoke", split=tiny_data, repeats=2, keeps=[1.0], weight_decays=[0.0])
    by_repeat = {}
    for r in result.records:
        by_repeat.setdefault(r["repeat"], []).append(r)
    assert set(by_repeat) == {0, 1}
    assert by_repeat[0][0]["weight_norm"] != by_repeat[1][0]["weight_norm"]  # other initial weights


def test_weight_decay_shrinks_the_weights(tiny_data):
    result = regularization.run("smoke", split=tiny_data, keeps=[1.0], weight_decays=[0.0, 1.0], epochs=3)
    norms = result.summary["weight_decay"]
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


def test_the_keep_probability_is_one_minus_p():
    sizes = [6, 5, 5, 2]
    model = regularization.make_model(sizes, 0.8, np.random.default_rng(0), np.random.default_rng(1))
    assert [d.p for d in model.dropouts] == [pytest.approx(0.2)] * 2
    assert len(model.parameters()) == 6
    plain = regularization.make_model(sizes, 1.0, np.random.default_rng(0), np.random.default_rng(1))
    reference = nn.MLP(sizes, rng=np.random.default_rng(0))
    assert plain.dropouts == []
    X = Tensor(np.random.default_rng(2).standard_normal((3, 6)))
    assert np.array_equal(plain(X).value, reference(X).value)
    assert np.array_equal(model.eval()(X).value, reference(X).value)  # test mode: dropout is the identity
    with pytest.raises(ValueError, match="keep probability must lie in"):
        regularization.make_model(sizes, 0.0, np.random.default_rng(0), np.random.default_rng(1))


def test_unknown_settings_are_refused(tiny_data):
    with pytest.raises(ValueError, match="unknown setting 'passes'"):
        experiments.run("regularisation", "smoke", split=tiny_data, passes=3)


def test_the_chapters_quoted_numbers_and_figures(smoke):
    import matplotlib.pyplot as plt

    assert [regularization.key_of(v) for v in (1.0, 0.5, 0.65, 1e-3, 3e-2, 0.0)] == ["1", "0p5", "0p65", "0p001", "0p03", "0"]
    texts = regularization.quoted(smoke.summary, "dropout")
    baseline = smoke.summary["dropout"]["1.0"]
    assert set(texts) == {f"dropout-{q}-{metric}" for q in ("1", "0p5")
                          for metric in ("train", "val", "gap", "loss", "norm", "valmin", "valmax")}
    assert texts["dropout-1-val"] == f"{baseline['eval_accuracy'] * 100:.1f} %" and texts["dropout-1-loss"] == f"{baseline['eval_loss']:.2f}"
    assert "weight-decay-0p01-gap" in regularization.quoted(smoke.summary, "weight_decay")
    assert len(regularization.weight_norm_figure(smoke.frame, "norms").axes[0].get_lines()) == 2  # lambda = 0 and 0.01
    fig = regularization.validation_loss_figure(smoke.frame, {"dropout": [1.0, 0.5], "weight_decay": [0.0, 1e-2]}, "smoke")
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    plt.close("all")


def test_course_run_pairs_the_keep_probabilities_of_each_seed(tiny_data):
    rows = regularization.course_run([0, 1], epochs=1, split=tiny_data)
    assert [(r["seed"], r["keep"]) for r in rows] == [(0, 1.0), (0, 0.25), (1, 1.0), (1, 0.25)]
    for r in rows:
        assert 0 <= r["eval_accuracy"] <= r["best_eval_accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1
    assert rows == regularization.course_run([0, 1], epochs=1, split=tiny_data)  # seeded: the same rows again
