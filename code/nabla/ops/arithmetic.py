r"""Arithmetic: the ops behind Tensor's operators ``+``, ``-``, ``*``, ``/``, unary ``-`` and ``**``.

Each binary op broadcasts its inputs with :func:`~nabla.ops.shape.broadcast_together`
first (book/broadcasting.md), so its own forward and backward see inputs of one shape. The
backward passes are derived in book/computation-graphs.md (addition, and the product rule),
book/division.md (division) and book/elementwise.md (one rule for every element-wise
function, of which $-X$ and $X^p$ are two).
"""

from __future__ import annotations

import numbers

import numpy as np

from nabla.engine import Op, Tensor
from nabla.ops.shape import broadcast_together

__all__ = ["Add", "Subtract", "Multiply", "Divide", "Negate", "Power", "add", "subtract", "multiply", "divide", "negate", "power"]


class Add(Op):
    r"""$S = X + Y$, element-wise.

    X, Y and S have one shape (:func:`add` broadcasts first). Derived in book/computation-graphs.md.
    """

    @staticmethod
    def forward(ctx, X, Y):
        return X + Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar  # eq. add-x
        Y_bar = S_bar  # eq. add-y
        return X_bar, Y_bar


class Subtract(Op):
    r"""$S = X - Y$, element-wise.

    X, Y and S have one shape (:func:`subtract` broadcasts first).
    Derived in book/computation-graphs.md, in its exercise graphs-ex-subtract.
    """

    @staticmethod
    def forward(ctx, X, Y):
        return X - Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar
        Y_bar = -S_bar  # S moves against Y
        return X_bar, Y_bar


class Multiply(Op):
    r"""$S = X \odot Y$, element-wise.

    X, Y and S have one shape (:func:`multiply` broadcasts first).
    Derived in book/computation-graphs.md, by the product rule: each factor's adjoint is
    $\bar S$ times the other factor.
    """

    @staticmethod
    def forward(ctx, X, Y):
        ctx.X, ctx.Y = X, Y
        return X * Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * ctx.Y
        Y_bar = S_bar * ctx.X
        return X_bar, Y_bar


class Divide(Op):
    r"""$S = X / Y$, element-wise, for $Y$ with no zeros.

    X, Y and S have one shape (:func:`divide` broadcasts first). Derived in book/division.md.
    """

    @staticmethod
    def forward(ctx, X, Y):
        zeros = np.argwhere(Y == 0)
        if len(zeros):
            raise ZeroDivisionError(
                f"divide: Y contains {len(zeros)} zero(s), the first at index "
                f"{tuple(int(i) for i in zeros[0])}; X / Y is infinite (or 0/0, undefined) there and has no gradient"
            )
        ctx.X, ctx.Y = X, Y
        return X / Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar / ctx.Y  # eq. division-x
        Y_bar = -S_bar * ctx.X / ctx.Y**2  # eq. division-y
        return X_bar, Y_bar


class Negate(Op):
    r"""$S = -X$.

    S has X's shape. Derived in book/elementwise.md, as the element-wise $f(x) = -x$.
    """

    @staticmethod
    def forward(ctx, X):
        return -X

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = -S_bar  # eq. elementwise-backward with f'(x) = -1
        return X_bar


class Power(Op):
    r"""$S = X^p$, element-wise, for a constant exponent $p$.

    S has X's shape. Derived in book/elementwise.md, as the element-wise $f(x) = x^p$.
    """

    @staticmethod
    def forward(ctx, X, *, p):
        if p != int(p) and np.any(X < 0):
            raise ValueError(f"power: X ** {p} is not real for negative X (the smallest X is {X.min()})")
        if p < 1 and p != 0 and np.any(X == 0):
            raise ValueError(f"power: X ** {p} has no finite derivative at X == 0, and X contains zeros")
        ctx.X, ctx.p = X, p
        return X**p

    @staticmethod
    def backward(ctx, S_bar):
        if ctx.p == 0:  # X ** 0 is constant; the formula below would give 0 * 0 ** -1 = nan at 0
            return np.zeros_like(S_bar)
        X_bar = S_bar * ctx.p * ctx.X ** (ctx.p - 1)  # eq. elementwise-backward with f'(x) = p x^(p-1)
        return X_bar


def add(X, Y):
    """$X + Y$ with numpy broadcasting; also ``X + Y``."""
    return Add.apply(*broadcast_together("add", X, Y))


def subtract(X, Y):
    """$X - Y$ with numpy broadcasting; also ``X - Y``."""
    return Subtract.apply(*broadcast_together("subtract", X, Y))


def multiply(X, Y):
    r"""$X \odot Y$ with numpy broadcasting; also ``X * Y``."""
    return Multiply.apply(*broadcast_together("multiply", X, Y))


def divide(X, Y):
    """$X / Y$ with numpy broadcasting; Y must contain no zeros. Also ``X / Y``."""
    return Divide.apply(*broadcast_together("divide", X, Y))


def negate(X):
    """$-X$; also ``-X``."""
    return Negate.apply(X)


def power(X, p):
    """$X^p$ for a constant number ``p``; also ``X ** p``."""
    if isinstance(p, Tensor) or not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"power: the exponent must be a constant number, got {type(p).__name__}")
    if not np.isfinite(p):
        raise ValueError(f"power: the exponent must be a finite number, got {p}")
    return Power.apply(X, p=float(p) if not isinstance(p, numbers.Integral) else int(p))
