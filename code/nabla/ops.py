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
import weakref

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
        self._outputs = ()

    # The node holds its outputs weakly. The output holds the node (``.source``) strongly, so
    # a strong reference back would make every graph a reference cycle, freed only by the
    # garbage collector's occasional sweeps instead of the moment the loss goes out of scope.
    @property
    def outputs(self):
        return tuple(ref() for ref in self._outputs)

    @outputs.setter
    def outputs(self, tensors):
        self._outputs = tuple(weakref.ref(t) for t in tensors)

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


# ---- element-wise functions (book/elementwise.md) --------------------------------------
#
# For S = f(X) applied element by element, dS_kl/dX_ij is zero unless (k, l) = (i, j), so
# the recipe's sum collapses to one term: X_bar = S_bar * f'(X). Each op below is that line.


class Exp(Op):
    r"""$S = \exp(X)$, element-wise."""

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
    r"""$S = \log X$, element-wise, for $X > 0$."""

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
    r"""$S = \sigma(X) = 1 / (1 + e^{-X})$, element-wise."""

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
    r"""$S = \tanh X$, element-wise."""

    @staticmethod
    def forward(ctx, X):
        ctx.S = np.tanh(X)
        return ctx.S

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * (1 - ctx.S**2)  # eq. tanh-backward
        return X_bar


class ReLU(Op):
    r"""$S = \max(X, 0)$, element-wise. Its derivative at 0 is taken to be 0, as in PyTorch."""

    @staticmethod
    def forward(ctx, X):
        ctx.X = X
        return np.maximum(X, 0.0)

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * (ctx.X > 0)  # eq. relu-backward: the mask multiplies, it does not add
        return X_bar


# ---- matrix multiplication (book/matmul.md) --------------------------------------------


class MatMul(Op):
    r"""$Y = XW$ for X of shape (N, D) and W of shape (D, M). Derived in book/matmul.md."""

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
        W_bar = ctx.X.T @ Y_bar  # eq. matmul-w
        return X_bar, W_bar


# ---- shapes: copies, views and selections (book/broadcasting.md) -----------------------


class Expand(Op):
    r"""$Y$ = ``size`` copies of X stacked along a new axis ``axis``: $Y_{i l} = x_i$ for a vector."""

    @staticmethod
    def forward(ctx, X, *, axis, size):
        ctx.axis = axis
        return np.repeat(np.expand_dims(X, axis), size, axis=axis)

    @staticmethod
    def backward(ctx, Y_bar):
        X_bar = Y_bar.sum(axis=ctx.axis)  # eq. expand-backward: every copy's adjoint flows back
        return X_bar


class Reshape(Op):
    r"""The elements of X, in order, arranged to ``shape``."""

    @staticmethod
    def forward(ctx, X, *, shape):
        ctx.X_shape = X.shape
        return X.reshape(shape)

    @staticmethod
    def backward(ctx, Y_bar):
        return Y_bar.reshape(ctx.X_shape)


class Transpose(Op):
    r"""X with its axes permuted by ``axes`` ($X^\top$ for a matrix)."""

    @staticmethod
    def forward(ctx, X, *, axes):
        ctx.axes = axes
        return np.transpose(X, axes)

    @staticmethod
    def backward(ctx, Y_bar):
        # The inverse permutation puts every axis back where it came from.
        return np.transpose(Y_bar, np.argsort(ctx.axes))


class Select(Op):
    r"""$Y$ = the entries of X at ``index`` along ``axis`` (rows of a matrix for axis 0)."""

    @staticmethod
    def forward(ctx, X, *, index, axis):
        ctx.X_shape, ctx.index, ctx.axis = X.shape, index, axis
        return np.take(X, index, axis=axis)

    @staticmethod
    def backward(ctx, Y_bar):
        X_bar = np.zeros(ctx.X_shape, dtype=Y_bar.dtype)
        # add.at, not assignment: a row selected twice receives both adjoints.
        np.add.at(X_bar, (slice(None),) * ctx.axis + (ctx.index,), Y_bar)
        return X_bar


class Normalize(Op):
    r"""$Y = X / \lVert X \rVert$, each slice along ``axis`` scaled to unit Euclidean norm."""

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


# ---- softmax and cross-entropy (book/softmax.md) ---------------------------------------


def log_sum_exp(X, axis):
    """$\\log\\sum_j e^{X_j}$ along ``axis`` (kept), computed without overflow: shift by the max first."""
    m = np.max(X, axis=axis, keepdims=True)
    return m + np.log(np.sum(np.exp(X - m), axis=axis, keepdims=True))


class Softmax(Op):
    r"""$P_{ij} = e^{X_{ij}} / \sum_k e^{X_{ik}}$ along ``axis``."""

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
    r"""$L_{ij} = X_{ij} - \log\sum_k e^{X_{ik}}$ along ``axis``."""

    @staticmethod
    def forward(ctx, X, *, axis):
        L = X - log_sum_exp(X, axis)
        ctx.P, ctx.axis = np.exp(L), axis
        return L

    @staticmethod
    def backward(ctx, L_bar):
        X_bar = L_bar - ctx.P * np.sum(L_bar, axis=ctx.axis, keepdims=True)  # eq. log-softmax-backward
        return X_bar


