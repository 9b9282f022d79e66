r"""A small hyperparameter study in PyTorch (chapter 21, book/pytorch-apis.md).

The two-layer net of chapter 21, ``Flatten -> Linear(784, H) -> ReLU -> Linear(H, 10)`` written
with ``nn.Sequential`` (:func:`two_layer_sequential`, PyTorch's default initialisation) after a
:class:`~nabla.experiments._torch.Normalize` layer, trained by plain SGD (``torch.optim.SGD``, no
momentum, no weight decay) on the mean cross-entropy, over a grid of

* batch size B, the ``batch_sizes``;
* number of epochs E, the ``grid_epochs``;
* learning rate $\eta$, the ``lrs``.

The data (:func:`load`): a seeded ``fraction`` of FashionMNIST's training set, of which a seeded
``hold_out`` fraction is held out as the validation set (:func:`nabla.data.split`), and the
test set. The images come as pixels / 255, what ``transforms.ToTensor()`` gives, and the
network's first layer does what ``transforms.Normalize((mean,), (std,))`` does, with the mean
and standard deviation of the training part's pixels. Every run starts from the same weights
(``torch.manual_seed(seed)``) and, for a given B, sees the same batches in the same order
(:func:`~nabla.experiments._torch.fit_torch`, seeded).

The epochs axis costs nothing extra. With a constant learning rate, the first E epochs of a
longer run *are* an E-epoch run: same initial weights, same batches, same updates (a schedule
that depends on the total length would break this; there is none here). So each (B, lr) is
trained once, for ``epochs`` = max(grid_epochs) epochs, and read at every E of the grid; the
test in tests/test_pytorch_apis.py checks that a separate E-epoch run gives the same numbers.

After every epoch the run records loss and accuracy on the whole training part and on the
validation part (``eval_*``). The best cell of the grid is the one with the highest validation
accuracy; only its weights ever see the test set, once, at the end.

``full``: the whole training set (54000 for training, 6000 for validation), B in {32, 64, 128},
E in {5, 10}, lr in {0.01, 0.03, 0.1}. ``budget``: 20 % of it (10800 / 1200), E in {2, 4}, the
same B and lr, in the chapter's build. Run with

    python -m nabla.experiments pytorch_apis --scale full

Also here: :func:`train_ece490`, the ECE490 notebook's MNIST classifier trained as the notebook did.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from nabla import data
from nabla.data import Split
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, settings_for
from nabla.experiments._torch import Normalize, as_torch, evaluate, fit_torch, pixel_statistics, torch_session

# One torch thread, as in nabla.experiments._torch.torch_session: the matrices are small (a
# batch of at most 128 against 784 x 256 weights).
COMMON = {"dataset": "fashion_mnist", "hidden": 256, "hold_out": 0.1, "threads": 1, "eval_batch": 4096}

SCALES = {
    "full": {**COMMON, "fraction": 1.0, "batch_sizes": [32, 64, 128], "lrs": [0.01, 0.03, 0.1], "grid_epochs": [5, 10], "epochs": 10, "seed": 0},
    "budget": {**COMMON, "fraction": 0.2, "batch_sizes": [32, 64, 128], "lrs": [0.01, 0.03, 0.1], "grid_epochs": [2, 4], "epochs": 4, "seed": 0},
    "smoke": {**COMMON, "fraction": 0.01, "batch_sizes": [32, 64], "lrs": [0.03, 0.1], "grid_epochs": [1, 2], "epochs": 2, "seed": 0},
}

# What a cell of the grid keeps from the record of its epoch.
CELL_KEYS = ("steps", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy")


def two_layer_sequential(input_size, hidden_size, num_classes):
    """Eq. pytorch-apis-two-layer as ``nn.Sequential``: Flatten -> Linear -> ReLU -> Linear, PyTorch's default initialisation."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(input_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, num_classes),
    )


def make_net(settings, mean, std):
    """The study's network, its weights drawn from ``settings["seed"]``: :class:`Normalize` then :func:`two_layer_sequential`."""
    torch.manual_seed(settings["seed"])
    return nn.Sequential(Normalize(mean, std), two_layer_sequential(28 * 28, settings["hidden"], CLASSES))


