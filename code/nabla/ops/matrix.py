r"""Matrix multiplication, $Y = XW$. Derived in book/matmul.md.

(The module is not called ``matmul``: that name is the function's, ``nabla.ops.matmul``, and a
module of the same name would be hidden behind it.)
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Op, ShapeError

__all__ = ["MatMul", "matmul"]


class MatMul(Op):
    r"""$Y = XW$.

    X has shape (N, D), W has shape (D, M), Y has shape (N, M). Derived in book/matmul.md.
    """

    @staticmethod
    def forward(ctx, X, W):
        if X.ndim != 2 or W.ndim != 2:
            raise ShapeError(f"matmul: takes two matrices, got X of shape {X.shape} and W of shape {W.shape}")
        if X.shape[1] != W.shape[0]:
            raise ShapeError(
                f"matmul: X has shape {X.shape} but W has shape {W.shape}; the inner sizes "
                f"{X.shape[1]} and {W.shape[0]} must match"
            )
        ctx.X, ctx.W = X, W
        return X @ W

    @staticmethod
    def backward(ctx, Y_bar):
        X_bar = Y_bar @ ctx.W.T  # eq. matmul-x
        # np.dot is @ for matrices; for one example (N = 1), X^T Y_bar is a column times a row,
        # which numpy's @ computes in a plain loop and np.dot by BLAS, several times faster.
        W_bar = np.dot(ctx.X.T, Y_bar)  # eq. matmul-w
        return X_bar, W_bar


def matmul(X, W):
    """$XW$ for matrices X (N, D) and W (D, M); also ``X @ W``."""
    return MatMul.apply(X, W)
