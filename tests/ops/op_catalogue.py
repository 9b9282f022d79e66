"""The op catalogue: one driver for every op's forward, torch and central-difference checks.

Each family's test module (tests/ops/test_<family>.py, beside code/nabla/ops/<family>.py)
lists its cases, each an :class:`OpCase`: our op, its torch twin, and how to draw its inputs.
``TestCatalogue = catalogue_tests(CASES)`` then gives every case the same three checks. A new
op joins its family's ``CASES`` and is tested by all of them at once.

Inputs are drawn away from the op's kinks and poles (a divisor never comes near zero), where
finite differences and even the derivative itself stop meaning anything. Hypothesis draws
shapes (0-d, size-1 axes, axes that broadcast) and values; the checks are float64 and use a
random upstream gradient, never only ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nabla as nb
from nabla.gradcheck import check_against_torch, check_backward, relative_error

MAX_DIMS, MAX_SIDE = 3, 4


@dataclass(frozen=True)
class OpCase:
    name: str
    nabla: Callable  # (*tensors, **constants) -> nabla Tensor
    torch: Callable  # (*torch tensors, **constants) -> torch tensor
    inputs: st.SearchStrategy  # draws (arrays, constants)

    def __repr__(self):  # how pytest and Hypothesis name the case
        return self.name


def bind(f, constants):
    return lambda *inputs: f(*inputs, **constants)


def catalogue_tests(cases):
    """The checks every case in ``cases`` gets, as a test class: ``TestCatalogue = catalogue_tests(CASES)``."""

    @pytest.mark.parametrize("case", cases, ids=repr)
    class TestCatalogue:
        @given(data=st.data())
        def test_forward_matches_torch(self, case, data):
            arrays, constants = data.draw(case.inputs)
            ours = bind(case.nabla, constants)(*(nb.Tensor(X) for X in arrays))
            theirs = bind(case.torch, constants)(*(torch.tensor(X) for X in arrays))
            assert ours.shape == tuple(theirs.shape)
            assert ours.dtype == np.float64
            assert np.max(relative_error(ours.value, theirs.numpy()), initial=0.0) <= 1e-12

        @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
        def test_backward_matches_torch(self, case, data, seed):
            arrays, constants = data.draw(case.inputs)
            check_against_torch(bind(case.nabla, constants), bind(case.torch, constants), *arrays, seed=seed, tol=1e-10)

        @settings(max_examples=20)
        @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
        def test_backward_matches_central_differences(self, case, data, seed):
            arrays, constants = data.draw(case.inputs)
            check_backward(bind(case.nabla, constants), *arrays, seed=seed)

    return TestCatalogue


# ---- strategies that several families share ---------------------------------------------


def values(shape, low=-3.0, high=3.0):
    """float64 arrays of ``shape`` with entries in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_subnormal=False))


def away_from_zero(shape, low=0.5, high=3.0):
    """float64 arrays of ``shape`` whose entries have magnitude in [low, high], either sign."""
    magnitudes = values(shape, low, high)
    signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.tuples(magnitudes, signs).map(lambda pair: pair[0] * pair[1])


def positive(shape):
    """float64 arrays of ``shape`` with entries in [0.5, 3]: inside the domain of log and sqrt."""
    return values(shape, 0.5, 3.0)


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
def with_axis(draw, first=values):
    X = draw(first(draw(hnp.array_shapes(min_dims=1, max_dims=MAX_DIMS, max_side=MAX_SIDE))))
    return (X,), {"axis": draw(st.integers(-X.ndim, X.ndim - 1))}
