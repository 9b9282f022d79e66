r"""The one training loop of the PyTorch experiments (chapters 20 and 21), and what it needs.

book/augmentation.md trains a CNN with and without augmented images, book/pytorch-apis.md a
grid of two-layer nets. Both take their images from :func:`nabla.data.split` (numpy float64,
pixels / 255 with ``standardize="none"``) and train and measure them here:

* :func:`as_torch` turns a :class:`nabla.data.Split` into float32 and int64 tensors;
* :func:`pixel_statistics` and :class:`Normalize`: ``transforms.Normalize`` for one channel,
  with the mean and standard deviation of the training pixels;
* :func:`transform_each`: a random transform drawn afresh for every image of a batch;
* :func:`evaluate`: mean cross-entropy and accuracy on a whole set, in eval mode;
* :func:`fit_torch`: minibatch training by epochs, with one record per epoch in the schema of
  nabla's own loop, :func:`nabla.train.fit`;
* :func:`torch_session`: a fixed number of torch threads, and the caller's random state kept.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nabla.data import Split
from nabla.train import RECORD_KEYS, SAMPLING, check_batch_size, check_count, updates_per_epoch


def as_torch(split):
    """The split with float32 images and int64 labels as tensors, ``eval_set`` kept; tensors pass through."""
    X_train, y_train, X_eval, y_eval = (None if a is None else torch.as_tensor(a) for a in split)
    if X_eval is None:
        return Split(X_train.float(), y_train.long())
    return Split(X_train.float(), y_train.long(), X_eval.float(), y_eval.long(), split.eval_set)


def pixel_statistics(X):
    """One mean and one (sample) standard deviation over every pixel of the float32 images X, as floats."""
    return X.mean().item(), X.std().item()


class Normalize(nn.Module):
    r"""$(X - \mu) / \sigma$ with one $\mu$ and one $\sigma$ for all pixels: ``transforms.Normalize`` for
    one channel, as a layer, so that a network can be handed raw images in [0, 1] (and augmented
    ones: the augmentation must see the raw pixels, book/augmentation.md)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, X):
        return (X - self.mean) / self.std


def transform_each(transform, images):
    """Every image of ``images`` (N, C, H, W) through ``transform`` on its own: new random parameters for each.

    (A torchvision v2 transform called on a whole batch would draw one crop and one angle for all of it.)
    """
    return torch.stack([transform(image) for image in images])


