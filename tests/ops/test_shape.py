"""nabla.ops.shape: broadcasting, sum and mean, and the ops that copy, rearrange and select entries."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from op_catalogue import MAX_DIMS, MAX_SIDE, OpCase, away_from_zero, catalogue_tests, shape, values, with_axis


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


def torch_axis(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


CASES = [
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
]

TestCatalogue = catalogue_tests(CASES)


def test_broadcast_backward_sums_over_the_copies():
    # A (3, 1) column copied into 16 columns: each entry's adjoint is its row's sum.
    x = nb.Tensor(np.arange(3.0).reshape(3, 1))
    Y_bar = np.random.default_rng(0).standard_normal((2, 3, 16))
    nb.broadcast_to(x, (2, 3, 16)).backward(Y_bar)
    assert x.grad.shape == (3, 1)
    np.testing.assert_allclose(x.grad, Y_bar.sum(axis=(0, 2))[:, None])


def test_only_the_input_that_lacks_the_common_shape_is_broadcast():
    X, b = nb.Tensor(np.ones((4, 3))), nb.Tensor(np.ones(3))
    S = X + b
    assert S.source.inputs[0] is X
    assert S.source.inputs[1].source.op is nb.ops.Broadcast and S.source.inputs[1].source.inputs[0] is b
    assert (X + X).source.inputs == (X, X)  # equal shapes: no Broadcast node at all


def test_select_accumulates_repeated_rows():
    X = nb.Tensor(np.arange(6.0).reshape(3, 2))
    nb.sum(nb.select(X, [2, 2, 0])).backward()
    np.testing.assert_array_equal(X.grad, [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])


# ---- bad input: each error names the problem and the shapes or values ------------------


def test_shapes_that_cannot_broadcast_name_both_shapes():
    with pytest.raises(nb.ShapeError, match=r"add: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        nb.Tensor(np.ones((2, 3))) + np.ones(4)


def test_broadcast_to_a_smaller_shape_is_refused():
    with pytest.raises(nb.ShapeError, match=r"cannot broadcast shape \(3, 4\) to \(4,\)"):
        nb.broadcast_to(nb.Tensor(np.ones((3, 4))), (4,))


@pytest.mark.parametrize("axis", [2, -3, (0, 0)])
def test_a_bad_axis_is_named(axis):
    with pytest.raises(ValueError, match=r"sum: axis .* (out of range for a tensor with 2 dimensions|names the same axis twice)"):
        nb.sum(nb.Tensor(np.ones((2, 3))), axis=axis)


@pytest.mark.parametrize("axis", [1.5, "0", True])
def test_an_axis_that_is_not_an_int_is_refused(axis):
    with pytest.raises(TypeError, match=r"mean: an axis is an int or a tuple of ints"):
        nb.mean(nb.Tensor(np.ones((2, 3))), axis=axis)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda X: nb.select(X, [3]), IndexError, r"select: index \[3\] is out of range for axis 0 of size 3 \(shape \(3, 2\)\)"),
        (lambda X: nb.select(X, [0.5]), TypeError, r"select: index must hold integers, got dtype float64"),
        (lambda X: nb.reshape(X, (4,)), nb.ShapeError, r"reshape: cannot arrange 6 elements of shape \(3, 2\) as \(4,\)"),
        (lambda X: nb.squeeze(X, 0), nb.ShapeError, r"squeeze: axis 0 of shape \(3, 2\) has size 3, not 1"),
        (lambda X: nb.unsqueeze(X, 3), ValueError, r"unsqueeze: a new axis goes at a position from -3 to 2, got 3"),
        (lambda X: nb.expand(X, 3, 2), ValueError, r"expand: a new axis goes at a position from 0 to 2"),
        (lambda X: nb.transpose(X, (0, 0)), ValueError, r"transpose: axes \(0, 0\) are not a permutation"),
        (lambda X: nb.normalize(X * 0.0), ZeroDivisionError, r"normalize: X of shape \(3, 2\) has a slice of norm 0"),
    ],
)
def test_shape_and_index_errors_name_the_values(call, error, message):
    with pytest.raises(error, match=message):
        call(nb.Tensor(np.arange(6.0).reshape(3, 2)))
