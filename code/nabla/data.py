r"""The data sets of Part III: FashionMNIST and MNIST, verified, subsampled and standardised.

The training chapters load their images here (MNIST in chapters 12-13, FashionMNIST from 15 on),
one function per step:

* :func:`load_fashion_mnist` / :func:`load_mnist` give the images ``(n, 28, 28)`` uint8 and the
  labels ``(n,)`` int64 exactly as stored, through ``torchvision.datasets`` with
  ``download=True``: on a reader's machine torchvision downloads the archives once; where they are
  already in the data root (as on the machines that build the book, which have no internet) it
  downloads nothing.
* :func:`subsample` keeps a seeded random fraction of a training set.
* :func:`flatten_and_standardize` turns images into rows of 784 float64 features with mean 0 and
  standard deviation 1 per pixel, measured on the training set.
* :func:`split` does all of it for an experiment: a :class:`Split` of training and evaluation
  (validation or test) sets, ready for :func:`nabla.train.fit`.

Every file is checked against its md5 *before* torchvision reads it, and a missing or corrupt
file raises :class:`DataError`, which names the file and says how to fix it. Nothing is ever
replaced by synthetic data: a chapter that trains on FashionMNIST trains on FashionMNIST or fails.

The data root (see :func:`data_root`) is ``data/`` at the repository root unless the ``root=``
argument or the ``NABLA_DATA`` environment variable says otherwise; it is git-ignored.

torchvision is imported inside the loaders only: importing it costs about 6 s, which a chapter
that never loads images should not pay at ``import nabla``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nabla.engine import as_int, check_flag

# code/nabla/data.py -> the repository root; the package is installed editable, so this is
# the checkout the reader builds the book from.
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "data"

# The folder torchvision keeps each data set in, under the data root, by the name `split` uses.
FOLDERS = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}

# For every archive torchvision downloads: the md5 of the .gz (the same as torchvision's
# `resources`) and the md5 of the file it extracts next to it, which is what torchvision
# actually reads. Checking only the archive would let a stale or truncated extracted file through.
MD5 = {
    "FashionMNIST": {
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    },
    "MNIST": {
        "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    },
}

# Added to each pixel's standard deviation before dividing, as the course material does.
STD_EPS = 1e-6


class DataError(RuntimeError):
    """A data file is missing or corrupt; the message names it and says what to do."""


def data_root(root=None):
    """The folder that holds ``FashionMNIST/raw/`` and ``MNIST/raw/``, as a Path: the ``root`` argument if
    given, else the ``NABLA_DATA`` environment variable if set and non-empty, else ``data/`` at the repository root."""
    return _data_root_and_source(root)[0]


def _data_root_and_source(root):
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder's path (a str or a Path), got {type(root).__name__} {root!r}")
    if root is not None:
        return Path(root).expanduser(), "the root= argument"
    if os.environ.get("NABLA_DATA"):
        return Path(os.environ["NABLA_DATA"]).expanduser(), "the NABLA_DATA environment variable"
    return DEFAULT_DATA_ROOT, "the default: data/ at the repository root"


def md5(path):
    """The md5 of a file's bytes, as 32 hex digits."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _how_to_fix(raw, source):
    return (
        f"To fix it: run again on a machine with internet access (torchvision downloads the "
        f"archives into {raw}); or copy the four .gz archives from a machine that has them "
        f"(the book's CI copies them from ../shared/data) into {raw}; or set NABLA_DATA to a "
        f"data root that holds them. The data root now comes from {source}."
    )


def verify(folder, root=None):
    """Check the files of one data set (``"FashionMNIST"`` or ``"MNIST"``) against their md5s.

    Every archive present must match; every extracted file present must match too. An
    extracted file that does not, next to a verified archive, is only a stale copy: it is
    deleted, and torchvision extracts it again. Anything else that does not match raises
    :class:`DataError` naming the file, the expected and the actual md5.

    Returns the names of the archives that are missing (torchvision will try to download them).
    """
    root, source = _data_root_and_source(root)
    raw = root / folder / "raw"
    missing = []
    for archive_name, (archive_md5, extracted_md5) in MD5[folder].items():
        archive = raw / archive_name
        extracted = raw / archive_name.removesuffix(".gz")
        if archive.exists():
            _check(archive, archive_md5, raw, source)
        else:
            missing.append(archive_name)
        if extracted.exists() and md5(extracted) != extracted_md5:
            if archive.exists():
                extracted.unlink()
            else:
                _check(extracted, extracted_md5, raw, source)
    # torchvision loads an old processed/ cache, if one exists, without looking at raw/.
    processed = root / folder / "processed"
    if (processed / "training.pt").exists() and (processed / "test.pt").exists():
        raise DataError(
            f"{folder}: {processed} holds a cache from an old torchvision that would be loaded "
            f"instead of the verified files in {raw}; delete the folder {processed} and run again"
        )
    return missing


