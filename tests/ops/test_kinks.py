"""nabla.ops.kinks: abs, sqrt, maximum and where, and the values they take at their kinks."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from op_catalogue import OpCase, away_from_zero, binary, catalogue_tests, positive, unary


def no_near_ties(arguments):
    """Keep X and Y apart where they meet: within a step h of a tie, max has a kink."""
    (X, Y), _ = arguments
    return bool(np.all(np.abs(X - Y) > 1e-2))


@st.composite
def where_args(draw):
    (X, Y), _ = draw(binary())
    shape = np.broadcast_shapes(X.shape, Y.shape)
    return (X, Y), {"condition": draw(hnp.arrays(np.bool_, shape))}


CASES = [
    OpCase("abs", nb.abs, torch.abs, unary(away_from_zero)),  # away from the kink at 0
    OpCase("sqrt", nb.sqrt, torch.sqrt, unary(positive)),
    OpCase("maximum", nb.maximum, torch.maximum, binary().filter(no_near_ties)),
    OpCase(
        "where",
        lambda X, Y, condition: nb.where(condition, X, Y),
        lambda X, Y, condition: torch.where(torch.from_numpy(condition), X, Y),
        where_args(),
    ),
]

TestCatalogue = catalogue_tests(CASES)


def test_kinks_take_the_values_pytorch_takes():
    x = nb.Tensor(np.array([0.0, -2.0, 3.0]))
    nb.sum(nb.abs(x)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, -1.0, 1.0])
    a, b = nb.Tensor(np.array([1.0, 2.0])), nb.Tensor(np.array([1.0, 1.0]))
    nb.sum(nb.maximum(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_where_sends_each_adjoint_down_the_branch_taken():
    X, Y = nb.Tensor(np.array([1.0, 2.0, 3.0])), nb.Tensor(np.array([10.0, 20.0, 30.0]))
    nb.where(np.array([True, False, True]), X, Y).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(X.grad, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(Y.grad, [0.0, 2.0, 0.0])


# ---- bad input: each error names the problem and the values ----------------------------


def test_sqrt_at_zero_is_refused_not_infinite():
    with pytest.raises(ValueError, match="no finite derivative at X == 0"):
        nb.sqrt(nb.Tensor(np.array([0.0, 1.0])))


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="where: condition must be a boolean array, got dtype int64"):
        nb.where(np.array([1, 0]), nb.Tensor(np.ones(2)), 0.0)
