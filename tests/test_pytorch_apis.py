"""nabla.experiments.pytorch_apis: the grid, its data, and the epochs-as-checkpoints claim."""

import numpy as np
import pytest
import torch

from nabla.data import Split
from nabla.experiments import load_results, pytorch_apis, save_results
from nabla.train import RECORD_KEYS


@pytest.fixture(scope="module")
def tiny():
    """``(split, test)`` as :func:`pytorch_apis.load` gives them: ten noisy class templates, pixels / 255, (n, 1, 28, 28).

    200 kept training images of which 20 are held out for validation, and 60 test images.
    """
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 28, 28))
    y = rng.integers(0, 10, 260)
    X = np.clip(templates[y] + rng.normal(0, 40, (260, 28, 28)), 0, 255).round().reshape(260, 1, 28, 28) / 255.0
    return Split(X[:180], y[:180], X[180:200], y[180:200], "validation"), Split(X[:200], y[:200], X[200:], y[200:], "test")


def study(tiny, **overrides):
    split, test = tiny
    return pytorch_apis.run("smoke", split=split, test=test, **overrides)


def test_the_grid_has_one_cell_per_batch_size_epochs_and_lr(tiny):
    result = study(tiny)
    settings, summary = result.settings, result.summary
    B, E, lrs = settings["batch_sizes"], settings["grid_epochs"], settings["lrs"]
    assert len(summary["grid"]) == len(B) * len(E) * len(lrs) and result.eval_set == "validation"
    assert len(result.records) == len(B) * len(lrs) * (max(E) + 1)  # epochs 0..max(E) per run
    assert all(list(r) == ["batch_size", "lr", *RECORD_KEYS] for r in result.records)
    assert (summary["n_train"], summary["n_validation"], summary["n_test"]) == (180, 20, 60)
    for cell in summary["grid"]:
        assert cell["steps"] == cell["epochs"] * -(-180 // cell["batch_size"])  # the last batch may be short
    best = summary["best"]
    assert best["eval_accuracy"] == max(cell["eval_accuracy"] for cell in summary["grid"])
    assert 0 <= best["test_accuracy"] <= 1 and {"batch_size", "epochs", "lr", "test_loss"} <= set(best)
    # every run starts from the same weights: the epoch-0 records agree
    assert len({r["train_loss"] for r in result.records if r["epoch"] == 0}) == 1
    # the mean and std of the training part's pixels, which the network's first layer normalises with
    X = torch.as_tensor(tiny[0].X_train).float()
    assert (summary["mean"], summary["std"]) == (X.mean().item(), X.std().item())


def test_an_E_epoch_run_is_the_first_E_epochs_of_a_longer_one(tiny):
    long = study(tiny, batch_sizes=[32], lrs=[0.1], grid_epochs=[1, 3], epochs=3)
    short = study(tiny, batch_sizes=[32], lrs=[0.1], grid_epochs=[1], epochs=1)
    keys = ("steps", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy")
    assert [{k: r[k] for k in keys} for r in short.records] == [{k: r[k] for k in keys} for r in long.records[:2]]


def test_epochs_caps_the_grid_and_bad_settings_are_refused(tiny):
    result = study(tiny, batch_sizes=[64], lrs=[0.1], grid_epochs=[1, 5], epochs=2)
    assert sorted({cell["epochs"] for cell in result.summary["grid"]}) == [1, 2]
    with pytest.raises(ValueError, match="unknown setting 'width'"):
        study(tiny, width=3)
    with pytest.raises(ValueError, match=r"setting .grid_epochs. must be >= 1 in each element, got \[0, 1\]"):
        study(tiny, grid_epochs=[0, 1])
    with pytest.raises(ValueError, match="give both split and test"):
        pytorch_apis.run("smoke", split=tiny[0])
    with pytest.raises(ValueError, match="split must hold out a validation set"):
        pytorch_apis.run("smoke", split=tiny[1], test=tiny[1])


def test_the_run_restores_the_thread_count(tiny):
    before = torch.get_num_threads()
    study(tiny, batch_sizes=[64], lrs=[0.1], grid_epochs=[1], epochs=1)
    assert torch.get_num_threads() == before


def test_the_tables_and_pairs_of_the_chapter(tiny):
    summary = study(tiny, batch_sizes=[32, 64], lrs=[0.1], grid_epochs=[1, 2], epochs=2).summary
    table = pytorch_apis.grid_table(summary["grid"])
    assert table.shape == (4, 2) and list(table.index.names) == ["B", "E"]
    best = pytorch_apis.best_table({"smoke": summary})
    assert best.loc["best of the grid (smoke)", "test accuracy"] == summary["best"]["test_accuracy"]
    # B = 32 for 1 epoch and B = 64 for 2 make 6 updates each: the one pair with the same eta K.
    pairs = pytorch_apis.same_time_pairs(summary["grid"], 0.1)
    assert [((a["batch_size"], a["epochs"]), (b["batch_size"], b["epochs"])) for a, b in pairs] == [((32, 1), (64, 2))]


def test_results_round_trip(tmp_path, tiny):
    result = study(tiny, batch_sizes=[64], lrs=[0.1], grid_epochs=[1], epochs=1)
    header, records = load_results(save_results(result, tmp_path / "h.csv", command="test"))
    assert header["experiment"] == "pytorch_apis" and header["eval_set"] == "validation"
    assert header["summary"] == result.summary and records == result.records


def test_assert_same_function_catches_a_weight_not_transposed():
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(6, 4, generator=generator, dtype=torch.float64).requires_grad_(),
              torch.zeros(4, dtype=torch.float64, requires_grad=True)]
    X = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    rows_times_W = lambda X, params: X @ params[0] + params[1]  # noqa: E731 - the barebones layout, Y = XW + b
    S = pytorch_apis.assert_same_function(rows_times_W, params, [nn.Linear(6, 4).double()], X)
    assert S.shape == (3, 4)

    class Untransposed(nn.Linear):  # uses the stored (out, in) weight as if it were (in, out): wrong
        def forward(self, X):
            return X @ self.weight.reshape(self.in_features, self.out_features) + self.bias

    params = [p.detach().clone().requires_grad_() for p in params]
    with pytest.raises(AssertionError):
        pytorch_apis.assert_same_function(rows_times_W, params, [Untransposed(6, 4).double()], X)


def test_points_by_draws_one_legend_entry_per_colour_and_marker():
    import matplotlib

    matplotlib.use("Agg")
    from nabla.plotting import points_by, white_figure

    rows = [{"x": k, "y": k * k, "lr": lr, "B": B} for k, (lr, B) in enumerate([(0.1, 32), (0.1, 64), (0.01, 32), (0.1, 32)])]
    fig, ax = white_figure()
    points_by(ax, rows, "x", "y", colour="lr", marker="B", label=lambda lr, B: f"{lr} {B}")
    lines = ax.get_lines()
    assert sorted(line.get_label() for line in lines) == ["0.01 32", "0.1 32", "0.1 64"]
    assert [len(line.get_xdata()) for line in lines if line.get_label() == "0.1 32"] == [2]
    assert {line.get_color() for line in lines if line.get_label().startswith("0.1 ")} == {"C1"}  # sorted: 0.01 is C0


def test_the_three_styles_of_the_chapter_agree_and_a_wrong_step_is_caught():
    generator = torch.Generator().manual_seed(0)
    W1, W2 = (torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1 for shape in ((16, 8), (8, 3)))
    params = [W1.requires_grad_(), torch.zeros(8, dtype=torch.float64, requires_grad=True),
              W2.requires_grad_(), torch.zeros(3, dtype=torch.float64, requires_grad=True)]
    two_layer = lambda X, p: torch.relu(X.flatten(1) @ p[0] + p[1]) @ p[2] + p[3]  # noqa: E731 - the barebones net
    models = [pytorch_apis.TwoLayerFC(16, 8, 3).double(), pytorch_apis.two_layer_sequential(16, 8, 3).double()]
    batches = [(torch.randn(5, 1, 4, 4, generator=generator, dtype=torch.float64), torch.randint(0, 3, (5,), generator=generator))
               for _ in range(3)]
    fresh = lambda: [p.detach().clone().requires_grad_() for p in params]  # noqa: E731
    pytorch_apis.assert_same_sgd_steps(two_layer, fresh(), models, batches)
    with pytest.raises(AssertionError):  # a barebones net that is not the models' function
        pytorch_apis.assert_same_sgd_steps(lambda X, p: two_layer(X, p) * 2, fresh(), models, batches)
    conv = [pytorch_apis.ThreeLayerConvNet(1, 2, 3, 4, image_size=6), pytorch_apis.convnet_sequential(1, 2, 3, 4, image_size=6)]
    assert all(model(torch.zeros(2, 1, 6, 6)).shape == (2, 4) for model in conv)
    assert [p.shape for p in conv[0].parameters()] == [p.shape for p in conv[1].parameters()]


def test_pair_rows_and_the_eta_k_figure(tiny):
    import matplotlib

    matplotlib.use("Agg")
    summary = study(tiny, batch_sizes=[32, 64], lrs=[0.1], grid_epochs=[1, 2], epochs=2).summary
    (row,) = pytorch_apis.pair_rows(pytorch_apis.same_time_pairs(summary["grid"], 0.1))
    assert row["(B, E)"] == (32, 1) and row["(B', E')"] == (64, 2) and row["gap"] == abs(row["training loss"] - row["training loss'"])
    fig = pytorch_apis.eta_k_figure({"smoke": summary["grid"], "again": summary["grid"]})
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"


def test_the_ece490_classifier_is_784_10_10_and_its_hook_measures_validation_every_k_updates(tiny):
    mnist = tiny[1]  # 200 training images (a random_split of 160 / 40) and 60 test images, as numpy arrays
    run = pytorch_apis.train_ece490(mnist, 17, sizes=(160, 40), batch_size=16, epochs=2, every=5)
    shapes = [tuple(p.shape) for p in run["model"].parameters()]
    assert shapes == [(10, 784), (10,), (10, 10), (10,)]  # nn.Linear stores (out, in): 784 -> 10 -> 10
    assert [r["steps"] for r in run["records"]] == [0, 10, 20] and [u for u, _ in run["curve"]] == [5, 10, 15, 20]
    # At the end of an epoch the hook has just measured what fit_torch then records: the same validation images.
    assert run["curve"][1][1] == run["records"][1]["eval_accuracy"] and run["curve"][3][1] == run["records"][2]["eval_accuracy"]
    assert 0 <= run["test_accuracy"] <= 1
    other = pytorch_apis.train_ece490(mnist, 18, sizes=(160, 40), batch_size=16, epochs=2, every=5)
    assert not torch.equal(other["model"][1].weight, run["model"][1].weight)  # the seed draws the weights
    with pytest.raises(ValueError, match=r"sizes \(150, 40\) must add up to the 200 training images"):
        pytorch_apis.train_ece490(mnist, 17, sizes=(150, 40))
    with pytest.raises(ValueError, match="train_ece490: mnist must hold the test set as its evaluation set, got 'validation'"):
        pytorch_apis.train_ece490(tiny[0], 17, sizes=(150, 30))


def test_the_ece490_figure_has_one_line_per_seed_and_the_ends_of_epochs(tiny):
    import matplotlib

    matplotlib.use("Agg")
    mnist = tiny[1]
    runs = {seed: pytorch_apis.train_ece490(mnist, seed, sizes=(160, 40), batch_size=16, epochs=3, every=5) for seed in (1, 2)}
    (ax,) = pytorch_apis.ece490_figure(runs).axes
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert [line.get_label() for line in solid] == ["seed 1", "seed 2"] and len(ax.get_lines()) - len(solid) == 2  # two epoch ends
