"""nabla.experiments.augmentation: the CNN, the seeded augmentations, the vote and the two trainings."""

import math

import numpy as np
import pytest
import torch

from nabla.experiments import augmentation
from nabla.experiments.augmentation import SETTINGS, majority_vote


@pytest.fixture(scope="module")
def tiny_images():
    """Ten bright squares in ten places, one per class, with noise: 40 training and 20 test images."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 10
    images = rng.integers(0, 40, (60, 28, 28)).astype(np.uint8)
    for k, label in enumerate(y):
        row, col = divmod(int(label), 5)
        images[k, 4 + 10 * row : 12 + 10 * row, 2 + 5 * col : 7 + 5 * col] = 220
    return images[:40], y[:40], images[40:], y[40:]


@pytest.fixture(scope="module")
def smoke(tiny_images):
    return augmentation.run("smoke", data=tiny_images, passes=2, tta_every=2)


def test_records_have_one_row_per_training_and_pass(smoke):
    records, settings = smoke["records"], smoke["settings"]
    assert smoke["experiment"] == "augmentation" and settings["passes"] == 2
    assert [(r["training"], r["pass"]) for r in records] == [(t, p) for t in ("plain", "augmented") for p in range(3)]
    assert [r["updates"] for r in records[:3]] == [0, 3, 6]  # 40 images, B = 16: 3 updates per pass
    # TTA is evaluated at pass 0, every tta_every passes and at the last pass; NaN elsewhere.
    assert [math.isnan(r["test_accuracy_tta"]) for r in records] == [False, True, False] * 2
    assert math.isnan(records[0]["batch_loss"]) and not math.isnan(records[1]["batch_loss"])
    # Same initial weights: before training, the two trainings measure the same numbers.
    plain_0, augmented_0 = records[0], records[3]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_accuracy_tta"):
        assert plain_0[key] == augmented_0[key]
    summary = smoke["summary"]
    assert set(summary["final"]) == set(SETTINGS) == {"neither", "test time", "train time", "both"}
    assert summary["final"]["neither"] == records[2]["test_accuracy"]
    assert summary["final"]["both"] == records[5]["test_accuracy_tta"]
    assert summary["passes_run"] == {"plain": 2, "augmented": 2}
    rows = augmentation.four_settings(records)
    assert len(rows) == 2 * 3 + 2 * 2  # two clean settings at 3 passes, two TTA ones at 2


def test_runs_are_reproducible_with_a_seed(tiny_images, smoke):
    again = augmentation.run("smoke", data=tiny_images, passes=2, tta_every=2)
    drop = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert repr(drop(again["records"])) == repr(drop(smoke["records"]))  # repr: NaN == NaN
    other = augmentation.run("smoke", data=tiny_images, passes=2, tta_every=2, seed=1)
    assert drop(other["records"])[1]["train_loss"] != drop(smoke["records"])[1]["train_loss"]


def test_run_leaves_torch_state_alone(tiny_images):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    augmentation.run("smoke", data=tiny_images, passes=1)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is where it was
    assert torch.get_num_threads() == threads


def test_training_stops_at_interpolation(tiny_images):
    result = augmentation.run("smoke", data=tiny_images, passes=30, tta_every=100)
    plain = [r for r in result["records"] if r["training"] == "plain"]
    p = result["summary"]["interpolation"]["plain"]
    assert p is not None and plain[-1]["pass"] == p < 30 and plain[-1]["train_accuracy"] == 1.0
    assert all(r["train_accuracy"] < 1.0 for r in plain[1:-1])
    assert not math.isnan(plain[-1]["test_accuracy_tta"])  # the last pass always gets its TTA


def test_augmentations_are_seeded_per_image_and_keep_shape(tiny_images):
    images = torch.from_numpy(tiny_images[0][:6]).float().div(255).unsqueeze(1)
    augment = augmentation.make_augment()
    copies = augmentation.tta_copies(images, augment, 3, seed=5)
    assert copies.shape == (3, 6, 1, 28, 28) and copies.dtype == torch.float32
    assert torch.equal(copies, augmentation.tta_copies(images, augment, 3, seed=5))
    assert not torch.equal(copies, augmentation.tta_copies(images, augment, 3, seed=6))
    assert not torch.equal(copies[0], copies[1])  # each copy is a new draw
    same = torch.stack([images[0]] * 4)
    out = augmentation.augment_images(same, augment)
    assert not torch.equal(out[0], out[1])  # one draw per image, not one per batch
    assert 0 <= copies.min() and copies.max() <= 1  # crops and rotations stay in the pixel range


def test_cnn_shapes():
    torch.manual_seed(0)
    assert augmentation.make_cnn()(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


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


def test_bad_input_is_refused(tiny_images):
    with pytest.raises(ValueError, match=r"shape \(T, N, C\)"):
        majority_vote(torch.zeros(4, 10))
    with pytest.raises(ValueError, match="T must be a positive int"):
        augmentation.tta_copies(torch.zeros(2, 1, 28, 28), augmentation.make_augment(), 0, seed=0)
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        augmentation.run("smoke", data=tiny_images, epochs=3)
    with pytest.raises(ValueError, match="tta_every must be a positive int"):
        augmentation.run("smoke", data=tiny_images, tta_every=0)
    images, labels = tiny_images[:2]
    with pytest.raises(ValueError, match=r"uint8 of shape \(n, 28, 28\)"):
        augmentation.run("smoke", data=(images.astype(float), labels, *tiny_images[2:]))
    with pytest.raises(ValueError, match="40 train images but labels of shape"):
        augmentation.run("smoke", data=(images, labels[:-1], *tiny_images[2:]))
    with pytest.raises(ValueError, match="labels in 0..9"):
        augmentation.run("smoke", data=(images, labels + 5, *tiny_images[2:]))
