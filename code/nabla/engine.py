r"""The engine: tensors, op nodes and the backward pass. Derived in book/computation-graphs.md.

A :class:`Tensor` is a node of a computation graph. Its ``value`` is a numpy array; its
``source`` is the :class:`OpNode` that computed it (``None`` for a leaf, a tensor the reader
made); after ``backward()`` its ``grad`` holds the adjoint $\bar V = \partial \ell / \partial V$,
an array of the same shape as ``value``.

An op is a subclass of :class:`Op` with a static ``forward`` and a static ``backward``;
``Op.apply`` runs the forward pass and records an :class:`OpNode` in the graph. The ops
themselves live in :mod:`nabla.ops`, which imports this module; this module imports no op.
"""

from __future__ import annotations

import itertools
import numbers
import weakref

import numpy as np


class ShapeError(ValueError):
    """Two shapes that had to agree did not; the message names both."""


def as_array(value, *, what="Tensor"):
    """``value`` as a floating-point numpy array, or a TypeError that says why it cannot be.

    Gradients are real numbers, so a tensor that carries one must hold floats. An integer or
    boolean array is refused rather than converted: converting it silently would hide a
    mistake (labels passed where logits were meant, say) and could lose information.
    """
    # Every op's output comes through here, nearly always a float array already: answered first, by two cheap tests.
    if type(value) is np.ndarray and value.dtype.kind == "f":
        return value
    if isinstance(value, Tensor):
        raise TypeError(f"{what}: expected an array, got a Tensor; use its .value")
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{what}: expected a floating-point array, got {type(value).__name__} {value!r}")
    try:
        array = np.asarray(value)
    except ValueError:  # nested lists of unequal lengths: numpy's message names no argument
        raise ShapeError(f"{what}: the nested lists have rows of different lengths; an array needs equal rows") from None
    if array.dtype.kind != "f":  # "f": float16 to longdouble; complex numbers are kind "c"
        raise TypeError(f"{what}: expected a floating-point array, got dtype {array.dtype} with shape {array.shape}; gradients "
                        "need floats, so convert it yourself if that is what you mean, e.g. np.asarray(x, dtype=np.float64)")
    return array


def as_int(value, what, least=1):
    """``value`` as an int if it is an integer >= ``least``; a TypeError if it is no number, a ValueError (2.5, True, -1) if it is the wrong one."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least:
        return int(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    kind = {0: "a non-negative int", 1: "a positive int"}.get(least, f"an int >= {least}")
    raise ValueError(f"{what} must be {kind}, got {value!r}")


def as_generator(rng, what):
    """``rng`` if it is a ``numpy.random.Generator``, a fresh unseeded one if None, else a TypeError (an int seed is not a Generator)."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{what}: rng must be a numpy.random.Generator or None (np.random.default_rng(seed) makes one), "
                        f"got {type(rng).__name__} {rng!r}")
    return rng


