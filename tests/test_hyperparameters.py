"""nabla.experiments.hyperparameters: the grid, the split, the scaling, and the epochs-as-checkpoints claim."""

import numpy as np
import pytest
import torch

from nabla import experiments
from nabla.experiments import hyperparameters


@pytest.fixture(scope="module")
def tiny_images():
    """uint8 images (n, 28, 28) of ten noisy class templates, so the tests need not load FashionMNIST."""
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 28, 28))
    y = rng.integers(0, 10, 260)
    images = np.clip(templates[y] + rng.normal(0, 40, (260, 28, 28)), 0, 255).astype(np.uint8)
    return images[:200], y[:200], images[200:], y[200:]


def test_the_grid_has_one_cell_per_batch_size_epochs_and_lr(tiny_images):
    result = hyperparameters.run("smoke", data=tiny_images)
    settings, summary = result["settings"], result["summary"]
    B, E, lrs = settings["batch_sizes"], settings["epochs"], settings["lrs"]
    assert len(summary["grid"]) == len(B) * len(E) * len(lrs)
    assert len(result["records"]) == len(B) * len(lrs) * (settings["passes"] + 1)  # epochs 0..passes per run
    assert (summary["n_train"], summary["n_val"], summary["n_test"]) == (180, 20, 60)
    for cell in summary["grid"]:
        assert cell["updates"] == cell["epochs"] * -(-180 // cell["batch_size"])  # the last batch may be short
    best = summary["best"]
    assert best["val_accuracy"] == max(cell["val_accuracy"] for cell in summary["grid"])
    assert 0 <= best["test_accuracy"] <= 1 and {"batch_size", "epochs", "lr", "test_loss"} <= set(best)
    # every run starts from the same weights: the epoch-0 records agree
    assert len({r["train_loss"] for r in result["records"] if r["epoch"] == 0}) == 1


def test_an_E_epoch_run_is_the_first_E_epochs_of_a_longer_one(tiny_images):
    long = hyperparameters.run("smoke", data=tiny_images, batch_sizes=[32], lrs=[0.1], epochs=[1, 3], passes=3)
    short = hyperparameters.run("smoke", data=tiny_images, batch_sizes=[32], lrs=[0.1], epochs=[1], passes=1)
    keys = ("updates", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
    assert [{k: r[k] for k in keys} for r in short["records"]] == [{k: r[k] for k in keys} for r in long["records"][:2]]


def test_passes_caps_the_epochs_and_unknown_settings_are_refused(tiny_images):
    result = hyperparameters.run("smoke", data=tiny_images, batch_sizes=[64], lrs=[0.1], epochs=[1, 5], passes=2)
    assert sorted({cell["epochs"] for cell in result["summary"]["grid"]}) == [1, 2]
    with pytest.raises(ValueError, match="unknown setting 'width'"):
        hyperparameters.run("smoke", data=tiny_images, width=3)
    with pytest.raises(ValueError, match="passes must be an integer >= 1"):
        hyperparameters.run("smoke", data=tiny_images, passes=0)


def test_the_run_restores_the_thread_count(tiny_images):
    before = torch.get_num_threads()
    hyperparameters.run("smoke", data=tiny_images, batch_sizes=[64], lrs=[0.1], epochs=[1], passes=1)
    assert torch.get_num_threads() == before


def test_split_is_random_split_and_holds_out_the_fraction():
    train_rows, val_rows = hyperparameters.split(1000, 0.1, seed=0)
    assert len(val_rows) == 100 and len(train_rows) == 900
    assert sorted(torch.cat([train_rows, val_rows]).tolist()) == list(range(1000))
    _, val_part = torch.utils.data.random_split(range(1000), [900, 100], generator=torch.Generator().manual_seed(0))
    assert val_rows.tolist() == sorted(val_part.indices)
    with pytest.raises(ValueError, match="both must be > 0"):
        hyperparameters.split(5, 0.01, seed=0)


def test_to_tensors_is_totensor_then_normalize(tiny_images):
    transforms = pytest.importorskip("torchvision.transforms")
    images = tiny_images[0][:5]
    mean, std = hyperparameters.pixel_statistics(images)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    expected = torch.stack([pipeline(image) for image in images])  # ToTensor takes an (H, W) uint8 array too
    assert torch.equal(hyperparameters.to_tensors(images, mean, std), expected)


def test_results_round_trip(tmp_path, tiny_images):
    result = hyperparameters.run("smoke", data=tiny_images, batch_sizes=[64], lrs=[0.1], epochs=[1], passes=1)
    path = experiments.save_results(result, tmp_path / "h.csv", command="test")
    header, records = experiments.load_results(path)
    assert header["experiment"] == "hyperparameters" and header["summary"] == result["summary"]
    assert records == result["records"]