def load(settings, root=None):
    """``(study, test)``: two :class:`nabla.data.Split` of images (n, 1, 28, 28) as pixels / 255.

    ``study`` trains on the kept training images and holds out ``hold_out`` of them for
    validation; ``test`` is used for its evaluation set only, FashionMNIST's test set.
    """
    dataset, fraction, seed = settings["dataset"], settings["fraction"], settings["seed"]
    study = data.split(dataset, fraction, seed, hold_out=settings["hold_out"], standardize="none", root=root, images=True)
    test = data.split(dataset, fraction, seed, standardize="none", root=root, images=True)
    return study, test


def run(scale="budget", progress=False, root=None, split=None, test=None, **overrides):
    r"""The grid over batch size, epochs and learning rate; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per (B, lr) and epoch 0..epochs, ``batch_size`` and ``lr`` and the
    loop's record (:data:`nabla.train.RECORD_KEYS`, ``eval_*`` on the validation set).
    ``summary``: ``grid``, one dict per (B, E, lr) cell (E = the grid's epochs, capped at
    ``epochs``) with :data:`CELL_KEYS`; ``best``, the cell with the highest validation accuracy,
    with its ``test_loss`` and ``test_accuracy`` (the only evaluation on the test set); the sizes
    ``n_train``, ``n_validation``, ``n_test``; the pixel ``mean`` and ``std``. ``overrides``
    replace settings; ``split`` (with a validation set) and ``test`` (whose evaluation set is the
    test set), as :func:`load` returns them, skip loading FashionMNIST; ``root`` is the data root.
    """
    settings = settings_for(SCALES, scale, overrides)
    grid_epochs = sorted({min(E, settings["epochs"]) for E in settings["grid_epochs"]})  # settings_for checked each >= 1
    start = time.perf_counter()
    if (split is None) != (test is None):
        raise ValueError("pytorch_apis: give both split and test, or neither")
    study, test = (as_torch(s) for s in ((split, test) if split is not None else load(settings, root)))
    if study.eval_set != "validation" or test.eval_set != "test":
        raise ValueError(f"pytorch_apis: split must hold out a validation set and test be the test set, got {study.eval_set!r} and {test.eval_set!r}")
    mean, std = pixel_statistics(study.X_train)  # of the training part only
    records, snapshots = [], {}
    with torch_session(settings["threads"]):
        for B in settings["batch_sizes"]:
            for lr in settings["lrs"]:

                def keep(model, record, batch_loss, last, B=B, lr=lr):
                    if record["epoch"] in grid_epochs:
                        snapshots[B, record["epoch"], lr] = copy.deepcopy(model.state_dict())

                model = make_net(settings, mean, std)
                run_records = fit_torch(model, torch.optim.SGD(model.parameters(), lr=lr), study, epochs=grid_epochs[-1],
                                        batch_size=B, seed=settings["seed"], on_epoch=keep, chunk=settings["eval_batch"],
                                        progress=progress, description=f"B={B}, lr={lr}")
                records += [{"batch_size": B, "lr": lr, **record} for record in run_records]
        at = {(r["batch_size"], r["epoch"], r["lr"]): r for r in records}
        grid = [{"batch_size": B, "epochs": E, "lr": lr, **{k: at[B, E, lr][k] for k in CELL_KEYS}}
                for B in settings["batch_sizes"] for E in grid_epochs for lr in settings["lrs"]]
        # The best by validation accuracy; a tie goes to the lower validation loss.
        best = max(grid, key=lambda cell: (cell["eval_accuracy"], -cell["eval_loss"]))
        model = make_net(settings, mean, std)
        model.load_state_dict(snapshots[best["batch_size"], best["epochs"], best["lr"]])
        test_loss, test_accuracy = evaluate(model, test.X_eval, test.y_eval, settings["eval_batch"])
    summary = {
        "grid": grid,
        "best": {**best, "test_loss": test_loss, "test_accuracy": test_accuracy},
        "n_train": len(study.y_train), "n_validation": len(study.y_eval), "n_test": len(test.y_eval),
        "mean": mean, "std": std,
    }
    return Result("pytorch_apis", scale, settings, summary, records, time.perf_counter() - start, study.eval_set)


