r"""The training loop of Part III: :func:`fit`, with one record per epoch.

The objective is the mean cross-entropy $J(\theta) = \frac1N \sum_i -\log P_{i, y_i}$ (plus
whatever penalty the update rule adds), and one *update* is a step on a minibatch
$\mathcal B$ of B examples, by

* an optimizer of :mod:`nabla.optim` built on ``model.parameters()``: forward pass, loss,
  ``backward()``, ``optimizer.step()``; any model, nabla's autograd;
* or :class:`nabla.fastpath.FusedSGD`: plain SGD with the backward pass derived in the book,
  fused by hand, for the one-hidden-layer ReLU MLP of chapters 14-16, several times faster.

An *epoch* draws its minibatches from a seeded ``numpy.random.Generator`` in one of two ways:

* ``sampling="permutation"``: every example once, in the order of ``rng.permutation(n)``, in
  minibatches of B (the last one smaller if B does not divide n);
* ``sampling="replacement"``: ``round(n / B)`` minibatches of B indices drawn uniformly with
  replacement, ``rng.integers(0, n, size=(round(n / B), B))``: a *pass* of chapters 14-16, which
  sees n examples on average, though not every example.

Before training (epoch 0) and after every epoch, :func:`fit` measures the loss and accuracy on
the whole training set and on the split's evaluation set, in test mode. Every experiment of the
book records these rows (:data:`RECORD_KEYS`). Derived in book/gradient-descent.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from nabla import Tensor, ops, optim
from nabla.data import Split

# The keys of every record fit makes, one record per epoch: epoch 0 is before training; steps
# (updates) and examples (gradient computations) are counted so far; the losses are mean
# cross-entropies and the accuracies fractions right, on the whole training set and on the
# evaluation set (NaN without one); seconds is the wall time so far.
RECORD_KEYS = ("epoch", "steps", "examples", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "seconds")

SAMPLING = ("permutation", "replacement")

# ---- checking what the reader passes in ------------------------------------------------


def check_examples(X, y, name="train", finite=False):
    """``X`` as float64 (n, D) or (n, C, H, W) and ``y`` as int64 (n,) >= 0, or a ValueError/TypeError naming the problem.

    With ``finite``, a NaN or infinite feature is refused too (a pass over X: once per fit, not per epoch).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2:
        raise ValueError(f"{name}: features X must have one row per example, shape (n, D) or (n, C, H, W); got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"{name}: labels y have shape {y.shape} but features X have shape {X.shape}; "
            f"expected y of shape ({len(X)},), one label per row of X"
        )
    if len(X) == 0:
        raise ValueError(f"{name}: the data set is empty")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name}: labels y must be integer class indices, got dtype {y.dtype}")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"{name}: features X must be floating point, got dtype {X.dtype}")
    if y.min() < 0:  # y[i] = -1 would index the last class without a word
        raise ValueError(f"{name}: labels y must be class indices >= 0, got {sorted(set(y[y < 0].tolist()))[:5]}")
    if finite and not np.isfinite(X).all():
        raise ValueError(f"{name}: features X hold {int(np.size(X) - np.isfinite(X).sum())} NaN or infinite values")
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


def check_labels(y, C, name):
    """A ValueError if a label of y is not a class of a model with C outputs, [0, C)."""
    if y.max() >= C:
        raise ValueError(f"{name}: labels y must lie in [0, {C}) for a model with {C} outputs, got {sorted(set(y[y >= C].tolist()))[:5]}")


def check_split(split):
    """The split's arrays, checked: ``X_train, y_train, X_eval, y_eval`` (the last two None without an evaluation set)."""
    if not isinstance(split, Split):
        raise TypeError(
            f"fit: the data must be a nabla.data.Split, got {type(split).__name__}; "
            "build one with nabla.data.split(...) or nabla.data.Split(X_train, y_train, X_eval, y_eval, eval_set)"
        )
    X_train, y_train = check_examples(split.X_train, split.y_train, "train", finite=True)
    if split.X_eval is None:
        return X_train, y_train, None, None
    X_eval, y_eval = check_examples(split.X_eval, split.y_eval, split.eval_set, finite=True)
    if X_eval.shape[1:] != X_train.shape[1:]:
        raise ValueError(f"{split.eval_set}: examples of shape {X_eval.shape[1:]} but training examples of shape {X_train.shape[1:]}")
    return X_train, y_train, X_eval, y_eval


def number_or_type_error(name, value):
    """A TypeError if ``value`` is not a number at all (a string, None, a Generator); a bool passes, for the caller to refuse."""
    if not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def check_lr(lr):
    number_or_type_error("the learning rate lr", lr)
    if isinstance(lr, bool) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a finite number > 0, got lr = {lr!r}")
    return float(lr)