class CrossEntropy(Op):
    r"""$\ell = -\frac1N \sum_i \log P_{i, y_i}$ for logits X of shape (N, C) and integer labels y."""

    @staticmethod
    def forward(ctx, X, *, labels):
        N = X.shape[0]
        L = X - log_sum_exp(X, axis=1)
        Y = np.zeros_like(X)
        Y[np.arange(N), labels] = 1.0  # one-hot
        ctx.P, ctx.Y, ctx.N = np.exp(L), Y, N
        return -np.sum(Y * L) / N

    @staticmethod
    def backward(ctx, l_bar):
        X_bar = l_bar * (ctx.P - ctx.Y) / ctx.N  # eq. cross-entropy-backward
        return X_bar


# ---- the functions a reader calls (Part I, chapters 4-7) --------------------------------


def exp(X):
    return Exp.apply(X)


def log(X):
    return Log.apply(X)


def sigmoid(X):
    return Sigmoid.apply(X)


def tanh(X):
    return Tanh.apply(X)


def relu(X):
    return ReLU.apply(X)


def matmul(X, W):
    """$XW$ for matrices X (N, D) and W (D, M); also ``X @ W``."""
    return MatMul.apply(X, W)


def expand(X, axis, size):
    """``size`` copies of X along a new axis at position ``axis``."""
    X = as_tensor(X, what="expand")
    if not 0 <= axis <= X.ndim:
        raise ValueError(f"expand: a new axis goes at a position from 0 to {X.ndim} for shape {X.shape}, got {axis}")
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"expand: size must be a positive int, got {size!r}")
    return Expand.apply(X, axis=axis, size=int(size))


def reshape(X, shape):
    X = as_tensor(X, what="reshape")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    try:
        np.empty(X.shape, dtype=np.bool_).reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot arrange {X.size} elements of shape {X.shape} as {shape}") from None
    return Reshape.apply(X, shape=shape)


def transpose(X, axes=None):
    X = as_tensor(X, what="transpose")
    axes = tuple(reversed(range(X.ndim))) if axes is None else tuple(axes)
    if len(axes) != X.ndim or sorted(a % X.ndim for a in axes) != list(range(X.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {X.ndim} axes of shape {X.shape}")
    return Transpose.apply(X, axes=tuple(a % X.ndim for a in axes))


def select(X, index, axis=0):
    """The entries of X at integer ``index`` (an int or an int array) along ``axis``."""
    X = as_tensor(X, what="select")
    (axis,) = normalize_axis(axis, X.ndim, "select")
    index = np.asarray(index)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"select: index must hold integers, got dtype {index.dtype}")
    size = X.shape[axis]
    if np.any((index < -size) | (index >= size)):
        raise IndexError(f"select: index {index.tolist()} is out of range for axis {axis} of size {size} (shape {X.shape})")
    return Select.apply(X, index=index, axis=axis)


def squeeze(X, axis):
    """X without its size-1 axis ``axis``."""
    X = as_tensor(X, what="squeeze")
    (axis,) = normalize_axis(axis, X.ndim, "squeeze")
    if X.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of shape {X.shape} has size {X.shape[axis]}, not 1")
    return reshape(X, X.shape[:axis] + X.shape[axis + 1 :])


def unsqueeze(X, axis):
    """X with a new size-1 axis at position ``axis``."""
    X = as_tensor(X, what="unsqueeze")
    if not -X.ndim - 1 <= axis <= X.ndim:
        raise ValueError(f"unsqueeze: a new axis goes at a position from {-X.ndim - 1} to {X.ndim}, got {axis}")
    axis = axis % (X.ndim + 1)
    return reshape(X, X.shape[:axis] + (1,) + X.shape[axis:])


def normalize(X, axis=-1):
    r"""$X / \lVert X\rVert$ along ``axis`` (rows of a matrix by default)."""
    X = as_tensor(X, what="normalize")
    (axis,) = normalize_axis(axis, X.ndim, "normalize")
    return Normalize.apply(X, axis=axis)


def softmax(X, axis=-1):
    X = as_tensor(X, what="softmax")
    (axis,) = normalize_axis(axis, X.ndim, "softmax")
    return Softmax.apply(X, axis=axis)


def log_softmax(X, axis=-1):
    X = as_tensor(X, what="log_softmax")
    (axis,) = normalize_axis(axis, X.ndim, "log_softmax")
    return LogSoftmax.apply(X, axis=axis)


def cross_entropy(logits, labels):
    """Mean cross-entropy of logits (N, C) against integer class labels (N,) in [0, C)."""
    logits = as_tensor(logits, what="cross_entropy")
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    N, C = logits.shape
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"cross_entropy: labels must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != (N,):
        raise ShapeError(f"cross_entropy: labels have shape {labels.shape} but logits have shape {logits.shape}; expected ({N},)")
    if np.any((labels < 0) | (labels >= C)):
        bad = labels[(labels < 0) | (labels >= C)]
        raise ValueError(f"cross_entropy: labels must lie in [0, {C}), got {bad.tolist()[:5]}")
    return CrossEntropy.apply(logits, labels=labels)


# ---- kinks and branches (book/autodiff-lies.md) ----------------------------------------


class Abs(Op):
    r"""$S = |X|$, element-wise. At 0, where $|x|$ has no derivative, backward uses 0, as PyTorch does."""

    @staticmethod
    def forward(ctx, X):
        ctx.X = X
        return np.abs(X)

    @staticmethod
    def backward(ctx, S_bar):
        X_bar = S_bar * np.sign(ctx.X)  # sign(0) = 0: a choice, like ReLU's at 0
        return X_bar


class Maximum(Op):
    r"""$S = \max(X, Y)$, element-wise. Where $X = Y$ the gradient is split equally, as PyTorch does."""

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
    r"""$S = X$ where ``condition`` holds, else $Y$: a branch made element-wise. ``condition`` is a constant."""

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