def check_flag(value, what):
    """``value`` if it is True or False, else a TypeError: a string such as "no" would count as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


# Tensor's operators (x + y, x @ W, x.T, ...) build op nodes, but the ops in nabla.ops import this
# module, so this module cannot import them. Instead nabla.ops puts its functions in this table
# when it is imported (`import nabla` always imports it), and each operator looks its function
# up here: one dict lookup per call, no import cycle, and every operator in the Tensor class.
OPERATORS = {}

# Every tensor gets the next number from this counter: see Tensor.topological_order.
SERIAL_NUMBERS = itertools.count()


class Tensor:
    r"""A node of the computation graph.

    Attributes:
        value:  the numpy array this tensor holds (floating point).
        grad:   ``None`` until ``backward()`` reaches this tensor; then $\bar V$, same shape as ``value``.
        source: the op node that made this tensor, or ``None`` for a leaf.
        name:   an optional label, used when the graph is drawn.
        serial: how many tensors were made before this one.
    """

    # Tell numpy to stay out of `array * tensor`: without this numpy would loop over the
    # array and build an object array of Tensors. With it, Python calls Tensor.__rmul__.
    __array_ufunc__ = None

    def __init__(self, value, source=None, name=None):
        if source is not None and type(source) is not OpNode:  # only Op.apply makes a tensor with a source
            raise TypeError(f"Tensor: source is the OpNode that made the tensor, or None for a leaf; got {source!r}")
        self.value = as_array(value)
        self.source = source
        self.name = name
        self.grad = None
        self.serial = next(SERIAL_NUMBERS)

    # ---- what a tensor is -------------------------------------------------------------

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def size(self):
        return self.value.size

    @property
    def dtype(self):
        return self.value.dtype

    def item(self):
        """The value of a one-element tensor as a Python float."""
        if self.size != 1:
            raise ValueError(f"item: takes a tensor of one element, but this one has shape {self.shape}")
        return self.value.item()

    def __bool__(self):  # numpy's rule; without it every tensor would be true, even one holding 0.0
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .value.any() or .value.all()")
        return bool(self.value)

    def __repr__(self):
        made_by = "leaf" if self.source is None else f"made by {self.source.op.__name__}"
        label = f"{self.name!r}, " if self.name else ""
        return f"Tensor({label}shape={self.shape}, {made_by})"

    # ---- operators: each one builds an op node (see OPERATORS above) ------------------

    def __add__(self, other):
        return OPERATORS["add"](self, other)

    def __radd__(self, other):
        return OPERATORS["add"](other, self)

    def __sub__(self, other):
        return OPERATORS["subtract"](self, other)

    def __rsub__(self, other):
        return OPERATORS["subtract"](other, self)

    def __mul__(self, other):
        return OPERATORS["multiply"](self, other)

    def __rmul__(self, other):
        return OPERATORS["multiply"](other, self)

    def __truediv__(self, other):
        return OPERATORS["divide"](self, other)

    def __rtruediv__(self, other):
        return OPERATORS["divide"](other, self)

    def __neg__(self):
        return OPERATORS["negate"](self)

    def __matmul__(self, other):
        return OPERATORS["matmul"](self, other)

    def __rmatmul__(self, other):
        return OPERATORS["matmul"](other, self)

    @property
    def T(self):
        return OPERATORS["transpose"](self)

    def __pow__(self, p):
        return OPERATORS["power"](self, p)

    def __rpow__(self, base):
        raise TypeError(
            f"power: {type(base).__name__} ** Tensor puts the tensor in the exponent; "
            "nabla's power takes a constant exponent only"
        )

    # ---- the backward pass --------------------------------------------------------------

    def backward(self, upstream=None):
        r"""Fill in ``.grad`` of every tensor this one was computed from.

        Called on a scalar loss $\ell$ (a tensor with one element), it sets each tensor's
        adjoint $\bar V = \partial\ell/\partial V$. On a tensor $S$ of any shape, pass the
        ``upstream`` gradient $\bar S$ yourself (an array of S's shape).

        Op nodes are visited in reverse topological order, so a node's output adjoint is
        complete (every use of that output has contributed) before the node's own rule runs.

        A second call adds into ``.grad`` again, exactly as the first did: gradients
        accumulate across calls, as in PyTorch. Set ``.grad = None`` between calls to start afresh.
        """
        if upstream is None:
            if self.size != 1:
                raise ValueError(
                    f"backward() without an upstream gradient starts from a scalar loss, but "
                    f"this tensor has shape {self.shape}; reduce it to one number first (e.g. "
                    f"nb.sum(...)) or pass backward(upstream) with an array of shape {self.shape}"
                )
            upstream = np.ones_like(self.value)
        else:
            upstream = as_array(upstream, what="backward(upstream)")
            if upstream.shape != self.shape:
                raise ShapeError(
                    f"backward(upstream): upstream has shape {upstream.shape} but the tensor "
                    f"has shape {self.shape}; they must be equal"
                )

        # The adjoints of this call, by tensor; .grad is only touched once all are known.
        adjoints = {id(self): upstream}
        order = self.topological_order()
        for tensor in order:
            node = tensor.source
            if node is None:  # a leaf: nothing made it, nothing to propagate to
                continue
            input_bars = node.op.backward(node.context, adjoints[id(tensor)])
            if not isinstance(input_bars, tuple):
                input_bars = (input_bars,)
            check_input_gradients(node, input_bars)
            for input_tensor, input_bar in zip(node.inputs, input_bars):
                # A tensor used twice receives two contributions: they add (the
                # multivariate chain rule sums over every path to the loss).
                key = id(input_tensor)
                adjoints[key] = adjoints[key] + input_bar if key in adjoints else input_bar

        store_gradients(order, adjoints, upstream)

    def topological_order(self):
        """The tensors this one depends on, each once: this one first, each before the tensors it was made from.

        An op can only run once its inputs exist, so every tensor is made after the tensors
        it is computed from, and has a larger serial number. Sorting by serial number,
        newest first, is therefore a topological order: collect the tensors this one depends
        on (with an explicit stack, so that a long chain of ops cannot overflow Python's
        recursion limit), then sort.
        """
        found = {id(self): self}
        stack = [self]
        while stack:
            node = stack.pop().source
            if node is None:
                continue
            for input_tensor in node.inputs:
                if id(input_tensor) not in found:
                    found[id(input_tensor)] = input_tensor
                    stack.append(input_tensor)
        return sorted(found.values(), key=serial_number, reverse=True)


def serial_number(tensor):
    return tensor.serial


def store_gradients(order, adjoints, upstream):
    r"""Add each tensor's adjoint into its ``.grad``, giving every ``.grad`` memory of its own.

    A reader who edits one ``.grad`` in place must change no other array. Most adjoints are
    fresh arrays, made by a rule's arithmetic, and are stored as they are: a copy of each would
    move every gradient through memory once more (3 MB for a 784 x 512 weight matrix). An
    adjoint that shares memory with another adjoint (``Add`` hands $\bar S$ to both of its
    inputs, and ``Reshape`` a view of it), with the upstream gradient or with a tensor's value
    is copied.
    """
    taken = {id(memory_owner(t.value)) for t in order}
    taken.add(id(memory_owner(upstream)))
    for tensor in order:
        bar = adjoints[id(tensor)]
        if tensor.grad is not None:
            tensor.grad = tensor.grad + bar  # a new array: a second backward() adds into .grad
        elif id(memory_owner(bar)) in taken:
            tensor.grad = bar.copy()
        else:
            tensor.grad = bar
            taken.add(id(memory_owner(bar)))


def memory_owner(array):
    """The array whose memory ``array`` uses: ``array`` itself, or the array it is a view of."""
    return array if array.base is None else array.base


def check_input_gradients(node, input_bars):
    """Every gradient an op's backward returns must match its input in number and shape.

    An op whose backward returns a (3, 1) array for a (3, 4) input has a bug that numpy
    broadcasting would otherwise hide until much later; here it fails at once, by name.
    """
    if len(input_bars) != len(node.inputs):
        raise RuntimeError(
            f"{node.op.__name__}.backward returned {len(input_bars)} gradients for {len(node.inputs)} inputs"
        )
    for i, (input_tensor, input_bar) in enumerate(zip(node.inputs, input_bars)):
        if not isinstance(input_bar, (np.ndarray, np.floating)):
            raise TypeError(
                f"{node.op.__name__}.backward returned a {type(input_bar).__name__} for input {i}; expected an array"
            )
        if input_bar.shape != input_tensor.value.shape:
            raise ShapeError(
                f"{node.op.__name__}.backward returned a gradient of shape {input_bar.shape} for input {i}, "
                f"which has shape {input_tensor.shape}"
            )


def as_tensor(x, *, like=None, what="Tensor"):
    """``x`` if it is a Tensor; else a constant leaf holding it.

    A Python number takes the dtype of ``like`` (so ``2 * x`` stays float32 when x is);
    a numpy array must already hold floats (see :func:`as_array`).
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        dtype = like.dtype if like is not None else np.float64
        return Tensor(np.asarray(x, dtype=dtype))
    if isinstance(x, (np.ndarray, np.floating)):
        return Tensor(as_array(x, what=what))
    raise TypeError(f"{what}: cannot use a {type(x).__name__} as a tensor; expected a Tensor, a number or a float array")


# ---- ops and op nodes -------------------------------------------------------------------


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
        self._outputs = tuple(map(weakref.ref, tensors))

    def __repr__(self):
        return f"OpNode({self.op.__name__}, inputs={[t.shape for t in self.inputs]})"


class Op:
    """The base of every op. Subclasses define ``forward`` and ``backward``; never instances.

    ``forward(ctx, *arrays, **constants)`` computes the output from numpy arrays and stores on
    ``ctx`` what the backward pass will need; keyword arguments are constants, which get no
    gradient. ``backward(ctx, out_bar)`` receives the output's adjoint and returns one adjoint
    per input, each of that input's shape (the engine checks: :func:`check_input_gradients`).
    """

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
