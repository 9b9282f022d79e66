"""nabla.experiments.optimizers: the learning-rate sweep (its budget scale), its results file, and the chapter's helpers."""

import math

import numpy as np
import pytest

from nabla import optim
from nabla.experiments import optimizers, save_results

from conftest import noisy_split


@pytest.fixture(scope="module")
def tiny_split():
    return noisy_split(40, 20, spread=2)


def test_the_sweep_trains_every_optimizer_at_every_rate_and_picks_the_lowest_training_loss(tiny_split):
    rates = [0.001, 0.1]
    result = optimizers.run("budget", split=tiny_split, learning_rates=rates)
    assert result.settings["epochs"] == 1 and result.summary["learning_rates"] == rates
    assert {(r["optimizer"], r["lr"]) for r in result.records} == {(o, lr) for o in optimizers.CONFIGURATIONS for lr in rates}
    for name, losses in result.summary["train_loss"].items():
        finals = [r["train_loss"] for r in result.records if r["optimizer"] == name and r["epoch"] == 1]
        assert losses == pytest.approx([loss if math.isfinite(loss) else math.inf for loss in finals])
        assert result.summary["best_lr"][name] == rates[int(np.argmin(losses))]
    assert "eval_accuracy" not in result.summary  # a sweep is judged on the training loss only


def test_the_budget_scale_is_the_sweep_on_the_chapters_images():
    budget = optimizers.SCALES["budget"]
    assert (budget["fraction"], budget["seed"], budget["epochs"]) == (0.05, 0, 1)
    assert budget["learning_rates"] == [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
    assert all(kwargs["lr"] in budget["learning_rates"] for _, kwargs in optimizers.CONFIGURATIONS.values())
    assert "learning_rates" not in optimizers.SCALES["full"]  # the comparison: each optimizer at its own rate


def test_sweep_results_reads_the_file_the_command_writes_and_refuses_another(tiny_split, tmp_path, monkeypatch):
    monkeypatch.setattr(optimizers, "RESULTS_DIR", tmp_path)
    result = optimizers.run("budget", split=tiny_split, learning_rates=[0.001, 0.1])
    save_results(result, tmp_path / "optimizers-budget.csv", "python -m nabla.experiments optimizers --scale budget")
    with pytest.raises(ValueError, match="with today's settings"):  # learning_rates differ from the scale's
        optimizers.sweep_results()
    result.settings = optimizers.SCALES["budget"]
    save_results(result, tmp_path / "optimizers-budget.csv", "python -m nabla.experiments optimizers --scale budget")
    assert optimizers.sweep_results().summary == result.summary
    save_results(result, tmp_path / "optimizers-budget.csv", "python -m nabla.experiments optimizers --scale budget --epochs 2")
    with pytest.raises(ValueError, match="was not written by"):
        optimizers.sweep_results()


def test_the_committed_sweep_chose_the_configurations():
    sweep = optimizers.sweep_results()
    assert sweep.summary["best_lr"] == {name: kwargs["lr"] for name, (_, kwargs) in optimizers.CONFIGURATIONS.items()}


def test_momentum_path_records_the_iterates_and_the_momentum_buffer():
    grad = optimizers.logistic_problem()
    path, velocities = optimizers.momentum_path(grad, np.zeros(5), [0.5, 0.5, 0.1], 0.9)
    b_1 = grad(np.zeros(5))
    np.testing.assert_allclose(velocities[1], b_1)
    np.testing.assert_allclose(path[1], -0.5 * b_1)
    np.testing.assert_allclose(velocities[2], 0.9 * b_1 + grad(path[1]))
    np.testing.assert_allclose(path[3], path[2] - 0.1 * velocities[3])
    np.testing.assert_allclose(path[:3], optimizers.iterates(optim.SGD, grad, np.zeros(5), 2, lr=0.5, momentum=0.9))


def test_effective_learning_rates_read_each_accumulator():
    gradients = [2.0, 1.0]
    np.testing.assert_allclose(optimizers.effective_learning_rates(optim.Adagrad, gradients, 0.1), [0.1 / 2, 0.1 / np.sqrt(5)], rtol=1e-9)
    v_1 = 0.01 * 4
    np.testing.assert_allclose(optimizers.effective_learning_rates(optim.RMSprop, gradients, 0.1),
                               [0.1 / (np.sqrt(v_1) + 1e-8), 0.1 / (np.sqrt(0.99 * v_1 + 0.01) + 1e-8)], rtol=1e-12)


def test_steps_from_zero_gives_nablas_and_torchs_thetas():
    ours, theirs = optimizers.steps_from_zero("SGD", {"lr": 0.1, "momentum": 0.5}, [np.array([1.0, -2.0]), np.array([1.0, 1.0])])
    np.testing.assert_allclose(ours, -0.1 * np.array([1.0, -2.0]) - 0.1 * np.array([1.5, 0.0]))
    np.testing.assert_allclose(theirs, ours, rtol=1e-15)


def test_adams_first_update_is_eta_against_the_sign_of_the_gradient(tiny_split):
    update, gradients = optimizers.adam_first_update(tiny_split.X_train[:8], tiny_split.y_train[:8], bias_correction=True, lr=0.01)
    moving = np.abs(gradients) > 1e-3  # where eps = 1e-8 is below 1e-3 of the denominator, with or without correction
    assert moving.sum() > 10
    np.testing.assert_allclose(update[moving], -0.01 * np.sign(gradients[moving]), rtol=1e-3)
    uncorrected, _ = optimizers.adam_first_update(tiny_split.X_train[:8], tiny_split.y_train[:8], bias_correction=False, lr=0.01)
    np.testing.assert_allclose(uncorrected[moving], np.sqrt(10) * update[moving], rtol=1e-3)
