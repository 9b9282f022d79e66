r"""Batch normalisation, layer normalisation and spatial batch normalisation. Derived in book/batchnorm.md.

Each normalisation standardises $X$ along one axis and then rescales it with learned
per-feature parameters:

$$
\hat X = \frac{X - \mu}{s}, \qquad s = \sqrt{\sigma^2 + \varepsilon}, \qquad Y = \gamma \odot \hat X + \beta ,
$$

with $\mu$ and $\sigma^2$ the mean and the (biased, $1/N$) variance along that axis: over the batch
for batch normalisation, over the features for layer normalisation.

Batch normalisation is here twice, on purpose:

* :func:`batchnorm_graph` builds it from primitive ops (mean, subtraction, power, division,
  multiplication, with broadcasting); the engine differentiates the graph.
* :class:`BatchNorm` is one fused op whose backward pass is the closed form derived on paper,
  one line per labelled equation of the chapter.

The chapter shows that the two agree and times them (benchmarks/batchnorm_backward.py).
"""

from __future__ import annotations

import numbers

import numpy as np

from nabla.engine import Op, ShapeError, as_int, as_tensor, check_flag
from nabla.ops.shape import mean, reshape, transpose

__all__ = [
    "BatchNorm", "LayerNorm", "BatchNormStats", "batchnorm", "batchnorm_graph", "spatial_batchnorm", "layernorm",
]

# ---- running statistics: what test mode normalises with --------------------------------


class BatchNormStats:
    r"""Running averages of the batch mean and variance, one entry per feature.

    Train mode updates them after every batch with an exponential moving average,

    $$
    \mu^{\text{run}} \leftarrow (1 - \text{momentum})\, \mu^{\text{run}} + \text{momentum}\cdot \mu, \qquad
    \sigma^{2,\text{run}} \leftarrow (1 - \text{momentum})\, \sigma^{2,\text{run}} + \text{momentum}\cdot \tfrac{N}{N - 1}\, \sigma^2 ,
    $$

    and test mode normalises with them in place of the batch's own $\mu$ and $\sigma^2$.

    The running *variance* averages the unbiased (Bessel-corrected, $1/(N-1)$) variance of each
    batch, as PyTorch does, while the normalisation in train mode uses the biased $\sigma^2$ ($1/N$).
    ``unbiased=False`` averages the biased $\sigma^2$ instead. Either way, ``.mean`` and ``.var`` are
    plain numpy arrays of shape (D,) that the reader can inspect or set.
    """

    def __init__(self, num_features, unbiased=True, dtype=np.float64):
        num_features = as_int(num_features, "BatchNormStats: num_features")
        self.mean = np.zeros(num_features, dtype=dtype)  # as PyTorch: a fresh layer's test mode is the identity
        self.var = np.ones(num_features, dtype=dtype)
        self.unbiased = unbiased
        self.updates = 0  # how many batches have been averaged in

    @property
    def num_features(self):
        return self.mean.shape[0]

    def update(self, X, momentum):
        r"""Average the mean and variance of the batch X, of shape (N, D), into the running ones."""
        N = X.shape[0]
        mu = X.mean(axis=0)
        sigma2 = X.var(axis=0)  # biased, 1/N: the variance the batch was normalised with
        if self.unbiased:
            sigma2 = sigma2 * N / (N - 1)  # eq. batchnorm-bessel
        self.mean = (1 - momentum) * self.mean + momentum * mu  # eq. batchnorm-running
        self.var = (1 - momentum) * self.var + momentum * sigma2  # eq. batchnorm-running
        self.updates += 1

    def __repr__(self):
        return f"BatchNormStats(num_features={self.num_features}, updates={self.updates}, unbiased={self.unbiased})"


# ---- batch normalisation, the fused op ---------------------------------------------------


