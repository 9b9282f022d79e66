r"""The fast path: SGD for a one-hidden-layer ReLU MLP with the backward pass derived in the book, fused by hand.

Per-example SGD (B = 1) spends most of its time on bookkeeping, not arithmetic: an autodiff
engine builds a graph, allocates temporaries the size of $W_1$ and walks the graph back at
every update (book/width.md counts the cost). The steps here compute the same update in numpy
with no graph, every parameter updated in place, $W_1$ by one BLAS call that reads and writes
it once:

* :func:`fast_step`: one update on a batch X (B, D);
* :func:`per_example_stepper`: the same for B = 1, written for speed;
* :class:`FusedSGD`: what :func:`nabla.train.fit` takes in place of an optimizer to train with
  these steps. It makes the updates of ``nabla.optim.SGD`` with an L2 penalty on the weight
  matrices only (:func:`weights`), the textbook convention.

tests/test_fastpath.py checks both steps against nabla's autograd and torch's, in float64, to
1e-10 over 100 updates; benchmarks/fast_path.py times them.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from scipy.linalg.blas import dgemm, dger

from nabla import nn, ops
from nabla.engine import ShapeError
from nabla.train import check_examples, check_labels, check_lr

# ---- BLAS: updates in place ---------------------------------------------------------------

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


# ---- the L2 penalty on the weights --------------------------------------------------------


def weights(model):
    """The parameters the L2 penalty acts on: the matrices (ndim >= 2), not the bias vectors."""
    return [p for p in model.parameters() if p.ndim >= 2]


def penalty(model, reg):
    r"""$\frac{\lambda}{2} \sum_W \lVert W\rVert^2$ over the weight matrices, as a float."""
    reg = check_reg(reg)
    if reg == 0:
        return 0.0
    return 0.5 * reg * sum(float(np.sum(W.value * W.value)) for W in weights(model))


def is_fast_mlp(model):
    """True if ``model`` is a one-hidden-layer ReLU ``nn.MLP`` without normalisation or dropout: what the steps train."""
    return (
        isinstance(model, nn.MLP) and len(model.layers) == 2 and model.activation is ops.relu
        and not model.norms and not model.dropouts
    )


def check_reg(reg):
    """``reg`` as a float if it is a finite number >= 0, else a TypeError or ValueError naming it."""
    if isinstance(reg, bool) or not isinstance(reg, (int, float, np.integer, np.floating)):
        raise TypeError(f"the L2 coefficient reg must be a number, got {type(reg).__name__} {reg!r}")
    if not (math.isfinite(reg) and reg >= 0):
        raise ValueError(f"the L2 coefficient reg must be a finite number >= 0, got reg = {reg!r}")
    return float(reg)


def check_fast_inputs(model, X, y, name):
    """X (n, D) float64 and y (n,) int64 in [0, C), checked against the one-hidden-layer ReLU MLP ``model``; else an error naming them."""
    if not is_fast_mlp(model):
        raise ValueError(f"{name} trains a one-hidden-layer ReLU nn.MLP only; use an optimizer of nabla.optim")
    X, y = check_examples(X, y, name)
    (D, _), (_, C) = model.layers[0].W.shape, model.layers[1].W.shape
    if X.ndim != 2 or X.shape[1] != D:
        raise ShapeError(f"{name}: X has shape {X.shape} but the model's first layer takes {D} features; expected (n, {D})")
    check_labels(y, C, name)
    return X, y


# ---- the steps ----------------------------------------------------------------------------


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
    X, y = check_fast_inputs(model, X, y, "fast_step")
    lr, reg = check_lr(lr), check_reg(reg)
    unchecked_fast_step(model, X, y, lr, reg)


def unchecked_fast_step(model, X, y, lr, reg):
    """:func:`fast_step` without its checks, for :class:`FusedSGD`, whose ``fit`` has checked X and y once for every step."""
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
    X, y = check_fast_inputs(model, X, y, "per_example_stepper")
    (layer1, layer2), reg = model.layers, check_reg(reg)
    W1, b1, W2, b2 = layer1.W.value, layer1.b.value, layer2.W.value, layer2.b.value
    H, C = W1.shape[1], W2.shape[1]
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
        try:
            i = index(i)
        except TypeError:  # Python's own message ("'float' object cannot be interpreted...") names no argument
            raise TypeError(f"per_example_stepper: step(i, lr) takes the index i of an example, an int; got {i!r}") from None
        if not 0 <= i < n:  # X[-1] would silently train on the last example
            raise IndexError(f"per_example_stepper: example {i} is out of range for {n} examples")
        if type(lr) is not float or not 0.0 < lr < math.inf:  # two cheap tests; NaN fails the second
            lr = check_lr(lr)
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


# ---- the fast path as fit's update rule ---------------------------------------------------


class FusedSGD:
    r"""Plain SGD by the fused steps, for :func:`nabla.train.fit`: ``fit(model, FusedSGD(lr), split, ...)``.

    Each update is $\theta \leftarrow \theta - \eta\, \nabla J_{\mathcal B}(\theta)$ with
    $J_{\mathcal B}$ = the batch's mean cross-entropy + $\frac\lambda2\sum_W\lVert W\rVert^2$,
    $\eta$ = ``lr``, $\lambda$ = ``reg`` (weight matrices only, :func:`weights`): a batch of
    one example by :func:`per_example_stepper`, a larger one by :func:`fast_step`. The model must
    be a one-hidden-layer ReLU ``nn.MLP`` (:func:`is_fast_mlp`).
    """

    def __init__(self, lr, reg=0.0):
        self.lr, self.reg = check_lr(lr), check_reg(reg)

    def updates(self, model, X, y):
        """``update(batch)``: one step on the examples ``batch`` (a list of row indices) of X (n, D), y (n,).

        It returns None: the fused step does not compute the batch's loss.
        """
        X, y = check_fast_inputs(model, X, y, "FusedSGD")
        lr, reg = self.lr, self.reg
        per_example = per_example_stepper(model, X, y, reg)

        def update(batch):
            if len(batch) == 1:
                per_example(batch[0], lr)
            else:
                unchecked_fast_step(model, X[batch], y[batch], lr, reg)

        return update
