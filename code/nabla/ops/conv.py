r"""Convolution and max pooling on images of shape (N, C, H, W). Derived in book/convolution.md.

Both ops are built on one pair of functions:

* :func:`im2col` unfolds every patch the kernel visits into one row of a matrix, so that a
  convolution becomes a single matrix product (and a max pool a max along rows);
* :func:`col2im` is its adjoint: it scatters a gradient of that matrix back onto the image,
  *adding* where patches overlap, because a pixel copied into several rows receives the
  adjoint of every copy.

The "convolution" of deep learning is, strictly, a cross-correlation: the kernel is not flipped.
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Op, ShapeError, as_int, as_tensor

__all__ = ["Conv2d", "MaxPool2d", "conv2d", "max_pool2d", "im2col", "col2im", "output_size"]


def output_size(size, kernel, stride, padding):
    r"""The number of positions of a kernel along one axis: $\lfloor (size + 2\,padding - kernel) / stride \rfloor + 1$."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(X, kh, kw, stride=1, padding=0):
    r"""The patches of X as the rows of a matrix $\hat X$: eq. conv-im2col.

    X has shape (N, C, H, W); the result has shape (N * H_out * W_out, C * kh * kw). Row
    $(n, p, q)$ is the patch of image $n$ under the kernel at output position $(p, q)$, and
    column $(c, i, j)$ is the kernel's entry in channel $c$, row $i$, column $j$:
    $\hat X_{(npq),(cij)} = \tilde X_{n,\,c,\,sp+i,\,sq+j}$ (both in row-major order), where
    $\tilde X$ is X with ``padding`` zeros on every side.
    """
    N, C, H, W = X.shape
    H_out, W_out = output_size(H, kh, stride, padding), output_size(W, kw, stride, padding)
    X_pad = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    X_hat = np.empty((N, H_out, W_out, C, kh, kw), dtype=X.dtype)
    # One slice per kernel entry (i, j): the pixel under that entry, for every position (p, q) at once.
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + stride * H_out, stride)
            cols = slice(j, j + stride * W_out, stride)
            X_hat[:, :, :, :, i, j] = X_pad[:, :, rows, cols].transpose(0, 2, 3, 1)
    return X_hat.reshape(N * H_out * W_out, C * kh * kw)


