"""nabla.experiments: the Python API, the settings' checks, the results files, full_results and the command line."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from nabla import experiments, train
from nabla.experiments import Result, _results, divergent_lr, minibatch, optimizers, settings_for, width
from nabla.experiments import __main__ as cli

from conftest import ROOT, noisy_split


@pytest.fixture(scope="module")
def tiny_split():
    """A small separable-ish problem, so the API tests need not load FashionMNIST."""
    return noisy_split(40, 20, spread=2)


NABLA_EXPERIMENTS = ("mlp", "divergent_lr", "width", "minibatch", "optimizers", "normalisation_practice", "regularisation")


def test_width_api_returns_per_epoch_records_in_the_one_schema(tiny_split):
    result = width.run("smoke", split=tiny_split, epochs=3)
    settings = result.settings
    assert isinstance(result, Result) and result.experiment == "width" and settings["epochs"] == 3
    assert result.eval_set == "test" and len(result.records) == len(settings["widths"]) * 4
    first = result.records[0]
    assert list(first) == ["width", "lr", *train.RECORD_KEYS]
    summary = result.summary
    assert summary["lr"] == summary["eta_star"] / 2
    assert [r["steps"] for r in result.records[:4]] == [0, 40, 80, 120]  # n updates per pass
    assert set(summary["interpolation"]) == {str(w) for w in settings["widths"]}
    assert first["train_loss"] == pytest.approx(math.log(10), abs=1e-4)  # tiny weights: uniform predictions
    assert result.frame.shape == (len(result.records), 2 + len(train.RECORD_KEYS))


def test_minibatch_api_counts_updates_per_batch_size(tiny_split):
    result = minibatch.run("smoke", split=tiny_split)
    for B in result.settings["batch_sizes"]:
        rows = [r for r in result.records if r["batch_size"] == B]
        assert [r["steps"] for r in rows] == [p * round(40 / B) for p in range(len(rows))]
        assert [r["examples"] for r in rows] == [p * round(40 / B) * B for p in range(len(rows))]
        assert rows[0]["lr"] == result.summary[str(B)]["eta_star"] / 2


def test_divergent_lr_api_trains_at_multiples_of_eta_star(tiny_split):
    result = divergent_lr.run("smoke", split=tiny_split)
    assert {r["factor"] for r in result.records} == {0.5, 1.0, 2.0}
    eta = result.summary["1"]["eta_star"]
    assert all(r["lr"] == r["factor"] * eta for r in result.records)


def test_optimizers_trains_each_optimizer_from_each_seed_on_the_same_minibatches(tiny_split):
    result = optimizers.run("smoke", split=tiny_split, epochs=2, seeds=[0, 1])
    assert [r["epoch"] for r in result.records] == [0, 1, 2] * 12
    assert {(r["optimizer"], r["seed"]) for r in result.records} == {(o, s) for o in optimizers.CONFIGURATIONS for s in (0, 1)}
    # the same seed, the same start, whatever the optimizer: the epoch-0 records agree
    starts = {r["optimizer"]: r["train_loss"] for r in result.records if r["epoch"] == 0 and r["seed"] == 0}
    assert len(set(starts.values())) == 1
    counts = np.bincount(tiny_split.y_eval, minlength=10)
    for name, accuracies in result.summary["eval_accuracy"].items():
        last = [r for r in result.records if r["optimizer"] == name and r["epoch"] == 2]
        assert accuracies == [r["eval_accuracy"] for r in last]
        for accuracy, per_class in zip(accuracies, result.summary["per_class"][name]):
            right = sum(a * n for a, n in zip(per_class, counts) if n)
            assert right == pytest.approx(accuracy * len(tiny_split.y_eval))
    again = optimizers.run("smoke", split=tiny_split, epochs=2, seeds=[0, 1])
    assert again.records[-1]["train_loss"] == result.records[-1]["train_loss"]


# ---- the registry and the settings -----------------------------------------------------------


def test_run_by_name_and_unknown_names_are_refused(tiny_split):
    assert experiments.run("width", "smoke", split=tiny_split, epochs=1).experiment == "width"
    with pytest.raises(ValueError, match=f"no experiment 'depth'; the experiments are {', '.join(experiments.NAMES)}"):
        experiments.run("depth")
    with pytest.raises(ValueError, match="no scale 'huge'"):
        width.run("huge", split=tiny_split)
    with pytest.raises(ValueError, match="unknown setting 'passes'"):
        width.run("smoke", split=tiny_split, passes=3)


@pytest.mark.parametrize("name", NABLA_EXPERIMENTS)
def test_every_experiment_is_named_as_its_chapter_and_has_the_three_scales(name):
    assert name in experiments.NAMES and (ROOT / experiments.chapter(name)).exists()
    scales = experiments.experiment(name).SCALES
    assert set(scales) == {"full", "budget", "smoke"}
    for settings in scales.values():
        assert {"seed", "epochs"} <= set(settings)  # the command line's --seed and --epochs
    assert scales["budget"]["epochs"] <= scales["full"]["epochs"]


def test_budget_scales_are_smaller_than_full():
    for module in (width, minibatch, divergent_lr, optimizers):
        full, budget = module.SCALES["full"], module.SCALES["budget"]
        assert budget["fraction"] < full["fraction"] and budget["epochs"] < full["epochs"]


def test_full_scales_are_the_course_settings():
    w = width.SCALES["full"]
    assert (w["widths"], w["fraction"], w["epochs"], w["init"], w["batch_size"], w["search_width"]) == (
        [8, 16, 32, 128, 512], 0.12, 120, "tiny", 1, 16)
    m = minibatch.SCALES["full"]
    assert (m["width"], m["fraction"], m["batch_sizes"], m["epochs"]) == (64, 0.10, [1, 2, 4, 8, 16], 50)


def test_overrides_are_checked_by_name_and_type():
    scales = {"full": {"epochs": 10, "lr": 0.1, "widths": [8, 16], "rates": [0.0, 1e-3], "test_size": None, "init": "tiny", "seed": 0}}
    assert settings_for(scales, "full", {"epochs": 2, "lr": 1, "widths": [4], "rates": [0, 0.5], "test_size": 100, "seed": None}) == {
        "epochs": 2, "lr": 1, "widths": [4], "rates": [0, 0.5], "test_size": 100, "init": "tiny", "seed": 0}
    for name, value, message in [("epochs", 2.5, "'epochs' is 10"), ("epochs", True, "'epochs' is 10"),
                                 ("widths", [8.5], r"'widths\[0\]' is 8"), ("widths", 8, "'widths' is"),
                                 ("lr", "0.1", "'lr' is 0.1"), ("test_size", 0.5, "'test_size' is None")]:
        with pytest.raises(TypeError, match=message):
            settings_for(scales, "full", {name: value})
    with pytest.raises(ValueError, match="'epochs' must be >= 1, got 0"):
        settings_for(scales, "full", {"epochs": 0})
    with pytest.raises(ValueError, match="'seed' must be >= 0, got -1"):
        settings_for(scales, "full", {"seed": -1})


# ---- results files ------------------------------------------------------------------------------


def test_results_round_trip(tmp_path, tiny_split):
    result = width.run("smoke", split=tiny_split, epochs=1)
    path = experiments.save_results(result, tmp_path / "w.csv", command="test")
    header, records = experiments.load_results(path)
    assert header["command"] == "test" and header["experiment"] == "width" and header["seed"] == 0
    assert header["settings"] == result.settings and header["summary"]["eta_star"] == result.summary["eta_star"]
    assert header["eval_set"] == "test"
    assert {"date", "wall_time_s", "versions", "cpu"} <= set(header) and "numpy" in header["versions"]
    assert records == result.records  # floats written with repr come back exactly
    assert os.listdir(tmp_path) == ["w.csv"]  # no temporary file left behind
    assert path.stat().st_mode & 0o044 == 0o044  # readable by all, as a file written by open() is (umask 022)


def test_an_interrupted_save_leaves_the_old_file_whole(tmp_path, tiny_split, monkeypatch):
    result = width.run("smoke", split=tiny_split, epochs=1)
    path = experiments.save_results(result, tmp_path / "w.csv", command="the old run")
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # as if the writing were stopped half-way

    monkeypatch.setattr(_results.os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        experiments.save_results(result, path, command="the new run")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["w.csv"]


def test_a_run_with_overrides_gets_a_file_of_its_own():
    assert experiments.default_path("width", "full").name == "width-full.csv"
    assert experiments.default_path("width", "full", {"epochs": 1, "seed": 3}).name == "width-full-epochs=1-seed=3.csv"
    assert experiments.default_path("width", "full", {"widths": [8, 16]}).name == "width-full-widths=8,16.csv"
    assert experiments.default_path("width", "full", {"seed": None}).name == "width-full.csv"


def test_full_results_checks_the_header_or_says_how_to_make_them(tmp_path, tiny_split, monkeypatch, capsys):
    monkeypatch.setattr(_results, "RESULTS_DIR", tmp_path)
    assert experiments.full_results("width") is None
    assert "Make it with:  python -m nabla.experiments width --scale full" in capsys.readouterr().out
    result = width.run("smoke", split=tiny_split, epochs=1)
    result.scale = "full"
    experiments.save_results(result, tmp_path / "width-full.csv", command="python -m nabla.experiments width --scale full")
    full = experiments.full_results("width")
    assert full.records == result.records and full.eval_set == "test" and full.summary["eta_star"] == result.summary["eta_star"]
    assert full.provenance().loc["command"].iloc[0] == "python -m nabla.experiments width --scale full"
    with pytest.raises(ValueError, match="with today's settings"):
        experiments.full_results("width", width.SCALES)  # written with the smoke settings, not the full ones
    experiments.save_results(result, tmp_path / "width-full.csv", command="python -m nabla.experiments width --scale full --epochs 1")
    with pytest.raises(ValueError, match="was not written by `python -m nabla.experiments width --scale full`"):
        experiments.full_results("width")


def test_full_results_of_another_seed_read_its_own_file_and_command(tmp_path, tiny_split, monkeypatch, capsys):
    monkeypatch.setattr(_results, "RESULTS_DIR", tmp_path)
    scales = {"full": {**width.SCALES["smoke"], "epochs": 1, "seed": 0}}
    assert experiments.full_results_over_seeds("width", scales, [0, 1]) == {}
    out = capsys.readouterr().out
    assert "python -m nabla.experiments width --scale full --seed 1" in out and "width-full-seed=1.csv" in out
    for seed in (0, 1):
        result = width.run("smoke", split=tiny_split, seed=seed, epochs=1)
        result.scale = "full"
        name, command = ("width-full.csv", "") if seed == 0 else (f"width-full-seed={seed}.csv", f" --seed {seed} --no-progress")
        experiments.save_results(result, tmp_path / name, command=f"python -m nabla.experiments width --scale full{command}")
    runs = experiments.full_results_over_seeds("width", scales, [0, 1])
    assert sorted(runs) == [0, 1] and runs[1].settings["seed"] == 1  # --no-progress changes nothing that is computed
    assert runs[1].provenance().columns[0] == "results/width-full-seed=1.csv"
    experiments.save_results(result, tmp_path / "width-full-seed=1.csv", command="python -m nabla.experiments width --scale full --seed 2")
    with pytest.raises(ValueError, match="was not written by `python -m nabla.experiments width --scale full --seed 1`"):
        experiments.full_results("width", scales, seed=1)


# ---- the command line ----------------------------------------------------------------------------


def test_cli_writes_a_csv_with_provenance(tmp_path):
    command = [sys.executable, "-m", "nabla.experiments", "width", "--scale", "smoke", "--epochs", "1", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "width-smoke-epochs=1.csv"  # a run with an override never takes the scale's own name
    assert path.exists() and str(path) in done.stdout
    header, records = experiments.load_results(path)
    assert header["command"] == f"python -m nabla.experiments width --scale smoke --epochs 1 --out {tmp_path}"
    assert header["scale"] == "smoke" and header["settings"]["epochs"] == 1 and header["eval_set"] == "test"
    assert header["wall_time_s"] > 0 and header["versions"]["nabla"]
    assert len(records) == 2 * len(width.SCALES["smoke"]["widths"])
    assert {r["epoch"] for r in records} == {0, 1}
    assert [r["steps"] for r in records[:2]] == [0, round(0.004 * 60000)]
    assert "\r" not in done.stderr  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    "args, message",
    [
        (["depth"], "no experiment 'depth'"),
        (["width", "--scale", "huge"], "no scale 'huge'"),
        (["width", "--epochs", "0"], "'epochs' must be >= 1"),
        (["width", "--set", "widths=8"], "setting 'widths' is [8, 16, 32, 128, 512]"),
        (["width", "--set", "depth=3"], "unknown setting 'depth'"),
        (["width", "--set", "widths"], "expected NAME=VALUE"),
        (["width", "--set", "widths=[8,"], "is not JSON"),
        (["width", "--out", "/proc/nowhere"], "--out '/proc/nowhere': cannot write a file there"),
        (["width", "--data-root", "/no/such/folder"], "is not a folder"),
    ],
)
def test_cli_refuses_bad_input_before_the_run_starts(args, message, monkeypatch, capsys):
    def run(**kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(width, "run", run)
    with pytest.raises(SystemExit) as exit:
        cli.main(args)
    assert message in str(exit.value)


def test_cli_refuses_a_seed_that_is_not_an_integer(capsys):
    with pytest.raises(SystemExit):
        cli.main(["width", "--seed", "1.5"])
    assert "invalid int value: '1.5'" in capsys.readouterr().err


def test_optimizers_against_torch_agrees_and_reports_each_setting():
    rows = optimizers.against_torch([("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01})], steps=5)
    assert [r["optimizer"] for r in rows] == ["SGD", "Adam"] and rows[0]["options"] == "lr=0.1, momentum=0.9"
    assert all(float(r["largest |nabla - torch| over 5 steps"]) < 1e-12 for r in rows)


def test_glue_values_glues_plain_python_values_under_the_chapters_prefix(monkeypatch):
    import myst_nb

    import numpy as np

    from nabla.experiments import glue_values

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: (value, display)}))
    glue_values("gd", risk_fall=np.float64(8.25), wrong=np.int64(3), words="3 of 4", missing=None)
    assert glued == {"gd-risk-fall": (8.25, False), "gd-wrong": (3, False), "gd-words": ("3 of 4", False), "gd-missing": ("(not run)", False)}
    assert type(glued["gd-risk-fall"][0]) is float and type(glued["gd-wrong"][0]) is int  # numpy scalars render empty
    for bad in (np.True_, [1, 2]):
        with pytest.raises(TypeError, match="glue_values: gd-x"):
            glue_values("gd", x=bad)