class BatchNorm(Op):
    r"""$Y = \gamma \odot (X - \mu)/s + \beta$ in train mode, with $\mu$, $\sigma^2$ over the batch (axis 0).

    X and Y have shape (N, D); gamma and beta have shape (D,). Derived in book/batchnorm.md:
    the backward pass is the simplified closed form, not the graph of the forward pass.
    """

    @staticmethod
    def forward(ctx, X, gamma, beta, *, eps):
        mu = X.mean(axis=0)  # eq. batchnorm-mean
        sigma2 = np.mean((X - mu) ** 2, axis=0)  # eq. batchnorm-var
        s = np.sqrt(sigma2 + eps)  # eq. batchnorm-sigma
        if np.any(s == 0):
            raise ZeroDivisionError(
                f"batchnorm: feature {int(np.argmin(s))} of X (shape {X.shape}) is constant over the "
                "batch and eps = 0, so s = sqrt(sigma2 + eps) = 0 and x_hat = 0 / 0; use eps > 0"
            )
        X_hat = (X - mu) / s  # eq. batchnorm-xhat
        ctx.X_hat, ctx.s, ctx.gamma = X_hat, s, gamma
        return gamma * X_hat + beta  # eq. batchnorm-y

    @staticmethod
    def backward(ctx, Y_bar):
        X_hat, s = ctx.X_hat, ctx.s
        beta_bar = Y_bar.sum(axis=0)  # eq. batchnorm-beta-bar
        gamma_bar = np.sum(Y_bar * X_hat, axis=0)  # eq. batchnorm-gamma-bar
        X_hat_bar = Y_bar * ctx.gamma  # eq. batchnorm-xhat-bar
        # The two means are the paths through mu and through s: the terms a careless
        # derivation that holds mu and s constant leaves out.
        X_bar = (X_hat_bar - X_hat_bar.mean(axis=0) - X_hat * np.mean(X_hat_bar * X_hat, axis=0)) / s  # eq. batchnorm-x-bar
        return X_bar, gamma_bar, beta_bar


# ---- batch normalisation as a graph of primitive ops -------------------------------------


def batchnorm_graph(X, gamma, beta, eps=1e-5):
    r"""Batch normalisation in train mode, built from primitive ops: the engine derives the backward pass.

    The same function as :class:`BatchNorm`, equation by equation. X has shape (N, D), gamma
    and beta shape (D,); every (D,) vector is broadcast over the N rows. X is used twice (by
    the mean and by the subtraction) and so is X - mu (by the variance and by the division):
    the engine sums the adjoints that flow back along each branch.
    """
    X, gamma, beta = check_batchnorm_shapes("batchnorm_graph", X, gamma, beta, train=True)
    check_constants("batchnorm_graph", eps)
    mu = mean(X, axis=0)  # eq. batchnorm-mean
    X_centered = X - mu
    sigma2 = mean(X_centered**2, axis=0)  # eq. batchnorm-var
    s = (sigma2 + eps) ** 0.5  # eq. batchnorm-sigma
    X_hat = X_centered / s  # eq. batchnorm-xhat
    return gamma * X_hat + beta  # eq. batchnorm-y


# ---- the functions a reader calls --------------------------------------------------------


def check_batchnorm_shapes(name, X, gamma, beta, train, axis_name="feature"):
    """X, gamma, beta as tensors, or an error that names the shapes: X (N, D), gamma and beta (D,), N > 1 to train."""
    X, gamma, beta = (as_tensor(t, what=name) for t in (X, gamma, beta))
    if X.ndim != 2:
        hint = "; for images of shape (N, C, H, W) use nb.spatial_batchnorm" if X.ndim == 4 else ""
        raise ShapeError(f"{name}: X must have shape (N, D), got {X.shape}{hint}")
    N, D = X.shape
    for what, parameter in (("gamma", gamma), ("beta", beta)):
        if parameter.shape != (D,):
            raise ShapeError(
                f"{name}: {what} has shape {parameter.shape} but X has shape {X.shape}; "
                f"gamma and beta need one entry per {axis_name}, shape ({D},)"
            )
    if train and N < 2:
        raise ValueError(
            f"{name}: train mode normalises over the batch, but X has shape {X.shape}: a batch of {N} "
            "has variance 0 in every feature, so x_hat = (x - mu) / s is 0 whatever x is; "
            "use a batch of two or more, or test mode (train=False) with running statistics"
        )
    return X, gamma, beta