def col2im(X_hat_bar, X_shape, kh, kw, stride=1, padding=0):
    r"""The adjoint of :func:`im2col`: scatter-add the rows of $\bar{\hat X}$ back onto the image. eq. conv-col2im.

    X_hat_bar has shape (N * H_out * W_out, C * kh * kw); the result has ``X_shape`` =
    (N, C, H, W). Every entry of $\hat X$ is a copy of one pixel, so every entry of
    $\bar{\hat X}$ is added to that pixel's adjoint; a pixel under several patches (stride
    smaller than the kernel) collects several terms. Adjoints that land in the padding
    belong to no pixel of X and are cropped away (eq. conv-x).
    """
    N, C, H, W = X_shape
    H_out, W_out = output_size(H, kh, stride, padding), output_size(W, kw, stride, padding)
    X_hat_bar = X_hat_bar.reshape(N, H_out, W_out, C, kh, kw)
    X_pad_bar = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=X_hat_bar.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + stride * H_out, stride)
            cols = slice(j, j + stride * W_out, stride)
            # +=, not =: the patches of neighbouring positions overlap, and each adds its share.
            X_pad_bar[:, :, rows, cols] += X_hat_bar[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return X_pad_bar[:, :, padding : padding + H, padding : padding + W]


class Conv2d(Op):
    r"""$Y_{nfpq} = b_f + \sum_{c,i,j} W_{fcij}\, \tilde X_{n,c,sp+i,sq+j}$, with $s$ the ``stride``.

    X has shape (N, C, H, W), W has shape (F, C, kh, kw), the optional b has shape (F,);
    Y has shape (N, F, H_out, W_out). $\tilde X$ is X with ``padding`` zeros on every side;
    ``stride`` and ``padding`` are constants. Derived in book/convolution.md.
    """

    @staticmethod
    def forward(ctx, X, W, b=None, *, stride, padding):
        N, C, H, W_in = X.shape
        F, _, kh, kw = W.shape
        H_out, W_out = output_size(H, kh, stride, padding), output_size(W_in, kw, stride, padding)
        X_hat = im2col(X, kh, kw, stride, padding)  # eq. conv-im2col: (N H_out W_out, C kh kw)
        W_hat = W.reshape(F, C * kh * kw)  # one filter per row
        Y_hat = X_hat @ W_hat.T  # eq. conv-matmul: (N H_out W_out, F)
        if b is not None:
            Y_hat = Y_hat + b  # the same b_f for every row
        ctx.X_shape, ctx.W_shape, ctx.X_hat, ctx.W_hat = X.shape, W.shape, X_hat, W_hat
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, b is not None
        # Y_hat's rows are (n, p, q) and its columns f; an image wants the axes (n, f, p, q).
        return Y_hat.reshape(N, H_out, W_out, F).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, Y_bar):
        F, C, kh, kw = ctx.W_shape
        Y_hat_bar = Y_bar.transpose(0, 2, 3, 1).reshape(-1, F)  # eq. conv-y-hat
        W_bar = (Y_hat_bar.T @ ctx.X_hat).reshape(ctx.W_shape)  # eq. conv-w
        X_hat_bar = Y_hat_bar @ ctx.W_hat  # eq. conv-x-hat
        X_bar = col2im(X_hat_bar, ctx.X_shape, kh, kw, ctx.stride, ctx.padding)  # eqs. conv-col2im, conv-x
        if not ctx.has_bias:
            return X_bar, W_bar
        b_bar = Y_hat_bar.sum(axis=0)  # eq. conv-b
        return X_bar, W_bar, b_bar


class MaxPool2d(Op):
    r"""$Y_{ncpq} = \max_{i,j} X_{n,c,sp+i,sq+j}$ over each kh x kw window, with $s$ the ``stride``.

    X has shape (N, C, H, W); Y has shape (N, C, H_out, W_out). On a tie, the first maximum
    of the window in row-major order wins the gradient (as in PyTorch on the CPU).
    Derived in book/convolution.md.
    """

    @staticmethod
    def forward(ctx, X, *, kernel_size, stride):
        N, C, H, W = X.shape
        kh, kw = kernel_size
        H_out, W_out = output_size(H, kh, stride, 0), output_size(W, kw, stride, 0)
        # Each channel pooled on its own: C images of one channel each, one window per row.
        X_hat = im2col(X.reshape(N * C, 1, H, W), kh, kw, stride)  # (N C H_out W_out, kh kw)
        ctx.winner = np.argmax(X_hat, axis=1)  # np.argmax returns the first of tied maxima
        ctx.X_shape, ctx.X_hat_shape, ctx.kernel_size, ctx.stride = X.shape, X_hat.shape, kernel_size, stride
        Y = X_hat[np.arange(len(X_hat)), ctx.winner]
        return Y.reshape(N, C, H_out, W_out)

    @staticmethod
    def backward(ctx, Y_bar):
        N, C, H, W = ctx.X_shape
        X_hat_bar = np.zeros(ctx.X_hat_shape, dtype=Y_bar.dtype)
        # Only the winner of each window moved the output; the others get nothing.
        X_hat_bar[np.arange(len(X_hat_bar)), ctx.winner] = Y_bar.reshape(-1)  # eq. conv-pool-window
        X_bar = col2im(X_hat_bar, (N * C, 1, H, W), *ctx.kernel_size, ctx.stride)  # eq. conv-pool-x
        return X_bar.reshape(ctx.X_shape)


# ---- the functions a reader calls, and the errors they raise ----------------------------


