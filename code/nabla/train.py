r"""The training harness of Part III: SGD on the empirical risk, recorded pass by pass.

The objective is the mean cross-entropy plus an L2 penalty on the weights (not the biases),

$$ J(\theta) = \frac1N \sum_{i=1}^N -\log P_{i, y_i} + \frac{\lambda}{2} \sum_{W} \lVert W \rVert^2 , $$

and one *update* is $\theta \leftarrow \theta - \eta \nabla J_{\mathcal B}(\theta)$ on a batch
$\mathcal B$ of B indices drawn uniformly **with replacement** from the n training examples by a
seeded ``numpy.random.Generator``. One *pass* makes ``round(n / B)`` updates (n updates for
per-example SGD, B = 1), so every pass sees n examples on average, though not every example.
After every pass the harness measures the loss and accuracy on the whole training and test sets.

Two paths compute the same updates:

* :func:`autograd_step` trains any nabla model with nabla's autograd: build the graph, call
  ``backward()``, update every parameter in place. Slow and general.
* :func:`fast_step` (any B) and :func:`per_example_stepper` (B = 1, several times faster) train
  a one-hidden-layer ReLU MLP (D -> H -> C) with the backward pass derived in the book, fused by
  hand in numpy, the weights updated in place by BLAS (``scipy.linalg.blas``): no graph, no
  temporaries the size of $W_1$. tests/test_train.py checks it against nabla's autograd and
  torch's, in float64, to 1e-10 over 100 updates; benchmarks/fast_path.py times it.

:func:`train` picks the fast path whenever it applies. :func:`find_divergent_lr` finds the
divergent learning rate $\eta^*$ of chapter 14 (book/divergent-lr.md) with the criterion of
:func:`diverged`. The experiments of chapters 14-16 (``nabla.experiments``) are built from these.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg.blas import dgemm, dger
from threadpoolctl import threadpool_limits

from nabla import nn, ops
from nabla.engine import Tensor

# ---- checking what the reader passes in ------------------------------------------------


def check_data(X, y, name="train"):
    """``X`` as float64 (n, D) and ``y`` as int64 (n,), or a ValueError/TypeError naming the problem."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{name}: features X must have shape (n, D), got shape {X.shape}")
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
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