# ---- the chapter's tables and pairs ----------------------------------------------------


def grid_table(grid):
    """Validation accuracy and training loss of every cell, as a ``pandas.DataFrame``: rows (B, E), columns the learning rate."""
    import pandas as pd  # here: the package does not need pandas to run an experiment

    table = pd.DataFrame(grid).pivot_table(index=["batch_size", "epochs"], columns="lr", values=["eval_accuracy", "train_loss"])
    table = table[["eval_accuracy", "train_loss"]].rename(columns={"eval_accuracy": "validation accuracy", "train_loss": "training loss"})
    table.index.names, table.columns.names = ["B", "E"], ["", "learning rate"]
    return table


def best_table(results):
    """The best cell of each scale's grid and its test accuracy: ``{scale: summary}`` -> a ``pandas.DataFrame``."""
    import pandas as pd

    names = {"batch_size": "B", "epochs": "E", "lr": "learning rate", "steps": "updates", "train_loss": "training loss",
             "eval_accuracy": "validation accuracy", "test_accuracy": "test accuracy"}
    rows = {f"best of the grid ({scale})": {names[k]: summary["best"][k] for k in names} for scale, summary in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def same_time_pairs(grid, lr):
    r"""Pairs of cells at learning rate ``lr`` whose $\eta K$ (K updates) agree to 2 %: (B, E) and (B', E') with E / B = E' / B'."""
    cells = [cell for cell in grid if cell["lr"] == lr]
    return [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :] if abs(a["steps"] - b["steps"]) <= 0.02 * a["steps"]]


# ---- the three styles side by side: weights in the barebones layout ----------------------


def torch_layers(model):
    """The layers with parameters, in order: what a barebones parameter list describes, pair by pair."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


@torch.no_grad()
def copy_into(model, params):
    """Copy barebones (W, b) pairs into the model's layers: nn.Linear stores W transposed (eq. pytorch-apis-linear), nn.Conv2d does not."""
    for layer, W, b in zip(torch_layers(model), params[::2], params[1::2], strict=True):
        layer.weight.copy_(W.T if isinstance(layer, nn.Linear) else W)
        layer.bias.copy_(b)


def as_barebones(model, grad=False):
    """The model's parameters, or with ``grad`` their gradients, in the barebones layout (nn.Linear's weights transposed back)."""
    found = []
    for layer in torch_layers(model):
        W, b = (layer.weight.grad, layer.bias.grad) if grad else (layer.weight.detach(), layer.bias.detach())
        found += [W.T if isinstance(layer, nn.Linear) else W, b]
    return found


