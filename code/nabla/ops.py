r"""The ops: one class each, a static ``forward`` and a static ``backward``, in chapter order.

Every op follows one pattern. ``forward(ctx, *arrays, **constants)`` computes the output
from numpy arrays and stores on ``ctx`` what the backward pass will need. ``backward(ctx,
out_bar)`` receives the output's adjoint $\bar S$ and returns one adjoint per input, each of
that input's shape. Keyword arguments are constants: they get no gradient.

The code names mirror the book's symbols: ``S_bar`` is $\bar S$, ``X_bar`` is $\bar X$.
Each backward line cites the label of the equation it implements.
"""

from __future__ import annotations

import numbers

import numpy as np

from nabla.tensor import ShapeError, Tensor, as_tensor


class Context:
    """A blank object on which ``forward`` leaves what ``backward`` will need."""


class OpNode:
    """One application of an op in the graph: the op, its context, its inputs and outputs.

    ``outputs`` is filled in by :meth:`Op.apply` only after the output tensor exists: the
    node is made first (the output tensor points back at it through ``.source``), then the
    output, then the node is told about the output. Neither can be built complete before
    the other.
    """

    def __init__(self, op, context, inputs):
        self.op = op
        self.context = context
        self.inputs = inputs
        self.outputs = None

    def __repr__(self):
        return f"OpNode({self.op.__name__}, inputs={[t.shape for t in self.inputs]})"


class Op:
    """The base of every op. Subclasses define ``forward`` and ``backward``; never instances."""

    @staticmethod
    def forward(ctx, *arrays, **constants):
        raise NotImplementedError  # an abstract method: every op defines its own

    @staticmethod
    def backward(ctx, out_bar):
        raise NotImplementedError  # an abstract method: every op defines its own

    @classmethod
    def apply(cls, *inputs, **constants):
        """Run ``forward`` on the inputs' values and record the op in the graph."""
        inputs = tuple(as_tensor(x, what=cls.__name__) for x in inputs)
        context = Context()
        value = cls.forward(context, *(t.value for t in inputs), **constants)
        node = OpNode(cls, context, inputs)
        output = Tensor(value, source=node)
        node.outputs = (output,)  # only now does the output exist to point to
        return output


# ---- broadcasting: numpy's rule, made one explicit op -----------------------------------


