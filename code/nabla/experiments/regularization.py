r"""Regularisation: dropout and L2 weight decay on a network that overfits (chapter 19, book/regularisation.md).

A ReLU MLP with two hidden layers of 256 units (784 -> 256 -> 256 -> 10, Glorot initialisation)
is trained by :func:`nabla.train.fit` with plain minibatch SGD (B = 32) on a small seeded subset
of FashionMNIST's training set, and measured after every epoch on that subset and on a seeded
validation split held out of the same training set (the test set is never touched). The
network has far more parameters than there are training images, so without regularisation its
training accuracy reaches 100 % while the validation accuracy stalls: it overfits. Two
regularisers, each on its own, one run per strength:

* **dropout** after each hidden ReLU (:class:`nabla.nn.Dropout`), for each *keep probability*
  $q$ in ``keeps``. The layer's ``p`` is the probability of *dropping* a unit, so it is built
  with ``p = 1 - q``; $q = 1$ means no dropout layer at all;
* **L2 weight decay**: ``nabla.optim.SGD(..., weight_decay=lam)`` for each $\lambda$ in
  ``weight_decays``, which adds $\lambda\theta$ to the gradient of *every* parameter (biases
  included): the gradient of $\frac\lambda2\sum_\theta\lVert\theta\rVert^2$.

The run with $q = 1$ and $\lambda = 0$ is the unregularised baseline; it belongs to both series
and is trained once. Within a repeat every run starts from the same weights and sees the same
minibatches; the dropout masks come from their own generator. ``repeats`` > 1 trains everything
again from other initial weights, minibatch orders and masks (on the same data split), to show
how much of a difference between two runs is the draw.

``full``: 2000 training and 2000 validation images, 50 epochs, six keep probabilities and a
log grid of seven weight decays, three repeats. ``budget``: 1000 and 500 images, 25 epochs, four
keep probabilities and five weight decays, one repeat, so that the chapter runs in well under a
minute. ``passes`` is the number of epochs (the command line's ``--passes``).
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import data as datasets
from nabla import nn, ops, optim, train
from nabla.experiments import CLASSES, settings_for

COMMON = {"dataset": "fashion_mnist", "hidden": [256, 256], "batch_size": 32, "lr": 0.05, "last": 5}

SCALES = {
    "full": {
        **COMMON, "train_size": 2000, "val_size": 2000, "passes": 50, "repeats": 3,
        "keeps": [1.0, 0.9, 0.8, 0.65, 0.5, 0.3], "weight_decays": [0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "seed": 0,
    },
    "budget": {
        **COMMON, "train_size": 1000, "val_size": 500, "passes": 25, "repeats": 1,
        "keeps": [1.0, 0.8, 0.5, 0.3], "weight_decays": [0.0, 1e-3, 1e-2, 3e-2, 1e-1], "seed": 0,
    },
    "smoke": {
        **COMMON, "hidden": [32], "train_size": 100, "val_size": 50, "passes": 2, "repeats": 1, "last": 1,
        "keeps": [1.0, 0.5], "weight_decays": [0.0, 1e-2], "seed": 0,
    },
}


class DropoutMLP(nn.Module):
    r"""Linear layers with ReLU and dropout between them: $A_k = \mathrm{dropout}_q(\max(A_{k-1}W_k + b_k, 0))$.

    ``sizes`` as for :class:`nabla.nn.MLP`, e.g. ``[784, 256, 256, 10]``; dropout with keep
    probability ``keep`` (drop probability ``p = 1 - keep``) follows every hidden layer, not the
    input and not the logits. With ``keep = 1`` there are no dropout layers, and the network is
    exactly ``nn.MLP(sizes, rng=init_rng)``: the same weights from the same generator.
    ``init_rng`` draws the weights, ``mask_rng`` the dropout masks, so that the keep probability
    does not change the initial weights.
    """

    def __init__(self, sizes, keep, init_rng, mask_rng):
        if not 0 < keep <= 1:
            raise ValueError(f"DropoutMLP: the keep probability must lie in (0, 1], got keep = {keep}")
        self.keep = keep
        self.layers = nn.MLP(sizes, activation=ops.relu, rng=init_rng).layers
        self.dropouts = [nn.Dropout(p=1 - keep, rng=mask_rng) for _ in sizes[1:-1]] if keep < 1 else []

    def forward(self, X):
        for k, layer in enumerate(self.layers[:-1]):
            X = ops.relu(layer(X))
            if self.dropouts:
                X = self.dropouts[k](X)
        return self.layers[-1](X)


def weight_norm(model):
    r"""$\sqrt{\sum_W \lVert W\rVert_F^2}$ over the weight matrices (not the biases), as a float."""
    return float(np.sqrt(sum(np.sum(W.value * W.value) for W in train.weights(model))))


class NormRecordingSGD(optim.SGD):
    """``optim.SGD`` that also records the model's :func:`weight_norm` after every step.

    ``norms[k]`` is the norm after k steps (``norms[0]`` before training), so a record of
    :func:`nabla.train.fit` with ``steps = k`` pairs with ``norms[k]``. The update is SGD's.
    """

    def __init__(self, model, **kwargs):
        super().__init__(model.parameters(), **kwargs)
        self.model = model
        self.norms = [weight_norm(model)]

    def step(self):
        super().step()
        self.norms.append(weight_norm(self.model))


def center_and_scale(train_images, val_images):
    r"""Both sets as rows of 784 pixels $(x_j - \mu_j) / s$: centred per pixel, scaled by one number.

    $\mu_j$ is pixel $j$'s mean over the *training* images, and $s$ the standard deviation of all
    the centred training pixels together, $s^2 = \frac1{784}\sum_j \sigma_j^2$. Per-pixel
    centring removes the mean image, which would otherwise be one large common direction in every
    input; one scale for all pixels (instead of :func:`nabla.data.flatten_and_standardize`'s
    $\sigma_j$ per pixel) keeps every feature bounded: on a couple of thousand images, a corner pixel
    can be dark in every training image ($\sigma_j = 0$), and a validation image in which it is lit
    would get a feature of about $10^7$, and a loss to match.
    """
    X_train = np.asarray(train_images, dtype=np.float64).reshape(len(train_images), -1)
    X_val = np.asarray(val_images, dtype=np.float64).reshape(len(val_images), -1)
    mu = X_train.mean(axis=0)
    s = np.sqrt(np.mean((X_train - mu) ** 2))
    return (X_train - mu) / s, (X_val - mu) / s


def load_split(settings, root=None):
    """``X_train, y_train, X_val, y_val``: disjoint seeded random subsets of FashionMNIST's training set.

    ``train_size + val_size`` images are drawn without replacement from the 60000 with
    ``np.random.default_rng(seed)``; the first ``train_size`` train, the rest validate. Both are
    flattened, centred and scaled with the statistics of the *training* images only
    (:func:`center_and_scale`). The test set is not loaded.
    """
    if settings["dataset"] != "fashion_mnist":
        raise ValueError(f"regularization: the data set is FashionMNIST, got {settings['dataset']!r}")
    images, labels = datasets.load_fashion_mnist(train=True, root=root)
    n_train, n_val = settings["train_size"], settings["val_size"]
    rows = np.random.default_rng(settings["seed"]).choice(len(images), n_train + n_val, replace=False)
    train_rows, val_rows = rows[:n_train], rows[n_train:]
    X_train, X_val = center_and_scale(images[train_rows], images[val_rows])
    return X_train, labels[train_rows], X_val, labels[val_rows]


def repeat_seeds(seed, repeat):
    """``(init_rng, mask_rng, fit_seed)`` of one repeat: independent streams, all derived from ``seed``."""
    init_seq, mask_seq, fit_seq = np.random.SeedSequence([seed, repeat]).spawn(3)
    return np.random.default_rng(init_seq), np.random.default_rng(mask_seq), int(fit_seq.generate_state(1)[0])


def train_one(settings, keep, weight_decay, repeat, data, progress, description):
    """One run of :func:`nabla.train.fit`; its per-epoch records, with keep, weight_decay, repeat, weight_norm and minibatch_loss."""
    X_train, y_train, X_val, y_val = data
    init_rng, mask_rng, fit_seed = repeat_seeds(settings["seed"], repeat)
    model = DropoutMLP([X_train.shape[1], *settings["hidden"], CLASSES], keep, init_rng, mask_rng)
    optimizer = NormRecordingSGD(model, lr=settings["lr"], weight_decay=weight_decay)
    run = train.fit(
        model, optimizer, X_train, y_train, X_val, y_val, epochs=settings["passes"],
        batch_size=settings["batch_size"], seed=fit_seed, progress=progress, description=description,
    )
    if run.diverged:
        raise RuntimeError(f"regularization: the run with keep {keep} and weight decay {weight_decay} diverged")
    records, previous = [], 0
    for record in run.records:
        steps = record["steps"]
        # The mean loss of the epoch's minibatches, in *train* mode (dropout on), each before its update.
        batch_losses = run.minibatch_losses[previous:steps]
        previous = steps
        records.append({
            "keep": keep, "weight_decay": weight_decay, "repeat": repeat, **record,
            "minibatch_loss": float(np.mean(batch_losses)) if batch_losses else float("nan"),
            "weight_norm": optimizer.norms[steps],
        })
    return records


FINAL_KEYS = ("train_accuracy", "val_accuracy", "gap", "train_loss", "val_loss", "weight_norm")


def final(records, last):
    """One run's means over its last ``last`` epochs: accuracies, their gap, losses, weight norm."""
    tail = records[-last:]
    means = {key: float(np.mean([r[key] for r in tail])) for key in FINAL_KEYS if key != "gap"}
    means["gap"] = means["train_accuracy"] - means["val_accuracy"]
    return means


