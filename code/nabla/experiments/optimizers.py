r"""Six optimizers training one network (chapter 17, book/optimizers.md), and the learning-rate sweep behind their settings.

The MLP 784 -> 64 -> 10 (ReLU, Glorot initialisation from ``np.random.default_rng(seed)``),
trained with mean cross-entropy on minibatches of 32 by :func:`nabla.train.fit` (epochs of a
permutation drawn from ``np.random.default_rng(seed + 1)``), once with each of SGD, momentum,
Nesterov, AdaGrad, RMSProp and Adam. Runs with the same seed start from the same weights and
see the same minibatches: the optimizer is the only difference. After every epoch: loss and
accuracy on the training subset and on the test set; at the end, the test accuracy of every class.

``full``: each optimizer at its rate of :data:`CONFIGURATIONS`, on 25 % of FashionMNIST
(15 000 images), 20 epochs, seeds 0 to 4, the whole test set (the chapter's build runs the
same on its 5 %, for 5 epochs). ``budget``: the sweep those rates come from, every optimizer
at every rate of ``learning_rates``, on the chapter's 5 % (3000 images, ``seed`` 0) for one
epoch; the best rate is the one with the lowest training loss after it (the test set plays no
part). It takes seconds: ``python -m nabla.experiments optimizers --scale budget`` writes
``results/optimizers-budget.csv``. The steps run on one BLAS thread, as in the chapter: a
minibatch of 32 against a 784 x 64 matrix is too small for two threads to share.
"""

from __future__ import annotations

import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import cross_entropy, nn, optim, train
from nabla.engine import Tensor
from nabla.experiments._optimizers_figures import (  # noqa: F401 - the chapter's figures, re-exported
    bias_correction_figure,
    conventions_figure,
    epoch_curves,
    minibatch_loss_figure,
    paths_figure,
    per_class_bars,
    recovery_figure,
    steps_figure,
)
from nabla.experiments._results import RESULTS_DIR, Result, load_results
from nabla.experiments._settings import CLASSES, settings_for
from nabla.experiments.width import load

# Each optimizer's best learning rate of the sweep (the ``budget`` scale; book/optimizers.md,
# "Six optimizers training one network"), and its other settings.
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
    "budget": {**COMMON, "fraction": 0.05, "test_size": 2000, "epochs": 1, "seeds": [0], "seed": 0,
               "learning_rates": [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3]},
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
    """Train every optimizer from every seed (at every rate of ``learning_rates``, where the scale has them); a :class:`~nabla.experiments.Result`.

    ``records``: one dict per optimizer, rate, seed and epoch: ``optimizer``, ``seed``, ``lr``
    and the keys of :data:`nabla.train.RECORD_KEYS`, where ``eval_*`` is measured on the test
    set. ``summary`` of the comparison: ``eval_accuracy`` {optimizer: [final accuracy per seed]}
    and ``per_class`` {optimizer: [[accuracy of class c for c in 0..9] per seed]}; of the sweep
    (``learning_rates``): ``train_loss`` {optimizer: [final training loss, mean over seeds, per
    rate]} (inf where a run diverged) and ``best_lr`` {optimizer: the rate of the lowest}.
    ``split`` skips loading FashionMNIST. ``overrides`` replace settings (``epochs=2``).
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    # The data subset is drawn with `seed`; the runs' initialisations and orders with `seeds`.
    split = split if split is not None else load(settings, root)
    sweep = settings.get("learning_rates")
    records, accuracy, per_class, train_loss = [], {}, {}, {}
    for name, (_, kwargs) in CONFIGURATIONS.items():
        for lr in sweep or [kwargs["lr"]]:
            losses = []
            for seed in settings["seeds"]:
                with threadpool_limits(limits=1, user_api="blas"):
                    model, fit = train_one(name, split, settings["width"], settings["epochs"], settings["batch_size"], seed, progress, lr=lr)
                records += [{"optimizer": name, "seed": seed, "lr": lr, **r} for r in fit.records]
                loss = fit.records[-1]["train_loss"]
                losses.append(loss if math.isfinite(loss) and not fit.diverged else math.inf)
                if not sweep:
                    accuracy.setdefault(name, []).append(fit.records[-1]["eval_accuracy"])
                    per_class.setdefault(name, []).append(per_class_accuracy(model, split.X_eval, split.y_eval))
            train_loss.setdefault(name, []).append(float(np.mean(losses)))
    if sweep:
        best = {name: sweep[int(np.argmin(losses))] for name, losses in train_loss.items()}
        summary = {"learning_rates": sweep, "train_loss": train_loss, "best_lr": best}
    else:
        summary = {"eval_accuracy": accuracy, "per_class": per_class}
    return Result("optimizers", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


def sweep_results():
    """The sweep of ``results/optimizers-budget.csv`` (see :func:`run`): a :class:`Result` whose ``header`` holds its provenance."""
    header, records = load_results(RESULTS_DIR / "optimizers-budget.csv")
    if header.get("settings") != SCALES["budget"] or header.get("command") != "python -m nabla.experiments optimizers --scale budget":
        raise ValueError("results/optimizers-budget.csv was not written by `python -m nabla.experiments optimizers --scale budget` "
                         "with today's settings; run it again")
    return Result("optimizers", "budget", header["settings"], header["summary"], records, header["wall_time_s"],
                  header.get("eval_set"), header)


# ---- what the chapter shows --------------------------------------------------------------------

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def logistic_problem(seed=0, examples=40, features=5):
    """A small smooth loss to test update rules on: ``grad(theta, rows=None)``, the gradient of the mean logistic loss of the examples (of ``rows`` of them, a minibatch)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples, features))
    y = (X @ rng.standard_normal(features) + 0.5 * rng.standard_normal(examples) > 0).astype(float)

    def grad(theta, rows=None):
        X_rows, y_rows = (X, y) if rows is None else (X[rows], y[rows])
        return X_rows.T @ (1 / (1 + np.exp(-X_rows @ theta)) - y_rows) / len(y_rows)

    return grad


