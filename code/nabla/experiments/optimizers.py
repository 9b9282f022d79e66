r"""Six optimizers training one network (chapter 17, book/optimizers.md).

The MLP 784 -> 64 -> 10 (ReLU, Glorot initialisation from ``np.random.default_rng(seed)``),
trained with mean cross-entropy on minibatches of 32 by :func:`nabla.train.fit` (epochs of a
permutation drawn from ``np.random.default_rng(seed + 1)``), once with each of SGD, momentum,
Nesterov, AdaGrad, RMSProp and Adam at the learning rates the chapter chose on the training
loss. Runs with the same seed start from the same weights and see the same minibatches: the
optimizer is the only difference. After every epoch: loss and accuracy on the training subset
and on the test set; at the end, the test accuracy of every class.

``full``: 25 % of FashionMNIST (15 000 images), 20 epochs, seeds 0 to 4, the whole test set
(the chapter's build runs 5 %, 5 epochs, 5 seeds). ``budget``: 5 %, 5 epochs, seed 0, on 2000
test images. The steps run on one BLAS thread, as in the chapter: a minibatch of 32 against a
784 x 64 matrix is too small for two threads to share.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import nn, optim, train
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, settings_for
from nabla.experiments.width import load

# The chapter's choice: each optimizer's best learning rate of a sweep over 0.0003 ... 0.3 by the
# training loss after one epoch (book/optimizers.md, "Six optimizers training one network").
CONFIGURATIONS = {
    "SGD": (optim.SGD, {"lr": 0.1}),
    "momentum": (optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "Nesterov": (optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "AdaGrad": (optim.Adagrad, {"lr": 0.01}),
    "RMSProp": (optim.RMSprop, {"lr": 0.001}),
    "Adam": (optim.Adam, {"lr": 0.003}),
}

COMMON = {"dataset": "fashion_mnist", "width": 64, "batch_size": 32}

SCALES = {
    "full": {**COMMON, "fraction": 0.25, "test_size": None, "epochs": 20, "seeds": [0, 1, 2, 3, 4], "seed": 0},
    "budget": {**COMMON, "fraction": 0.05, "test_size": 2000, "epochs": 5, "seeds": [0], "seed": 0},
    "smoke": {**COMMON, "fraction": 0.005, "test_size": 200, "epochs": 1, "seeds": [0], "seed": 0},
}


def train_one(name, split, width, epochs, batch_size, seed, progress=False, **options):
    """Train a fresh MLP with optimizer ``name`` of :data:`CONFIGURATIONS` (its settings updated by ``options``); the model and its :class:`nabla.train.Run`."""
    optimizer_class, kwargs = CONFIGURATIONS[name]
    model = nn.MLP([split.X_train.shape[1], width, CLASSES], rng=np.random.default_rng(seed))
    run = train.fit(
        model, optimizer_class(model.parameters(), **{**kwargs, **options}), split, epochs=epochs,
        batch_size=batch_size, seed=seed + 1, progress=progress, description=f"{name}, seed {seed}",
    )
    return model, run


def per_class_accuracy(model, X, y):
    """The accuracy on the examples of each class c = 0..9 (None for a class the set lacks)."""
    predictions = train.logits(model, X).argmax(axis=1)
    return [float(np.mean(predictions[y == c] == c)) if np.any(y == c) else None for c in range(CLASSES)]


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    """Train every optimizer from every seed; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per optimizer, seed and epoch: ``optimizer``, ``seed``, ``lr`` and the
    keys of :data:`nabla.train.RECORD_KEYS`, where ``eval_*`` is measured on the test set.
    ``summary``: ``eval_accuracy`` {optimizer: [final accuracy per seed]} and ``per_class``
    {optimizer: [[accuracy of class c for c in 0..9] per seed]}. ``split`` skips loading
    FashionMNIST. ``overrides`` replace settings (``epochs=2``).
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    # The data subset is drawn with `seed`; the runs' initialisations and orders with `seeds`.
    split = split if split is not None else load(settings, root)
    records, accuracy, per_class = [], {}, {}
    for name in CONFIGURATIONS:
        for seed in settings["seeds"]:
            with threadpool_limits(limits=1, user_api="blas"):
                model, fit = train_one(name, split, settings["width"], settings["epochs"], settings["batch_size"], seed, progress)
            records += [{"optimizer": name, "seed": seed, "lr": CONFIGURATIONS[name][1]["lr"], **r} for r in fit.records]
            accuracy.setdefault(name, []).append(fit.records[-1]["eval_accuracy"])
            per_class.setdefault(name, []).append(per_class_accuracy(model, split.X_eval, split.y_eval))
    summary = {"eval_accuracy": accuracy, "per_class": per_class}
    return Result("optimizers", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# ---- what the chapter shows --------------------------------------------------------------------

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def loss_curves(runs, average=20):
    """Two panels for runs ``{optimizer: nabla.train.Run}``: the minibatch loss (mean of the last ``average`` steps, log scale), the test loss after every epoch."""
    from nabla.plotting import white_figure

    fig, (ax_train, ax_test) = white_figure(ncols=2, figsize=(12, 4.2))
    for name, run in runs.items():
        losses = np.convolve(run.minibatch_losses, np.ones(average) / average, mode="valid")
        ax_train.plot(np.arange(average, len(run.minibatch_losses) + 1), losses, label=name)
        ax_test.plot([r["steps"] for r in run.records], [r["eval_loss"] for r in run.records], "o-", markersize=3, label=name)
    ax_train.set_title(f"Training: minibatch loss, mean of the last {average} steps")
    ax_train.set_yscale("log")
    ax_train.set_yticks([0.2, 0.3, 0.5, 1, 2], labels=["0.2", "0.3", "0.5", "1", "2"])
    ax_train.set_yticks([], minor=True)
    start = next(iter(runs.values())).records[0]["eval_loss"]
    ax_test.set_title(f"Test set, every epoch (from {start:.2f} at step 0, off the chart)")
    ax_test.set_ylim(0.45, 0.85)
    for ax in (ax_train, ax_test):
        ax.set(xlabel="step (minibatch of 32; 94 steps per epoch)", ylabel="mean cross-entropy")
        ax.grid(alpha=0.3)
    ax_train.legend()
    return fig


def per_class_bars(per_class, title):
    """A grouped bar chart of ``per_class`` (a DataFrame: one row per class, one column per optimizer)."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(12, 4.2))
    width = 0.8 / per_class.shape[1]
    for k, name in enumerate(per_class):
        ax.bar(np.arange(len(per_class)) + (k - (per_class.shape[1] - 1) / 2) * width, per_class[name], width, label=name)
    ax.set_xticks(np.arange(len(per_class)), per_class.index)
    ax.set_ylim(0, 1.12)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set(xlabel="class", ylabel="test accuracy after 5 epochs", title=title)
    ax.legend(ncol=per_class.shape[1], loc="upper center", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def full_curves(full):
    """The full run's training and test loss against epoch for every optimizer: mean over seeds, a band from the lowest to the highest."""
    from nabla.plotting import white_figure

    trained = full[full["epoch"] >= 1]
    fig, (ax_train, ax_test) = white_figure(ncols=2, figsize=(12, 4.2))
    for name in CONFIGURATIONS:
        runs = trained[trained["optimizer"] == name].groupby("epoch")
        for ax, column in ((ax_train, "train_loss"), (ax_test, "eval_loss")):
            mean = runs[column].mean()
            ax.plot(mean.index, mean.values, "o-", markersize=3, label=name)
            ax.fill_between(mean.index, runs[column].min(), runs[column].max(), alpha=0.2)
    ax_train.set_yscale("log")
    ax_train.set_title("Training set (15,000 images)")
    ax_test.set_title("Test set (10,000 images)")
    for ax in (ax_train, ax_test):
        ax.set(xlabel="epoch (469 steps of 32)", ylabel="mean cross-entropy (mean of 5 seeds)")
        ax.set_xticks([1, 5, 10, 15, 20])
        ax.grid(alpha=0.3)
    ax_test.legend()
    return fig


def full_table(full, last=20):
    """Per optimizer over the seeds of the full run: the final test accuracy (mean, lowest, highest), the lowest and final test loss, the final training loss."""
    import pandas as pd

    end = full[full["epoch"] == last]
    accuracy = end.pivot(index="optimizer", columns="seed", values="eval_accuracy")
    return pd.DataFrame({
        "test accuracy, mean of 5 seeds": accuracy.mean(axis=1),
        "lowest of 5 seeds": accuracy.min(axis=1),
        "highest of 5 seeds": accuracy.max(axis=1),
        "lowest test loss (mean)": full.groupby(["optimizer", "seed"])["eval_loss"].min().groupby("optimizer").mean(),
        "test loss at epoch 20 (mean)": end.groupby("optimizer")["eval_loss"].mean(),
        "training loss at epoch 20 (mean)": end.groupby("optimizer")["train_loss"].mean(),
    }).loc[list(CONFIGURATIONS)]


def against_torch(settings, steps=25, seed=4):
    """Run each ``(name, kwargs)`` of ``settings`` with nabla.optim and torch.optim side by side; a row per setting.

    On a small tanh network with a cross-entropy loss, float64, from the same start: after every
    one of ``steps`` steps all parameters must agree to 1e-12 (an AssertionError names the
    setting otherwise), and the weights must have moved. Returns the largest difference and how
    far the weights moved, per setting.
    """
    import torch

    from nabla import Tensor, cross_entropy, tanh

    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    W_0, c_0 = rng.standard_normal((6, 3)), rng.standard_normal(3)
    rows = []
    for name, kwargs in settings:
        ours = [Tensor(W_0.copy()), Tensor(c_0.copy())]
        theirs = [torch.tensor(W_0, requires_grad=True), torch.tensor(c_0, requires_grad=True)]
        our_optimizer, their_optimizer = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
        worst = 0.0
        for _ in range(steps):
            our_optimizer.zero_grad()
            cross_entropy(tanh(Tensor(X) @ ours[0] + ours[1]), y).backward()
            our_optimizer.step()
            their_optimizer.zero_grad()
            torch.nn.functional.cross_entropy(torch.tanh(torch.from_numpy(X) @ theirs[0] + theirs[1]), torch.from_numpy(y)).backward()
            their_optimizer.step()
            for p, q in zip(ours, theirs):
                assert p.value.dtype == np.float64 and q.dtype == torch.float64
                assert np.allclose(p.value, q.detach().numpy(), rtol=1e-12, atol=1e-12), (name, kwargs)
                worst = max(worst, np.max(np.abs(p.value - q.detach().numpy())))
        moved = np.max(np.abs(ours[0].value - W_0))
        assert moved > 1e-2, (name, kwargs)  # the optimizer really moved the weights
        rows.append({"optimizer": name, "options": ", ".join(f"{k}={v}" for k, v in kwargs.items()),
                     f"largest |nabla - torch| over {steps} steps": f"{worst:.1e}", f"largest |W_{steps} - W_0|": f"{moved:.3f}"})
    return rows


def paths_figure(paths, f, title, box=((-10, 2), (-2, 2)), levels=(0.5, 2, 5, 10, 20, 40, 70)):
    """Contours of ``f`` (points (..., 2) -> values) over ``box`` and the iterates of each optimizer, ``{label: path (steps + 1, 2)}``."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(8, 3.6))
    grid_1, grid_2 = np.meshgrid(np.linspace(*box[0], 200), np.linspace(*box[1], 200))
    ax.contour(grid_1, grid_2, f(np.stack([grid_1, grid_2], axis=-1)), levels=list(levels), colors="0.8")
    for k, (label, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], ".-", color=f"C{k}", markersize=4,
                label=f"{label}: $f = {f(path[-1]):.3f}$ after {len(path) - 1} steps")
    ax.plot([0], [0], "k*", markersize=10)  # the minimum
    ax.set(xlabel="$\\theta_1$", ylabel="$\\theta_2$", title=title)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def steps_figure(series, switch, switch_label, ylabel, title, styles=None):
    """Each of ``{label: values at steps 1, 2, ...}`` on a log axis, and a dotted line between step ``switch`` and the next."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(7, 3.8))
    for k, (label, values) in enumerate(series.items()):
        ax.semilogy(np.arange(1, len(values) + 1), values, *(styles or {}).get(label, ()), markersize=3, label=label)
    ax.axvline(switch + 0.5, color="0.5", linestyle=":", label=switch_label)
    ax.set(xlabel="step $t$", ylabel=ylabel, title=title)
    ax.legend()
    return fig