def epoch_seed(seed, epoch):
    """The seed of torch's global generator for the random transforms of one epoch, from (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def epoch_batches(n, batch_size, sampling, generator):
    """The minibatches of one epoch, as index tensors drawn from ``generator``.

    ``"permutation"``: every example once, in the order of ``torch.randperm`` (the order a
    ``DataLoader`` with ``shuffle=True`` draws from its sampler), in batches of B, the last one
    smaller if B does not divide n. ``"replacement"``: ``round(n / B)`` batches of B indices drawn
    uniformly with replacement, as :func:`nabla.train.minibatches` does, so an epoch sees n
    examples on average (a *pass* of chapters 14-16).
    """
    if sampling == "permutation":
        return torch.randperm(n, generator=generator).split(batch_size)
    return torch.randint(0, n, (updates_per_epoch(n, batch_size, sampling), batch_size), generator=generator).unbind()


@torch.no_grad()
def evaluate(model, X, y, chunk=1000):
    """``(mean cross-entropy, accuracy)`` of a torch ``model`` on X (n, ...), y (n,), ``chunk`` images at a time.

    In eval mode (which matters for dropout and batch norm) and without building a graph; the
    model is left in eval mode. The counterpart of :func:`nabla.train.evaluate`.
    """
    model.eval()
    loss, right = 0.0, 0
    for start in range(0, len(X), chunk):
        L = model(X[start : start + chunk])
        loss += F.cross_entropy(L, y[start : start + chunk], reduction="sum").item()
        right += (L.argmax(dim=1) == y[start : start + chunk]).sum().item()
    return loss / len(X), right / len(X)


def fit_torch(model, optimizer, split, *, epochs, batch_size, seed, sampling="permutation", transform=None,
              stop_at_interpolation=False, on_epoch=None, chunk=1000, progress=False, description=None):
    r"""Train a torch ``model`` with ``optimizer`` on the mean cross-entropy, epoch by epoch; its records.

    Each epoch draws its minibatches (:func:`epoch_batches`, ``sampling`` ``"permutation"`` or
    ``"replacement"``) from one ``torch.Generator`` seeded with ``seed``: the same seed, the same
    minibatches. Each minibatch makes one update: forward, loss, ``zero_grad``, ``backward``,
    ``step``. ``transform``, if given, is a random map of one image applied to every training
    image of a minibatch on its own (:func:`transform_each`); it draws from torch's global
    generator, which is seeded at the start of each epoch with :func:`epoch_seed`, so an epoch's
    draws do not depend on what ran before it. Only the minibatches are transformed: the model is
    measured on the split's images as they are.

    Before training (epoch 0) and after every epoch the model is measured on the whole training
    and evaluation sets (:func:`evaluate`), and a record made with the keys of
    :func:`nabla.train.fit` (:data:`nabla.train.RECORD_KEYS`): ``epoch``, ``steps`` (updates so
    far), ``examples`` (gradient computations so far), ``train_loss``, ``train_accuracy``,
    ``eval_loss``, ``eval_accuracy`` (on the split's ``eval_set``; NaN without one) and
    ``seconds``. Then ``on_epoch(model, record, batch_loss=..., last=...)`` is called, if given:
    it may add keys to the record (``batch_loss`` is the mean loss per example of the minibatches
    the epoch stepped on, NaN at epoch 0; ``last`` says whether this is the final record).

    Training stops after ``epochs`` epochs; earlier at a non-finite training loss; and with
    ``stop_at_interpolation`` after the first epoch at which every training example is classified
    right. Shapes: images (n, C, H, W) or rows (n, D); the split may hold numpy arrays
    (:func:`as_torch` converts them) or tensors.
    """
    from tqdm import tqdm  # here, as in nabla.train: tqdm.auto would warn in a kernel without ipywidgets

    X_train, y_train, X_eval, y_eval = as_torch(split)
    n = len(X_train)
    batch_size, epochs = check_batch_size(batch_size, n), check_count("epochs", epochs, 0)
    if sampling not in SAMPLING:
        raise ValueError(f"fit_torch: sampling must be 'permutation' or 'replacement', got {sampling!r}")
    generator = torch.Generator().manual_seed(seed)
    records, steps, examples, start = [], 0, 0, time.perf_counter()

    def record(epoch, batch_loss):
        """Measure after ``epoch``; True if it is the last one."""
        train_loss, train_accuracy = evaluate(model, X_train, y_train, chunk)
        eval_loss, eval_accuracy = evaluate(model, X_eval, y_eval, chunk) if X_eval is not None else (math.nan, math.nan)
        records.append(dict(zip(RECORD_KEYS, (epoch, steps, examples, train_loss, train_accuracy, eval_loss,
                                              eval_accuracy, time.perf_counter() - start))))
        interpolated = stop_at_interpolation and train_accuracy == 1.0
        last = epoch == epochs or interpolated or not math.isfinite(train_loss)
        if on_epoch is not None:
            on_epoch(model, records[-1], batch_loss=batch_loss, last=last)
        return last

    epoch, done = 0, record(0, math.nan)
    with tqdm(total=epochs, desc=description, unit="epoch", disable=not progress, leave=False) as bar:
        while not done:
            epoch += 1
            if transform is not None:
                torch.manual_seed(epoch_seed(seed, epoch))
            model.train()  # dropout on, batch norm on batch statistics: evaluate() left the model in eval mode
            total = 0.0
            for batch in epoch_batches(n, batch_size, sampling, generator):
                X = X_train[batch] if transform is None else transform_each(transform, X_train[batch])
                loss = F.cross_entropy(model(X), y_train[batch])
                optimizer.zero_grad()  # backward() adds into .grad
                loss.backward()
                optimizer.step()
                steps, examples, total = steps + 1, examples + len(batch), total + loss.item() * len(batch)
            done = record(epoch, total / (examples - records[-1]["examples"]))
            bar.update()
            bar.set_postfix(acc=f"{records[-1]['train_accuracy']:.4f}", eval=f"{records[-1]['eval_accuracy']:.4f}")
    return records


@contextmanager
def torch_session(threads):
    """Run on ``threads`` torch threads; afterwards the caller's thread count and torch random state are as they were.

    The torch experiments run on one thread: their work comes in small pieces (one image at a
    time for the augmentations, a batch of 16 to 128 per step), where a second thread gains
    little on an idle machine and costs a great deal on a busy one: torch's OpenMP threads wait
    for each other by spinning, and with the other core taken the augmentation's smoke run took
    25-40 s on two threads, 2.5 s on one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(before)
