r"""Data augmentation (chapter 20, book/augmentation.md).

A small CNN (conv 5x5, 16 filters -> ReLU -> max pool 2x2 -> conv 5x5, 32 filters -> ReLU ->
max pool 2x2 -> linear to 10 classes; no padding, PyTorch's default initialisation) trained
in PyTorch, in float32, by plain SGD with minibatches of B = 16 and learning rate 0.04. Each
pass visits every training image once, in an order drawn from a seeded ``torch.Generator``.

The augmentation is ``torchvision.transforms.v2``: ``RandomResizedCrop(28, scale=(0.75, 1))``
then ``RandomRotation(10)``, drawn afresh for every image, applied to the raw image in [0, 1]
(so that the pixels the rotation brings in are black, like the background) and followed by the
normalisation $(x - \mu) / \sigma$ with the training images' pixel mean and standard deviation.

Four settings, from two trainings:

==============  ====================  ===================================================
setting         training              test-time prediction
==============  ====================  ===================================================
neither         plain                 the clean test image
test time       plain                 majority vote over T = 8 augmented copies
train time      augmented             the clean test image
both            augmented             majority vote over T = 8 augmented copies
==============  ====================  ===================================================

A training stops after ``passes`` passes or at the first pass after which it classifies every
clean training image correctly (it has *interpolated* the training set), whichever comes first.
After every pass it records the loss and accuracy on the clean training and test sets; every
``tta_every`` passes, and at its last pass, the test accuracy with test-time augmentation (TTA),
which costs T forward passes per test image. The T augmented copies of each test image are drawn
once per run, from the seed, and shared by both trainings, so the two TTA curves vote over
exactly the same images.

``full`` is the course material's setting: 12 % of FashionMNIST (7200 images), the whole test
set, up to 100 passes, TTA every 10 passes. ``budget`` trains on 2 % (1200 images) for up to 15
passes (TTA every 5) and tests on 1000 images, so that the chapter executes in under a minute.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nabla import data as datasets
from nabla.experiments import CLASSES, evaluate_torch, settings_for

COMMON = {
    "dataset": "fashion_mnist",
    "batch_size": 16,
    "lr": 0.04,
    "T": 8,  # augmented copies per test image for the vote
    "crop_scale": [0.75, 1.0],  # RandomResizedCrop keeps 75 % to 100 % of the image's area
    "degrees": 10,  # RandomRotation by an angle uniform in [-10, 10] degrees
    "stop_at_interpolation": True,
    # One intra-op thread. The work comes in small pieces (one image at a time for the
    # augmentations, 16 images per SGD step), where a second thread gains little on an idle
    # machine and costs a great deal on a busy one: torch's OpenMP threads wait for each other by
    # spinning, and with the other core taken the smoke run took 25-40 s on two threads, 2.5 s on one.
    "threads": 1,
}

SCALES = {
    "full": {**COMMON, "fraction": 0.12, "test_size": None, "passes": 100, "tta_every": 10, "seed": 0},
    "budget": {**COMMON, "fraction": 0.02, "test_size": 1000, "passes": 15, "tta_every": 5, "seed": 0},
    "smoke": {**COMMON, "fraction": 0.002, "test_size": 100, "passes": 2, "tta_every": 1, "seed": 0},
}

# The four settings: (which training, which test accuracy column).
SETTINGS = {
    "neither": ("plain", "test_accuracy"),
    "test time": ("plain", "test_accuracy_tta"),
    "train time": ("augmented", "test_accuracy"),
    "both": ("augmented", "test_accuracy_tta"),
}
TRAININGS = {"plain": False, "augmented": True}  # name: whether the training images are augmented


def make_cnn():
    """The chapter's CNN, (N, 1, 28, 28) -> (N, 10) logits, with PyTorch's default initialisation.

    Shapes through it: conv 5x5 -> (N, 16, 24, 24), pool -> (N, 16, 12, 12), conv 5x5 ->
    (N, 32, 8, 8), pool -> (N, 32, 4, 4), flatten -> (N, 512), linear -> (N, 10).
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, CLASSES),
    )


