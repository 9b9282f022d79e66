"""nabla.ops.elementwise: exp, log, sigmoid, tanh and ReLU."""

import numpy as np
import pytest
import torch

import nabla as nb
from op_catalogue import OpCase, away_from_zero, catalogue_tests, positive, unary

CASES = [
    OpCase("exp", nb.exp, torch.exp, unary()),
    OpCase("log", nb.log, torch.log, unary(positive)),
    OpCase("sigmoid", nb.sigmoid, torch.sigmoid, unary()),
    OpCase("tanh", nb.tanh, torch.tanh, unary()),
    OpCase("relu", nb.relu, torch.relu, unary(away_from_zero)),  # away from the kink at 0
]

TestCatalogue = catalogue_tests(CASES)


def test_relu_derivative_at_zero_is_zero_as_in_torch():
    x = nb.Tensor(np.array([-1.0, 0.0, 2.0]))
    nb.sum(nb.relu(x)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_sigmoid_does_not_overflow():
    x = nb.Tensor(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(nb.sigmoid(x).value, [[0.0, 0.5, 1.0]])


# ---- bad input: each error names the problem and the values ----------------------------


def test_log_of_non_positive_values_says_where():
    with pytest.raises(ValueError, match=r"log: X has 2 entries that are not positive, the first 0.0 at index \(1,\)"):
        nb.log(nb.Tensor(np.array([1.0, 0.0, -2.0])))


def test_exp_refuses_to_overflow():
    with pytest.raises(FloatingPointError, match=r"exp: X has entries up to 1000.0, but exp overflows float64 above 709.78"):
        nb.exp(nb.Tensor(np.array([0.0, 1000.0])))
