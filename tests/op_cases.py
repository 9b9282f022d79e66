"""The one catalogue of op cases: every op, its torch twin, and how to draw its inputs.

The forward, gradient and property tests all draw from ``CASES``; a new op joins the
catalogue and is tested by all of them at once. Inputs are drawn away from the op's kinks
and poles (a divisor never comes near zero), where finite differences and even the
derivative itself stop meaning anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import hypothesis.extra.numpy as hnp
import numpy as np
import torch
from hypothesis import strategies as st

import nabla as nb

MAX_DIMS, MAX_SIDE = 3, 4


def values(shape, low=-3.0, high=3.0):
    """float64 arrays of ``shape`` with entries in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_subnormal=False))


def away_from_zero(shape, low=0.5, high=3.0):
    """float64 arrays of ``shape`` whose entries have magnitude in [low, high], either sign."""
    magnitudes = values(shape, low, high)
    signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.tuples(magnitudes, signs).map(lambda pair: pair[0] * pair[1])


def shape():
    return hnp.array_shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE)


def broadcastable_pair():
    """Two shapes that broadcast together, size-1 axes and missing leading axes included."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=MAX_DIMS, max_side=MAX_SIDE).map(
        lambda result: result.input_shapes
    )


@st.composite
def binary(draw, second=values):
    X_shape, Y_shape = draw(broadcastable_pair())
    return (draw(values(X_shape)), draw(second(Y_shape))), {}


@st.composite
def unary(draw, first=values):
    return (draw(first(draw(shape()))),), {}


@st.composite
def reduction(draw):
    X = draw(values(draw(shape())))
    axis = draw(st.one_of(st.none(), st.sampled_from(range(-X.ndim, X.ndim)) if X.ndim else st.none()))
    if X.ndim > 1 and draw(st.booleans()):
        axis = tuple(draw(st.sets(st.sampled_from(range(X.ndim)), min_size=1)))
    return (X,), {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def broadcast(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=MAX_DIMS, max_side=MAX_SIDE))
    (X_shape,), target = shapes.input_shapes, shapes.result_shape
    return (draw(values(X_shape)),), {"shape": target}


@st.composite
def power(draw):
    p = draw(st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 1.5]))
    X_shape = draw(shape())
    if p != int(p):  # a fractional power is real only for X > 0
        X = draw(values(X_shape, 0.5, 3.0))
    elif p < 0:  # a negative power has a pole at 0
        X = draw(away_from_zero(X_shape))
    else:
        X = draw(values(X_shape))
    return (X,), {"p": p}


@st.composite
def matrices(draw):
    N, D, M = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    return (draw(values((N, D))), draw(values((D, M)))), {}


@st.composite
def linear(draw):
    (X, W), _ = draw(matrices())
    return (X, W, draw(values((W.shape[1],)))), {}


@st.composite
def with_axis(draw, first=values):
    X = draw(first(draw(hnp.array_shapes(min_dims=1, max_dims=MAX_DIMS, max_side=MAX_SIDE))))
    return (X,), {"axis": draw(st.integers(-X.ndim, X.ndim - 1))}


@st.composite
def expand_args(draw):
    X = draw(values(draw(shape())))
    return (X,), {"axis": draw(st.integers(0, X.ndim)), "size": draw(st.integers(1, MAX_SIDE))}


@st.composite
def reshape_args(draw):
    X = draw(values(draw(shape())))
    target = draw(st.sampled_from([X.shape[::-1], (X.size,), (1, X.size), (X.size, 1, 1), (-1,)]))
    return (X,), {"shape": target}


@st.composite
def transpose_args(draw):
    X = draw(values(draw(shape())))
    return (X,), {"axes": tuple(draw(st.permutations(range(X.ndim))))}


@st.composite
def select_args(draw):
    (X,), constants = draw(with_axis())
    size = X.shape[constants["axis"]]
    index = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5))  # repeats included
    return (X,), {**constants, "index": np.array(index)}


@st.composite
def squeeze_args(draw):
    X_shape = draw(shape())
    axis = draw(st.integers(0, len(X_shape)))
    X = draw(values(X_shape[:axis] + (1,) + X_shape[axis:]))
    return (X,), {"axis": axis}


@st.composite
def unsqueeze_args(draw):
    X = draw(values(draw(shape())))
    return (X,), {"axis": draw(st.integers(-X.ndim - 1, X.ndim))}


@st.composite
def classification(draw):
    N, C = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    labels = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    return (draw(values((N, C), -5.0, 5.0)),), {"labels": labels}


def no_near_ties(arguments):
    """Keep X and Y apart where they meet: within a step h of a tie, max has a kink."""
    (X, Y), _ = arguments
    return bool(np.all(np.abs(X - Y) > 1e-2))


@st.composite
def where_args(draw):
    (X, Y), _ = draw(binary())
    shape = np.broadcast_shapes(X.shape, Y.shape)
    return (X, Y), {"condition": draw(hnp.arrays(np.bool_, shape))}


@dataclass(frozen=True)
class OpCase:
    name: str
    nabla: Callable  # (*tensors, **constants) -> nabla Tensor
    torch: Callable  # (*torch tensors, **constants) -> torch tensor
    inputs: st.SearchStrategy  # draws (arrays, constants)

    def __repr__(self):  # how pytest and Hypothesis name the case
        return self.name


def torch_axis(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


CASES = [
    OpCase("add", lambda X, Y: X + Y, lambda X, Y: X + Y, binary()),
    OpCase("subtract", lambda X, Y: X - Y, lambda X, Y: X - Y, binary()),
    OpCase("multiply", lambda X, Y: X * Y, lambda X, Y: X * Y, binary()),
    OpCase("divide", lambda X, Y: X / Y, lambda X, Y: X / Y, binary(second=away_from_zero)),
    OpCase("negate", lambda X: -X, lambda X: -X, unary()),
    OpCase("power", lambda X, p: X**p, lambda X, p: X**p, power()),
    OpCase(
        "sum",
        lambda X, axis, keepdims: nb.sum(X, axis=axis, keepdims=keepdims),
        lambda X, axis, keepdims: torch.sum(X, dim=torch_axis(axis, X.ndim), keepdim=keepdims),
        reduction(),
    ),
    OpCase(
        "mean",
        lambda X, axis, keepdims: nb.mean(X, axis=axis, keepdims=keepdims),
        lambda X, axis, keepdims: torch.mean(X, dim=torch_axis(axis, X.ndim), keepdim=keepdims),
        reduction(),
    ),
    OpCase(
        "broadcast_to",
        lambda X, shape: nb.broadcast_to(X, shape),
        lambda X, shape: torch.broadcast_to(X, shape),
        broadcast(),
    ),
    OpCase("exp", nb.exp, torch.exp, unary()),
    OpCase("log", nb.log, torch.log, unary(lambda shape: values(shape, 0.5, 3.0))),
    OpCase("sigmoid", nb.sigmoid, torch.sigmoid, unary()),
    OpCase("tanh", nb.tanh, torch.tanh, unary()),
    OpCase("relu", nb.relu, torch.relu, unary(away_from_zero)),  # away from the kink at 0
    OpCase("matmul", lambda X, W: X @ W, lambda X, W: X @ W, matrices()),
    OpCase("linear layer", lambda X, W, b: X @ W + b, lambda X, W, b: X @ W + b, linear()),
    OpCase(
        "expand",
        nb.expand,
        lambda X, axis, size: X.unsqueeze(axis).expand(*X.shape[:axis], size, *X.shape[axis:]),
        expand_args(),
    ),
    OpCase("reshape", nb.reshape, lambda X, shape: X.reshape(shape), reshape_args()),
    OpCase("transpose", nb.transpose, lambda X, axes: X.permute(axes), transpose_args()),
    OpCase(
        "select",
        lambda X, index, axis: nb.select(X, index, axis),
        lambda X, index, axis: torch.index_select(X, axis, torch.from_numpy(index)),
        select_args(),
    ),
    OpCase("squeeze", nb.squeeze, lambda X, axis: X.squeeze(axis), squeeze_args()),
    OpCase("unsqueeze", nb.unsqueeze, lambda X, axis: X.unsqueeze(axis), unsqueeze_args()),
    OpCase(
        "normalize",
        nb.normalize,
        lambda X, axis: X / X.norm(dim=axis, keepdim=True),
        with_axis(away_from_zero),
    ),
    OpCase("softmax", nb.softmax, lambda X, axis: torch.softmax(X, axis), with_axis()),
    OpCase("log_softmax", nb.log_softmax, lambda X, axis: torch.log_softmax(X, axis), with_axis()),
    OpCase(
        "cross_entropy",
        nb.cross_entropy,
        lambda X, labels: torch.nn.functional.cross_entropy(X, torch.from_numpy(labels)),
        classification(),
    ),
    OpCase("abs", nb.abs, torch.abs, unary(away_from_zero)),  # away from the kink at 0
    OpCase("sqrt", nb.sqrt, torch.sqrt, unary(lambda shape: values(shape, 0.5, 3.0))),
    OpCase("maximum", nb.maximum, torch.maximum, binary().filter(no_near_ties)),
    OpCase(
        "where",
        lambda X, Y, condition: nb.where(condition, X, Y),
        lambda X, Y, condition: torch.where(torch.from_numpy(condition), X, Y),
        where_args(),
    ),
    # Python numbers and numpy arrays as constants, on either side of each operator.
    OpCase("number on the left", lambda X: 2.5 - 1.5 / X * 3, lambda X: 2.5 - 1.5 / X * 3, unary(away_from_zero)),
    OpCase(
        "array on the left",
        lambda X: np.linspace(0.5, 2.0, 4) * X + np.full(4, 0.25) / X,
        lambda X: torch.linspace(0.5, 2.0, 4, dtype=torch.float64) * X + torch.full((4,), 0.25, dtype=torch.float64) / X,
        st.tuples(st.tuples(away_from_zero((3, 4))), st.just({})),
    ),
]


# The catalogue goes on in one file per later chapter; together they are CASES. Imported
# last: each of those files takes OpCase and the strategies above from this module.
from op_cases_conv import CONV_CASES  # noqa: E402
from op_cases_dropout import DROPOUT_CASES  # noqa: E402
from op_cases_normalization import NORMALIZATION_CASES  # noqa: E402

CASES += NORMALIZATION_CASES + DROPOUT_CASES + CONV_CASES
