r"""A small hyperparameter study in PyTorch (chapter 21, book/pytorch-apis.md).

The two-layer net of chapter 21, ``Flatten -> Linear(784, H) -> ReLU -> Linear(H, 10)`` written
with ``nn.Sequential`` (PyTorch's default initialisation), trained by plain SGD
(``torch.optim.SGD``, no momentum, no weight decay) on the mean cross-entropy, over a grid of

* batch size B, the ``batch_sizes``;
* number of epochs E, the ``epochs``;
* learning rate $\eta$, the ``lrs``.

The data: a seeded ``fraction`` of FashionMNIST's training set (:func:`nabla.data.subsample`),
split by :func:`split` into a training part and a validation part (``val_fraction`` of it, held
out), and scaled as ``transforms.ToTensor()`` then ``transforms.Normalize((mean,), (std,))`` do,
with the mean and standard deviation of the training part's pixels (:func:`to_tensors`). Every
run starts from the same weights (``torch.manual_seed(seed)``) and, for a given B, sees the same
batches in the same order (a ``DataLoader`` shuffling with a seeded ``torch.Generator``).

The epochs axis costs nothing extra. With a constant learning rate, the first E epochs of a
longer run *are* an E-epoch run: same initial weights, same batches, same updates (a schedule
that depends on the total length would break this; there is none here). So each (B, lr) is
trained once, for ``passes`` = max(epochs) epochs, and read at every E of the grid; the test in
tests/test_hyperparameters.py checks that a separate E-epoch run gives the same numbers.

After every epoch the run records loss and accuracy on the whole training part and on the
validation part. The best cell of the grid is the one with the highest validation accuracy;
only its weights ever see the test set, once, at the end.

``full``: the whole training set (54000 for training, 6000 for validation), B in {32, 64, 128},
E in {5, 10}, lr in {0.01, 0.03, 0.1}. ``budget``: 20 % of it (10800 / 1200), E in {2, 4}, the
same B and lr, in the chapter's build. Run with

    python -m nabla.experiments hyperparameters --scale full
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from nabla import data as datasets
from nabla.experiments import CLASSES, evaluate_torch, settings_for

COMMON = {"dataset": "fashion_mnist", "hidden": 256, "val_fraction": 0.1, "threads": 1, "eval_batch": 4096}

SCALES = {
    "full": {**COMMON, "fraction": 1.0, "batch_sizes": [32, 64, 128], "lrs": [0.01, 0.03, 0.1], "epochs": [5, 10], "passes": 10, "seed": 0},
    "budget": {**COMMON, "fraction": 0.2, "batch_sizes": [32, 64, 128], "lrs": [0.01, 0.03, 0.1], "epochs": [2, 4], "passes": 4, "seed": 0},
    "smoke": {**COMMON, "fraction": 0.01, "batch_sizes": [32, 64], "lrs": [0.03, 0.1], "epochs": [1, 2], "passes": 2, "seed": 0},
}


def split(n, val_fraction, seed):
    """``(train_rows, val_rows)``: a seeded random split of ``range(n)``, ``round(val_fraction * n)`` held out.

    The split is ``torch.utils.data.random_split`` with a ``torch.Generator`` seeded by ``seed``,
    so a chapter that splits a dataset of n images with the same seed holds out the same images.
    Each part's rows are returned as a sorted LongTensor.
    """
    n_val = round(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError(f"split: holding out {val_fraction} of {n} examples leaves {n - n_val} to train on and {n_val} to validate on; both must be > 0")
    train_part, val_part = random_split(range(n), [n - n_val, n_val], generator=torch.Generator().manual_seed(seed))
    return torch.tensor(sorted(train_part.indices)), torch.tensor(sorted(val_part.indices))


def pixel_statistics(images):
    """The mean and (population) standard deviation of all pixels of uint8 ``images``, scaled to [0, 1]."""
    pixels = np.asarray(images, dtype=np.float64) / 255.0
    return float(pixels.mean()), float(pixels.std())


def to_tensors(images, mean, std):
    """uint8 images (n, 28, 28) as float32 (n, 1, 28, 28): ``ToTensor()`` then ``Normalize((mean,), (std,))``.

    ``ToTensor`` divides by 255 and puts the channel axis first; ``Normalize`` subtracts the mean
    and divides by the standard deviation, per channel (one channel here). The book checks that
    this equals torchvision's transforms, image by image.
    """
    X = torch.as_tensor(np.asarray(images)).to(torch.float32).div(255).unsqueeze(1)
    return X.sub_(mean).div_(std)


def two_layer_net(hidden, seed):
    """``nn.Sequential`` Flatten -> Linear(784, hidden) -> ReLU -> Linear(hidden, 10), weights from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))


def evaluate(model, X, y, batch=4096):
    """``(mean cross-entropy, accuracy)`` of ``model`` on (X, y), in eval mode, ``batch`` images at a time."""
    return evaluate_torch(model, X, y, batch)


