"""nabla.ops.classification: softmax, log-softmax and cross-entropy."""

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from op_catalogue import OpCase, catalogue_tests, values, with_axis


@st.composite
def classification(draw):
    N, C = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    labels = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    return (draw(values((N, C), -5.0, 5.0)),), {"labels": labels}


CASES = [
    OpCase("softmax", nb.softmax, lambda X, axis: torch.softmax(X, axis), with_axis()),
    OpCase("log_softmax", nb.log_softmax, lambda X, axis: torch.log_softmax(X, axis), with_axis()),
    OpCase(
        "cross_entropy",
        nb.cross_entropy,
        lambda X, labels: torch.nn.functional.cross_entropy(X, torch.from_numpy(labels)),
        classification(),
    ),
]

TestCatalogue = catalogue_tests(CASES)


def test_softmax_and_cross_entropy_do_not_overflow():
    x = nb.Tensor(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_allclose(nb.softmax(x).value, [[0.0, 0.0, 1.0]])
    assert nb.cross_entropy(x, np.array([2])).item() == pytest.approx(0.0)


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    X = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    logits = nb.Tensor(X)
    nb.cross_entropy(logits, labels).backward()
    P = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (P - np.eye(3)[labels]) / 4, rtol=1e-12)


# ---- bad input: each error names the problem and the values ----------------------------


@pytest.mark.parametrize(
    "labels, error, message",
    [
        (np.array([0, 3]), ValueError, r"labels must lie in \[0, 3\), got \[3\]"),
        (np.array([0, -1]), ValueError, r"labels must lie in \[0, 3\), got \[-1\]"),
        (np.array([0, 1, 2]), nb.ShapeError, r"labels have shape \(3,\) but logits have shape \(2, 3\); expected \(2,\)"),
        (np.array([[0], [1]]), nb.ShapeError, r"labels have shape \(2, 1\)"),
        (np.array([0.0, 1.0]), TypeError, r"labels must be integer class indices, got dtype float64"),
    ],
)
def test_cross_entropy_refuses_bad_labels(labels, error, message):
    with pytest.raises(error, match=message):
        nb.cross_entropy(nb.Tensor(np.zeros((2, 3))), labels)