def assert_same_function(model_fn, params, models, X, seed=1):
    r"""Assert that the barebones net ``model_fn(X, params)`` and each of ``models`` compute the same function; its scores.

    The biases are set to random values first (zero biases could hide a mistake in them) and
    the parameters copied into every model (:func:`copy_into`). Then each computes the scores S
    of the batch X and sends back the same random upstream gradient $\bar S$ (not ``.sum()``:
    an all-ones $\bar S$ could hide a wrong transpose); scores and parameter gradients, in the
    barebones layout (:func:`as_barebones`), must agree to $10^{-12}$. Use float64.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in params[1::2]:
            b.normal_(0, 0.1, generator=generator)
    for model in models:
        copy_into(model, params)
    S = model_fn(X, params)
    S_bar = torch.randn(S.shape, generator=generator, dtype=S.dtype)
    S.backward(S_bar)
    for model in models:
        S_model = model(X)
        torch.testing.assert_close(S_model, S, rtol=1e-12, atol=1e-12)
        S_model.backward(S_bar)
        for g_model, p in zip(as_barebones(model, grad=True), params, strict=True):
            torch.testing.assert_close(g_model, p.grad, rtol=1e-12, atol=1e-12)
    return S


class TwoLayerFC(nn.Module):
    """Eq. pytorch-apis-two-layer as an ``nn.Module``: ReLU(X W1 + b1) W2 + b2, Kaiming-normal weights and zero biases."""

    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, num_classes)
        for layer in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(layer.weight)  # N(0, 2 / fan-in), as the barebones initial_params
            nn.init.zeros_(layer.bias)

    def forward(self, X):
        return self.fc2(torch.nn.functional.relu(self.fc1(X.flatten(1))))


class ThreeLayerConvNet(nn.Module):
    """Conv 5x5 (pad 2) -> ReLU -> conv 3x3 (pad 1) -> ReLU -> fully connected, as an ``nn.Module``; Kaiming-normal weights, zero biases."""

    def __init__(self, in_channel, channel_1, channel_2, num_classes, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)
        self.fc = nn.Linear(channel_2 * image_size * image_size, num_classes)
        for layer in (self.conv1, self.conv2, self.fc):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, X):
        A1 = torch.nn.functional.relu(self.conv1(X))
        A2 = torch.nn.functional.relu(self.conv2(A1))
        return self.fc(A2.flatten(1))


def convnet_sequential(in_channel, channel_1, channel_2, num_classes, image_size=28):
    """The three-layer convnet of chapter 21 as ``nn.Sequential``: conv 5x5 (pad 2) -> ReLU -> conv 3x3 (pad 1) -> ReLU -> linear."""
    return nn.Sequential(
        nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channel_2 * image_size * image_size, num_classes),
    )


# ---- one SGD step in each style, and the check that they agree -------------------------------


def barebones_sgd_step(model_fn, params, X, y, lr):
    """One SGD step on the mean cross-entropy of the batch (X, y); the loss before the step."""
    loss = torch.nn.functional.cross_entropy(model_fn(X, params), y)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss.item()


def module_sgd_step(model, optimizer, X, y):
    """One step of ``optimizer`` on the mean cross-entropy of the batch (X, y); the loss before the step."""
    loss = torch.nn.functional.cross_entropy(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def assert_same_sgd_steps(model_fn, params, models, batches, lr=0.05):
    """SGD steps on ``batches`` by hand and by torch.optim.SGD, from the same weights, leave the same weights (to 1e-12)."""
    for model in models:
        copy_into(model, params)
    optimizers = [torch.optim.SGD(model.parameters(), lr=lr) for model in models]
    for X, y in batches:
        loss = barebones_sgd_step(model_fn, params, X, y, lr)
        for model, optimizer in zip(models, optimizers):
            assert abs(module_sgd_step(model, optimizer, X, y) - loss) < 1e-12
    for model in models:
        for p_model, p in zip(as_barebones(model), params, strict=True):
            torch.testing.assert_close(p_model, p.detach(), rtol=1e-12, atol=1e-12)


# ---- the chapter's figure ---------------------------------------------------------------------


def eta_k_figure(grids):
    r"""Every cell's final training loss against $\eta K$ (learning rate times updates), one panel per grid of ``{scale: grid}``."""
    from nabla.plotting import points_by, white_figure

    fig, axes = white_figure(ncols=len(grids), figsize=(6 * len(grids), 4.4), squeeze=False)
    for ax, (scale, grid) in zip(axes[0], grids.items()):
        points_by(ax, [{**cell, "eta K": cell["lr"] * cell["steps"]} for cell in grid], "eta K", "train_loss",
                  colour="lr", marker="batch_size", label=lambda lr, B: f"$\\eta = {lr:g}$, $B = {B}$")
        ax.set(xscale="log", xlabel="$\\eta K$: learning rate $\\times$ updates (log scale)",
               ylabel="training loss after the run", title=f"{scale.capitalize()} grid")
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    return fig