def prepare(settings, root=None, data=None):
    """The tensors of a study: ``{"train": (X, y), "val": (X, y), "test": (X, y), "mean", "std"}``.

    ``data`` = (train_images, train_labels, test_images, test_labels), uint8 images (n, 28, 28),
    replaces loading FashionMNIST (and its subsampling) when given.
    """
    if data is None:
        train_images, train_labels = datasets.subsample(
            *datasets.load_fashion_mnist(train=True, root=root), settings["fraction"], settings["seed"]
        )
        test_images, test_labels = datasets.load_fashion_mnist(train=False, root=root)
    else:
        train_images, train_labels, test_images, test_labels = data
    train_rows, val_rows = split(len(train_images), settings["val_fraction"], settings["seed"])
    train_images, labels = np.asarray(train_images), torch.as_tensor(np.asarray(train_labels), dtype=torch.int64)
    # The statistics of the training part only: the validation and test images are scaled with them.
    mean, std = pixel_statistics(train_images[train_rows.numpy()])
    X = to_tensors(train_images, mean, std)
    return {
        "train": (X[train_rows], labels[train_rows]),
        "val": (X[val_rows], labels[val_rows]),
        "test": (to_tensors(test_images, mean, std), torch.as_tensor(np.asarray(test_labels), dtype=torch.int64)),
        "mean": mean,
        "std": std,
    }


def train_run(settings, tensors, batch_size, lr, epochs, on_epoch=None):
    """Train a fresh :func:`two_layer_net` by SGD for ``epochs`` epochs; one record per epoch (0 = before training).

    After every epoch, ``on_epoch(epoch, model)`` is called if given (the study keeps the weights
    of the epochs on its grid).
    """
    (X_train, y_train), (X_val, y_val) = tensors["train"], tensors["val"]
    model = two_layer_net(settings["hidden"], settings["seed"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(
        TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(settings["seed"]), num_workers=0,
    )
    records, updates, start = [], 0, time.perf_counter()

    def record(epoch):
        train_loss, train_accuracy = evaluate(model, X_train, y_train, settings["eval_batch"])
        val_loss, val_accuracy = evaluate(model, X_val, y_val, settings["eval_batch"])
        records.append({
            "batch_size": batch_size, "lr": lr, "epoch": epoch, "updates": updates,
            "train_loss": train_loss, "train_accuracy": train_accuracy,
            "val_loss": val_loss, "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - start,
        })

    record(0)
    for epoch in range(1, epochs + 1):
        model.train()
        for X_batch, y_batch in loader:
            loss = F.cross_entropy(model(X_batch), y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
        record(epoch)
        if on_epoch is not None:
            on_epoch(epoch, model)
    return records


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""The grid over batch size, epochs and learning rate; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per (B, lr) and epoch 0..passes, with keys ``batch_size``, ``lr``,
    ``epoch``, ``updates``, ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``
    and ``seconds``. ``summary``: ``grid``, one dict per (B, E, lr) cell (E = the epochs capped
    at ``passes``), ``best``, the cell with the highest validation accuracy and its
    ``test_loss`` and ``test_accuracy`` (the only evaluation on the test set), the sizes
    ``n_train``, ``n_val``, ``n_test`` and the pixel ``mean`` and ``std``. ``overrides`` replace
    settings (``passes`` caps the epochs); ``data`` = raw (train_images, train_labels,
    test_images, test_labels) skips loading FashionMNIST; ``root`` is the data root.
    """
    settings = settings_for(SCALES, scale, overrides)
    if not isinstance(settings["passes"], int) or settings["passes"] < 1:
        raise ValueError(f"passes must be an integer >= 1, got {settings['passes']!r}")
    grid_epochs = sorted({min(E, settings["passes"]) for E in settings["epochs"]})
    passes = grid_epochs[-1]
    start = time.perf_counter()
    threads = torch.get_num_threads()
    # One thread: the matrices are small (a batch of at most 128 against 784 x 256 weights), and a
    # second thread that waits for a core another process holds makes every op wait with it.
    torch.set_num_threads(settings["threads"])
    try:
        tensors = prepare(settings, root, data)
        records, snapshots = [], {}
        from tqdm import tqdm  # here, as in nabla.train: tqdm.auto would warn in a kernel without ipywidgets

        runs = [(B, lr) for B in settings["batch_sizes"] for lr in settings["lrs"]]
        with tqdm(total=len(runs) * passes, unit="epoch", disable=not progress, leave=False) as bar:
            for B, lr in runs:
                bar.set_description(f"B={B}, lr={lr}")

                def keep(epoch, model, B=B, lr=lr):
                    if epoch in grid_epochs:
                        snapshots[B, epoch, lr] = copy.deepcopy(model.state_dict())
                    bar.update(1)

                records += train_run(settings, tensors, B, lr, passes, on_epoch=keep)
        at = {(r["batch_size"], r["epoch"], r["lr"]): r for r in records}
        grid = [
            {"batch_size": B, "epochs": E, "lr": lr, **{k: at[B, E, lr][k] for k in ("updates", "train_loss", "train_accuracy", "val_loss", "val_accuracy")}}
            for B in settings["batch_sizes"] for E in grid_epochs for lr in settings["lrs"]
        ]
        # The best by validation accuracy; a tie goes to the lower validation loss.
        best = max(grid, key=lambda cell: (cell["val_accuracy"], -cell["val_loss"]))
        model = two_layer_net(settings["hidden"], settings["seed"])
        model.load_state_dict(snapshots[best["batch_size"], best["epochs"], best["lr"]])
        test_loss, test_accuracy = evaluate(model, *tensors["test"], settings["eval_batch"])
    finally:
        torch.set_num_threads(threads)
    summary = {
        "grid": grid,
        "best": {**best, "test_loss": test_loss, "test_accuracy": test_accuracy},
        "n_train": len(tensors["train"][1]),
        "n_val": len(tensors["val"][1]),
        "n_test": len(tensors["test"][1]),
        "mean": tensors["mean"],
        "std": tensors["std"],
    }
    return {"experiment": "hyperparameters", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