def iterates(optimizer_class, grad, theta_0, steps, **kwargs):
    """The iterates theta_0, ..., theta_steps of a nabla optimizer on a function whose gradient is ``grad``, an array (steps + 1, d).

    The gradient is written into ``.grad`` by hand, as ``backward()`` would, so that any
    function with a known gradient can be minimised without building a graph.
    """
    theta = Tensor(np.array(theta_0, dtype=np.float64))
    optimizer = optimizer_class([theta], **kwargs)
    path = [theta.value.copy()]
    for _ in range(steps):
        theta.grad = grad(theta.value)
        optimizer.step()
        path.append(theta.value.copy())
    return np.array(path)


def momentum_path(grad, theta_0, learning_rates, mu):
    """``nabla.optim.SGD`` with momentum ``mu``, its ``lr`` set to ``learning_rates[t - 1]`` before step t as a scheduler would: the iterates and the velocities v_t (v_0 = 0)."""
    theta = Tensor(np.array(theta_0, dtype=np.float64))
    optimizer = optim.SGD([theta], lr=learning_rates[0], momentum=mu)
    path, velocities = [theta.value.copy()], [np.zeros_like(theta.value)]
    for lr in learning_rates:
        optimizer.lr = lr
        theta.grad = grad(theta.value)
        optimizer.step()
        path.append(theta.value.copy())
        velocities.append(optimizer.state[theta]["momentum_buffer"].copy())
    return np.array(path), np.array(velocities)


def effective_learning_rates(optimizer_class, gradients, lr):
    r"""Feed a one-entry parameter ``gradients`` one by one; after each step, $\eta / (\sqrt{s_t} + \epsilon)$ from the optimizer's state (AdaGrad's ``sum``, RMSProp's ``square_avg``)."""
    theta = Tensor(np.zeros(1))
    optimizer = optimizer_class([theta], lr=lr)
    accumulator = {optim.Adagrad: "sum", optim.RMSprop: "square_avg"}[optimizer_class]
    rates = []
    for g in gradients:
        theta.grad = np.array([g])
        optimizer.step()
        rates.append((lr / (np.sqrt(optimizer.state[theta][accumulator]) + optimizer.eps)).item())
    return np.array(rates)


def adam_first_update(X, y, bias_correction, lr=1e-3, width=64, seed=0):
    """Adam's first update of every parameter of a seeded MLP on the minibatch ``X, y``, and the gradient it was made from, both flattened."""
    model = nn.MLP([X.shape[1], width, CLASSES], rng=np.random.default_rng(seed))
    adam = optim.Adam(model.parameters(), lr=lr, bias_correction=bias_correction)
    before = [p.value.copy() for p in model.parameters()]
    cross_entropy(model(Tensor(X)), y).backward()
    gradients = np.concatenate([p.grad.ravel() for p in model.parameters()])
    adam.step()
    return np.concatenate([(p.value - b).ravel() for p, b in zip(model.parameters(), before)]), gradients