def pair_rows(pairs):
    """Pairs of cells with the same $\\eta K$ (:func:`same_time_pairs`) as table rows: the two cells' (B, E), $\\eta K$, losses and their gap."""
    return [{"lr": a["lr"], "(B, E)": (a["batch_size"], a["epochs"]), "(B', E')": (b["batch_size"], b["epochs"]), "eta K": a["lr"] * a["steps"],
             "training loss": a["train_loss"], "training loss'": b["train_loss"], "gap": abs(a["train_loss"] - b["train_loss"])}
            for a, b in pairs]


# ---- the ECE490 notebook's MNIST classifier -----------------------------------------------------

# As the notebook set it up; the sizes of its random_split are cut off in the material, so 55000 / 5000 is ours.
ECE490 = {"sizes": (55000, 5000), "lr": 1e-3, "momentum": 0.9, "batch_size": 64, "epochs": 5, "every": 100}


def train_ece490(mnist, seed, *, sizes=ECE490["sizes"], lr=ECE490["lr"], momentum=ECE490["momentum"],
                 batch_size=ECE490["batch_size"], epochs=ECE490["epochs"], every=ECE490["every"]):
    """The ECE490 notebook's classifier, Flatten -> Linear(784, 10) -> ReLU -> Linear(10, 10), trained as it was.

    ``mnist``: a :class:`nabla.data.Split` of MNIST's training images and its test set, pixels / 255
    (``ToTensor`` only), as arrays or tensors. ``torch.manual_seed(seed)``, then ``random_split`` of
    the training images into ``sizes`` (training, validation), PyTorch's default initialisation,
    SGD with ``momentum``, and :func:`~nabla.experiments._torch.fit_torch` (its batches drawn from
    ``seed`` too). Every ``every`` updates a hook on the optimizer measures the validation
    accuracy, as the notebook meant to. Returns ``{"curve": [(updates, validation accuracy), ...],
    "records": fit_torch's, "test_accuracy": ..., "model": ...}``, the test set touched once, at
    the end. In book/pytorch-apis.md.
    """
    mnist = as_torch(mnist)
    X, y = mnist.X_train, mnist.y_train
    if mnist.eval_set != "test":
        raise ValueError(f"train_ece490: mnist must hold the test set as its evaluation set, got {mnist.eval_set!r}")
    if sum(sizes) != len(y):
        raise ValueError(f"train_ece490: sizes {tuple(sizes)} must add up to the {len(y)} training images")
    torch.manual_seed(seed)
    train_part, validation = torch.utils.data.random_split(range(len(y)), sizes)
    train_rows, validation_rows = list(train_part), list(validation)
    study = Split(X[train_rows], y[train_rows], X[validation_rows], y[validation_rows], "validation")
    model = two_layer_sequential(28 * 28, 10, CLASSES)  # H = 10
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    curve, updates = [], 0

    def watch(optimizer, args, kwargs):
        """After every step: every ``every`` updates, the validation accuracy (the notebook's call, with its NameError fixed)."""
        nonlocal updates
        updates += 1
        if updates % every == 0:
            curve.append((updates, evaluate(model, study.X_eval, study.y_eval)[1]))
            model.train()  # evaluate() leaves eval mode on; fit_torch sets train mode once per epoch

    optimizer.register_step_post_hook(watch)
    records = fit_torch(model, optimizer, study, epochs=epochs, batch_size=batch_size, seed=seed)
    return {"curve": curve, "records": records, "test_accuracy": evaluate(model, mnist.X_eval, mnist.y_eval)[1], "model": model}


def ece490_figure(runs):
    """Validation accuracy against updates, one line per seed of ``{seed: train_ece490(...)}``; the ends of epochs dotted."""
    from nabla.plotting import white_figure

    fig, ax = white_figure(figsize=(6, 3.8))
    for seed, run in runs.items():
        updates, accuracy = zip(*run["curve"])
        ax.plot(updates, accuracy, lw=1.2, label=f"seed {seed}")
    for record in next(iter(runs.values()))["records"][1:-1]:
        ax.axvline(record["steps"], color="0.75", lw=0.8, ls=":")
    ax.set(xlabel="updates", ylabel="validation accuracy", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
