"""nabla.experiments.augmentation: the CNN, the seeded augmentations, the vote and the two trainings."""

import math

import numpy as np
import pytest
import torch

from nabla.data import Split
from nabla.experiments import augmentation, load_results, save_results
from nabla.experiments._torch import transform_each
from nabla.experiments.augmentation import SETTINGS, majority_vote
from nabla.train import RECORD_KEYS


@pytest.fixture(scope="module")
def tiny_split():
    """Ten bright squares in ten places, one per class, with noise: 40 training and 20 test images (n, 1, 28, 28) in [0, 1]."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 10
    images = rng.integers(0, 40, (60, 28, 28)).astype(np.uint8)
    for k, label in enumerate(y):
        row, col = divmod(int(label), 5)
        images[k, 4 + 10 * row : 12 + 10 * row, 2 + 5 * col : 7 + 5 * col] = 220
    X = images.reshape(60, 1, 28, 28) / 255.0  # as nabla.data.split(standardize="none", images=True) gives them
    return Split(X[:40], y[:40], X[40:], y[40:], "test")


@pytest.fixture(scope="module")
def smoke(tiny_split):
    return augmentation.run("smoke", split=tiny_split, epochs=2, tta_every=2)


def test_records_have_one_row_per_training_and_epoch(smoke):
    records, settings = smoke.records, smoke.settings
    assert smoke.experiment == "augmentation" and settings["epochs"] == 2 and smoke.eval_set == "test"
    assert [(r["training"], r["epoch"]) for r in records] == [(t, e) for t in ("plain", "augmented") for e in range(3)]
    assert all(list(r) == ["training", *RECORD_KEYS, "batch_loss", "eval_accuracy_tta"] for r in records)
    assert [r["steps"] for r in records[:3]] == [0, 3, 6]  # 40 images, B = 16: 3 updates an epoch
    # TTA is evaluated at epoch 0, every tta_every epochs and at the last; NaN elsewhere.
    assert [math.isnan(r["eval_accuracy_tta"]) for r in records] == [False, True, False] * 2
    assert math.isnan(records[0]["batch_loss"]) and not math.isnan(records[1]["batch_loss"])
    # Same initial weights: before training, the two trainings measure the same numbers.
    plain_0, augmented_0 = records[0], records[3]
    for key in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "eval_accuracy_tta"):
        assert plain_0[key] == augmented_0[key]
    summary = smoke.summary
    assert set(summary["final"]) == set(SETTINGS) == {"neither", "test time", "train time", "both"}
    assert summary["final"]["neither"] == records[2]["eval_accuracy"]
    assert summary["final"]["both"] == records[5]["eval_accuracy_tta"]
    assert summary["epochs_run"] == {"plain": 2, "augmented": 2}
    rows = augmentation.four_settings(records)
    assert len(rows) == 2 * 3 + 2 * 2  # two clean settings at 3 epochs, two TTA ones at 2


def test_runs_are_reproducible_with_a_seed(tiny_split, smoke):
    again = augmentation.run("smoke", split=tiny_split, epochs=2, tta_every=2)
    drop = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert repr(drop(again.records)) == repr(drop(smoke.records))  # repr: NaN == NaN
    other = augmentation.run("smoke", split=tiny_split, epochs=2, tta_every=2, seed=1)
    assert drop(other.records)[1]["train_loss"] != drop(smoke.records)[1]["train_loss"]


def test_run_leaves_torch_state_alone(tiny_split):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    augmentation.run("smoke", split=tiny_split, epochs=1)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is where it was
    assert torch.get_num_threads() == threads


def test_training_stops_at_interpolation(tiny_split):
    result = augmentation.run("smoke", split=tiny_split, epochs=30, tta_every=100)
    plain = [r for r in result.records if r["training"] == "plain"]
    e = result.summary["interpolation"]["plain"]
    assert e is not None and plain[-1]["epoch"] == e < 30 and plain[-1]["train_accuracy"] == 1.0
    assert all(r["train_accuracy"] < 1.0 for r in plain[1:-1])
    assert not math.isnan(plain[-1]["eval_accuracy_tta"])  # the last epoch always gets its TTA


def test_augmentations_are_seeded_per_image_and_keep_shape(tiny_split):
    images = torch.from_numpy(tiny_split.X_train[:6]).float()
    augment = augmentation.make_augment()
    copies = augmentation.tta_copies(images, augment, 3, seed=5)
    assert copies.shape == (3, 6, 1, 28, 28) and copies.dtype == torch.float32
    assert torch.equal(copies, augmentation.tta_copies(images, augment, 3, seed=5))
    assert not torch.equal(copies, augmentation.tta_copies(images, augment, 3, seed=6))
    assert not torch.equal(copies[0], copies[1])  # each copy is a new draw
    same = torch.stack([images[0]] * 4)
    out = transform_each(augment, same)
    assert not torch.equal(out[0], out[1])  # one draw per image, not one per batch
    assert 0 <= copies.min() and copies.max() <= 1  # crops and rotations stay in the pixel range


def test_cnn_shapes():
    torch.manual_seed(0)
    cnn = augmentation.make_cnn()  # the course's: padding 2, so the convolutions keep the size
    assert [m.padding for m in (cnn[0], cnn[3])] == [(2, 2), (2, 2)] and cnn[7].in_features == 7 * 7 * 32
    assert cnn(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in cnn.parameters()) == 16 * 25 + 16 + 32 * 16 * 25 + 32 + 10 * 7 * 7 * 32 + 10
    for padding, side in ((0, 4), (1, 5), (3, 8)):
        cnn = augmentation.make_cnn(padding)
        assert cnn[7].in_features == 32 * side * side and cnn(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert augmentation.SCALES["full"]["padding"] == augmentation.SCALES["budget"]["padding"] == 2


def test_majority_vote_counts_votes_then_breaks_ties_by_summed_probability():
    P = torch.tensor(  # (T, N, C) = (3, 2, 3): three copies of two images
        [
            [[0.6, 0.3, 0.1], [0.45, 0.1, 0.45 - 1e-6]],
            [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]],
            [[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]],
        ]
    )
    # Image 0: votes (1, 2, 0), class 1 wins although copy 0 is the most confident about class 0.
    # Image 1: votes (2, 0, 1), class 0 wins although class 2 has the larger summed probability.
    assert majority_vote(P).tolist() == [1, 0]
    tie = torch.tensor([[[0.5, 0.4, 0.1]], [[0.1, 0.2, 0.7]]])  # one vote for 0, one for 2
    assert majority_vote(tie).tolist() == [2]  # summed probabilities 0.6 vs 0.8: class 2
    # A class with fewer votes never wins on probability: 2 votes for class 1 at 0.34 beat 1 vote at 1.0.
    many = torch.tensor([[[0.33, 0.34, 0.33]], [[0.33, 0.34, 0.33]], [[1.0, 0.0, 0.0]]])
    assert majority_vote(many).tolist() == [1]
    exact_tie = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])
    assert majority_vote(exact_tie).tolist() == [0]  # then the smallest class index
    assert majority_vote(P[:1]).tolist() == P[0].argmax(dim=1).tolist()  # T = 1 is argmax


def test_bad_input_is_refused(tiny_split):
    with pytest.raises(ValueError, match=r"shape \(T, N, C\)"):
        majority_vote(torch.zeros(4, 10))
    with pytest.raises(ValueError, match="padding must be an int in 0..4, got -1"):
        augmentation.make_cnn(-1)
    with pytest.raises(ValueError, match="T must be a positive int"):
        augmentation.tta_copies(torch.zeros(2, 1, 28, 28), augmentation.make_augment(), 0, seed=0)
    with pytest.raises(ValueError, match="unknown setting 'passes'"):
        augmentation.run("smoke", split=tiny_split, passes=3)
    with pytest.raises(ValueError, match="setting .tta_every. must be >= 1, got 0"):
        augmentation.run("smoke", split=tiny_split, tta_every=0)
    X, y, X_test, y_test, _ = (*tiny_split, tiny_split.eval_set)
    with pytest.raises(ValueError, match=r"train images must have shape \(n, 1, 28, 28\)"):
        augmentation.run("smoke", split=Split(X.reshape(40, 784), y, X_test, y_test, "test"))
    with pytest.raises(ValueError, match="40 train images need as many labels in 0..9"):
        augmentation.run("smoke", split=Split(X, y[:-1], X_test, y_test, "test"))
    with pytest.raises(ValueError, match="20 test images need as many labels in 0..9"):
        augmentation.run("smoke", split=Split(X, y, X_test, y_test + 5, "test"))


def test_results_round_trip(tmp_path, smoke):
    header, records = load_results(save_results(smoke, tmp_path / "a.csv", command="test"))
    assert header["eval_set"] == "test" and header["summary"] == smoke.summary
    assert repr(records) == repr(smoke.records)  # repr: NaN == NaN


def test_the_chapters_tables_and_figures(smoke):
    import matplotlib

    matplotlib.use("Agg")
    from nabla.plotting import image_grid, lines_by, white_figure

    table = augmentation.settings_table(smoke)
    assert list(table.index) == list(SETTINGS) and table.loc["both", "test accuracy"] == smoke.summary["final"]["both"]
    training = augmentation.training_table(smoke)
    assert list(training.index) == ["plain", "augmented"] and (training["epochs"] == 2).all()
    fig, ax = white_figure()
    lines_by(ax, augmentation.four_settings(smoke.records), "epoch", "accuracy", "setting", {"both": {"color": "C3"}})
    assert [line.get_label() for line in ax.get_lines()] == list(SETTINGS)
    assert len(ax.get_lines()[3].get_xdata()) == 2 and ax.get_lines()[3].get_color() == "C3"  # the vote: epochs 0 and 2
    fig, axes = image_grid([[np.zeros((28, 28))] * 3] * 2, row_labels=["a", "b"], column_titles=["x", "y", "z"])
    assert axes.shape == (2, 3) and axes[1, 0].get_ylabel() == "b" and axes[0, 2].get_title() == "z"


def test_the_chapters_figures_and_the_comparison_helpers(smoke):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = augmentation.training_figure(smoke, "smoke")
    assert len(fig.axes) == 3 and fig.axes[0].get_yscale() == "log"
    fig = augmentation.budget_and_full_figure(smoke, None)  # no full run: the right panel stays empty
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [augmentation.LABELS[s] for s in SETTINGS]
    assert not fig.axes[1].get_lines()
    plt.close("all")
    A = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    windows = augmentation.pool_windows(A)
    assert windows.shape == (2 * 3 * 2 * 2, 4) and windows[0].tolist() == [0, 1, 4, 5] and windows[1].tolist() == [2, 3, 6, 7]
    table = augmentation.gradient_comparison({"W": (np.ones((2, 3)), torch.full((2, 3), -2.0))})
    assert table.loc["W", "shape"] == (2, 3) and table.loc["W", "largest |gradient|"] == 2 and table.loc["W", "largest |nabla - torch|"] == 3
