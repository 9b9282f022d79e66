"""nabla.experiments: the Python API, the command line, and the results files it writes."""

import math
import subprocess
import sys

import numpy as np
import pytest

from nabla import experiments, train
from nabla.experiments import divergent_lr, minibatch, optimizers, width

from conftest import ROOT, noisy_clusters


@pytest.fixture(scope="module")
def tiny_data():
    """A small separable-ish problem, so the API tests need not load FashionMNIST."""
    return noisy_clusters(40, 20, spread=2)


def test_width_api_returns_per_pass_records(tiny_data):
    result = width.run("smoke", data=tiny_data, passes=3)
    settings = result["settings"]
    assert result["experiment"] == "width" and settings["passes"] == 3
    assert len(result["records"]) == len(settings["widths"]) * 4
    first = result["records"][0]
    assert {"width", "lr", "pass", "updates", "train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= set(first)
    summary = result["summary"]
    assert summary["lr"] == summary["eta_star"] / 2
    assert [r["updates"] for r in result["records"][:4]] == [0, 40, 80, 120]  # n updates per pass
    assert set(summary["interpolation"]) == {str(w) for w in settings["widths"]}
    assert first["train_loss"] == pytest.approx(math.log(10), abs=1e-4)  # tiny weights: uniform predictions


def test_minibatch_api_counts_updates_per_batch_size(tiny_data):
    result = minibatch.run("smoke", data=tiny_data)
    for B in result["settings"]["batch_sizes"]:
        rows = [r for r in result["records"] if r["batch_size"] == B]
        assert [r["updates"] for r in rows] == [p * round(40 / B) for p in range(len(rows))]
        assert rows[0]["lr"] == result["summary"][str(B)]["eta_star"] / 2


def test_divergent_lr_api_trains_at_multiples_of_eta_star(tiny_data):
    result = divergent_lr.run("smoke", data=tiny_data)
    factors = {r["factor"] for r in result["records"]}
    assert factors == {0.5, 1.0, 2.0}
    eta = result["summary"]["1"]["eta_star"]
    assert all(r["lr"] == r["factor"] * eta for r in result["records"])


def test_run_by_name_and_unknown_names_are_refused(tiny_data):
    assert experiments.run("width", "smoke", data=tiny_data, passes=1)["experiment"] == "width"
    with pytest.raises(ValueError, match=f"no experiment 'depth'; the experiments are {', '.join(experiments.NAMES)}"):
        experiments.run("depth")
    with pytest.raises(ValueError, match="no scale 'huge'"):
        width.run("huge", data=tiny_data)
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        width.run("smoke", data=tiny_data, epochs=3)


def test_results_round_trip(tmp_path, tiny_data):
    result = width.run("smoke", data=tiny_data, passes=1)
    path = experiments.save_results(result, tmp_path / "w.csv", command="test")
    header, records = experiments.load_results(path)
    assert header["command"] == "test" and header["experiment"] == "width" and header["seed"] == 0
    assert header["settings"] == result["settings"] and header["summary"]["eta_star"] == result["summary"]["eta_star"]
    assert {"date", "wall_time_s", "versions", "cpu"} <= set(header) and "numpy" in header["versions"]
    assert records == result["records"]  # floats written with repr come back exactly


def test_cli_writes_a_csv_with_provenance(tmp_path):
    command = [sys.executable, "-m", "nabla.experiments", "width", "--scale", "smoke", "--passes", "1", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "width-smoke.csv"
    assert path.exists() and str(path) in done.stdout
    header, records = experiments.load_results(path)
    assert header["command"] == f"python -m nabla.experiments width --scale smoke --passes 1 --out {tmp_path}"
    assert header["scale"] == "smoke" and header["settings"]["passes"] == 1
    assert header["wall_time_s"] > 0 and header["versions"]["nabla"]
    assert len(records) == 2 * len(width.SCALES["smoke"]["widths"])
    assert {r["pass"] for r in records} == {0, 1}
    n = round(0.004 * 60000)
    assert [r["updates"] for r in records[:2]] == [0, n]
    assert "\r" not in done.stderr  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    "args, message",
    [
        (["depth"], "no experiment 'depth'"),
        (["width", "--scale", "huge"], "no scale 'huge'"),
        (["width", "--passes", "0"], "--passes must be >= 1"),
    ],
)
def test_cli_refuses_bad_input(args, message):
    done = subprocess.run([sys.executable, "-m", "nabla.experiments", *args], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and message in done.stderr


@pytest.mark.parametrize("name", experiments.NAMES)
def test_every_experiment_has_the_three_scales_and_the_command_lines_settings(name):
    scales = experiments.experiment(name).SCALES
    assert set(scales) == {"full", "budget", "smoke"}
    for settings in scales.values():
        assert {"seed", "passes"} <= set(settings)  # the command line's --seed and --passes
    assert scales["budget"]["passes"] <= scales["full"]["passes"]


def test_budget_scales_are_smaller_than_full():
    for module in (width, minibatch, divergent_lr, optimizers):
        full, budget = module.SCALES["full"], module.SCALES["budget"]
        assert budget["fraction"] < full["fraction"] and budget["passes"] < full["passes"]


def test_full_scales_are_the_course_settings():
    w = width.SCALES["full"]
    assert (w["widths"], w["fraction"], w["passes"], w["init"], w["batch_size"], w["search_width"]) == (
        [8, 16, 32, 128, 512], 0.12, 120, "tiny", 1, 16)
    m = minibatch.SCALES["full"]
    assert (m["width"], m["fraction"], m["batch_sizes"], m["passes"]) == (64, 0.10, [1, 2, 4, 8, 16], 50)


def test_interpolation_by_groups_runs():
    records = [{"width": w, "pass": p, "train_accuracy": a} for w, accs in [(8, [0.1, 0.9]), (16, [0.1, 1.0])] for p, a in enumerate(accs)]
    assert experiments.interpolation_by(records, "width") == {8: None, 16: 1}
    assert train.interpolation_pass(records[2:]) == 1


def test_optimizers_trains_each_optimizer_from_each_seed_on_the_same_minibatches(tiny_data):
    result = optimizers.run("smoke", data=tiny_data, passes=2, seeds=[0, 1])
    assert [r["epoch"] for r in result["records"]] == [0, 1, 2] * 12
    assert {(r["optimizer"], r["seed"]) for r in result["records"]} == {(o, s) for o in optimizers.CONFIGURATIONS for s in (0, 1)}
    # the same seed, the same start, whatever the optimizer: the epoch-0 records agree
    starts = {r["optimizer"]: r["train_loss"] for r in result["records"] if r["epoch"] == 0 and r["seed"] == 0}
    assert len(set(starts.values())) == 1
    y_test = tiny_data[3]
    counts = np.bincount(y_test, minlength=10)
    for name, accuracies in result["summary"]["test_accuracy"].items():
        last = [r for r in result["records"] if r["optimizer"] == name and r["epoch"] == 2]
        assert accuracies == [r["val_accuracy"] for r in last]  # the test set is fit's validation set
        for accuracy, per_class in zip(accuracies, result["summary"]["per_class"][name]):
            right = sum(a * n for a, n in zip(per_class, counts) if n)
            assert right == pytest.approx(accuracy * len(y_test))
    again = optimizers.run("smoke", data=tiny_data, passes=2, seeds=[0, 1])
    assert again["records"][-1]["train_loss"] == result["records"][-1]["train_loss"]