def check_count(name, value, least):
    number_or_type_error(name, value)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_batch_size(batch_size, n):
    number_or_type_error("the batch size B", batch_size)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"the batch size B must be an integer >= 1, got B = {batch_size!r}")
    if batch_size > n:
        raise ValueError(f"the batch size B = {batch_size} is larger than the {n} training examples")
    return int(batch_size)


# ---- loss and accuracy on a whole set --------------------------------------------------


def logits(model, X, chunk=4096):
    """The model's output on every row of X, computed in chunks so memory stays bounded; (n, C)."""
    return np.concatenate([model(Tensor(X[i : i + chunk])).value for i in range(0, len(X), chunk)])


def cross_entropy_and_accuracy(L, y):
    r"""Mean cross-entropy $-\frac1n\sum_i \log P_{i,y_i}$ and accuracy of logits L (n, C) for labels y (n,).

    The log-probabilities are $L - \log\sum_k e^{L_k}$ by the ops' log-sum-exp, which subtracts
    the max first (book/softmax.md), so large logits do not overflow. Non-finite logits give a NaN loss.
    """
    with np.errstate(all="ignore"):
        log_P = L - ops.log_sum_exp(L, axis=1)
        loss = -float(np.mean(log_P[np.arange(len(y)), y]))
    accuracy = float(np.mean(np.argmax(L, axis=1) == y))
    return (loss if math.isfinite(loss) else math.nan), accuracy


def evaluate(model, X, y, name="evaluate"):
    """``(loss, accuracy)`` of ``model`` on the whole set X (n, D), y (n,): mean cross-entropy, fraction right.

    ``name`` names the set in an error: labels must be integers in [0, C) for a model with C outputs.
    """
    X, y = check_examples(X, y, name)
    L = logits(model, X)
    check_labels(y, L.shape[1], name)
    return cross_entropy_and_accuracy(L, y)


# ---- one epoch's minibatches -------------------------------------------------------------


