r"""Broadcasting, reductions and the ops that move entries around: copies, sums, views, selections.

Derived in book/broadcasting.md. Broadcasting happens in one place, the :class:`Broadcast`
op: every binary op calls :func:`broadcast_together` first, so its own forward and backward
see inputs of one shape. The backward pass of a copy is a sum, and the backward pass of a sum
is a copy.
"""

from __future__ import annotations

import numbers

import numpy as np

from nabla.engine import Op, ShapeError, Tensor, as_tensor, check_flag

__all__ = [
    "Broadcast", "Sum", "Mean", "Expand", "Reshape", "Transpose", "Select", "Normalize",
    "broadcast_to", "broadcast_together", "sum", "mean", "expand", "reshape", "transpose",
    "select", "squeeze", "unsqueeze", "normalize", "normalize_axis",
]


# ---- broadcasting: numpy's rule, made one explicit op -----------------------------------


class Broadcast(Op):
    r"""$Y_J = X_{\pi(J)}$: X copied along new leading axes and along its size-1 axes.

    X has any shape that broadcasts to the constant ``shape``; Y has ``shape``. The only place
    in nabla where broadcasting happens. Derived in book/broadcasting.md: the adjoint of a
    copy is the sum of the copies' adjoints.
    """

    @staticmethod
    def forward(ctx, X, *, shape):
        ctx.X_shape = X.shape
        Y = np.empty(shape, dtype=X.dtype)
        Y[...] = X  # numpy's assignment broadcasts X into every copy: a copy, not a view into X
        return Y

    @staticmethod
    def backward(ctx, Y_bar):
        # Axes that numpy prepended were not in X at all: sum them away.
        new_axes = tuple(range(Y_bar.ndim - len(ctx.X_shape)))
        X_bar = Y_bar.sum(axis=new_axes)  # eq. broadcasting-rule
        # Axes where X had size 1 were copied: sum over the copies, keep the axis.
        copied_axes = tuple(i for i, n in enumerate(ctx.X_shape) if n == 1 and X_bar.shape[i] != 1)
        X_bar = X_bar.sum(axis=copied_axes, keepdims=True)  # eq. broadcasting-rule
        return X_bar