class Broadcast(Op):
    r"""$Y = $ X copied along new leading axes and along its size-1 axes, to ``shape``.

    The only place in nabla where broadcasting happens: every binary op broadcasts its
    inputs with this op first, so its own forward and backward see equal shapes.
    Derived in book/broadcasting.md: the adjoint of a copy is the sum of the copies' adjoints.
    """

    @staticmethod
    def forward(ctx, X, *, shape):
        ctx.X_shape = X.shape
        return np.array(np.broadcast_to(X, shape))  # a copy, not a view into X

    @staticmethod
    def backward(ctx, Y_bar):
        # Axes that numpy prepended were not in X at all: sum them away.
        new_axes = tuple(range(Y_bar.ndim - len(ctx.X_shape)))
        X_bar = Y_bar.sum(axis=new_axes)
        # Axes where X had size 1 were copied: sum over the copies, keep the axis.
        copied_axes = tuple(i for i, n in enumerate(ctx.X_shape) if n == 1 and X_bar.shape[i] != 1)
        X_bar = X_bar.sum(axis=copied_axes, keepdims=True)
        return X_bar


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` by numpy's rules, as a :class:`Broadcast` node (or ``x`` if it already has it)."""
    x = as_tensor(x, what="broadcast_to")
    shape = tuple(shape)
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
    """``A`` and ``B`` as tensors of one common shape, or a ShapeError naming both shapes."""
    A = as_tensor(A, like=B if isinstance(B, Tensor) else None, what=name)
    B = as_tensor(B, like=A, what=name)
    try:
        shape = np.broadcast_shapes(A.shape, B.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: cannot broadcast shapes {A.shape} and {B.shape}; aligned from the "
            "right, each pair of sizes must be equal or one of them 1"
        ) from None
    return broadcast_to(A, shape), broadcast_to(B, shape)


# ---- element-wise arithmetic (book/computation-graphs.md, book/division.md) ------------


class Add(Op):
    r"""$S = X + Y$, element-wise, for X and Y of one shape."""

    @staticmethod
    def forward(ctx, X, Y):
        return X + Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar  # eq. add-x
        Y_bar = S_bar  # eq. add-y
        return X_bar, Y_bar


class Subtract(Op):
    r"""$S = X - Y$, element-wise, for X and Y of one shape."""

    @staticmethod
    def forward(ctx, X, Y):
        return X - Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar
        Y_bar = -S_bar
        return X_bar, Y_bar


class Multiply(Op):
    r"""$S = X \odot Y$, element-wise, for X and Y of one shape."""

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
    r"""$S = X / Y$, element-wise, for X and Y of one shape. Derived in book/division.md."""

    @staticmethod
    def forward(ctx, X, Y):
        zeros = np.argwhere(Y == 0)
        if len(zeros):
            raise ZeroDivisionError(
                f"divide: Y contains {len(zeros)} zero(s), the first at index "
                f"{tuple(int(i) for i in zeros[0])}; X / Y is infinite there and has no gradient"
            )
        ctx.X, ctx.Y = X, Y
        return X / Y

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar / ctx.Y  # eq. division-x
        Y_bar = -S_bar * ctx.X / ctx.Y**2  # eq. division-y
        return X_bar, Y_bar


class Negate(Op):
    r"""$S = -X$."""

    @staticmethod
    def forward(ctx, X):
        return -X

    @staticmethod
    def backward(ctx, S_bar):
        return -S_bar


class Power(Op):
    r"""$S = X^p$, element-wise, for a constant exponent $p$."""

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
        X_bar = S_bar * ctx.p * ctx.X ** (ctx.p - 1)
        return X_bar


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
    r"""$s = \sum_{\text{axes}} X$: X summed over ``axes`` (kept as size 1 if ``keepdims``)."""

    @staticmethod
    def forward(ctx, X, *, axes, keepdims):
        ctx.X_shape, ctx.axes, ctx.keepdims = X.shape, axes, keepdims
        return np.sum(X, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, s_bar):
        if not ctx.keepdims:
            s_bar = np.expand_dims(s_bar, ctx.axes)
        # Every summed element moved s by exactly its own change: each gets s_bar.
        X_bar = np.array(np.broadcast_to(s_bar, ctx.X_shape))
        return X_bar


class Mean(Op):
    r"""$\mu = \frac1n \sum_{\text{axes}} X$, with $n$ the number of elements averaged."""

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
        X_bar = np.array(np.broadcast_to(mu_bar / ctx.n, ctx.X_shape))
        return X_bar


# ---- the functions a reader calls -------------------------------------------------------


def add(X, Y):
    """$X + Y$ with numpy broadcasting."""
    return Add.apply(*broadcast_together("add", X, Y))


def subtract(X, Y):
    """$X - Y$ with numpy broadcasting."""
    return Subtract.apply(*broadcast_together("subtract", X, Y))


def multiply(X, Y):
    r"""$X \odot Y$ with numpy broadcasting."""
    return Multiply.apply(*broadcast_together("multiply", X, Y))


def divide(X, Y):
    """$X / Y$ with numpy broadcasting; Y must contain no zeros."""
    return Divide.apply(*broadcast_together("divide", X, Y))


def negate(X):
    """$-X$."""
    return Negate.apply(X)


def power(X, p):
    """$X^p$ for a constant number ``p``."""
    if isinstance(p, Tensor) or not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"power: the exponent must be a constant number, got {type(p).__name__}")
    return Power.apply(X, p=float(p) if not isinstance(p, numbers.Integral) else int(p))


def sum(X, axis=None, keepdims=False):  # noqa: A001 - nb.sum mirrors np.sum and torch.sum
    """X summed over ``axis`` (all axes if None)."""
    X = as_tensor(X, what="sum")
    return Sum.apply(X, axes=normalize_axis(axis, X.ndim, "sum"), keepdims=keepdims)


def mean(X, axis=None, keepdims=False):
    """The mean of X over ``axis`` (all axes if None)."""
    X = as_tensor(X, what="mean")
    return Mean.apply(X, axes=normalize_axis(axis, X.ndim, "mean"), keepdims=keepdims)