def updates_per_epoch(n, batch_size, sampling="permutation"):
    """``ceil(n / B)`` minibatches per epoch of a permutation; ``round(n / B)`` (at least 1) per pass with replacement."""
    check_batch_size(batch_size, n)
    return -(-n // batch_size) if sampling == "permutation" else max(1, round(n / batch_size))


def minibatches(rng, n, batch_size, sampling):
    """The minibatches of one epoch, as lists of row indices (see the module's docstring for the two samplings)."""
    if sampling == "replacement":
        return rng.integers(0, n, size=(updates_per_epoch(n, batch_size, sampling), batch_size)).tolist()
    order = rng.permutation(n).tolist()
    return [order[begin : begin + batch_size] for begin in range(0, n, batch_size)]


def autograd_updates(model, optimizer, X, y):
    """``update(batch)`` for an optimizer of :mod:`nabla.optim`: one step by autograd on the rows ``batch``; returns the batch's loss.

    The loss is measured before the update; a non-finite loss makes no update.
    """

    def update(batch):
        optimizer.zero_grad()
        loss = ops.cross_entropy(model(Tensor(X[batch])), y[batch])
        value = loss.item()
        if math.isfinite(value):
            loss.backward()
            optimizer.step()
        return value

    return update


# ---- training, epoch by epoch ------------------------------------------------------------


@dataclass
class Run:
    """What :func:`fit` returns.

    ``records``: one dict per epoch with the keys :data:`RECORD_KEYS`. ``eval_set``: what the
    ``eval_*`` columns measure, ``"validation"`` or ``"test"`` (None without an evaluation set).
    ``minibatch_losses``: the loss of every minibatch, in train mode, before its update (empty
    for an update rule that computes none, as the fused step). ``diverged``: whether training
    stopped on a non-finite loss.
    """

    records: list = field(default_factory=list)
    eval_set: str | None = None
    minibatch_losses: list = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0

    @property
    def interpolation(self):
        """The first epoch with 100 % training accuracy, or None (:func:`interpolation_epoch`)."""
        return interpolation_epoch(self.records)

    def minibatch_loss_per_epoch(self):
        """The mean train-mode loss of each epoch's minibatches, one per record (None for epoch 0, or without minibatch losses)."""
        means, previous = [], 0
        for record in self.records:
            losses = self.minibatch_losses[previous : record["steps"]]
            means.append(float(np.mean(losses)) if record["epoch"] > 0 and losses else None)
            previous = record["steps"]
        return means


def interpolation_epoch(records):
    """The first epoch (>= 1) whose training accuracy is 100 %, or None if there is none."""
    return next((r["epoch"] for r in records if r["epoch"] >= 1 and r["train_accuracy"] == 1.0), None)


def fit(model, optimizer, split, *, epochs, batch_size=32, sampling="permutation", seed=0, progress=False,
        description=None):
    r"""Train ``model`` for ``epochs`` epochs on ``split``, minibatch by minibatch; a :class:`Run`.

    ``optimizer``: an optimizer of :mod:`nabla.optim` built on ``model.parameters()`` (each
    minibatch: ``zero_grad()``, the loss $\frac1B\sum_{i\in\mathcal B} -\log P_{i,y_i}$,
    ``backward()``, ``step()``; any penalty is the optimizer's ``weight_decay``), or an update
    rule with an ``updates(model, X, y)`` method, as :class:`nabla.fastpath.FusedSGD`.
    ``split``: a :class:`nabla.data.Split`; training uses its training part, the records its
    evaluation part (if any). Each epoch's minibatches of ``batch_size`` come from
    ``np.random.default_rng(seed)`` by ``sampling`` (:func:`minibatches`): the same seed, the
    same minibatches.

    The model trains in train mode (dropout on, batch norm on batch statistics) and is measured
    before training and after every epoch, on the whole training and evaluation sets, in test
    mode; it is left in train mode. The updates run on one BLAS thread (their matrices are too
    small to share), the measurements on all. Training stops, with ``diverged=True``, at the first
    non-finite loss: a minibatch's (that minibatch makes no update) or the training set's after
    an epoch. ``progress`` shows a tqdm bar (keep it False in the book).

    Shapes: X (n, D) float, y (n,) int, or images (n, C, H, W) for a convolutional model.
    """
    if not (callable(model) and hasattr(model, "train") and hasattr(model, "eval")):
        raise TypeError(f"fit: model must be a nabla.nn.Module (callable, with train() and eval()), got {type(model).__name__}")
    X_train, y_train, X_eval, y_eval = check_split(split)
    n = len(X_train)
    batch_size = check_batch_size(batch_size, n)
    epochs, seed = check_count("epochs", epochs, 0), check_count("fit: seed", seed, 0)
    if sampling not in SAMPLING:
        raise ValueError(f"fit: sampling must be 'permutation' or 'replacement', got {sampling!r}")
    if isinstance(optimizer, optim.Optimizer):
        if not {id(p) for p in optimizer.params} & {id(p) for p in model.parameters()}:  # it would train nothing
            raise ValueError("fit: the optimizer holds none of the model's parameters; build it on model.parameters()")
        update = autograd_updates(model, optimizer, X_train, y_train)
    elif hasattr(optimizer, "updates"):
        update = optimizer.updates(model, X_train, y_train)
    else:
        raise TypeError(f"fit: optimizer must be an optimizer of nabla.optim or have an updates() method, got {optimizer!r}")
    rng = np.random.default_rng(seed)
    run = Run(eval_set=split.eval_set if X_eval is not None else None)
    steps = examples = 0
    start = time.perf_counter()

    def record(epoch):
        model.eval()
        train_loss, train_accuracy = evaluate(model, X_train, y_train, "train")
        eval_loss, eval_accuracy = evaluate(model, X_eval, y_eval, run.eval_set) if X_eval is not None else (math.nan, math.nan)
        model.train()
        run.records.append(dict(zip(RECORD_KEYS, (epoch, steps, examples, train_loss, train_accuracy, eval_loss,
                                                  eval_accuracy, time.perf_counter() - start))))
        return train_loss

    from tqdm import tqdm  # here: a reader who never trains need not import it (tqdm.auto would warn in a kernel without ipywidgets)

    model.train()
    record(0)
    # Overflow on the way to a diverged loss is expected, and reported by `diverged`, not by warnings.
    with np.errstate(all="ignore"), tqdm(
        range(1, epochs + 1), desc=description, unit="epoch", disable=not progress, leave=False
    ) as bar:
        for epoch in bar:
            # One BLAS thread for the updates: a step at B = 1 is a few small BLAS calls, which two
            # threads barely speed up on an idle machine and slow down many times over when
            # another process holds a core (measured here: 0.14 ms -> 1.7 ms at width 512).
            with threadpool_limits(limits=1, user_api="blas"):
                for batch in minibatches(rng, n, batch_size, sampling):
                    loss = update(batch)
                    steps, examples = steps + 1, examples + len(batch)
                    if loss is not None:
                        run.minibatch_losses.append(loss)
                        if not math.isfinite(loss):
                            run.diverged = True
                            break
            train_loss = record(epoch)
            bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{run.records[-1]['train_accuracy']:.4f}")
            run.diverged = run.diverged or not math.isfinite(train_loss)
            if run.diverged:
                break
    run.seconds = time.perf_counter() - start
    return run