def check_lr(lr):
    if not (isinstance(lr, (int, float, np.floating, np.integer)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a finite number > 0, got lr = {lr!r}")
    return float(lr)


def check_batch_size(batch_size, n):
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"the batch size B must be an integer >= 1, got B = {batch_size!r}")
    if batch_size > n:
        raise ValueError(f"the batch size B = {batch_size} is larger than the {n} training examples")
    return int(batch_size)


# ---- models and their initialisation ---------------------------------------------------


def init_mlp(sizes, init="glorot", seed=0, scale=1e-6):
    r"""A ReLU ``nn.MLP`` with layer sizes ``sizes``, e.g. ``[784, 16, 10]``, initialised by ``init``.

    * ``"glorot"``: nn.Linear's own, $W_{ij} \sim U(-a, a)$ with $a = \sqrt{6/(D+M)}$, b = 0.
    * ``"tiny"``: $W_{ij} = s\, z_{ij}$ with $z_{ij} \sim N(0, 1)$ and $s$ = ``scale`` = 1e-6,
      b = 0: the width experiment's start, a network that computes (nearly) the zero function.

    Seeded: the same ``seed`` gives the same network.
    """
    if init not in ("glorot", "tiny"):
        raise ValueError(f"init_mlp: init must be 'glorot' or 'tiny', got {init!r}")
    rng = np.random.default_rng(seed)
    model = nn.MLP(list(sizes), activation=ops.relu, rng=rng)
    if init == "tiny":
        for layer in model.layers:
            layer.W.value[...] = scale * rng.standard_normal(layer.W.shape)
            layer.b.value[...] = 0.0
    return model


def weights(model):
    """The parameters the L2 penalty acts on: the matrices (ndim >= 2), not the bias vectors."""
    return [p for p in model.parameters() if p.ndim >= 2]


def penalty(model, reg):
    r"""$\frac{\lambda}{2} \sum_W \lVert W\rVert^2$ over the weight matrices, as a float."""
    if reg == 0:
        return 0.0
    return 0.5 * reg * sum(float(np.sum(W.value * W.value)) for W in weights(model))


def is_fast_mlp(model):
    """True if ``model`` is a one-hidden-layer ReLU ``nn.MLP``, the network :func:`fast_step` trains."""
    return isinstance(model, nn.MLP) and len(model.layers) == 2 and model.activation is ops.relu


# ---- the sampling of one pass ----------------------------------------------------------


def updates_per_pass(n, batch_size=1):
    """``round(n / B)`` (at least 1): the number of updates that see n examples on average."""
    return max(1, round(n / batch_size))


def sample_pass(rng, n, batch_size=1):
    """The indices of one pass: an int array (round(n / B), B), uniform over 0..n-1 with replacement."""
    return rng.integers(0, n, size=(updates_per_pass(n, batch_size), batch_size))


# ---- loss and accuracy on a whole set --------------------------------------------------


def logits(model, X, chunk=4096):
    """The model's output on every row of X, computed in chunks so memory stays bounded; (n, C)."""
    return np.concatenate([model(Tensor(X[i : i + chunk])).value for i in range(0, len(X), chunk)])


def cross_entropy_and_accuracy(L, y):
    r"""Mean cross-entropy $-\frac1n\sum_i \log P_{i,y_i}$ and accuracy of logits L (n, C) for labels y (n,).

    The log-probabilities are $L - \log\sum_k e^{L_k}$ with the max subtracted first (book/softmax.md),
    so large logits do not overflow. Non-finite logits give a NaN loss.
    """
    with np.errstate(all="ignore"):
        m = L.max(axis=1, keepdims=True)
        log_P = L - (m + np.log(np.sum(np.exp(L - m), axis=1, keepdims=True)))
        loss = -float(np.mean(log_P[np.arange(len(y)), y]))
    accuracy = float(np.mean(np.argmax(L, axis=1) == y))
    return (loss if math.isfinite(loss) else math.nan), accuracy


def evaluate(model, X, y):
    """``(loss, accuracy)`` of ``model`` on the whole set X (n, D), y (n,): mean cross-entropy, fraction right."""
    return cross_entropy_and_accuracy(logits(model, X), y)


# ---- the general path: nabla's autograd ------------------------------------------------


def autograd_step(model, X, y, lr, reg=0.0):
    r"""One SGD update of any nabla model on the batch X (B, D), y (B,), by nabla's autograd.

    $\theta \leftarrow \theta - \eta\, \partial J_{\mathcal B}/\partial\theta$ for every parameter,
    with $J_{\mathcal B}$ = mean cross-entropy of the batch + $\frac\lambda2\sum_W\lVert W\rVert^2$.
    Returns the batch's objective before the update, as a float.
    """
    loss = ops.cross_entropy(model(Tensor(X)), y)
    if reg:
        loss = loss + 0.5 * reg * sum_of_squares(weights(model))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.value -= lr * p.grad  # in place: the parameter stays the same tensor
    return loss.item()


def sum_of_squares(tensors):
    total = ops.sum(tensors[0] * tensors[0])
    for W in tensors[1:]:
        total = total + ops.sum(W * W)
    return total


# ---- the fast path: the derived backward pass, fused by hand ---------------------------

# A rank-1 update W += alpha x g^T is BLAS's dger, and W += alpha X^T G is its dgemm with beta = 1;
# scipy.linalg.blas wraps both. Each reads and writes W once, in place, where
# `W -= lr * np.outer(x, g)` builds two temporaries the size of W and is over twice as slow at
# width 512 (benchmarks/fast_path.py).
#
# BLAS stores a matrix column by column (Fortran order), and our W (D, H) is stored row by row.
# The same memory read column by column is W's transpose W.T (H, D), so we hand BLAS W.T and
# the transposed update, W.T += alpha g x^T. With overwrite_a (overwrite_c) scipy then passes
# W's own memory to BLAS instead of a copy; :func:`check_in_place` makes sure it can.

BLAS_ROUTE = "OpenBLAS dger/dgemm via scipy.linalg.blas"


def check_in_place(*arrays):
    """Refuse arrays that BLAS cannot update in place: scipy would update a copy and drop it."""
    for W in arrays:
        if W.dtype != np.float64 or not W.flags.c_contiguous or not W.flags.writeable:
            raise TypeError(
                f"the fast path updates parameters in place and needs writeable C-contiguous float64 arrays; "
                f"got dtype {W.dtype}, C-contiguous {W.flags.c_contiguous}, writeable {W.flags.writeable}"
            )


def add_outer(W, alpha, x, g):
    r"""$W \leftarrow W + \alpha\, x g^\top$ in place, for W (D, H), x (D,), g (H,): BLAS's dger."""
    check_in_place(W)
    dger(alpha, g, x, a=W.T, overwrite_a=True)


def add_gram(W, alpha, X, G):
    r"""$W \leftarrow W + \alpha\, X^\top G$ in place, for W (D, H), X (B, D), G (B, H): BLAS's dgemm.

    In Fortran order this is $W^\top \leftarrow \alpha\, G^\top X + W^\top$; G.T and X.T are
    Fortran-ordered views of the C-ordered G and X, so nothing is copied.
    """
    check_in_place(W)
    dgemm(alpha, G.T, X.T, beta=1.0, c=W.T, trans_b=True, overwrite_c=True)


def fast_step(model, X, y, lr, reg=0.0):
    r"""One SGD update of a one-hidden-layer ReLU MLP on the batch X (B, D), y (B,), derived by hand.

    Forward: $Z = XW_1 + b_1$, $H = \max(Z, 0)$, $L = HW_2 + b_2$, $P = \mathrm{softmax}(L)$.
    Backward, one line per rule of Part I: $\bar L = (P - Y)/B$ (softmax-cross-entropy),
    $\bar W_2 = H^\top \bar L$, $\bar b_2 = \sum_i \bar L_i$, $\bar H = \bar L W_2^\top$ (matmul, bias),
    $\bar Z = \bar H \odot [Z > 0]$ (ReLU), $\bar W_1 = X^\top \bar Z$, $\bar b_1 = \sum_i \bar Z_i$;
    the input's adjoint $\bar X$ is never needed. The L2 term adds $\lambda W$ to each $\bar W$.
    Every parameter is updated in place, and $W_1$ (the one large array) by one BLAS call
    that reads and writes it once. Shapes: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    For B = 1, :func:`per_example_stepper` makes the same update several times faster.
    Derived in book/matmul.md, book/elementwise.md and book/softmax.md.
    """
    (layer1, layer2), B = model.layers, len(X)
    W1, b1, W2, b2 = layer1.W.value, layer1.b.value, layer2.W.value, layer2.b.value
    Z = X @ W1
    Z += b1
    H = np.maximum(Z, 0.0)
    L = H @ W2
    L += b2
    L -= L.max(axis=1, keepdims=True)
    P = np.exp(L)
    P /= P.sum(axis=1, keepdims=True)
    L_bar = P
    L_bar[np.arange(B), y] -= 1.0
    L_bar /= B  # eq. cross-entropy-backward: (P - Y) / N
    H_bar = L_bar @ W2.T  # eq. matmul-x, before W2 changes
    Z_bar = H_bar * (Z > 0)  # eq. relu-backward
    if reg:
        W1 *= 1.0 - lr * reg  # the penalty's gradient lambda W, applied as a decay
        W2 *= 1.0 - lr * reg
    add_gram(W2, -lr, H, L_bar)  # eq. matmul-w
    b2 -= lr * L_bar.sum(axis=0)  # the bias gradient is a sum over the batch
    add_gram(W1, -lr, X, Z_bar)  # eq. matmul-w
    b1 -= lr * Z_bar.sum(axis=0)


def per_example_stepper(model, X, y, reg=0.0):
    r"""A function ``step(i, lr)``: one SGD update of a one-hidden-layer ReLU MLP on example i of (X, y).

    :func:`fast_step` for B = 1, written for speed: the rows of the matrices become vectors,
    $z = x W_1 + b_1$, $h = \max(z, 0)$, $l = h W_2 + b_2$, $p = \mathrm{softmax}(l)$, and
    $\bar l = p - \mathrm{onehot}(y)$, $\bar z = (W_2 \bar l) \odot [z > 0]$. Both weight
    gradients are outer products, $\bar W_2 = h \bar l^\top$ and $\bar W_1 = x \bar z^\top$, so each
    update is one rank-1 BLAS call (:func:`add_outer`) that reads and writes the matrix once.
    With one example at a time the step is a few dozen small operations, so what costs is
    Python's overhead per operation: the vectors live in buffers allocated once, every operation
    writes into one (``out=``), and $\bar l$ and $\bar z$ are scaled by $-\eta$ once and then
    serve both the bias and the weight update. ``X`` (n, D) float64 and ``y`` (n,) int must stay
    alive and unchanged while ``step`` is used; the model's arrays are updated in place.
    """
    (layer1, layer2) = model.layers
    W1, b1, W2, b2 = layer1.W.value, layer1.b.value, layer2.W.value, layer2.b.value
    H, C = W1.shape[1], W2.shape[1]
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, index = len(X), operator.index
    labels = np.asarray(y).tolist()  # Python ints index fastest
    z, h, z_bar, active = np.empty(H), np.empty(H), np.empty(H), np.empty(H, dtype=bool)
    l = np.empty(C)  # noqa: E741 - the book's name for the logits
    check_in_place(W1, W2)
    W1_T, W2_T = W1.T, W2.T  # W's memory in BLAS's column order (see add_outer)
    matmul, add, subtract, multiply, divide = np.matmul, np.add, np.subtract, np.multiply, np.divide
    maximum, greater, exp = np.maximum, np.greater, np.exp

    # Inside step, `v += w` would make v a new local name; in-place ufuncs with out= do not.
    def step(i, lr):
        i = index(i)
        if not 0 <= i < n:  # X[-1] would silently train on the last example
            raise IndexError(f"per_example_stepper: example {i} is out of range for {n} examples")
        x = X[i]
        add(matmul(x, W1, out=z), b1, out=z)
        maximum(z, 0.0, out=h)
        add(matmul(h, W2, out=l), b2, out=l)
        exp(subtract(l, l.max(), out=l), out=l)  # softmax, shifted by the max so exp cannot overflow
        divide(l, l.sum(), out=l)
        l[labels[i]] -= 1.0  # eq. cross-entropy-backward (N = 1): l_bar = p - onehot(y)
        multiply(l, -lr, out=l)  # from here on l holds -lr * l_bar
        matmul(W2, l, out=z_bar)  # eq. matmul-x, before W2 changes: -lr * h_bar
        multiply(z_bar, greater(z, 0.0, out=active), out=z_bar)  # eq. relu-backward: -lr * z_bar
        if reg:  # the penalty's gradient reg * W, applied as a decay
            multiply(W1, 1.0 - lr * reg, out=W1)
            multiply(W2, 1.0 - lr * reg, out=W2)
        dger(1.0, l, h, a=W2_T, overwrite_a=True)  # eq. matmul-w: W2 -= lr h l_bar^T (as in add_outer)
        dger(1.0, z_bar, x, a=W1_T, overwrite_a=True)  # W1 -= lr x z_bar^T
        add(b2, l, out=b2)  # the bias gradient of one example is its adjoint
        add(b1, z_bar, out=b1)

    return step


# ---- training, pass by pass ------------------------------------------------------------


@dataclass
class TrainingRun:
    """What :func:`train` returns.

    ``records``: one dict per pass (pass 0 is before training) with keys ``pass``, ``updates``
    (so far), ``examples`` (gradient computations so far: updates x B), ``train_loss``,
    ``train_accuracy``, ``test_loss``, ``test_accuracy`` (cross-entropies and fractions right on
    the whole sets; test ones NaN without a test set), ``penalty`` ($\\frac\\lambda2\\sum\\lVert W\\rVert^2$)
    and ``seconds`` (wall time so far). ``interpolation``: the first pass with 100 % training
    accuracy, or None. ``diverged``: whether training stopped on a non-finite loss.
    """

    records: list = field(default_factory=list)
    interpolation: int | None = None
    diverged: bool = False
    seconds: float = 0.0
    method: str = ""


def interpolation_pass(records):
    """The first pass (>= 1) whose training accuracy is 100 %, or None if there is none."""
    return next((r["pass"] for r in records if r["pass"] >= 1 and r["train_accuracy"] == 1.0), None)


def train(
    model,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    lr,
    passes,
    batch_size=1,
    reg=0.0,
    seed=0,
    method="auto",
    progress=False,
    stop_on_divergence=True,
    description=None,
):
    r"""Train ``model`` by SGD for ``passes`` passes over (X_train, y_train); a :class:`TrainingRun`.

    Each pass draws ``round(n / B)`` batches of B = ``batch_size`` indices uniformly with
    replacement (:func:`sample_pass`, from ``np.random.default_rng(seed)``) and makes one update
    $\theta \leftarrow \theta - \eta\nabla J_{\mathcal B}$ per batch, $\eta$ = ``lr``,
    $J$ = mean cross-entropy + $\frac\lambda2\sum_W\lVert W\rVert^2$ with $\lambda$ = ``reg``.
    After each pass it records the loss and accuracy on the whole training and test sets.

    ``method``: ``"fast"`` (:func:`per_example_stepper` for B = 1, :func:`fast_step` otherwise; a
    one-hidden-layer ReLU MLP only), ``"autograd"``
    (:func:`autograd_step`, any model) or ``"auto"`` (fast when it applies). Both make the same
    updates from the same seed. The model's parameters are updated in place. ``progress`` shows a
    tqdm bar (keep it False in the book). With ``stop_on_divergence`` a non-finite training loss
    ends the run early with ``diverged=True``.

    Shapes: X (n, D) float, y (n,) int. Derived in book/gradient-descent.md.
    """
    X_train, y_train = check_data(X_train, y_train, "train")
    has_test = X_test is not None
    if has_test:
        X_test, y_test = check_data(X_test, y_test, "test")
        if X_test.shape[1] != X_train.shape[1]:
            raise ValueError(f"test: X_test has {X_test.shape[1]} features but X_train has {X_train.shape[1]}")
    lr = check_lr(lr)
    n = len(X_train)
    batch_size = check_batch_size(batch_size, n)
    if not isinstance(passes, (int, np.integer)) or passes < 0:
        raise ValueError(f"passes must be an integer >= 0, got {passes!r}")
    if reg < 0:
        raise ValueError(f"the L2 coefficient reg must be >= 0, got reg = {reg}")
    if method == "auto":
        method = "fast" if is_fast_mlp(model) else "autograd"
    if method == "fast" and not is_fast_mlp(model):
        raise ValueError("method='fast' trains a one-hidden-layer ReLU nn.MLP only; use method='autograd'")
    if method not in ("fast", "autograd"):
        raise ValueError(f"method must be 'auto', 'fast' or 'autograd', got {method!r}")
    step = fast_step if method == "fast" else autograd_step
    per_example = per_example_stepper(model, X_train, y_train, reg) if method == "fast" and batch_size == 1 else None

    rng = np.random.default_rng(seed)
    run = TrainingRun(method=method)
    start = time.perf_counter()

    def record(p):
        train_loss, train_accuracy = evaluate(model, X_train, y_train)
        test_loss, test_accuracy = evaluate(model, X_test, y_test) if has_test else (math.nan, math.nan)
        run.records.append(
            {
                "pass": p,
                "updates": p * updates_per_pass(n, batch_size),
                "examples": p * updates_per_pass(n, batch_size) * batch_size,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "penalty": penalty(model, reg),
                "seconds": time.perf_counter() - start,
            }
        )
        return train_loss

    from tqdm import tqdm  # here: a reader who never trains need not import it (tqdm.auto would warn in a kernel without ipywidgets)

    record(0)
    with np.errstate(all="ignore"), tqdm(
        range(1, passes + 1), desc=description, unit="pass", disable=not progress, leave=False
    ) as bar:
        for p in bar:
            # One BLAS thread for the steps: a step at B = 1 is a few small BLAS calls, which two
            # threads barely speed up on an idle machine and slow down many times over when
            # another process holds a core (measured here: 0.14 ms -> 1.7 ms at width 512). The
            # evaluation's large matrix products, outside this block, keep every thread.
            with threadpool_limits(limits=1, user_api="blas"):
                if per_example is not None:
                    for i in sample_pass(rng, n, 1)[:, 0].tolist():
                        per_example(i, lr)
                else:
                    for batch in sample_pass(rng, n, batch_size):
                        step(model, X_train[batch], y_train[batch], lr, reg)
            loss = record(p)
            bar.set_postfix(loss=f"{loss:.4f}", acc=f"{run.records[-1]['train_accuracy']:.4f}")
            if stop_on_divergence and not math.isfinite(loss):
                run.diverged = True
                break
    run.interpolation = interpolation_pass(run.records)
    run.seconds = time.perf_counter() - start
    return run


# ---- minibatch training with an optimizer (chapters 13, 17-19) -------------------------


@dataclass
class FitRun:
    """What :func:`fit` returns.

    ``records``: one dict per epoch (epoch 0 is before training) with keys ``epoch``, ``steps``
    (updates so far), ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy`` (mean
    cross-entropy and fraction right on the whole sets, in test mode; the validation ones NaN
    without a validation set) and ``seconds`` (wall time so far). ``minibatch_losses``: the loss
    of every minibatch, in train mode, before its update. ``diverged``: whether training stopped
    on a non-finite minibatch loss.
    """

    records: list = field(default_factory=list)
    minibatch_losses: list = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0


def fit(
    model,
    optimizer,
    X_train,
    y_train,
    X_val=None,
    y_val=None,
    *,
    epochs,
    batch_size=32,
    seed=0,
    progress=False,
    description=None,
):
    r"""Train ``model`` with ``optimizer`` on mean cross-entropy, in epochs of shuffled minibatches; a :class:`FitRun`.

    Each epoch visits every training example once, in the order of a permutation drawn from
    ``np.random.default_rng(seed)`` (the same seed, the same minibatches), in minibatches of
    ``batch_size`` (the last one smaller if B does not divide n). Each minibatch makes one update:
    ``optimizer.zero_grad()``, the loss $\frac1B\sum_{i\in\mathcal B} -\log P_{i,y_i}$,
    ``backward()``, ``optimizer.step()``. Any penalty on the weights is the optimizer's
    (``weight_decay``). ``optimizer`` is any of :mod:`nabla.optim` built on ``model.parameters()``.

    The model trains in train mode (dropout on, batch norm on batch statistics) and is measured
    after every epoch, on the whole training and validation sets, in test mode; it is left in
    train mode. ``progress`` shows a tqdm bar (keep it False in the book). A non-finite
    minibatch loss ends the run with ``diverged=True``.

    Shapes: X (n, D) float, y (n,) int, or images (n, C, H, W) for a convolutional model.
    Used by book/mlp.md and the chapters after book/optimizers.md.
    """
    X_train, y_train = check_fit_data(X_train, y_train, "train")
    has_val = X_val is not None
    if has_val:
        X_val, y_val = check_fit_data(X_val, y_val, "validation")
        if X_val.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"validation: examples of shape {X_val.shape[1:]} but training examples of shape {X_train.shape[1:]}")
    n = len(X_train)
    batch_size = check_batch_size(batch_size, n)
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    rng = np.random.default_rng(seed)
    run = FitRun()
    start = time.perf_counter()

    def record(epoch):
        model.eval()
        train_loss, train_accuracy = evaluate(model, X_train, y_train)
        val_loss, val_accuracy = evaluate(model, X_val, y_val) if has_val else (math.nan, math.nan)
        model.train()
        run.records.append(
            {
                "epoch": epoch,
                "steps": len(run.minibatch_losses),
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "seconds": time.perf_counter() - start,
            }
        )

    from tqdm import tqdm  # imported here, as in train()

    model.train()
    record(0)
    # Overflow on the way to a diverged loss is expected, and reported by `diverged`, not by warnings.
    with np.errstate(all="ignore"), tqdm(
        range(1, epochs + 1), desc=description, unit="epoch", disable=not progress, leave=False
    ) as bar:
        for epoch in bar:
            permutation = rng.permutation(n)
            for begin in range(0, n, batch_size):
                batch = permutation[begin : begin + batch_size]
                optimizer.zero_grad()
                loss = ops.cross_entropy(model(Tensor(X_train[batch])), y_train[batch])
                run.minibatch_losses.append(loss.item())
                if not math.isfinite(run.minibatch_losses[-1]):
                    run.diverged = True
                    break
                loss.backward()
                optimizer.step()
            record(epoch)
            bar.set_postfix(loss=f"{run.records[-1]['train_loss']:.4f}", acc=f"{run.records[-1]['train_accuracy']:.4f}")
            if run.diverged:
                break
    run.seconds = time.perf_counter() - start
    return run