def first_steps(optimizer_class, X, y, scale, steps=10, batch_size=32, **kwargs):
    """How far ``steps`` steps of ``optimizer_class`` on ``scale`` times the loss move a seeded MLP's parameters, flattened (minibatches in order)."""
    model = nn.MLP([X.shape[1], 64, CLASSES], rng=np.random.default_rng(0))
    optimizer = optimizer_class(model.parameters(), **kwargs)
    start = np.concatenate([p.value.ravel() for p in model.parameters()])
    for k in range(steps):
        batch = slice(batch_size * k, batch_size * (k + 1))
        optimizer.zero_grad()
        (scale * cross_entropy(model(Tensor(X[batch])), y[batch])).backward()
        optimizer.step()
    return np.concatenate([p.value.ravel() for p in model.parameters()]) - start


def steps_from_zero(name, kwargs, gradients):
    """``nabla.optim`` and ``torch.optim`` optimizers ``name(**kwargs)`` fed ``gradients`` from theta = 0: both final thetas."""
    import torch

    ours, theirs = Tensor(np.zeros_like(gradients[0])), torch.zeros(len(gradients[0]), dtype=torch.float64, requires_grad=True)
    our_optimizer, their_optimizer = getattr(optim, name)([ours], **kwargs), getattr(torch.optim, name)([theirs], **kwargs)
    for g in gradients:
        ours.grad, theirs.grad = g.copy(), torch.from_numpy(g.copy())
        our_optimizer.step()
        their_optimizer.step()
    return ours.value, theirs.detach().numpy()


def summary_table(frame):
    """Per optimizer over the seeds of the records ``frame``: the final test accuracy (mean, lowest, highest), the lowest and final test loss, the final training loss (means)."""
    import pandas as pd

    last = frame["epoch"].max()
    end = frame[frame["epoch"] == last]
    accuracy = end.pivot(index="optimizer", columns="seed", values="eval_accuracy")
    seeds = accuracy.shape[1]
    return pd.DataFrame({
        f"test accuracy, mean of {seeds} seeds": accuracy.mean(axis=1),
        f"lowest of {seeds} seeds": accuracy.min(axis=1),
        f"highest of {seeds} seeds": accuracy.max(axis=1),
        "lowest test loss (mean)": frame.groupby(["optimizer", "seed"])["eval_loss"].min().groupby("optimizer").mean(),
        f"test loss at epoch {last} (mean)": end.groupby("optimizer")["eval_loss"].mean(),
        f"training loss at epoch {last} (mean)": end.groupby("optimizer")["train_loss"].mean(),
    }).loc[list(CONFIGURATIONS)]


def per_class_frame(summary):
    """The test accuracy of each class (rows) for each optimizer (columns), mean over the seeds of a comparison's ``summary``."""
    import pandas as pd

    return pd.DataFrame({name: np.mean(runs, axis=0) for name, runs in summary["per_class"].items()}, index=CLASS_NAMES)


# The settings the chapter runs next to torch.optim: non-default options wherever a rule has them.
TORCH_CHECKS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
]


def against_torch(settings, steps=25, seed=4):
    """Run each ``(name, kwargs)`` of ``settings`` with nabla.optim and torch.optim side by side; a row per setting.

    On a small tanh network with a cross-entropy loss, float64, from the same start: after every
    one of ``steps`` steps all parameters must agree to 1e-12, at the end so must the state the
    two keep (the same names, the same values), and the weights must have moved (an
    AssertionError names the setting otherwise). Returns the names of the state, the largest
    difference and how far the weights moved, per setting.
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
        # The state each keeps: the same names, parameter by parameter, and the same values.
        our_state, their_state = our_optimizer.state_dict()["state"], their_optimizer.state_dict()["state"]
        assert {i: set(s) for i, s in our_state.items()} == {i: set(s) for i, s in their_state.items()}, (name, kwargs)
        for i, state in their_state.items():
            for key, value in state.items():
                assert np.allclose(our_state[i][key], value.numpy(), rtol=1e-12, atol=1e-12), (name, kwargs, key)
        rows.append({"optimizer": name, "options": ", ".join(f"{k}={v}" for k, v in kwargs.items()),
                     "state (per parameter)": ", ".join(our_state[0]) if our_state else "none",
                     f"largest |nabla - torch| over {steps} steps": f"{worst:.1e}", f"largest |W_{steps} - W_0|": f"{moved:.3f}"})
    return rows