def _check(path, expected, raw, source):
    actual = md5(path)
    if actual != expected:
        raise DataError(
            f"{path} is corrupt: its md5 is {actual} but should be {expected}. Delete it. "
            + _how_to_fix(raw, source)
        )


def load(folder, train=True, root=None):
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` int64 of one data set, verified first.

    ``folder`` is torchvision's class name, ``"FashionMNIST"`` or ``"MNIST"``; ``train`` picks
    the training set (n = 60000) or the test set (n = 10000). The files are checked by
    :func:`verify` first; missing archives are downloaded by torchvision, and where that fails
    (no internet) :class:`DataError` names them and says what to do.
    """
    if folder not in MD5:
        raise ValueError(f"no data set {folder!r}; the data sets are {sorted(MD5)}")
    train = check_flag(train, "load: train")
    root, source = _data_root_and_source(root)
    raw = root / folder / "raw"
    missing = verify(folder, root)

    from torchvision import datasets  # here, not at import time: it costs about 6 s

    try:
        dataset = getattr(datasets, folder)(root, train=train, download=True)
    except (RuntimeError, OSError) as error:  # a failed download (URLError is an OSError)
        if missing:
            raise DataError(
                f"{folder}: {len(missing)} archive(s) missing from {raw}: {', '.join(missing)}; "
                f"torchvision could not download them ({type(error).__name__}: "
                f"{str(error).strip()}). " + _how_to_fix(raw, source)
            ) from error
        raise DataError(f"{folder}: torchvision could not read the verified files in {raw}: {error}") from error
    if missing:  # torchvision checked the md5s of what it downloaded; check the extracted files too
        verify(folder, root)
    return dataset.data.numpy(), dataset.targets.numpy().astype(np.int64)


def load_fashion_mnist(train=True, root=None):
    """FashionMNIST: images ``(n, 28, 28)`` uint8 in 0..255, labels ``(n,)`` int64 in 0..9; see :func:`load`.

    n = 60000 for the training set, 10000 for the test set; ten classes of clothing, 6000 (1000) of each.
    """
    return load("FashionMNIST", train=train, root=root)


def load_mnist(train=True, root=None):
    """MNIST: images ``(n, 28, 28)`` uint8 in 0..255, labels ``(n,)`` int64 in 0..9 (the digit); see :func:`load`.

    n = 60000 for the training set, 10000 for the test set.
    """
    return load("MNIST", train=train, root=root)


def subsample(images, labels, fraction, seed):
    """A seeded random subset, without replacement, of ``round(fraction * n)`` examples.

    ``images`` has n rows (any shape after the first axis), ``labels`` shape (n,); both are
    indexed by the same rows, kept in their original order. The same seed gives the same subset.
    Classes are not balanced on purpose: the subset is a plain random sample.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"subsample: {n} images but {len(labels)} labels; they must be as many")
    if not isinstance(fraction, (int, float, np.integer, np.floating)) or isinstance(fraction, bool):
        raise TypeError(f"subsample: fraction must be a number in (0, 1], got {type(fraction).__name__} {fraction!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"subsample: fraction must be in (0, 1], got {fraction}")
    seed = as_int(seed, "subsample: seed", least=0)
    size = round(fraction * n)
    if size == 0:
        raise ValueError(f"subsample: a fraction {fraction} of {n} examples keeps none of them")
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return images[rows], labels[rows]


def flatten_both(train_images, test_images, caller):
    """Both sets of images as float64 rows of pixels, or a ValueError if their images differ in size."""
    try:  # a string or a ragged list would get numpy's message, which names neither argument
        X_train, X_test = (np.asarray(images, dtype=np.float64).reshape(len(images), -1) for images in (train_images, test_images))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{caller}: the images must be arrays of numbers, (n, ...) each ({error})") from None
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"{caller}: training images have {X_train.shape[1]} pixels but test "
            f"images have {X_test.shape[1]}; they must be the same size"
        )
    return X_train, X_test


def flatten_and_standardize(train_images, test_images, eps=STD_EPS):
    r"""Both sets as rows of pixels, standardised with the training set's statistics.

    Each image of shape (28, 28) becomes a row of 784 float64 features, and each pixel $j$ is
    mapped to $(x_j - \mu_j) / (\sigma_j + \epsilon)$, where $\mu_j$ and $\sigma_j$ are that
    pixel's mean and (population) standard deviation over the *training* images and
    $\epsilon = 10^{-6}$. The test set gets the same map, so its mean is near 0 but not exactly
    0: it is never allowed to inform its own preprocessing.

    A pixel that is constant over the training set ($\sigma_j = 0$, e.g. MNIST's corners) becomes
    0 for every training image; in a test image where that pixel is not the constant, it becomes
    (difference) / 1e-6, up to about 2.5e8. FashionMNIST has no constant pixel, even in a 12 %
    subsample; MNIST has 67 in its training set and 120 in a 12 % subsample (seed 0).

    Returns ``X_train`` (n_train, 784) and ``X_test`` (n_test, 784), float64.
    """
    X_train, X_test = flatten_both(train_images, test_images, "flatten_and_standardize")
    mu = X_train.mean(axis=0)
    sigma = X_train.std(axis=0)
    return (X_train - mu) / (sigma + eps), (X_test - mu) / (sigma + eps)


def flatten_and_standardize_globally(train_images, test_images):
    r"""Both sets as rows of pixels, standardised with *one* mean and standard deviation.

    Every pixel of every image is mapped to $(x - \mu) / \sigma$, where $\mu$ and $\sigma$ are the
    mean and (population) standard deviation of all the training images' pixels together (for
    MNIST about 33.3 and 78.6 on the 0-255 scale: the familiar 0.1307 and 0.3081 of [0, 1]).
    Unlike :func:`flatten_and_standardize`, a pixel that is constant over the training set (MNIST
    has 67) stays a bounded number in the test set instead of becoming (difference) / 1e-6.

    Returns ``X_train`` (n_train, 784) and ``X_test`` (n_test, 784), float64.
    """
    X_train, X_test = flatten_both(train_images, test_images, "flatten_and_standardize_globally")
    mu, sigma = X_train.mean(), X_train.std()
    if sigma == 0:
        raise ValueError("flatten_and_standardize_globally: every training pixel has the same value; there is nothing to standardise")
    return (X_train - mu) / sigma, (X_test - mu) / sigma


def center_and_scale(train_images, test_images):
    r"""Both sets as rows of pixels $(x_j - \mu_j) / s$: centred per pixel, scaled by one number.

    $\mu_j$ is pixel $j$'s mean over the *training* images, and $s$ the standard deviation of all
    the centred training pixels together, $s^2 = \frac1{784}\sum_j \sigma_j^2$. Per-pixel
    centring removes the mean image, one large common direction in every input; one scale for
    all pixels (instead of :func:`flatten_and_standardize`'s $\sigma_j$) keeps every feature
    bounded where a pixel is constant over a small training set.

    Returns ``X_train`` (n_train, 784) and ``X_test`` (n_test, 784), float64.
    """
    X_train, X_test = flatten_both(train_images, test_images, "center_and_scale")
    mu = X_train.mean(axis=0)
    s = np.sqrt(np.mean((X_train - mu) ** 2))
    if s == 0:
        raise ValueError("center_and_scale: every training image is the same; there is nothing to scale")
    return (X_train - mu) / s, (X_test - mu) / s


def flatten_and_scale(train_images, test_images):
    """Both sets as rows of pixels in [0, 1] (divided by 255), not standardised: for a model that normalises itself."""
    X_train, X_test = flatten_both(train_images, test_images, "flatten_and_scale")
    return X_train / 255.0, X_test / 255.0


# The standardisations a split can use, by name: what each chapter's experiment feeds its network.
STANDARDIZE = {
    "pixel": flatten_and_standardize,
    "global": flatten_and_standardize_globally,
    "center": center_and_scale,
    "none": flatten_and_scale,
}


@dataclass(frozen=True)
class Split:
    """The data an experiment trains and measures on.

    ``X_train`` (n, D) float64 and ``y_train`` (n,) int64 are trained on; ``X_eval``, ``y_eval``
    are what the model is measured on after every epoch, and ``eval_set`` says which set that is:
    ``"validation"`` (held out from the training images) or ``"test"`` (the data set's test set),
    so a chapter never calls a test accuracy a validation accuracy. A split without an evaluation
    set (``Split(X, y)``) trains only. With ``images=True`` the features have shape (n, 1, 28, 28).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_eval: np.ndarray | None = None
    y_eval: np.ndarray | None = None
    eval_set: str | None = None

    def __post_init__(self):
        if (self.X_eval is None) != (self.eval_set is None) or (self.X_eval is None) != (self.y_eval is None):
            raise ValueError("Split: X_eval, y_eval and eval_set go together: give all three or none")
        if self.eval_set is not None:
            check_choice("eval_set", self.eval_set, ("validation", "test"), caller="Split")

    def __iter__(self):  # X_train, y_train, X_eval, y_eval = split(...)
        return iter((self.X_train, self.y_train, self.X_eval, self.y_eval))


def check_choice(name, value, choices, caller="split"):
    if value not in choices:
        raise ValueError(f"{caller}: {name} must be one of {', '.join(map(repr, sorted(choices)))}, got {value!r}")
    return value


def held_out_count(hold_out, n):
    """The number of examples ``hold_out`` asks for out of n: an int count, or a fraction in (0, 1)."""
    if isinstance(hold_out, bool) or not isinstance(hold_out, (int, float, np.integer, np.floating)):
        raise TypeError(f"split: hold_out must be a count (int) or a fraction in (0, 1), got {hold_out!r}")
    k = int(hold_out) if isinstance(hold_out, (int, np.integer)) else round(float(hold_out) * n)
    if isinstance(hold_out, (float, np.floating)) and not 0 < hold_out < 1:
        raise ValueError(f"split: a fractional hold_out must be in (0, 1), got {hold_out}")
    if not 0 < k < n:
        raise ValueError(
            f"split: holding out {k} of {n} images leaves {n - k} to train on; both parts must be non-empty"
        )
    return k


def split(dataset="fashion_mnist", fraction=1.0, seed=0, hold_out=None, standardize="pixel", test_size=None, root=None, images=False):
    r"""The one way an experiment gets its data: a :class:`Split`.

    1. Load ``dataset`` (``"fashion_mnist"`` or ``"mnist"``) and keep a seeded ``fraction`` of
       its training images (:func:`subsample`).
    2. The evaluation set: with ``hold_out`` (a count, or a fraction of the kept images), that
       many kept images are held out at random (``default_rng(seed).permutation``) as a
       *validation* set, and the test set is not touched; without it, the data set's *test* set,
       or a seeded random ``test_size`` of it (budget runs measure on fewer images).
    3. Flatten both parts and standardise them with the *training part's* statistics only
       (``standardize``: ``"pixel"`` per pixel, :func:`flatten_and_standardize`; ``"global"``
       one mean and deviation, :func:`flatten_and_standardize_globally`; ``"center"``
       :func:`center_and_scale`; ``"none"`` pixels / 255). The evaluation images are mapped as
       a test set would be: they never inform their own preprocessing.

    The same arguments give the same arrays. Shapes: X (n, 784) float64 (or (n, 1, 28, 28) with
    ``images=True``), y (n,) int64.
    """
    check_choice("dataset", dataset, FOLDERS)
    check_choice("standardize", standardize, STANDARDIZE)
    seed, images = as_int(seed, "split: seed", least=0), check_flag(images, "split: images")
    if test_size is not None and hold_out is not None:
        raise ValueError("split: test_size subsamples the test set, which a split with hold_out does not use; pass one of them")
    train_images, train_labels = subsample(*load(FOLDERS[dataset], train=True, root=root), fraction=fraction, seed=seed)
    if hold_out is not None:
        k = held_out_count(hold_out, len(train_images))
        order = np.random.default_rng(seed).permutation(len(train_images))
        eval_rows, train_rows = np.sort(order[:k]), np.sort(order[k:])
        eval_images, y_eval = train_images[eval_rows], train_labels[eval_rows]
        train_images, train_labels = train_images[train_rows], train_labels[train_rows]
        eval_set = "validation"
    else:
        eval_images, y_eval = load(FOLDERS[dataset], train=False, root=root)
        if test_size is not None:
            if isinstance(test_size, bool) or not isinstance(test_size, (int, np.integer)) or not 0 < test_size <= len(eval_images):
                raise ValueError(f"split: test_size must be an integer in 1..{len(eval_images)}, got {test_size!r}")
            rows = np.sort(np.random.default_rng(seed).choice(len(eval_images), test_size, replace=False))
            eval_images, y_eval = eval_images[rows], y_eval[rows]
        eval_set = "test"
    X_train, X_eval = STANDARDIZE[standardize](train_images, eval_images)
    if images:
        X_train, X_eval = X_train.reshape(-1, 1, *train_images.shape[1:]), X_eval.reshape(-1, 1, *eval_images.shape[1:])
    return Split(X_train, train_labels, X_eval, y_eval, eval_set)