def check_fit_data(X, y, name):
    """``X`` (n, ...) float and ``y`` (n,) int, or a ValueError/TypeError naming the problem."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2:
        raise ValueError(f"{name}: X must have one row per example, shape (n, D) or (n, C, H, W); got shape {X.shape}")
    rows, y = check_data(X.reshape(len(X), int(np.prod(X.shape[1:]))), y, name)
    return rows.reshape(X.shape), y


# ---- the divergent learning rate (chapter 14) ------------------------------------------


def diverged(initial_loss, final_loss):
    r"""The criterion for "this learning rate diverges": the final loss is NaN or infinite, or
    larger than the initial loss.

    Measured on the training objective, after a fixed small budget (e.g. one pass). For gradient
    descent on $f(x) = \frac a2 x^2$, $x \leftarrow (1 - \eta a) x$, so after k steps
    $f_k = (1 - \eta a)^{2k} f_0$: the criterion holds exactly when $|1 - \eta a| > 1$, i.e.
    $\eta > 2/a$, the analytic boundary (tests/test_train.py checks this).
    """
    return not math.isfinite(final_loss) or final_loss > initial_loss


@dataclass
class DivergentLR:
    """What :func:`find_divergent_lr` returns: ``eta_star`` and every ``(lr, diverged)`` it tried, in order."""

    eta_star: float
    trials: list


def find_divergent_lr(diverges, start=1e-4, max_lr=1e8, min_lr=1e-12):
    r"""The divergent learning rate $\eta^*$: $\eta^*$ does not diverge and $2\eta^*$ does.

    ``diverges(lr) -> bool`` says whether one learning rate diverges (e.g. by :func:`diverged`
    after a pass of SGD, see :func:`sgd_diverges`). The search, as chapter 14 does it by hand:

    1. powers of 10: from ``start``, multiply by 10 until a learning rate diverges (if ``start``
       already diverges, divide by 10 until one does not); call the last stable one $\eta_0$;
    2. powers of 2: double $\eta_0$ while the double does not diverge. The result
       $\eta^* = 2^j\eta_0$ has been tried and is stable, and $2\eta^*$ has been tried and diverges.

    Raises ValueError if nothing diverges below ``max_lr`` or everything does above ``min_lr``.
    Every answer of ``diverges`` is cached, so no learning rate is tried twice.
    """
    start = check_lr(start)
    trials, cache = [], {}

    def tried(lr):
        lr = float(f"{lr:.12g}")  # 1e-4 * 10**3 is 0.10000000000000002; keep the decimal a reader expects
        if lr not in cache:
            cache[lr] = bool(diverges(lr))
            trials.append((lr, cache[lr]))
        return lr, cache[lr]

    lr, bad = tried(start)
    if bad:
        while bad:
            if lr / 10 < min_lr:
                raise ValueError(f"find_divergent_lr: every learning rate down to {min_lr:g} diverges")
            lr, bad = tried(lr / 10)
    else:
        while True:
            if lr * 10 > max_lr:
                raise ValueError(f"find_divergent_lr: no learning rate up to {max_lr:g} diverges")
            up, bad = tried(lr * 10)
            if bad:
                break
            lr = up
    eta = lr
    while True:
        double, bad = tried(2 * eta)
        if bad:
            return DivergentLR(eta_star=eta, trials=trials)
        eta = double


def sgd_diverges(make_model, X, y, lr, passes=1, batch_size=1, seed=0, reg=0.0):
    """Whether SGD at ``lr`` diverges by :func:`diverged`: a fresh ``make_model()`` trained ``passes`` passes.

    The training objective is measured before and after. The callable to give
    :func:`find_divergent_lr` is ``lambda lr: sgd_diverges(make_model, X, y, lr, ...)``.
    """
    model = make_model()
    run = train(model, X, y, lr=lr, passes=passes, batch_size=batch_size, seed=seed, reg=reg)
    first, last = run.records[0], run.records[-1]
    return diverged(first["train_loss"] + first["penalty"], last["train_loss"] + last["penalty"])
