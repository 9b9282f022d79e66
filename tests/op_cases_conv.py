"""Convolution's and max pooling's cases for the op catalogue (part of ``CASES`` in op_cases.py).

Shapes stay small (at most 2 images, 2 channels, 3 filters, 6 x 6 pixels), so that central
differences, which run the op twice per input element, stay fast. Stride 2 and padding 1
are drawn as often as 1 and 0. A max pool has a kink wherever two entries of a window tie,
so its inputs are a shuffled ladder of distinct values, 0.25 apart: far from any tie.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

import nabla as nb
from op_cases import OpCase, values

MAX_IMAGES, MAX_CHANNELS, MAX_FILTERS, MAX_KERNEL, MAX_PIXELS = 2, 2, 3, 3, 6


@st.composite
def conv_args(draw, bias=False):
    N, C, F = draw(st.integers(1, MAX_IMAGES)), draw(st.integers(1, MAX_CHANNELS)), draw(st.integers(1, MAX_FILTERS))
    kh, kw = draw(st.integers(1, MAX_KERNEL)), draw(st.integers(1, MAX_KERNEL))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    # The kernel must fit in the padded input: H + 2 padding >= kh.
    H = draw(st.integers(max(1, kh - 2 * padding), MAX_PIXELS))
    W = draw(st.integers(max(1, kw - 2 * padding), MAX_PIXELS))
    arrays = (draw(values((N, C, H, W))), draw(values((F, C, kh, kw))))
    if bias:
        arrays += (draw(values((F,))),)
    return arrays, {"stride": stride, "padding": padding}


@st.composite
def distinct_values(draw, shape, gap=0.25):
    """An array of ``shape`` whose entries are distinct, ``gap`` apart, in a random order."""
    size = int(np.prod(shape))
    ladder = gap * (np.array(draw(st.permutations(range(size))), dtype=np.float64) - size / 2)
    return ladder.reshape(shape)


@st.composite
def pool_args(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    N, C = draw(st.integers(1, MAX_IMAGES)), draw(st.integers(1, MAX_CHANNELS))
    H, W = draw(st.integers(kh, MAX_PIXELS)), draw(st.integers(kw, MAX_PIXELS))
    return (draw(distinct_values((N, C, H, W))),), {"kernel_size": (kh, kw), "stride": stride}


CONV_CASES = [
    OpCase(
        "conv2d",
        lambda X, W, stride, padding: nb.conv2d(X, W, stride=stride, padding=padding),
        lambda X, W, stride, padding: torch.nn.functional.conv2d(X, W, stride=stride, padding=padding),
        conv_args(),
    ),
    OpCase(
        "conv2d with bias",
        lambda X, W, b, stride, padding: nb.conv2d(X, W, b, stride=stride, padding=padding),
        lambda X, W, b, stride, padding: torch.nn.functional.conv2d(X, W, b, stride=stride, padding=padding),
        conv_args(bias=True),
    ),
    OpCase(
        "max_pool2d",
        lambda X, kernel_size, stride: nb.max_pool2d(X, kernel_size, stride),
        lambda X, kernel_size, stride: torch.nn.functional.max_pool2d(X, kernel_size, stride),
        pool_args(),
    ),
]
