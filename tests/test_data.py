"""The data module: real FashionMNIST and MNIST, verified; clear errors; subsampling; standardisation."""

import hashlib
import os
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import ROOT
from nabla.data import (
    DEFAULT_DATA_ROOT,
    MD5,
    STD_EPS,
    DataError,
    data_root,
    center_and_scale,
    flatten_and_standardize,
    flatten_and_standardize_globally,
    load,
    load_fashion_mnist,
    load_mnist,
    split,
    subsample,
    verify,
)


def archives_present():
    return all((data_root() / folder / "raw" / name).exists() for folder in MD5 for name in MD5[folder])


@pytest.fixture(scope="module")
def real_root():
    """The data root holding the real archives; without them, skip (or fail in CI)."""
    if not archives_present():
        reason = (
            f"the FashionMNIST and MNIST archives are not in the data root {data_root()}: copy "
            "../shared/data/FashionMNIST and ../shared/data/MNIST there, or run "
            "`python -c 'import nabla.data as d; d.load_mnist(); d.load_fashion_mnist()'` with internet"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return data_root()


@pytest.fixture
def copy_of(real_root, tmp_path):
    """A fresh data root in tmp_path holding copies of some archives of one data set."""

    def copy(folder, leave_out=()):
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        for name in MD5[folder]:
            if name not in leave_out:
                shutil.copyfile(real_root / folder / "raw" / name, raw / name)
        return tmp_path

    return copy


@pytest.fixture
def no_network(monkeypatch):
    """Every URL torchvision opens fails at once, as on a machine with no internet."""
    opened = []

    def refuse(request, *args, **kwargs):
        opened.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return opened


# --- where the data lives ----------------------------------------------------------------------


def test_the_default_data_root_is_data_at_the_repository_root(monkeypatch):
    monkeypatch.delenv("NABLA_DATA", raising=False)
    assert DEFAULT_DATA_ROOT == ROOT / "data"
    assert data_root() == ROOT / "data"
    monkeypatch.setenv("NABLA_DATA", "")  # set but empty counts as unset
    assert data_root() == ROOT / "data"


def test_the_argument_beats_NABLA_DATA_which_beats_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NABLA_DATA", str(tmp_path / "from-env"))
    assert data_root() == tmp_path / "from-env"
    assert data_root(tmp_path / "from-arg") == tmp_path / "from-arg"
    assert data_root(str(tmp_path / "from-arg")) == tmp_path / "from-arg"


def test_NABLA_DATA_is_where_the_loaders_look(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("NABLA_DATA", str(tmp_path))
    with pytest.raises(DataError, match="NABLA_DATA environment variable") as error:
        load_mnist()
    assert str(tmp_path / "MNIST" / "raw") in str(error.value)


def test_the_root_argument_beats_NABLA_DATA_in_the_loaders(monkeypatch, real_root, tmp_path):
    monkeypatch.setenv("NABLA_DATA", str(tmp_path / "empty"))
    images, labels = load_mnist(train=False, root=real_root)
    assert images.shape == (10000, 28, 28)


# --- the real data sets ------------------------------------------------------------------------


def test_the_md5_table_is_torchvisions():
    from torchvision import datasets

    for folder in MD5:
        resources = dict(getattr(datasets, folder).resources)
        assert {name: archive_md5 for name, (archive_md5, _) in MD5[folder].items()} == resources


def test_the_files_in_the_data_root_are_verified(real_root):
    for folder in MD5:
        assert verify(folder, real_root) == []


@pytest.mark.parametrize(
    "loader, train, n, first_labels, counts",
    [
        (load_fashion_mnist, True, 60000, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [6000] * 10),
        (load_fashion_mnist, False, 10000, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7], [1000] * 10),
        (
            load_mnist, True, 60000, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        ),
        (
            load_mnist, False, 10000, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        ),
    ],
)
def test_the_real_data_sets_load_as_stored(real_root, loader, train, n, first_labels, counts):
    images, labels = loader(train=train)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert labels[:10].tolist() == first_labels
    assert np.bincount(labels, minlength=10).tolist() == counts  # so labels are in 0..9
    assert images.min() == 0 and images.max() == 255


# --- clear errors ------------------------------------------------------------------------------


def test_a_corrupt_archive_is_caught_before_torchvision_reads_it(copy_of):
    root = copy_of("FashionMNIST")
    archive = root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    data = bytearray(archive.read_bytes())
    data[100:104] = bytes(b ^ 0xFF for b in data[100:104])
    archive.write_bytes(data)
    actual = hashlib.md5(data).hexdigest()

    with pytest.raises(DataError) as error:
        load_fashion_mnist(root=root)
    message = str(error.value)
    assert str(archive) in message and "corrupt" in message
    assert MD5["FashionMNIST"]["train-labels-idx1-ubyte.gz"][0] in message and actual in message
    assert "Delete it" in message and "NABLA_DATA" in message and "../shared/data" in message
    # nothing was extracted from it, and it is left for the reader to look at
    assert not (root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte").exists()
    assert archive.exists()


def test_a_missing_archive_with_no_network_names_the_file(copy_of, no_network):
    root = copy_of("MNIST", leave_out=["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(DataError) as error:
        load_mnist(train=False, root=root)
    message = str(error.value)
    assert "1 archive(s) missing" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "could not download" in message and "NABLA_DATA" in message
    assert str(root / "MNIST" / "raw") in message
    assert no_network, "torchvision's real download path should have been tried"


def test_an_empty_data_root_names_every_archive(tmp_path, no_network):
    with pytest.raises(DataError, match="4 archive") as error:
        load_fashion_mnist(root=tmp_path)
    for name in MD5["FashionMNIST"]:
        assert name in str(error.value)


def test_a_stale_extracted_file_is_extracted_again_from_its_verified_archive(copy_of, real_root):
    root = copy_of("MNIST")
    stale = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    stale.write_bytes(b"not the labels")
    _, labels = load_mnist(train=False, root=root)
    assert labels[:3].tolist() == [7, 2, 1]


def test_a_corrupt_extracted_file_without_its_archive_is_an_error(copy_of):
    root = copy_of("MNIST", leave_out=["t10k-labels-idx1-ubyte.gz"])
    extracted = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    extracted.write_bytes(b"not the labels")
    with pytest.raises(DataError, match="corrupt") as error:
        load_mnist(train=False, root=root)
    assert str(extracted) in str(error.value)


def test_an_unknown_data_set_is_refused():
    with pytest.raises(ValueError, match="'CIFAR10'"):
        load("CIFAR10")
    with pytest.raises(ValueError, match="dataset must be one of 'fashion_mnist', 'mnist', got 'cifar10'"):
        split("cifar10")


# --- subsampling -------------------------------------------------------------------------------

# Each image holds its own index, so a subset can be traced back to the rows it came from.
IMAGES = np.arange(60000).reshape(60000, 1, 1) * np.ones((1, 2, 2), dtype=np.int64)
LABELS = np.arange(60000) % 10


def test_subsample_keeps_the_fraction_without_replacement_and_labels_follow_images():
    images, labels = subsample(IMAGES, LABELS, 0.12, seed=0)
    rows = images[:, 0, 0]
    assert images.shape == (7200, 2, 2) and labels.shape == (7200,)
    assert len(np.unique(rows)) == 7200  # no row twice
    np.testing.assert_array_equal(labels, rows % 10)
    assert subsample(IMAGES, LABELS, 0.1, seed=0)[0].shape[0] == 6000


def test_subsample_is_seeded():
    first = subsample(IMAGES, LABELS, 0.12, seed=0)[0]
    np.testing.assert_array_equal(first, subsample(IMAGES, LABELS, 0.12, seed=0)[0])
    assert not np.array_equal(first, subsample(IMAGES, LABELS, 0.12, seed=1)[0])


def test_subsample_of_everything_is_everything():
    images, labels = subsample(IMAGES, LABELS, 1.0, seed=3)
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_subsample_refuses_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match=f"fraction must be in \\(0, 1\\], got {fraction}"):
        subsample(IMAGES, LABELS, fraction, seed=0)


def test_subsample_refuses_mismatched_lengths_and_empty_subsets():
    with pytest.raises(ValueError, match="60000 images but 5 labels"):
        subsample(IMAGES, LABELS[:5], 0.5, seed=0)
    with pytest.raises(ValueError, match="keeps none"):
        subsample(IMAGES[:10], LABELS[:10], 0.01, seed=0)


# --- standardisation ---------------------------------------------------------------------------


def test_standardisation_uses_the_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (500, 28, 28)).astype(np.uint8)
    train[:, 0, 0] = 7  # a pixel constant over the training set
    test = rng.integers(100, 256, (200, 28, 28)).astype(np.uint8)  # brighter: a shifted distribution

    X_train, X_test = flatten_and_standardize(train, test)
    assert X_train.shape == (500, 784) and X_test.shape == (200, 784)
    assert X_train.dtype == X_test.dtype == np.float64
    varying = np.arange(784) != 0
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0)[varying], 1, rtol=1e-5)
    assert X_test.mean() > 0.5  # not forced to 0: the test set never informs its own preprocessing

    flat_train, flat_test = train.reshape(500, 784).astype(float), test.reshape(200, 784).astype(float)
    mu, sigma = flat_train.mean(axis=0), flat_train.std(axis=0)
    np.testing.assert_allclose(X_test, (flat_test - mu) / (sigma + STD_EPS))
    # the constant pixel: 0 on the training set; on the test set its difference over 1e-6
    np.testing.assert_array_equal(X_train[:, 0], 0)
    np.testing.assert_allclose(X_test[:, 0], (flat_test[:, 0] - 7) / 1e-6)
    # and the test set cannot change the training features
    np.testing.assert_array_equal(flatten_and_standardize(train, test[:10] * 0)[0], X_train)


