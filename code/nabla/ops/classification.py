r"""Softmax, log-softmax and cross-entropy: from logits to class probabilities and a loss. Derived in book/softmax.md.

(The module is not called ``softmax``: that name is the function's, ``nabla.ops.softmax``, and
a module of the same name would be hidden behind it.)
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Op, ShapeError, Tensor, as_tensor
from nabla.ops.shape import normalize_axis

__all__ = ["Softmax", "LogSoftmax", "CrossEntropy", "softmax", "log_softmax", "cross_entropy", "log_sum_exp"]


def log_sum_exp(X, axis):
    r"""$\log\sum_j e^{X_j}$ along ``axis`` (kept), computed without overflow: shift by the max first."""
    m = X.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(X - m).sum(axis=axis, keepdims=True))  # eq. softmax-log-sum-exp


class Softmax(Op):
    r"""$P_{ij} = e^{X_{ij}} / \sum_k e^{X_{ik}}$ along ``axis``.

    P has X's shape. Derived in book/softmax.md.
    """

    @staticmethod
    def forward(ctx, X, *, axis):
        ctx.P, ctx.axis = np.exp(X - log_sum_exp(X, axis)), axis
        return ctx.P

    @staticmethod
    def backward(ctx, P_bar):
        # The full Jacobian diag(p) - p p^T, applied without building it.
        X_bar = ctx.P * (P_bar - np.sum(P_bar * ctx.P, axis=ctx.axis, keepdims=True))  # eq. softmax-backward
        return X_bar


class LogSoftmax(Op):
    r"""$L_{ij} = X_{ij} - \log\sum_k e^{X_{ik}}$ along ``axis``.

    L has X's shape. Derived in book/softmax.md.
    """

    @staticmethod
    def forward(ctx, X, *, axis):
        L = X - log_sum_exp(X, axis)  # eq. softmax-log-softmax-def
        ctx.P, ctx.axis = np.exp(L), axis
        return L

    @staticmethod
    def backward(ctx, L_bar):
        X_bar = L_bar - ctx.P * np.sum(L_bar, axis=ctx.axis, keepdims=True)  # eq. log-softmax-backward
        return X_bar


class CrossEntropy(Op):
    r"""$\ell = -\frac1N \sum_i \log P_{i, y_i}$, with $P$ the softmax of the logits X along its rows.

    X has shape (N, C); the constant ``labels`` y are N integers in [0, C); $\ell$ is a
    scalar. Derived in book/softmax.md.
    """

    @staticmethod
    def forward(ctx, X, *, labels):
        N = X.shape[0]
        L = X - log_sum_exp(X, axis=1)  # log-probabilities, eq. softmax-log-softmax-def
        Y = np.zeros_like(X)
        Y[np.arange(N), labels] = 1.0  # one-hot
        ctx.P, ctx.Y, ctx.N = np.exp(L), Y, N
        return -(Y * L).sum() / N  # eq. softmax-ce-loss

    @staticmethod
    def backward(ctx, l_bar):
        X_bar = l_bar * (ctx.P - ctx.Y) / ctx.N  # eq. cross-entropy-backward
        return X_bar


def softmax_axis(X, axis, name):
    """X as a tensor and ``axis`` as one non-negative axis along which X has entries, or an error naming them."""
    X = as_tensor(X, what=name)
    (axis,) = normalize_axis(axis, X.ndim, name)
    if X.shape[axis] == 0:
        raise ValueError(f"{name}: X has shape {X.shape}, no entries along axis {axis} to normalise over")
    return X, axis


def softmax(X, axis=-1):
    """The softmax of X along ``axis``: probabilities, positive and summing to 1."""
    X, axis = softmax_axis(X, axis, "softmax")
    return Softmax.apply(X, axis=axis)


def log_softmax(X, axis=-1):
    """The log of the softmax of X along ``axis``, computed without overflow."""
    X, axis = softmax_axis(X, axis, "log_softmax")
    return LogSoftmax.apply(X, axis=axis)


def cross_entropy(logits, labels):
    """Mean cross-entropy of logits (N, C) against integer class labels (N,) in [0, C)."""
    logits = as_tensor(logits, what="cross_entropy")
    if isinstance(labels, Tensor):
        raise TypeError("cross_entropy: labels must be an array of integer class indices, got a Tensor")
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    N, C = logits.shape
    if N == 0 or C == 0:  # a mean over no examples is 0 / 0, and no class can be right
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} hold no examples or no classes")
    if labels.shape != (N,):
        raise ShapeError(f"cross_entropy: labels have shape {labels.shape} but logits have shape {logits.shape}; expected ({N},)")
    if labels.dtype.kind not in "iu":  # signed or unsigned integers
        raise TypeError(f"cross_entropy: labels must be integer class indices, got dtype {labels.dtype}")
    out_of_range = (labels < 0) | (labels >= C)
    if out_of_range.any():
        raise ValueError(f"cross_entropy: labels must lie in [0, {C}), got {labels[out_of_range].tolist()[:5]}")
    return CrossEntropy.apply(logits, labels=labels)
