"""nabla.ops.matrix: matrix multiplication, alone and in a linear layer's X W + b."""

import numpy as np
import pytest
from hypothesis import strategies as st

import nabla as nb
from op_catalogue import MAX_SIDE, OpCase, catalogue_tests, values


@st.composite
def matrices(draw):
    N, D, M = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    return (draw(values((N, D))), draw(values((D, M)))), {}


@st.composite
def linear(draw):
    (X, W), _ = draw(matrices())
    return (X, W, draw(values((W.shape[1],)))), {}


CASES = [
    OpCase("matmul", lambda X, W: X @ W, lambda X, W: X @ W, matrices()),
    OpCase("linear layer", lambda X, W, b: X @ W + b, lambda X, W, b: X @ W + b, linear()),
]

TestCatalogue = catalogue_tests(CASES)


# ---- bad input: each error names the problem and the shapes -----------------------------


def test_matmul_inner_sizes_that_differ_name_both_shapes():
    with pytest.raises(nb.ShapeError, match=r"matmul: X has shape \(4, 3\) but W has shape \(5, 2\); the inner sizes 3 and 5 must match"):
        nb.Tensor(np.ones((4, 3))) @ nb.Tensor(np.ones((5, 2)))


def test_matmul_takes_matrices():
    with pytest.raises(nb.ShapeError, match=r"takes two matrices, got X of shape \(3,\)"):
        nb.matmul(nb.Tensor(np.ones(3)), nb.Tensor(np.ones((3, 2))))