def positive_int(value, what, name):
    """``value`` as an int if it is a positive integer; else a TypeError (no number) or a ValueError naming it."""
    return as_int(value, f"{name}: {what}")


def kernel_pair(kernel_size, name):
    """``kernel_size``, an int or a pair (kh, kw) of positive ints, as the pair (kh, kw); else an error naming it."""
    pair = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if len(pair) != 2:
        raise ValueError(f"{name}: kernel_size must be an int or a pair (kh, kw), got {kernel_size!r}")
    return tuple(positive_int(k, "kernel_size", name) for k in pair)


def image_batch(X, name):
    """X as a tensor of shape (N, C, H, W), or a ShapeError that says what it is instead."""
    X = as_tensor(X, what=name)
    if X.ndim != 4:
        raise ShapeError(f"{name}: X must have 4 axes (N, C, H, W), got shape {X.shape}")
    return X


def conv2d(X, W, b=None, stride=1, padding=0):
    r"""The 2-D convolution (cross-correlation) of a batch of images X with F filters W, plus b.

    X (N, C, H, W_in), W (F, C, kh, kw), b (F,) or None; returns (N, F, H_out, W_out) with
    H_out = (H + 2 padding - kh) // stride + 1, and the same for the width. The input is
    padded with zeros, ``padding`` on every side. Derived in book/convolution.md.
    """
    X = image_batch(X, "conv2d")
    W = as_tensor(W, like=X, what="conv2d")
    stride = positive_int(stride, "stride", "conv2d")
    padding = as_int(padding, "conv2d: padding", least=0)
    if W.ndim != 4:
        raise ShapeError(f"conv2d: W must have 4 axes (F, C, kh, kw), got shape {W.shape}")
    (N, C, H, W_in), (F, C_w, kh, kw) = X.shape, W.shape
    if min(F, kh, kw) == 0:  # an empty kernel would sum nothing: an output of zeros, with no error
        raise ShapeError(f"conv2d: W has shape {W.shape}; it needs at least one filter F and a kernel of at least 1 x 1")
    if C != C_w:
        raise ShapeError(
            f"conv2d: X has shape {X.shape} with {C} channels but W has shape {W.shape} with {C_w}; "
            f"axis 1 of both (the input channels C) must match"
        )
    padded = (H + 2 * padding, W_in + 2 * padding)
    if kh > padded[0] or kw > padded[1]:
        raise ShapeError(
            f"conv2d: the kernel ({kh}, {kw}) is larger than the padded input {padded} "
            f"(X's height and width ({H}, {W_in}) plus padding {padding} on each side)"
        )
    if b is None:
        return Conv2d.apply(X, W, stride=stride, padding=int(padding))
    b = as_tensor(b, like=X, what="conv2d")
    if b.shape != (F,):
        raise ShapeError(f"conv2d: b has shape {b.shape} but W has shape {W.shape}; expected one bias per filter, ({F},)")
    return Conv2d.apply(X, W, b, stride=stride, padding=int(padding))


def max_pool2d(X, kernel_size, stride=None):
    """The maximum of each kernel_size window of each channel of X (N, C, H, W).

    ``kernel_size`` is an int or a pair (kh, kw); ``stride`` defaults to ``kernel_size``
    (windows side by side, as in PyTorch). Windows that would run past the edge are dropped.
    """
    X = image_batch(X, "max_pool2d")
    kh, kw = kernel_pair(kernel_size, "max_pool2d")
    if stride is None:
        if kh != kw:
            raise ValueError(f"max_pool2d: give a stride for the non-square kernel ({kh}, {kw})")
        stride = kh
    stride = positive_int(stride, "stride", "max_pool2d")
    H, W = X.shape[2:]
    if kh > H or kw > W:
        raise ShapeError(f"max_pool2d: the window ({kh}, {kw}) is larger than the input ({H}, {W}) (X has shape {X.shape})")
    return MaxPool2d.apply(X, kernel_size=(kh, kw), stride=stride)
