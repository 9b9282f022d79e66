r"""Functions with kinks and branches: abs, sqrt, maximum and where. Derived in book/autodiff-lies.md.

At a kink a function has no derivative, and every engine returns *something* there: a
convention. nabla takes PyTorch's where it is harmless ($|x|'$ at 0 is 0, a tie in a maximum
splits the adjoint equally) and refuses the input where it is not ($\sqrt x$ at 0).
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Op, ShapeError, Tensor
from nabla.ops.arithmetic import power
from nabla.ops.shape import broadcast_to, broadcast_together

__all__ = ["Abs", "Maximum", "Where", "abs", "sqrt", "maximum", "where"]


class Abs(Op):
    r"""$S = |X|$, element-wise; at 0, where $|x|$ has no derivative, backward uses 0, as PyTorch does.

    S has X's shape. Derived in book/autodiff-lies.md.
    """

    @staticmethod
    def forward(ctx, X):
        ctx.X = X
        return np.abs(X)

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * np.sign(ctx.X)  # sign(0) = 0: a choice, like ReLU's at 0
        return X_bar


class Maximum(Op):
    r"""$S = \max(X, Y)$, element-wise; where $X = Y$ the adjoint is split equally, as PyTorch does.

    X, Y and S have one shape (:func:`maximum` broadcasts first). Derived in book/autodiff-lies.md.
    """

    @staticmethod
    def forward(ctx, X, Y):
        ctx.X, ctx.Y = X, Y
        return np.maximum(X, Y)

    @staticmethod
    def backward(ctx, S_bar):
        # 1 where X wins, 0 where Y wins, 1/2 on a tie: the two shares always sum to 1.
        X_share = (ctx.X > ctx.Y) + 0.5 * (ctx.X == ctx.Y)
        return S_bar * X_share, S_bar * (1 - X_share)


class Where(Op):
    r"""$S = X$ where ``condition`` holds, else $Y$: a branch, made element-wise.

    X, Y, the constant boolean ``condition`` and S have one shape (:func:`where` broadcasts
    first). Derived in book/autodiff-lies.md.
    """

    @staticmethod
    def forward(ctx, X, Y, *, condition):
        ctx.condition = condition
        return np.where(condition, X, Y)

    @staticmethod
    def backward(ctx, S_bar):
        # Each entry's adjoint goes to the branch that was taken; the other branch gets 0 there,
        # but 0 times a NaN from that branch's own backward is still NaN (book/autodiff-lies.md).
        return S_bar * ctx.condition, S_bar * ~ctx.condition


def abs(X):  # noqa: A001 - nb.abs mirrors np.abs and torch.abs
    """$|X|$, element-wise."""
    return Abs.apply(X)


def sqrt(X):
    r"""$\sqrt X$, as ``X ** 0.5``: refused at X = 0, where the derivative is infinite."""
    return power(X, 0.5)


def maximum(X, Y):
    r"""$\max(X, Y)$ element-wise, with numpy broadcasting."""
    return Maximum.apply(*broadcast_together("maximum", X, Y))


def where(condition, X, Y):
    """X where the boolean array ``condition`` is true, else Y (broadcast together)."""
    condition = np.asarray(condition.value if isinstance(condition, Tensor) else condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean array, got dtype {condition.dtype}")
    X, Y = broadcast_together("where", X, Y)
    try:
        shape = np.broadcast_shapes(condition.shape, X.shape)
    except ValueError:
        raise ShapeError(f"where: condition of shape {condition.shape} does not broadcast with {X.shape}") from None
    X, Y = broadcast_to(X, shape), broadcast_to(Y, shape)
    return Where.apply(X, Y, condition=np.broadcast_to(condition, shape))