def test_standardisation_refuses_images_of_different_sizes():
    with pytest.raises(ValueError, match="784 pixels but test images have 100"):
        flatten_and_standardize(np.zeros((3, 28, 28)), np.zeros((3, 10, 10)))
    with pytest.raises(ValueError, match="784 pixels but test images have 100"):
        flatten_and_standardize_globally(np.zeros((3, 28, 28)), np.zeros((3, 10, 10)))


def test_global_standardisation_uses_one_mean_and_deviation_of_the_training_pixels():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (300, 28, 28)).astype(np.uint8)
    train[:, 0, 0] = 7  # constant over the training set: per pixel it would blow up on the test set
    test = rng.integers(0, 256, (50, 28, 28)).astype(np.uint8)

    X_train, X_test = flatten_and_standardize_globally(train, test)
    flat_train = train.reshape(300, 784).astype(float)
    mu, sigma = flat_train.mean(), flat_train.std()
    np.testing.assert_allclose(X_train, (flat_train - mu) / sigma)
    np.testing.assert_allclose(X_test, (test.reshape(50, 784) - mu) / sigma)
    assert X_train.mean() == pytest.approx(0, abs=1e-12) and X_train.std() == pytest.approx(1)
    assert np.abs(X_test).max() <= 255 / sigma  # bounded, unlike (x - 7) / 1e-6
    with pytest.raises(ValueError, match="every training pixel has the same value"):
        flatten_and_standardize_globally(np.full((3, 28, 28), 5), test)