def check_constants(name, eps, momentum=0.0):
    """eps >= 0 (it keeps s away from 0) and momentum in [0, 1] (the weight of the new batch)."""
    for what, value in (("eps", eps), ("momentum", momentum)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{name}: {what} must be a number, got {type(value).__name__} {value!r}")
    if not eps >= 0:
        raise ValueError(f"{name}: eps is added to the variance and must be a number >= 0, got {eps!r}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"{name}: momentum is the weight of the new batch, a number in [0, 1], got {momentum!r}")


def batchnorm(X, gamma, beta, stats=None, train=True, momentum=0.1, eps=1e-5):
    r"""Batch normalisation of X (N, D) with scale gamma (D,) and shift beta (D,).

    Train mode (``train=True``) normalises with the batch's own mean and biased variance,
    through the fused op :class:`BatchNorm`, and, if ``stats`` is a :class:`BatchNormStats`,
    averages them into it with weight ``momentum``. Test mode (``train=False``) normalises with
    ``stats.mean`` and ``stats.var`` instead, constants that get no gradient, and leaves them
    unchanged. Derived in book/batchnorm.md.
    """
    X, gamma, beta = check_batchnorm_shapes("batchnorm", X, gamma, beta, check_flag(train, "batchnorm: train"))
    check_constants("batchnorm", eps, momentum)
    if stats is not None and not isinstance(stats, BatchNormStats):
        raise TypeError(f"batchnorm: stats must be a BatchNormStats or None, got {type(stats).__name__}")
    if stats is not None and stats.num_features != X.shape[1]:
        raise ShapeError(
            f"batchnorm: stats hold {stats.num_features} features but X has shape {X.shape}, "
            f"that is {X.shape[1]} features"
        )
    if train:
        Y = BatchNorm.apply(X, gamma, beta, eps=eps)
        if stats is not None:
            stats.update(X.value, momentum)
        return Y
    if stats is None:
        raise ValueError(
            f"batchnorm: test mode (train=False) normalises X of shape {X.shape} with running statistics, "
            "but stats is None; pass the BatchNormStats that train mode updated"
        )
    # Test mode is an affine map of X: the running statistics are constants.
    X_hat = (X - stats.mean) / np.sqrt(stats.var + eps)  # eq. batchnorm-test
    return gamma * X_hat + beta


def spatial_batchnorm(X, gamma, beta, stats=None, train=True, momentum=0.1, eps=1e-5):
    r"""Batch normalisation of images X (N, C, H, W), per channel: gamma and beta have shape (C,).

    Each channel is normalised over the batch *and* the image, $N H W$ numbers. Moving the
    channel axis last and flattening the rest gives the 2-D case, a matrix of shape
    (N H W, C), which :func:`batchnorm` normalises column by column; the inverse reshape and
    transpose put the result back. ``stats`` (a :class:`BatchNormStats` of C features) is updated
    or used as in :func:`batchnorm`. Derived in book/batchnorm.md.
    """
    X, gamma, beta = (as_tensor(t, what="spatial_batchnorm") for t in (X, gamma, beta))
    if X.ndim != 4:
        raise ShapeError(f"spatial_batchnorm: X must have shape (N, C, H, W), got {X.shape}")
    N, C, H, W = X.shape
    for what, parameter in (("gamma", gamma), ("beta", beta)):
        if parameter.shape != (C,):
            raise ShapeError(
                f"spatial_batchnorm: {what} has shape {parameter.shape} but X has shape {X.shape}; "
                f"gamma and beta need one entry per channel, shape ({C},)"
            )
    check_constants("spatial_batchnorm", eps, momentum)
    if train and N * H * W < 2:
        raise ValueError(
            f"spatial_batchnorm: train mode normalises each channel over its N * H * W = {N * H * W} values, "
            f"but X has shape {X.shape}: its variance is 0 and x_hat is meaningless; "
            "use more than one number per channel, or test mode (train=False) with running statistics"
        )
    X_columns = reshape(transpose(X, (0, 2, 3, 1)), (N * H * W, C))  # one column per channel
    Y_columns = batchnorm(X_columns, gamma, beta, stats=stats, train=train, momentum=momentum, eps=eps)
    return transpose(reshape(Y_columns, (N, H, W, C)), (0, 3, 1, 2))


# ---- layer normalisation -----------------------------------------------------------------


class LayerNorm(Op):
    r"""$Y = \gamma \odot (X - \mu)/s + \beta$ with $\mu$, $\sigma^2$ over the features (the last axis).

    X and Y have shape (..., D), typically (N, D); gamma and beta have shape (D,). Each example
    is normalised on its own, so the result does not depend on the rest of the batch.
    Derived in book/batchnorm.md: the backward pass is batch normalisation's, with the means
    taken along the last axis instead of the first.
    """

    @staticmethod
    def forward(ctx, X, gamma, beta, *, eps):
        mu = X.mean(axis=-1, keepdims=True)  # eq. batchnorm-layer-stats
        sigma2 = np.mean((X - mu) ** 2, axis=-1, keepdims=True)  # eq. batchnorm-layer-stats
        s = np.sqrt(sigma2 + eps)
        if np.any(s == 0):
            raise ZeroDivisionError(
                f"layernorm: an example of X (shape {X.shape}) is constant over its features and eps = 0, "
                "so s = sqrt(sigma2 + eps) = 0 and x_hat = 0 / 0; use eps > 0"
            )
        X_hat = (X - mu) / s
        ctx.X_hat, ctx.s, ctx.gamma = X_hat, s, gamma
        return gamma * X_hat + beta

    @staticmethod
    def backward(ctx, Y_bar):
        X_hat, s = ctx.X_hat, ctx.s
        batch_axes = tuple(range(Y_bar.ndim - 1))  # gamma and beta were broadcast over these
        beta_bar = Y_bar.sum(axis=batch_axes)  # eq. batchnorm-beta-bar, summed over examples
        gamma_bar = np.sum(Y_bar * X_hat, axis=batch_axes)  # eq. batchnorm-gamma-bar
        X_hat_bar = Y_bar * ctx.gamma  # eq. batchnorm-xhat-bar
        X_bar = (
            X_hat_bar - X_hat_bar.mean(axis=-1, keepdims=True) - X_hat * np.mean(X_hat_bar * X_hat, axis=-1, keepdims=True)
        ) / s  # eq. batchnorm-layer-x-bar: eq. batchnorm-x-bar with the means over the features
        return X_bar, gamma_bar, beta_bar


def layernorm(X, gamma, beta, eps=1e-5):
    r"""Layer normalisation of X (..., D) over its last axis, with scale gamma (D,) and shift beta (D,).

    No running statistics and no train/test modes: each example is normalised with its own
    mean and variance, in training and at test time alike. Derived in book/batchnorm.md.
    """
    X, gamma, beta = (as_tensor(t, what="layernorm") for t in (X, gamma, beta))
    if X.ndim < 1:
        raise ShapeError(f"layernorm: X must have a feature axis, shape (..., D), got {X.shape}")
    D = X.shape[-1]
    for what, parameter in (("gamma", gamma), ("beta", beta)):
        if parameter.shape != (D,):
            raise ShapeError(
                f"layernorm: {what} has shape {parameter.shape} but X has shape {X.shape}; "
                f"gamma and beta need one entry per feature (the last axis), shape ({D},)"
            )
    check_constants("layernorm", eps)
    if D < 2:
        raise ValueError(
            f"layernorm: X has shape {X.shape}, one feature per example: its variance is 0 and "
            "x_hat = (x - mu) / s is 0 whatever x is"
        )
    return LayerNorm.apply(X, gamma, beta, eps=eps)
