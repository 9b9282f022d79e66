"""The course's width sweep in torch (nabla.experiments.width_course): settings, precisions, sampling, reproducibility."""

import numpy as np
import pytest
import torch

from nabla.experiments import width_course
from nabla.experiments._torch import epoch_batches

from conftest import noisy_split

SEEDLESS = ("seconds",)  # the one record key that is a measurement of the machine, not of the run


@pytest.fixture(scope="module")
def split():
    """Separable-ish clusters of 784 features: the smoke runs need not load FashionMNIST."""
    return noisy_split(60, 30, spread=0.3)


@pytest.fixture(scope="module")
def smoke(split):
    return width_course.run("smoke", split=split, widths=[8, 16], seeds=[0, 1], epochs=3)


def without_timings(records):
    return [{k: v for k, v in r.items() if k not in SEEDLESS} for r in records]


@pytest.mark.parametrize("overrides, error, fragment", [
    ({"dtypes": ["float16"]}, ValueError, "dtypes must be 'float32' or 'float64'"),
    ({"dtypes": "float32"}, TypeError, "setting 'dtypes'"),
    ({"dtypes": []}, ValueError, "empty list"),
    ({"step": "adam"}, ValueError, "step must be 'hand' or 'autograd'"),
    ({"batch_size": 2}, ValueError, "batch_size must be 1"),
    ({"init_scale": 0.0}, ValueError, "init_scale must be a finite number > 0"),
    ({"init_scale": float("nan")}, ValueError, "init_scale"),
    ({"widths": [0, 32]}, ValueError, "setting 'widths'"),
    ({"seeds": [-1]}, ValueError, "setting 'seeds'"),
    ({"lr": -0.005}, ValueError, "setting 'lr'"),
    ({"stop_at_interpolation": "yes"}, TypeError, "stop_at_interpolation"),
    ({"dtype": ["float32"]}, ValueError, "unknown setting 'dtype'"),
])
def test_bad_settings_are_refused_before_anything_runs(split, overrides, error, fragment):
    with pytest.raises(error, match=fragment):
        width_course.run("smoke", split=split, **overrides)


def test_no_scale_named_huge(split):
    with pytest.raises(ValueError, match="no scale 'huge'"):
        width_course.run("huge", split=split)


def test_the_subset_is_the_one_np_random_seed_1_choice_draws():
    state = np.random.get_state()
    try:
        np.random.seed(1)
        course = np.random.choice(60000, 7200, replace=False)
    finally:
        np.random.set_state(state)
    assert np.array_equal(width_course.course_subset(60000, 0.12, 1), course)