def test_split_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="standardize must be one of 'center', 'global', 'none', 'pixel', got 'max'"):
        split("mnist", fraction=0.01, standardize="max")
    with pytest.raises(ValueError, match="pass one of them"):
        split("mnist", fraction=0.01, hold_out=10, test_size=10)


def test_split_gives_the_width_experiments_setting(real_root):
    X_train, y_train, X_test, y_test = parts = split("fashion_mnist", fraction=0.12, seed=0)
    assert parts.eval_set == "test"
    assert X_train.shape == (7200, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (7200,) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == np.float64 and y_train.dtype == y_test.dtype == np.int64
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(X_train.std(axis=0), 1, rtol=1e-4)  # FashionMNIST has no constant pixel
    assert set(np.unique(y_train)) == set(range(10))
    np.testing.assert_array_equal(y_train, split("fashion_mnist", fraction=0.12, seed=0).y_train)
    small = split("fashion_mnist", fraction=0.12, seed=0, test_size=2000)
    np.testing.assert_array_equal(small.X_train, X_train)  # the same training images ...
    rows = np.sort(np.random.default_rng(0).choice(10000, 2000, replace=False))
    np.testing.assert_array_equal(small.X_eval, X_test[rows])  # ... and a seeded part of the test set


def test_split_standardises_mnist_globally_on_request(real_root):
    X_train, y_train, X_test, y_test = split("mnist", fraction=0.1, seed=0, standardize="global")
    assert X_train.shape == (6000, 784) and X_test.shape == (10000, 784)
    assert X_train.mean() == pytest.approx(0, abs=1e-10) and X_train.std() == pytest.approx(1)
    assert np.abs(X_test).max() < 10  # per pixel, MNIST's constant border pixels reach about 1e8
    assert np.abs(split("mnist", fraction=0.1, seed=0).X_eval).max() > 1e6


def test_a_held_out_validation_set_comes_from_the_kept_training_images(real_root):
    kept = split("fashion_mnist", fraction=0.05, seed=0, standardize="none")
    parts = split("fashion_mnist", fraction=0.05, seed=0, hold_out=1000, standardize="none")
    assert parts.eval_set == "validation" and len(parts.X_train) == 2000 and len(parts.X_eval) == 1000
    rows = {tuple(x) for x in kept.X_train}
    assert all(tuple(x) in rows for x in parts.X_eval) and all(tuple(x) in rows for x in parts.X_train)
    order = np.random.default_rng(0).permutation(3000)
    np.testing.assert_array_equal(parts.y_eval, kept.y_train[np.sort(order[:1000])])
    np.testing.assert_array_equal(parts.y_train, kept.y_train[np.sort(order[1000:])])
    assert split("fashion_mnist", fraction=0.05, seed=0, hold_out=1 / 3).X_eval.shape == (1000, 784)  # a fraction
    centred = split("fashion_mnist", fraction=0.05, seed=0, hold_out=1000, standardize="center")
    np.testing.assert_allclose(centred.X_train.mean(axis=0), 0, atol=1e-10)
    assert centred.X_train.std() == pytest.approx(1) and np.abs(centred.X_eval).max() < 10
    images = split("fashion_mnist", fraction=0.05, seed=0, hold_out=1000, images=True)
    assert images.X_train.shape == (2000, 1, 28, 28) and images.X_eval.shape == (1000, 1, 28, 28)


def test_center_and_scale_uses_training_statistics_and_stays_bounded():
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (50, 4, 4)).astype(np.uint8)
    train_images[:, 0, 0] = 0  # a pixel dark in every training image: sigma_j = 0
    val_images = rng.integers(0, 256, (20, 4, 4)).astype(np.uint8)
    val_images[:, 0, 0] = 255
    X_train, X_val = center_and_scale(train_images, val_images)
    assert X_train.shape == (50, 16) and X_val.shape == (20, 16)
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-12) and np.isclose(X_train.std(), 1.0)
    assert np.all(np.isfinite(X_val)) and np.abs(X_val).max() < 10  # no division by a zero sigma_j
    mu = train_images.reshape(50, -1).mean(axis=0)
    assert np.allclose(X_val * np.sqrt(np.mean((train_images.reshape(50, -1) - mu) ** 2)) + mu, val_images.reshape(20, -1))
