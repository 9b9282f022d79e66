"""nabla.ops.arithmetic: the ops behind +, -, *, /, unary - and **, with Python numbers and numpy arrays on either side."""

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from op_catalogue import OpCase, away_from_zero, binary, catalogue_tests, shape, unary, values


@st.composite
def power_args(draw):
    p = draw(st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 1.5]))
    X_shape = draw(shape())
    if p != int(p):  # a fractional power is real only for X > 0
        X = draw(values(X_shape, 0.5, 3.0))
    elif p < 0:  # a negative power has a pole at 0
        X = draw(away_from_zero(X_shape))
    else:
        X = draw(values(X_shape))
    return (X,), {"p": p}


CASES = [
    OpCase("add", lambda X, Y: X + Y, lambda X, Y: X + Y, binary()),
    OpCase("subtract", lambda X, Y: X - Y, lambda X, Y: X - Y, binary()),
    OpCase("multiply", lambda X, Y: X * Y, lambda X, Y: X * Y, binary()),
    OpCase("divide", lambda X, Y: X / Y, lambda X, Y: X / Y, binary(second=away_from_zero)),
    OpCase("negate", lambda X: -X, lambda X: -X, unary()),
    OpCase("power", lambda X, p: X**p, lambda X, p: X**p, power_args()),
    # Python numbers and numpy arrays as constants, on either side of each operator.
    OpCase("number on the left", lambda X: 2.5 - 1.5 / X * 3, lambda X: 2.5 - 1.5 / X * 3, unary(away_from_zero)),
    OpCase(
        "array on the left",
        lambda X: np.linspace(0.5, 2.0, 4) * X + np.full(4, 0.25) / X,
        lambda X: torch.linspace(0.5, 2.0, 4, dtype=torch.float64) * X + torch.full((4,), 0.25, dtype=torch.float64) / X,
        st.tuples(st.tuples(away_from_zero((3, 4))), st.just({})),
    ),
]

TestCatalogue = catalogue_tests(CASES)


def test_a_number_keeps_the_tensors_float32():
    x = nb.Tensor(np.ones(3, dtype=np.float32))
    assert (2 * x).dtype == np.float32
    assert (x / 4.0).dtype == np.float32


# ---- bad input: each error names the problem and the values ----------------------------


def test_dividing_by_zero_raises_and_says_where():
    with pytest.raises(ZeroDivisionError, match=r"Y contains 2 zero\(s\), the first at index \(0, 1\)"):
        nb.Tensor(np.ones((2, 2))) / np.array([[1.0, 0.0], [0.0, 2.0]])


def test_dividing_by_the_number_zero_raises():
    with pytest.raises(ZeroDivisionError):
        nb.Tensor(np.ones(2)) / 0


def test_an_integer_array_operand_is_refused():
    with pytest.raises(TypeError, match=r"dtype int64"):
        nb.Tensor(np.ones(3)) * np.arange(3)


@pytest.mark.parametrize("other", ["2", None, [1.0, 2.0], True])
def test_wrong_operand_types_are_refused(other):
    with pytest.raises(TypeError, match=r"multiply: cannot use a"):
        nb.Tensor(np.ones(2)) * other


def test_power_needs_a_constant_exponent():
    x = nb.Tensor(np.ones(2))
    with pytest.raises(TypeError, match="exponent must be a constant number"):
        x**x
    with pytest.raises(TypeError, match="tensor in the exponent"):
        2.0**x


def test_power_refuses_what_has_no_real_derivative():
    with pytest.raises(ValueError, match=r"not real for negative X \(the smallest X is -1.0\)"):
        nb.Tensor(np.array([-1.0, 4.0])) ** 0.5
    with pytest.raises(ValueError, match="no finite derivative at X == 0"):
        nb.Tensor(np.array([0.0, 4.0])) ** 0.5