def over_repeats(finals):
    """The mean over repeats of each of :func:`final`'s numbers, and the lowest and highest of the accuracies and gap."""
    summary = {key: float(np.mean([f[key] for f in finals])) for key in FINAL_KEYS}
    for key in ("val_accuracy", "gap"):
        summary[f"{key}_min"] = min(f[key] for f in finals)
        summary[f"{key}_max"] = max(f[key] for f in finals)
    return summary


def run(scale="budget", progress=False, root=None, data=None, **overrides):
    r"""Train the baseline, every keep probability and every weight decay; a dict with ``records``, ``summary``, ``settings``.

    ``records``: one dict per run, repeat and epoch (epoch 0 before training):
    :func:`nabla.train.fit`'s keys (``epoch``, ``steps``, ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``, ``seconds``; measured in test mode) plus ``keep``,
    ``weight_decay``, ``repeat``, ``weight_norm`` (of the weight matrices, after that epoch) and
    ``minibatch_loss`` (the epoch's mean minibatch loss, in train mode). The dropout series is the
    runs with ``weight_decay == 0``, the weight decay series those with ``keep == 1``; the
    baseline is in both. ``summary``: ``{"dropout": {keep: ...}, "weight_decay": {lam: ...}}``
    (string keys), each the means over the last ``last`` epochs (:func:`final`) averaged over
    repeats, with the range over repeats (:func:`over_repeats`). ``data`` = (X_train, y_train,
    X_val, y_val) skips loading FashionMNIST; ``root`` is the data root; ``overrides`` replace
    settings (e.g. ``passes=5``).
    """
    settings = settings_for(SCALES, scale, overrides)
    start = time.perf_counter()
    data = data if data is not None else load_split(settings, root)
    runs = [(keep, 0.0) for keep in settings["keeps"]]
    runs += [(1.0, lam) for lam in settings["weight_decays"] if (1.0, lam) not in runs]
    records, finals = [], {run: [] for run in runs}
    # Minibatches of 32 make small matrix products, which one BLAS thread does faster than two
    # threads handing work to each other (and much faster when another process holds a core).
    with threadpool_limits(limits=1, user_api="blas"):
        for repeat in range(settings["repeats"]):
            for keep, lam in runs:
                description = f"repeat {repeat}, keep {keep:g}, weight decay {lam:g}"
                rows = train_one(settings, keep, lam, repeat, data, progress, description)
                finals[keep, lam].append(final(rows, settings["last"]))
                records += rows
    summary = {
        "dropout": {str(keep): over_repeats(finals[keep, 0.0]) for keep in settings["keeps"]},
        "weight_decay": {str(lam): over_repeats(finals[1.0, lam]) for lam in settings["weight_decays"]},
    }
    return {"experiment": "regularization", "scale": scale, "settings": settings, "summary": summary,
            "records": records, "seconds": time.perf_counter() - start}
