"""Dropout's cases for the op catalogue (part of ``CASES`` in op_cases.py).

The mask is drawn by Hypothesis and passed in as a constant, so each case is deterministic
and its torch twin is the formula itself, X * mask / (1 - p). In test mode the twin is
torch's own dropout with ``training=False``, and with p = 0 torch's dropout in train mode.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import torch
from hypothesis import strategies as st

import nabla as nb
from op_cases import OpCase, shape, unary, values

DROP_PROBABILITIES = [0.0, 0.1, 0.5, 0.9]


@st.composite
def dropout_args(draw, mask_dtype=np.bool_):
    X = draw(values(draw(shape())))
    mask = draw(hnp.arrays(np.bool_, X.shape)).astype(mask_dtype)
    return (X,), {"p": draw(st.sampled_from(DROP_PROBABILITIES)), "mask": mask}


@st.composite
def dropout_p(draw):
    return (draw(values(draw(shape()))),), {"p": draw(st.sampled_from(DROP_PROBABILITIES))}


DROPOUT_CASES = [
    OpCase(
        "dropout (boolean mask)",
        lambda X, p, mask: nb.dropout(X, p, mask=mask),
        lambda X, p, mask: X * torch.from_numpy(mask) / (1 - p),
        dropout_args(),
    ),
    OpCase(
        "dropout (0/1 float mask)",
        lambda X, p, mask: nb.dropout(X, p, mask=mask),
        lambda X, p, mask: X * torch.from_numpy(mask) / (1 - p),
        dropout_args(mask_dtype=np.float64),
    ),
    OpCase(
        "dropout (test mode)",
        lambda X, p: nb.dropout(X, p, train=False),
        lambda X, p: torch.nn.functional.dropout(X, p, training=False),
        dropout_p(),
    ),
    OpCase(
        "dropout (p = 0, train mode)",  # nothing is dropped, so torch's own dropout is deterministic
        lambda X: nb.dropout(X, 0.0, rng=np.random.default_rng(0)),
        lambda X: torch.nn.functional.dropout(X, 0.0, training=True),
        unary(),
    ),
]