def make_augment(crop_scale=(0.75, 1.0), degrees=10):
    """The augmentation of one image (1, 28, 28) in [0, 1]: a random resized crop, then a random rotation.

    ``RandomResizedCrop(28, scale=crop_scale)`` cuts a rectangle of ``crop_scale`` of the image's
    area and aspect ratio between 3/4 and 4/3 (torchvision's default), and resizes it back to
    28 x 28 (bilinear, antialiased); ``RandomRotation(degrees)`` turns the result by an angle
    uniform in [-degrees, degrees] about the centre, filling the corners with 0 (black). Both
    draw their parameters from torch's global random generator.
    """
    from torchvision.transforms import v2  # here: importing torchvision costs seconds

    return v2.Compose([v2.RandomResizedCrop(28, scale=tuple(crop_scale)), v2.RandomRotation(degrees)])


def augment_images(images, augment):
    """Every image of ``images`` (N, 1, 28, 28) augmented on its own: new parameters for each.

    (A v2 transform called on a whole batch would draw one crop and one angle for all of it.)
    """
    return torch.stack([augment(image) for image in images])


def pass_seed(seed, p):
    """The torch seed of pass ``p``'s augmentations: the same for a pass whatever ran before it."""
    return int(np.random.SeedSequence([seed, p]).generate_state(1)[0])