def test_both_precisions_run_from_the_same_network_on_the_same_draws(smoke):
    frame = smoke.frame
    assert set(frame["dtype"]) == {"float32", "float64"}
    by = {d: part.set_index(["width", "seed", "epoch"]) for d, part in frame.groupby("dtype")}
    assert list(by["float32"].index) == list(by["float64"].index)
    # the same examples in each pass: the draws do not depend on the precision
    assert (by["float32"]["distinct"].dropna() == by["float64"]["distinct"].dropna()).all()
    # the same starting network: the untrained losses agree to float32's precision, not to float64's
    start = {d: part.xs(0, level="epoch")["train_loss"].to_numpy() for d, part in by.items()}
    assert np.allclose(start["float32"], start["float64"], rtol=1e-6)
    # and the runs are not the same run twice: float32 arithmetic leaves its mark on the losses
    assert not np.array_equal(by["float32"]["train_loss"].to_numpy(), by["float64"]["train_loss"].to_numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_network_is_built_in_its_precision_from_float64_draws(dtype):
    model, _ = width_course.course_mlp(784, 16, seed=0, dtype=dtype)
    reference, _ = width_course.course_mlp(784, 16, seed=0, dtype="float64")
    assert all(p.dtype == width_course.DTYPES[dtype] for p in model.parameters())
    assert torch.equal(model.W1, reference.W1.to(width_course.DTYPES[dtype]))
    assert not model.b1.any() and not model.b2.any()
    assert 0.5e-6 < float(reference.W1.detach().std()) < 1.5e-6


def test_the_sampling_is_with_replacement(smoke, split):
    n = len(split.X_train)
    distinct = smoke.frame["distinct"].dropna()
    assert len(distinct) > 0 and (distinct < n).all()  # a permutation would step on every example once
    # n draws with replacement hit about n (1 - 1/e) distinct examples
    order = torch.cat(epoch_batches(7200, 1, "replacement", torch.Generator().manual_seed(0))).tolist()
    assert len(order) == 7200 and abs(len(set(order)) / 7200 - (1 - np.exp(-1))) < 0.02


def test_the_same_seed_gives_the_same_run_and_another_seed_another(split, smoke):
    again = width_course.run("smoke", split=split, widths=[8, 16], seeds=[0, 1], epochs=3)
    assert without_timings(again.records) == without_timings(smoke.records)
    frame = smoke.frame.set_index(["dtype", "width", "seed", "epoch"])["train_loss"]
    assert not np.allclose(frame.xs(0, level="seed").to_numpy(), frame.xs(1, level="seed").to_numpy(), rtol=1e-9)


def test_the_hand_step_is_the_autograd_step(split):
    """The full run's step (hand-derived) against torch autograd with optim.SGD, over three passes."""
    hand = width_course.run("smoke", split=split, widths=[16], epochs=3, dtypes=["float64"]).frame
    auto = width_course.run("smoke", split=split, widths=[16], epochs=3, dtypes=["float64"], step="autograd").frame
    assert np.allclose(hand["train_loss"], auto["train_loss"], rtol=1e-10, atol=0)
    assert (hand["train_accuracy"] == auto["train_accuracy"]).all()


def test_records_and_summary(smoke):
    first = smoke.records[0]
    assert list(first)[:4] == ["width", "seed", "dtype", "lr"] and first["epoch"] == 0 and first["distinct"] is None
    assert smoke.eval_set == "test" and smoke.experiment == "width_course"
    for dtype, by_width in smoke.summary["interpolation"].items():
        for H, by_seed in by_width.items():
            for seed, epoch in by_seed.items():
                run = smoke.frame.query("dtype == @dtype and width == @H and seed == @seed".replace("@H", H).replace("@seed", seed))
                assert epoch == width_course.interpolation_pass(run.to_dict("records"))


def test_a_run_stops_after_its_interpolation_pass_only_if_asked(split):
    easy = noisy_split(30, 10, spread=3.0)
    quick = {"widths": [16], "epochs": 20, "dtypes": ["float64"], "lr": 1e-3, "init_scale": 0.1}  # interpolates in 6 passes
    stopped = width_course.run("smoke", split=easy, **quick).frame
    full = width_course.run("smoke", split=easy, stop_at_interpolation=False, **quick).frame
    first = width_course.interpolation_pass(full.to_dict("records"))
    assert first is not None and first < 20
    assert stopped["epoch"].max() == first and full["epoch"].max() == 20


def test_the_figure_has_a_panel_per_width_and_a_line_per_seed_and_precision(smoke, split):
    import matplotlib.pyplot as plt

    fig, axes = width_course.precision_curves(smoke.frame, len(split.X_train))
    assert [ax.get_title() for ax in axes] == ["width $H = 8$", "width $H = 16$"]
    assert all(len(ax.lines) == 2 * 2 for ax in axes)  # two seeds, two precisions
    plt.close(fig)


def test_the_full_files_are_read_together_and_each_is_checked(tmp_path, monkeypatch, capsys):
    from nabla.experiments import _results

    monkeypatch.setattr(_results, "RESULTS_DIR", tmp_path)
    full = width_course.SCALES["full"]

    def write(overrides, command):
        settings = {**full, **overrides}
        interpolation = {d: {str(H): {str(s): None for s in settings["seeds"]} for H in settings["widths"]} for d in full["dtypes"]}
        records = [{"width": H, "seed": s, "epoch": 0} for H in settings["widths"] for s in settings["seeds"]]
        result = _results.Result("width_course", "full", settings, {"interpolation": interpolation}, records, 1.0, "test")
        _results.save_results(result, _results.default_path("width_course", "full", overrides or None), command)

    assert width_course.full_results_all() is None
    write({}, _results.full_command("width_course"))
    assert width_course.full_results_all().settings["seeds"] == full["seeds"]
    printed = capsys.readouterr().out
    assert all(width_course.more_command(overrides) in printed for overrides in width_course.MORE_RUNS)
    assert width_course.more_command({"seeds": [4, 5]}) == "python -m nabla.experiments width_course --scale full --set seeds=[4,5]"
    for overrides in width_course.MORE_RUNS:
        write(overrides, width_course.more_command(overrides) + " --no-progress")
    every = width_course.full_results_all()
    runs = [{**full, **overrides} for overrides in ({}, *width_course.MORE_RUNS)]
    assert len(every.records) == sum(len(r["widths"]) * len(r["seeds"]) for r in runs)
    assert set(every.settings["seeds"]) == {s for r in runs for s in r["seeds"]}
    assert set(every.settings["widths"]) == {H for r in runs for H in r["widths"]}
    for by_width in every.summary["interpolation"].values():
        assert set(by_width) == {str(H) for H in every.settings["widths"]}
    overrides = width_course.MORE_RUNS[0]
    write(overrides, width_course.more_command(overrides) + " --epochs 3")
    with pytest.raises(ValueError, match="was not written by"):
        width_course.full_results_all()
