r"""Element-wise functions: exp, log, sigmoid, tanh and ReLU. Derived in book/elementwise.md.

For $S = f(X)$ applied entry by entry, $\partial S_{kl}/\partial X_{ij}$ is zero unless
$(k, l) = (i, j)$, so the recipe's sum collapses to one term: $\bar X = \bar S \odot f'(X)$
(eq. elementwise-backward). Each op's backward pass is that line, with its own $f'$, written
where possible in terms of the output $S$ the forward pass has already computed.
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Op

__all__ = ["Exp", "Log", "Sigmoid", "Tanh", "ReLU", "exp", "log", "sigmoid", "tanh", "relu"]


class Exp(Op):
    r"""$S = e^X$, element-wise.

    S has X's shape. Derived in book/elementwise.md.
    """

    @staticmethod
    def forward(ctx, X):
        limit = np.log(np.finfo(X.dtype).max)
        if np.any(X > limit):
            raise FloatingPointError(
                f"exp: X has entries up to {X.max()}, but exp overflows {X.dtype} above {limit:.2f}; "
                "for softmax or a log of a sum of exps, shift by the max first (see nb.log_softmax)"
            )
        ctx.S = np.exp(X)
        return ctx.S

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * ctx.S  # eq. exp-backward: exp' = exp, and S is already computed
        return X_bar


class Log(Op):
    r"""$S = \log X$, element-wise, for $X > 0$.

    S has X's shape. Derived in book/elementwise.md.
    """

    @staticmethod
    def forward(ctx, X):
        bad = np.argwhere(~(X > 0))
        if len(bad):
            where = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"log: X has {len(bad)} entries that are not positive, the first {X[where]} at index "
                f"{where}; log is undefined there"
            )
        ctx.X = X
        return np.log(X)

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar / ctx.X  # eq. log-backward
        return X_bar


class Sigmoid(Op):
    r"""$S = \sigma(X) = 1 / (1 + e^{-X})$, element-wise.

    S has X's shape. Derived in book/elementwise.md.
    """

    @staticmethod
    def forward(ctx, X):
        # exp(-log(1 + e^-X)), computed without overflow for large |X|
        ctx.S = np.exp(-np.logaddexp(0.0, -X))
        return ctx.S

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * ctx.S * (1 - ctx.S)  # eq. sigmoid-backward: sigma' = sigma (1 - sigma)
        return X_bar


class Tanh(Op):
    r"""$S = \tanh X$, element-wise.

    S has X's shape. Derived in book/elementwise.md.
    """

    @staticmethod
    def forward(ctx, X):
        ctx.S = np.tanh(X)
        return ctx.S

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * (1 - ctx.S**2)  # eq. tanh-backward
        return X_bar


class ReLU(Op):
    r"""$S = \max(X, 0)$, element-wise; its derivative at 0 is taken to be 0, as in PyTorch.

    S has X's shape. Derived in book/elementwise.md.
    """

    @staticmethod
    def forward(ctx, X):
        ctx.X = X
        return np.maximum(X, 0.0)

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * (ctx.X > 0)  # eq. relu-backward: the mask multiplies, it does not add
        return X_bar


def exp(X):
    """$e^X$, element-wise."""
    return Exp.apply(X)


def log(X):
    r"""$\log X$, element-wise; X must be positive."""
    return Log.apply(X)


def sigmoid(X):
    r"""$\sigma(X) = 1 / (1 + e^{-X})$, element-wise."""
    return Sigmoid.apply(X)


def tanh(X):
    r"""$\tanh X$, element-wise."""
    return Tanh.apply(X)


def relu(X):
    r"""$\max(X, 0)$, element-wise."""
    return ReLU.apply(X)
