r"""Data augmentation (chapter 20, book/augmentation.md).

The course's CNN (conv 5x5, 16 filters, padding 2 -> ReLU -> max pool 2x2 -> conv 5x5, 32 filters,
padding 2 -> ReLU -> max pool 2x2 -> linear 7 * 7 * 32 -> 10 classes; PyTorch's default
initialisation) trained
in PyTorch, in float32, by plain SGD with minibatches of B = 16 and learning rate 0.04, in
epochs that visit every training image once (:func:`nabla.experiments._torch.fit_torch`).

The augmentation is ``torchvision.transforms.v2``: ``RandomResizedCrop(28, scale=(0.75, 1))``
then ``RandomRotation(10)``, drawn afresh for every image, applied to the raw image in [0, 1]
(so that the pixels the rotation brings in are black, like the background). The network's
first layer then normalises, $(x - \mu) / \sigma$ with the training images' pixel mean and
standard deviation (:class:`~nabla.experiments._torch.Normalize`).

Four settings, from two trainings:

==============  ====================  ===================================================
setting         training              test-time prediction
==============  ====================  ===================================================
neither         plain                 the clean test image
test time       plain                 majority vote over T = 8 augmented copies
train time      augmented             the clean test image
both            augmented             majority vote over T = 8 augmented copies
==============  ====================  ===================================================

A training stops after ``epochs`` epochs or at the first epoch after which it classifies every
clean training image correctly (it has *interpolated* the training set), whichever comes first.
After every epoch it records the loss and accuracy on the clean training and test sets; every
``tta_every`` epochs, and at its last, the test accuracy with test-time augmentation (TTA),
which costs T forward passes per test image. The T augmented copies of each test image are drawn
once per run, from the seed, and shared by both trainings, so the two TTA curves vote over
exactly the same images.

``full`` is the course material's scale: 12 % of FashionMNIST (7200 images), the whole test
set, up to 100 epochs, TTA every 10. Budget and full both use the course's network (``padding``
2). Unlike the course, which drew one crop and one angle for the whole set per call
(torchvision took its (N, 28, 28) tensor for one N-channel image), every image gets draws of its
own (book/augmentation.md, "The course's run and ours"). ``budget`` trains on 2 % (1200 images)
for up to 15 epochs (TTA every 5) and tests on 1000 images, small enough for the chapter to run
it in its build.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from nabla import data
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, settings_for
from nabla.experiments._torch import Normalize, as_torch, fit_torch, pixel_statistics, torch_session, transform_each
from nabla.train import interpolation_epoch

COMMON = {
    "dataset": "fashion_mnist",
    "batch_size": 16,
    "lr": 0.04,
    "T": 8,  # augmented copies per test image for the vote
    "crop_scale": [0.75, 1.0],  # RandomResizedCrop keeps 75 % to 100 % of the image's area
    "degrees": 10,  # RandomRotation by an angle uniform in [-10, 10] degrees
    "padding": 2,  # zeros around each convolution's input, as the course's network has
    "stop_at_interpolation": True,
    "threads": 1,  # see nabla.experiments._torch.torch_session
}

SCALES = {
    "full": {**COMMON, "fraction": 0.12, "test_size": None, "epochs": 100, "tta_every": 10, "seed": 0},
    "budget": {**COMMON, "fraction": 0.02, "test_size": 1000, "epochs": 15, "tta_every": 5, "seed": 0},
    "smoke": {**COMMON, "fraction": 0.002, "test_size": 100, "epochs": 2, "tta_every": 1, "seed": 0},
}

# The four settings: (which training, which accuracy column of its records).
SETTINGS = {
    "neither": ("plain", "eval_accuracy"),
    "test time": ("plain", "eval_accuracy_tta"),
    "train time": ("augmented", "eval_accuracy"),
    "both": ("augmented", "eval_accuracy_tta"),
}
TRAININGS = ("plain", "augmented")


def make_cnn(padding=2):
    """The chapter's CNN, (N, 1, 28, 28) -> (N, 10) logits, with PyTorch's default initialisation.

    With the course's ``padding`` 2 each 5 x 5 convolution keeps the image's size: conv ->
    (N, 16, 28, 28), pool -> (N, 16, 14, 14), conv -> (N, 32, 14, 14), pool -> (N, 32, 7, 7),
    flatten -> (N, 1568), linear -> (N, 10). With padding p each convolution changes the side
    by 2p - 4 (padding 0: 24, 12, 8, 4 and a linear layer from 512).
    """
    if not isinstance(padding, int) or isinstance(padding, bool) or not 0 <= padding <= 4:
        raise ValueError(f"make_cnn: padding must be an int in 0..4, got {padding!r}")
    side = ((28 + 2 * padding - 4) // 2 + 2 * padding - 4) // 2  # after conv, pool, conv, pool
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=5, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * side * side, CLASSES),
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
            copies[t] = transform_each(augment, images)
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


@torch.inference_mode()
def tta_accuracy(model, copies, y, chunk=250):
    """Accuracy of the majority vote (:func:`majority_vote`) over the copies (T, N, 1, 28, 28) of N images."""
    model.eval()
    T, N = copies.shape[:2]
    P = torch.cat([F.softmax(model(copies[:, s : s + chunk].reshape(-1, *copies.shape[2:])), dim=1).reshape(T, -1, CLASSES)
                   for s in range(0, N, chunk)], dim=1)
    return (majority_vote(P) == y).double().mean().item()


def load(settings, root=None):
    """The run's :class:`nabla.data.Split`: raw images (n, 1, 28, 28) in [0, 1], normalised later by the network.

    A seeded ``fraction`` of FashionMNIST's training set and, if ``test_size`` is not None, a
    seeded random subset of its test set (``eval_set`` "test").
    """
    return data.split(settings["dataset"], settings["fraction"], settings["seed"], standardize="none",
                      test_size=settings["test_size"], root=root, images=True)


def train_cnn(settings, training, split, copies, mean, std, progress=False):
    """Train a fresh CNN, ``training`` "plain" or "augmented"; its records, one per epoch.

    Both trainings start from the same weights (``torch.manual_seed(seed)`` before
    :func:`make_cnn`) and visit the images in the same order (the same seed for
    :func:`~nabla.experiments._torch.fit_torch`), so augmentation is the only difference between
    them. To the loop's record of each epoch it adds ``batch_loss`` (the mean loss of the
    minibatches it stepped on, augmented or not) and ``eval_accuracy_tta``, the vote over
    ``copies`` (NaN on the epochs without one).
    """
    torch.manual_seed(settings["seed"])
    model = nn.Sequential(Normalize(mean, std), make_cnn(settings["padding"]))  # the network normalises after any augmentation
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"])
    augment = make_augment(settings["crop_scale"], settings["degrees"]) if training == "augmented" else None

    def vote(model, record, batch_loss, last):
        due = record["epoch"] % settings["tta_every"] == 0 or last
        record.update(batch_loss=batch_loss, eval_accuracy_tta=tta_accuracy(model, copies, split.y_eval) if due else math.nan)

    records = fit_torch(
        model, optimizer, split, epochs=settings["epochs"], batch_size=settings["batch_size"], seed=settings["seed"],
        transform=augment, stop_at_interpolation=settings["stop_at_interpolation"], on_epoch=vote, chunk=250,
        progress=progress, description=f"{training} training",
    )
    return [{"training": training, **record} for record in records]


def four_settings(records):
    """The test accuracy of the four settings: rows {"setting", "epoch", "accuracy"}, where measured."""
    return [{"setting": setting, "epoch": r["epoch"], "accuracy": r[column]}
            for setting, (training, column) in SETTINGS.items()
            for r in records if r["training"] == training and r[column] is not None and not math.isnan(r[column])]


def final_accuracies(records):
    """{setting: test accuracy at the last epoch of its training} for the four settings."""
    return {setting: [r for r in records if r["training"] == training][-1][column] for setting, (training, column) in SETTINGS.items()}


def check_images(split):
    """A ValueError unless the split holds one-channel 28 x 28 images and labels 0..9, as many as images."""
    for name, X, y in (("train", split.X_train, split.y_train), (split.eval_set, split.X_eval, split.y_eval)):
        if tuple(X.shape[1:]) != (1, 28, 28) or len(X) == 0:
            raise ValueError(f"augmentation: {name} images must have shape (n, 1, 28, 28), n > 0, got {tuple(X.shape)}")
        if tuple(y.shape) != (len(X),) or y.min() < 0 or y.max() >= CLASSES:
            raise ValueError(f"augmentation: {len(X)} {name} images need as many labels in 0..{CLASSES - 1}, got shape {tuple(y.shape)}")


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Train the CNN without and with augmentation; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per training (``"plain"``, ``"augmented"``) and epoch, the loop's
    record (:func:`~nabla.experiments._torch.fit_torch`: the clean training and test loss and
    accuracy, ``eval_*`` on the test set) with ``batch_loss`` and ``eval_accuracy_tta`` (NaN on
    the epochs without a TTA evaluation). ``summary``: ``final`` {setting: final test accuracy}
    for the four settings, the epochs each training ran, their ``interpolation`` epochs (or
    None), and the normalisation's ``mean`` and ``std``. ``split``, a
    :class:`nabla.data.Split` of raw images (n, 1, 28, 28) in [0, 1], replaces loading
    FashionMNIST; ``root`` is the data root. ``overrides`` replace settings (e.g. ``epochs=5``).
    """
    settings = settings_for(SCALES, scale, overrides)  # every setting's type and value checked there
    start = time.perf_counter()
    split = as_torch(split if split is not None else load(settings, root))
    check_images(split)
    mean, std = pixel_statistics(split.X_train)  # of the clean training images
    with torch_session(settings["threads"]):
        augment = make_augment(settings["crop_scale"], settings["degrees"])
        copies = tta_copies(split.X_eval, augment, settings["T"], settings["seed"])
        records = [r for training in TRAININGS for r in train_cnn(settings, training, split, copies, mean, std, progress)]
    by_training = {name: [r for r in records if r["training"] == name] for name in TRAININGS}
    summary = {
        "final": final_accuracies(records),
        "epochs_run": {name: rows[-1]["epoch"] for name, rows in by_training.items()},
        "interpolation": {name: interpolation_epoch(rows) for name, rows in by_training.items()},
        "mean": mean,
        "std": std,
    }
    return Result("augmentation", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# ---- the chapter's tables ----------------------------------------------------------------


def settings_table(result):
    """The final accuracy of the four settings of a :class:`~nabla.experiments.Result`, as a ``pandas.DataFrame``."""
    import pandas as pd  # here: the package does not need pandas to run an experiment

    summary, measured = result.summary, result.eval_set
    rows = {setting: {"training": training, f"{measured} image": "clean" if column == "eval_accuracy" else f"vote of {result.settings['T']} copies",
                      "epochs": summary["epochs_run"][training], f"{measured} accuracy": summary["final"][setting]}
            for setting, (training, column) in SETTINGS.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("augmentation at")


def training_table(result):
    """What each training of a :class:`~nabla.experiments.Result` did with its training images, as a ``pandas.DataFrame``."""
    import pandas as pd

    rows, measured = {}, result.eval_set
    for training in TRAININGS:
        runs = [r for r in result.records if r["training"] == training]
        interpolated = result.summary["interpolation"][training]
        rows[training] = {
            "epochs": runs[-1]["epoch"],
            "interpolated after epoch": "never" if interpolated is None else interpolated,
            "final training accuracy": runs[-1]["train_accuracy"],
            f"final {measured} accuracy": runs[-1]["eval_accuracy"],
            f"final {measured} loss": runs[-1]["eval_loss"],
            f"lowest {measured} loss": min(r["eval_loss"] for r in runs),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("training")


# ---- the chapter's figures and the comparison with nabla -------------------------------------------

STYLES = {  # colour: which training; line: how the test image is predicted
    "neither": dict(color="C0", linestyle="-"),
    "test time": dict(color="C0", linestyle="--", marker="o"),
    "train time": dict(color="C3", linestyle="-"),
    "both": dict(color="C3", linestyle="--", marker="o"),
}
LABELS = {
    "neither": "neither (plain training, clean test image)",
    "test time": "test time (plain training, vote of 8 copies)",
    "train time": "train time (augmented training, clean test image)",
    "both": "both (augmented training, vote of 8 copies)",
}
COLOURS = {"plain": dict(color="C0"), "augmented": dict(color="C3")}


def plot_four(ax, result, title):
    """The test accuracy of the four settings against epochs; the votes dashed, with markers."""
    from nabla.plotting import lines_by

    lines_by(ax, four_settings(result.records), "epoch", "accuracy", "setting", STYLES, LABELS, markersize=4)
    ax.set(xlabel="epochs", ylabel="test accuracy", title=title)


def plot_training(axes, result, title):
    """Three panels: the training loss (clean images, and dotted the minibatches stepped on), the training accuracy, the test loss."""
    from nabla.plotting import lines_by

    ax_loss, ax_accuracy, ax_test = axes
    lines_by(ax_loss, result.records, "epoch", "train_loss", "training", COLOURS, {t: f"{t}: clean training images" for t in COLOURS})
    lines_by(ax_loss, result.records, "epoch", "batch_loss", "training", COLOURS, {t: f"{t}: its minibatches" for t in COLOURS}, linestyle=":")
    lines_by(ax_accuracy, result.records, "epoch", "train_accuracy", "training", COLOURS)
    lines_by(ax_test, result.records, "epoch", "eval_loss", "training", COLOURS)
    ax_loss.set(yscale="log", ylabel="training loss (log scale)")
    ax_accuracy.set(ylabel="training accuracy (clean images)", title=title)
    ax_accuracy.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax_test.set(ylabel="test loss (clean images)", ylim=(0.3, 1.0))  # 2.3 at epoch 0, above the panel
    for ax in axes:
        ax.set_xlabel("epochs")
    ax_loss.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22))  # four lines: below, off the curves
    ax_accuracy.legend(fontsize=8)
    ax_test.legend(fontsize=8)


def gradient_comparison(pairs):
    """``pairs`` {name: (nabla gradient, torch gradient)} as a table: shape, largest |gradient|, largest |nabla - torch|."""
    import pandas as pd

    return pd.DataFrame(
        {
            "shape": [tuple(n.shape) for n, _ in pairs.values()],
            "largest |gradient|": [float(abs(t).max()) for _, t in pairs.values()],
            "largest |nabla - torch|": [float(abs(n - t.numpy()).max()) for n, t in pairs.values()],
        },
        index=list(pairs),
    )


def pool_windows(A, size=2):
    """The (N, C, H, W) input of a ``size`` x ``size`` max pool with stride ``size`` cut into its windows, one per row."""
    N, C, H, W = A.shape
    return A.reshape(N, C, H // size, size, W // size, size).transpose(0, 1, 2, 4, 3, 5).reshape(-1, size * size)


def training_figure(result, title):
    """:func:`plot_training` of one run in a figure of its own."""
    from nabla.plotting import white_figure

    fig, axes = white_figure(ncols=3, figsize=(14, 4.2))
    plot_training(axes, result, title)
    fig.tight_layout()
    return fig


def budget_and_full_figure(budget, full):
    """:func:`plot_four` of the budget run (left) and of the full run (right, if not None), the full run on a closer scale."""
    from nabla.plotting import white_figure

    fig, axes = white_figure(ncols=2, figsize=(12, 4.5))
    plot_four(axes[0], budget, "Budget run (this build): 1200 images")
    if full is not None:
        plot_four(axes[1], full, "Full run (results/augmentation-full.csv): 7200 images")
    axes[0].set_ylim(0.6, 0.9)
    axes[1].set_ylim(0.78, 0.9)  # a closer look: the settings differ by points
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