def tta_copies(images, augment, T, seed):
    """``T`` augmented copies of every image of ``images`` (N, 1, 28, 28): shape (T, N, 1, 28, 28).

    Drawn from the seed, under ``torch.random.fork_rng`` so that the caller's random state is
    left as it was. Copy t of every image comes from the same stream, in order.
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"tta_copies: T must be a positive int, got {T!r}")
    copies = torch.empty((T, *images.shape), dtype=images.dtype)  # filled in place: 250 MB at full scale
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for t in range(T):
            copies[t] = augment_images(images, augment)
    return copies


def majority_vote(probabilities):
    r"""The class most of the T copies vote for: (T, N, C) probabilities -> (N,) int64 labels.

    Copy t votes for its most probable class $\arg\max_c P_{tnc}$. The prediction for image n is
    the class with the most votes; a tie between classes with equally many votes goes to the one
    of them with the largest summed probability $\sum_t P_{tnc}$ (and, if that ties too, to the
    smallest class index). The sum, divided by T + 1, is less than 1, so it can only order classes
    that have the same number of votes.
    """
    P = torch.as_tensor(probabilities)
    if P.ndim != 3:
        raise ValueError(f"majority_vote: probabilities must have shape (T, N, C), got shape {tuple(P.shape)}")
    T, N, C = P.shape
    if T < 1 or C < 1:
        raise ValueError(f"majority_vote: need at least one copy and one class, got shape {tuple(P.shape)}")
    P = P.to(torch.float64)
    votes = F.one_hot(P.argmax(dim=2), C).sum(dim=0).to(torch.float64)  # (N, C)
    return (votes + P.sum(dim=0) / (T + 1)).argmax(dim=1)


def normalise(images, mean, std):
    """(images - mean) / std: the normalisation, after any augmentation."""
    return (images - mean) / std


def evaluate(model, X, y, chunk=250):
    """Mean cross-entropy and accuracy of ``model`` on normalised images X (N, 1, 28, 28), labels y."""
    return evaluate_torch(model, X, y, chunk)


@torch.inference_mode()
def tta_accuracy(model, copies, y, chunk=250):
    """Accuracy of the majority vote (:func:`majority_vote`) over normalised copies (T, N, 1, 28, 28)."""
    model.eval()
    T, N = copies.shape[:2]
    P = torch.cat([F.softmax(model(copies[:, s : s + chunk].reshape(-1, 1, 28, 28)), dim=1).reshape(T, -1, CLASSES)
                   for s in range(0, N, chunk)], dim=1)
    return (majority_vote(P) == y).double().mean().item()


def load_images(settings, root=None):
    """``train_images, train_labels, test_images, test_labels``: uint8 (n, 28, 28) and int64 (n,).

    A seeded ``fraction`` of FashionMNIST's training set (:func:`nabla.data.subsample`) and, if
    ``test_size`` is not None, a seeded random subset of its test set.
    """
    if settings["dataset"] != "fashion_mnist":
        raise ValueError(f"augmentation: the data set is fashion_mnist, got {settings['dataset']!r}")
    train_images, train_labels = datasets.subsample(*datasets.load_fashion_mnist(True, root), settings["fraction"], settings["seed"])
    test_images, test_labels = datasets.load_fashion_mnist(False, root)
    if settings.get("test_size"):
        rows = np.sort(np.random.default_rng(settings["seed"]).choice(len(test_images), settings["test_size"], replace=False))
        test_images, test_labels = test_images[rows], test_labels[rows]
    return train_images, train_labels, test_images, test_labels


def as_tensors(data):
    """uint8 images (n, 28, 28) and labels (n,), twice, as float32 (n, 1, 28, 28) in [0, 1] and int64 tensors."""
    if len(data) != 4:
        raise ValueError(f"augmentation: data must be (train_images, train_labels, test_images, test_labels), got {len(data)} items")
    out = []
    for name, images, labels in (("train", data[0], data[1]), ("test", data[2], data[3])):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"augmentation: {name} images must be uint8 of shape (n, 28, 28), got {images.dtype} {images.shape}")
        if labels.shape != (len(images),):
            raise ValueError(f"augmentation: {len(images)} {name} images but labels of shape {labels.shape}")
        if len(images) == 0 or labels.min() < 0 or labels.max() >= CLASSES:
            raise ValueError(f"augmentation: {name} set must be non-empty with labels in 0..{CLASSES - 1}")
        out += [torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))]
    return out


def train_cnn(settings, augmented, tensors, copies, mean, std, progress=False, description=None):
    """Train a fresh CNN, with or without augmentation; its per-pass records.

    Both trainings start from the same weights (``torch.manual_seed(seed)`` before
    :func:`make_cnn`) and visit the images in the same order (a ``torch.Generator`` seeded
    with ``seed``), so augmentation is the only difference between them. ``copies``: the
    normalised TTA copies of the test images, (T, N, 1, 28, 28).
    """
    from tqdm import tqdm  # here, as in nabla.train: tqdm.auto would warn in a kernel without ipywidgets

    X_train, y_train, X_test, y_test = tensors
    X_train_clean, X_test_clean = normalise(X_train, mean, std), normalise(X_test, mean, std)
    augment = make_augment(settings["crop_scale"], settings["degrees"]) if augmented else None
    n, B, seed, passes = len(X_train), settings["batch_size"], settings["seed"], settings["passes"]
    updates_per_pass = math.ceil(n / B)

    torch.manual_seed(seed)
    model = make_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"])
    order = torch.Generator().manual_seed(seed)
    records, start = [], time.perf_counter()

    def record(p, batch_loss):
        """Evaluate after pass p; True if it is the training's last pass."""
        train_loss, train_accuracy = evaluate(model, X_train_clean, y_train)
        test_loss, test_accuracy = evaluate(model, X_test_clean, y_test)
        interpolated = settings["stop_at_interpolation"] and train_accuracy == 1.0
        last = p == passes or interpolated or not math.isfinite(train_loss)
        tta = tta_accuracy(model, copies, y_test) if p % settings["tta_every"] == 0 or last else math.nan
        records.append({
            "training": "augmented" if augmented else "plain",
            "pass": p,
            "updates": p * updates_per_pass,
            "batch_loss": batch_loss,  # mean loss of the minibatches SGD stepped on (augmented or not)
            "train_loss": train_loss,  # these two: on the clean training images
            "train_accuracy": train_accuracy,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "test_accuracy_tta": tta,
            "seconds": time.perf_counter() - start,
        })
        return last

    p, done = 0, record(0, math.nan)
    with tqdm(total=passes, desc=description, unit="pass", disable=not progress, leave=False) as bar:
        while not done:
            p += 1
            torch.manual_seed(pass_seed(seed, p))  # the augmentations of pass p
            model.train()
            total = 0.0
            for batch in torch.randperm(n, generator=order).split(B):
                images = augment_images(X_train[batch], augment) if augmented else X_train[batch]
                loss = F.cross_entropy(model(normalise(images, mean, std)), y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            done = record(p, total / n)
            bar.update()
            bar.set_postfix(acc=f"{records[-1]['train_accuracy']:.4f}", test=f"{records[-1]['test_accuracy']:.4f}")
    return records


def interpolation(records):
    """The first pass (>= 1) after which every clean training image is classified right, or None."""
    return next((r["pass"] for r in records if r["pass"] >= 1 and r["train_accuracy"] == 1.0), None)


def four_settings(records):
    """The test accuracy of the four settings: rows {"setting", "pass", "test_accuracy"}, where measured."""
    rows = []
    for setting, (training, column) in SETTINGS.items():
        rows += [{"setting": setting, "pass": r["pass"], "test_accuracy": r[column]}
                 for r in records if r["training"] == training and r[column] is not None and not math.isnan(r[column])]
    return rows


def final_accuracies(records):
    """{setting: test accuracy at the last pass of its training} for the four settings."""
    final = {}
    for setting, (training, column) in SETTINGS.items():
        final[setting] = [r for r in records if r["training"] == training][-1][column]
    return final


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""Train the CNN without and with augmentation; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per training (``"plain"``, ``"augmented"``) and pass, with the clean
    training and test loss and accuracy, ``batch_loss`` (the mean loss of the minibatches the
    pass stepped on) and ``test_accuracy_tta`` (NaN on the passes without a TTA evaluation).
    ``summary``: ``final`` {setting: final test accuracy} for the four settings, the passes each
    training ran, their ``interpolation`` passes (or None), and the normalisation's ``mean``
    and ``std``. ``data`` = (train_images, train_labels, test_images, test_labels), uint8
    (n, 28, 28) and int (n,), skips loading FashionMNIST; ``root`` is the data root.
    ``overrides`` replace settings (e.g. ``passes=5``).
    """
    settings = settings_for(SCALES, scale, overrides)
    for key in ("passes", "tta_every", "T", "batch_size", "threads"):
        if not isinstance(settings[key], int) or settings[key] < (0 if key == "passes" else 1):
            raise ValueError(f"augmentation: {key} must be a {'non-negative' if key == 'passes' else 'positive'} int, got {settings[key]!r}")
    start = time.perf_counter()
    tensors = as_tensors(data if data is not None else load_images(settings, root))
    X_train, y_train, X_test, y_test = tensors
    # One mean and one standard deviation over all pixels of the clean training images.
    mean, std = X_train.mean().item(), X_train.std().item()

    threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch random state alone
            augment = make_augment(settings["crop_scale"], settings["degrees"])
            copies = tta_copies(X_test, augment, settings["T"], settings["seed"]).sub_(mean).div_(std)  # normalise(), in place
            records = []
            for name, augmented in TRAININGS.items():
                records += train_cnn(settings, augmented, tensors, copies, mean, std, progress, f"{name} training")
    finally:
        torch.set_num_threads(threads)

    by_training = {name: [r for r in records if r["training"] == name] for name in TRAININGS}
    summary = {
        "final": final_accuracies(records),
        "passes_run": {name: rows[-1]["pass"] for name, rows in by_training.items()},
        "interpolation": {name: interpolation(rows) for name, rows in by_training.items()},
        "mean": mean,
        "std": std,
    }
    return {"experiment": "augmentation", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
