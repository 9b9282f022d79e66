r"""Inverted dropout: $S = M \odot X / (1 - p)$ in train mode, $S = X$ in test mode.

Derived in book/dropout.md. In train mode every entry of X is kept with probability
$1 - p$ and zeroed with probability $p$, independently; the kept entries are scaled by
$1 / (1 - p)$ so that the expected output equals X, and test mode can be the identity.

The mask is drawn once, in the forward pass, and then held fixed: it is a constant of the
op (a keyword argument, so it gets no gradient), and the backward pass multiplies by the
very same mask. Passing the mask in yourself makes the op deterministic, which is what a
gradient check needs.

(The module is not called ``dropout``: that name is the function's, ``nabla.ops.dropout``, and a
module of the same name would be hidden behind it.)
"""

from __future__ import annotations

import numbers

import numpy as np

from nabla.engine import Op, ShapeError, as_generator, as_tensor, check_flag

__all__ = ["Dropout", "dropout", "draw_mask", "check_p"]


class Dropout(Op):
    r"""$S = s\, M \odot X$ for a 0/1 mask M and a scale $s$, both constants.

    Inverted dropout is the case $s = 1 / (1 - p)$ with $M_{ij} \sim \text{Bernoulli}(1 - p)$.
    X, M and S have one shape. Derived in book/dropout.md.
    """

    @staticmethod
    def forward(ctx, X, *, mask, scale):
        ctx.mask, ctx.scale = mask, scale
        return X * mask * scale  # eq. dropout-forward

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * ctx.mask * ctx.scale  # eq. dropout-backward
        return X_bar


def draw_mask(rng, shape, p):
    r"""A boolean mask of ``shape`` whose entries are True (kept) with probability $1 - p$, independently."""
    # rng.random() is uniform on [0, 1): it lands in [p, 1) with probability exactly 1 - p.
    return rng.random(shape) >= p


def check_p(p):
    """``p`` as a float if it is a drop probability dropout can use, else an error that says why not."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout: p is the probability of dropping a unit, a number in [0, 1); got {p!r}")
    if not 0 <= p < 1:  # a NaN fails this too
        reason = (
            "p = 1 would drop every unit, and the scale 1 / (1 - p) would divide by zero"
            if p == 1
            else "p is the probability of dropping a unit"
        )
        raise ValueError(f"dropout: p must lie in [0, 1), got p = {p}; {reason}")
    return float(p)


def check_mask(mask, X):
    """``mask`` as an array of X's dtype holding only 0s and 1s, or an error naming what is wrong."""
    mask = np.asarray(mask)
    if mask.shape != X.shape:
        raise ShapeError(f"dropout: mask has shape {mask.shape} but X has shape {X.shape}; they must be equal")
    if mask.dtype != np.bool_ and not np.issubdtype(mask.dtype, np.number):
        raise TypeError(f"dropout: mask must be boolean or hold 0s and 1s, got dtype {mask.dtype}")
    bad = np.argwhere((mask != 0) & (mask != 1))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"dropout: mask must be boolean or hold only 0s and 1s (keep or drop), but it has "
            f"{len(bad)} other entries, the first {mask[where]} at index {where}"
        )
    return mask.astype(X.dtype)  # 0.0 and 1.0, so that a float32 X stays float32


def dropout(X, p, mask=None, train=True, rng=None):
    r"""Inverted dropout of X with drop probability ``p``: $M \odot X / (1 - p)$ if ``train``, else X.

    In train mode a fresh mask is drawn from ``rng`` (a ``np.random.Generator``; a new
    unseeded one if None), each entry kept with probability $1 - p$; or pass ``mask``
    yourself (boolean or 0/1, X's shape) to hold it fixed, as a gradient check must. In test
    mode X itself is returned: no mask, no scale, no op node. Derived in book/dropout.md.
    """
    X = as_tensor(X, what="dropout")
    p = check_p(p)
    if not check_flag(train, "dropout: train"):
        if mask is not None:
            raise ValueError("dropout: a mask was given with train=False; in test mode dropout is the identity and uses no mask")
        return X
    if mask is None:
        mask = draw_mask(as_generator(rng, "dropout"), X.shape, p)
    return Dropout.apply(X, mask=check_mask(mask, X), scale=1.0 / (1.0 - p))
