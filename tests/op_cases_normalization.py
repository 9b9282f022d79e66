"""The normalisation ops' entries for the op catalogue (tests/op_cases.py): batch, layer and spatial batch norm.

Inputs are drawn so that every normalised slice has a real spread: a slice whose entries
are (nearly) equal has a variance near 0, where x_hat = (x - mu) / sigma is dominated by eps
and its derivatives by 1 / sqrt(eps), and central differences stop measuring anything. Each
slice is a permuted ramp (distinct, evenly spaced values) plus small noise, scaled and shifted.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import torch
from hypothesis import strategies as st

import nabla as nb
from op_cases import MAX_SIDE, OpCase, values

F = torch.nn.functional
EPS = 1e-5


@st.composite
def spread(draw, M, K):
    """An (M, K) float64 array whose K columns each have M well-separated entries (M >= 2)."""
    ramp = np.linspace(-2.0, 2.0, M)  # its ends are 4 apart: noise of at most 0.5 cannot make the column flat
    columns = [ramp[list(draw(st.permutations(range(M))))] for _ in range(K)]
    noise = draw(values((M, K), -0.5, 0.5))
    scale = draw(values((K,), 0.5, 3.0))
    shift = draw(values((K,), -3.0, 3.0))
    return shift + scale * (np.stack(columns, axis=1) + noise)


@st.composite
def batch(draw):
    """X (N, D) with N >= 2 spread over the batch, gamma and beta (D,)."""
    N, D = draw(st.integers(2, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    return (draw(spread(N, D)), draw(values((D,))), draw(values((D,)))), {}


@st.composite
def batch_with_running_stats(draw):
    """X (N, D) with any N >= 1, gamma, beta, and running statistics: test mode."""
    N, D = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    arrays = (draw(values((N, D))), draw(values((D,))), draw(values((D,))))
    return arrays, {"running_mean": draw(values((D,))), "running_var": draw(values((D,), 0.25, 4.0))}


@st.composite
def examples(draw):
    """X (..., D) with D >= 2 spread over the features, gamma and beta (D,)."""
    leading = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=MAX_SIDE))
    D = draw(st.integers(2, MAX_SIDE))
    M = int(np.prod(leading))
    X = draw(spread(D, M)).T.reshape(*leading, D)  # each row of the transpose is one example
    return (X, draw(values((D,))), draw(values((D,)))), {}


@st.composite
def images(draw):
    """X (N, C, H, W) with N H W >= 2 values per channel, spread; gamma and beta (C,)."""
    N, C, H, W = (draw(st.integers(1, 3)) for _ in range(4))
    if N * H * W < 2:
        N += 1
    columns = draw(spread(N * H * W, C))  # one column per channel
    X = columns.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return (np.ascontiguousarray(X), draw(values((C,))), draw(values((C,)))), {}


def test_mode(X, gamma, beta, running_mean, running_var):
    stats = nb.BatchNormStats(X.shape[1])
    stats.mean, stats.var = running_mean, running_var
    return nb.batchnorm(X, gamma, beta, stats=stats, train=False, eps=EPS)


def torch_batch_norm(X, gamma, beta):
    """The torch twin of every train-mode batch norm: the fused op, the graph, the spatial one."""
    return F.batch_norm(X, None, None, gamma, beta, training=True, eps=EPS)


NORMALIZATION_CASES = [
    OpCase(
        "batchnorm",
        lambda X, gamma, beta: nb.batchnorm(X, gamma, beta, eps=EPS),
        torch_batch_norm,
        batch(),
    ),
    OpCase(
        "batchnorm_graph",
        lambda X, gamma, beta: nb.batchnorm_graph(X, gamma, beta, eps=EPS),
        torch_batch_norm,
        batch(),
    ),
    OpCase(
        "batchnorm test mode",
        test_mode,
        lambda X, gamma, beta, running_mean, running_var: F.batch_norm(
            X, torch.from_numpy(running_mean), torch.from_numpy(running_var), gamma, beta, training=False, eps=EPS
        ),
        batch_with_running_stats(),
    ),
    OpCase(
        "layernorm",
        lambda X, gamma, beta: nb.layernorm(X, gamma, beta, eps=EPS),
        lambda X, gamma, beta: F.layer_norm(X, (X.shape[-1],), gamma, beta, eps=EPS),
        examples(),
    ),
    OpCase(
        "spatial_batchnorm",
        lambda X, gamma, beta: nb.spatial_batchnorm(X, gamma, beta, eps=EPS),
        torch_batch_norm,
        images(),
    ),
]