def shape_tuple(shape, name, free=0):
    """``shape`` (an int or a sequence of ints) as a tuple of sizes >= 0, with up to ``free`` sizes -1 (reshape's "the rest")."""
    sizes = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in sizes):
        raise TypeError(f"{name}: a shape is an int or a tuple of ints, got {shape!r}")
    if any(n < -free for n in sizes) or sizes.count(-1) > free:
        raise ValueError(f"{name}: the sizes of a shape must be >= 0{' (one may be -1)' if free else ''}, got {shape!r}")
    return tuple(int(n) for n in sizes)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` by numpy's rules, as a :class:`Broadcast` node (or ``x`` if it already has it)."""
    x = as_tensor(x, what="broadcast_to")
    shape = shape_tuple(shape, "broadcast_to")
    if x.shape == shape:
        return x
    try:
        reachable = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        reachable = False
    if not reachable:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return Broadcast.apply(x, shape=shape)


def broadcast_together(name, A, B):
    """``A`` and ``B`` as tensors of one common shape, or a ShapeError naming both shapes.

    Only an input whose shape is not the common shape gets a :class:`Broadcast` node.
    """
    A = as_tensor(A, like=B if isinstance(B, Tensor) else None, what=name)
    B = as_tensor(B, like=A, what=name)
    if A.shape == B.shape:
        return A, B
    try:
        shape = np.broadcast_shapes(A.shape, B.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: cannot broadcast shapes {A.shape} and {B.shape}; aligned from the "
            "right, each pair of sizes must be equal or one of them 1"
        ) from None
    # The common shape is reachable from both by construction: no second check, as broadcast_to makes.
    A = A if A.shape == shape else Broadcast.apply(A, shape=shape)
    B = B if B.shape == shape else Broadcast.apply(B, shape=shape)
    return A, B


# ---- reductions ------------------------------------------------------------------------


def normalize_axis(axis, ndim, name):
    """``axis`` (None, an int, or a tuple of ints, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{name}: an axis is an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a!r} is out of range for a tensor with {ndim} dimensions")
    normalized = sorted(a % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{name}: axis {axis!r} names the same axis twice")
    return tuple(normalized)


class Sum(Op):
    r"""$s = \sum_{\text{axes}} X$: X summed over the constant ``axes``.

    X has any shape; s has X's shape without ``axes`` (kept with size 1 if ``keepdims``).
    Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, axes, keepdims):
        ctx.X_shape, ctx.axes, ctx.keepdims = X.shape, axes, keepdims
        return np.sum(X, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, s_bar):
        if not ctx.keepdims:
            s_bar = np.expand_dims(s_bar, ctx.axes)
        # Every summed element moved s by exactly its own change: each gets s_bar.
        X_bar = np.array(np.broadcast_to(s_bar, ctx.X_shape))  # eq. broadcasting-sum
        return X_bar


class Mean(Op):
    r"""$\mu = \frac1n \sum_{\text{axes}} X$, with $n$ the number of elements averaged.

    X has any shape; $\mu$ has X's shape without ``axes`` (kept with size 1 if ``keepdims``).
    Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, axes, keepdims):
        ctx.X_shape, ctx.axes, ctx.keepdims = X.shape, axes, keepdims
        ctx.n = int(np.prod([X.shape[a] for a in axes]))
        if ctx.n == 0:
            raise ValueError(f"mean: the axes {axes} of a tensor of shape {X.shape} hold no elements")
        return np.mean(X, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, mu_bar):
        if not ctx.keepdims:
            mu_bar = np.expand_dims(mu_bar, ctx.axes)
        X_bar = np.array(np.broadcast_to(mu_bar / ctx.n, ctx.X_shape))  # eq. broadcasting-mean
        return X_bar


def sum(X, axis=None, keepdims=False):  # noqa: A001 - nb.sum mirrors np.sum and torch.sum
    """X summed over ``axis`` (all axes if None)."""
    X = as_tensor(X, what="sum")
    return Sum.apply(X, axes=normalize_axis(axis, X.ndim, "sum"), keepdims=check_flag(keepdims, "sum: keepdims"))


def mean(X, axis=None, keepdims=False):
    """The mean of X over ``axis`` (all axes if None)."""
    X = as_tensor(X, what="mean")
    return Mean.apply(X, axes=normalize_axis(axis, X.ndim, "mean"), keepdims=check_flag(keepdims, "mean: keepdims"))


# ---- copies, views and selections ---------------------------------------------------------


class Expand(Op):
    r"""$Y_{il} = x_i$: ``size`` copies of X stacked along a new axis ``axis``.

    X has any shape; Y has X's shape with ``size`` inserted at position ``axis``.
    Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, axis, size):
        ctx.axis = axis
        return np.repeat(np.expand_dims(X, axis), size, axis=axis)

    @staticmethod
    def backward(ctx, Y_bar):
        X_bar = Y_bar.sum(axis=ctx.axis)  # eq. expand-backward: every copy's adjoint flows back
        return X_bar


class Reshape(Op):
    r"""$Y$ = the entries of X, in row-major order, arranged to ``shape``.

    X has any shape; Y has ``shape``, with as many entries. Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, shape):
        ctx.X_shape = X.shape
        return X.reshape(shape)

    @staticmethod
    def backward(ctx, Y_bar):
        return Y_bar.reshape(ctx.X_shape)


class Transpose(Op):
    r"""$Y$ = X with its axes permuted by ``axes``: $Y = X^\top$ for a matrix.

    Y has the shape of X with its axes permuted: axis k of Y is axis ``axes[k]`` of X.
    Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, axes):
        ctx.axes = axes
        return np.transpose(X, axes)

    @staticmethod
    def backward(ctx, Y_bar):
        # The inverse permutation puts every axis back where it came from.
        return np.transpose(Y_bar, np.argsort(ctx.axes))  # eq. broadcasting-transpose


class Select(Op):
    r"""$Y$ = the entries of X at the integer ``index`` along ``axis``: rows of a matrix for axis 0.

    Y has X's shape with axis ``axis`` replaced by the shape of ``index``. Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, index, axis):
        ctx.X_shape, ctx.index, ctx.axis = X.shape, index, axis
        return np.take(X, index, axis=axis)

    @staticmethod
    def backward(ctx, Y_bar):
        X_bar = np.zeros(ctx.X_shape, dtype=Y_bar.dtype)
        # add.at, not assignment: a row selected twice receives both adjoints.
        np.add.at(X_bar, (slice(None),) * ctx.axis + (ctx.index,), Y_bar)  # eq. broadcasting-select
        return X_bar


class Normalize(Op):
    r"""$Y = X / \lVert X \rVert$, each slice along ``axis`` scaled to unit Euclidean norm.

    Y has X's shape. Derived in book/broadcasting.md.
    """

    @staticmethod
    def forward(ctx, X, *, axis):
        r = np.sqrt(np.sum(X**2, axis=axis, keepdims=True))
        if np.any(r == 0):
            raise ZeroDivisionError(f"normalize: X of shape {X.shape} has a slice of norm 0 along axis {axis}")
        ctx.Y, ctx.r, ctx.axis = X / r, r, axis
        return ctx.Y

    @staticmethod
    def backward(ctx, Y_bar):
        # Remove from Y_bar its component along Y (moving along Y changes only the norm), scale by 1/r.
        X_bar = (Y_bar - ctx.Y * np.sum(Y_bar * ctx.Y, axis=ctx.axis, keepdims=True)) / ctx.r  # eq. normalize-backward
        return X_bar


def expand(X, axis, size):
    """``size`` copies of X along a new axis at position ``axis``."""
    X = as_tensor(X, what="expand")
    if not 0 <= new_axis(axis, "expand") <= X.ndim:
        raise ValueError(f"expand: a new axis goes at a position from 0 to {X.ndim} for shape {X.shape}, got {axis}")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"expand: size must be a positive int, got {size!r}")
    return Expand.apply(X, axis=int(axis), size=int(size))


def new_axis(axis, name):
    """``axis``, the position of an axis to insert, if it is an int; else a TypeError."""
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{name}: the position of the new axis is an int, got {axis!r}")
    return axis


def reshape(X, shape):
    """The entries of X arranged to ``shape`` (one entry may be -1: whatever size is left)."""
    X = as_tensor(X, what="reshape")
    shape = shape_tuple(shape, "reshape", free=1)
    try:
        np.empty(X.shape, dtype=np.bool_).reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot arrange {X.size} elements of shape {X.shape} as {shape}") from None
    return Reshape.apply(X, shape=shape)


def transpose(X, axes=None):
    """X with its axes permuted by ``axes`` (reversed if None: $X^\\top$ for a matrix); also ``X.T``."""
    X = as_tensor(X, what="transpose")
    if axes is None:
        return Transpose.apply(X, axes=tuple(reversed(range(X.ndim))))
    if not isinstance(axes, (tuple, list)) or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"transpose: axes must be a tuple of ints, one per axis of X, got {axes!r}")
    axes = tuple(int(a) for a in axes)
    # Each axis in range first: (2, 1) for a matrix would otherwise pass as (0, 1), axis 2 read as axis 0.
    if len(axes) != X.ndim or not all(-X.ndim <= a < X.ndim for a in axes) or len({a % X.ndim for a in axes}) != X.ndim:
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {X.ndim} axes of shape {X.shape}")
    return Transpose.apply(X, axes=tuple(a % X.ndim for a in axes))


def select(X, index, axis=0):
    """The entries of X at integer ``index`` (an int or an int array) along ``axis``."""
    X = as_tensor(X, what="select")
    (axis,) = normalize_axis(axis, X.ndim, "select")
    index = np.asarray(index)
    if index.size == 0 and index.dtype.kind == "f":  # np.asarray([]) is float64: an empty selection all the same
        index = index.astype(np.intp)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"select: index must hold integers, got dtype {index.dtype}")
    size = X.shape[axis]
    if np.any((index < -size) | (index >= size)):
        raise IndexError(f"select: index {index.tolist()} is out of range for axis {axis} of size {size} (shape {X.shape})")
    return Select.apply(X, index=index, axis=axis)


def squeeze(X, axis):
    """X without its size-1 axis ``axis``: a reshape."""
    X = as_tensor(X, what="squeeze")
    (axis,) = normalize_axis(axis, X.ndim, "squeeze")
    if X.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of shape {X.shape} has size {X.shape[axis]}, not 1")
    return reshape(X, X.shape[:axis] + X.shape[axis + 1 :])


def unsqueeze(X, axis):
    """X with a new size-1 axis at position ``axis``: a reshape."""
    X = as_tensor(X, what="unsqueeze")
    if not -X.ndim - 1 <= new_axis(axis, "unsqueeze") <= X.ndim:
        raise ValueError(f"unsqueeze: a new axis goes at a position from {-X.ndim - 1} to {X.ndim}, got {axis}")
    axis = axis % (X.ndim + 1)
    return reshape(X, X.shape[:axis] + (1,) + X.shape[axis:])


def normalize(X, axis=-1):
    r"""$X / \lVert X\rVert$ along ``axis`` (rows of a matrix by default)."""
    X = as_tensor(X, what="normalize")
    (axis,) = normalize_axis(axis, X.ndim, "normalize")
    return Normalize.apply(X, axis=axis)
