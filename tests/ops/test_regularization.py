"""nabla.ops.regularization: dropout, and the Dropout layer built on it (nabla.nn.Dropout): forward,
backward with a fixed mask, the statistics of the drawn masks, and every error's message.

In the catalogue cases the mask is drawn by Hypothesis and passed in as a constant, so each case
is deterministic and its torch twin is the formula itself, X * mask / (1 - p). In test mode the
twin is torch's own dropout with ``training=False``, and with p = 0 torch's dropout in train mode.
"""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from nabla.gradcheck import GradientCheckError, check_against_torch, check_backward
from nabla.ops.regularization import Dropout, draw_mask
from op_catalogue import OpCase, catalogue_tests, shape, unary, values

DROP_PROBABILITIES = [0.0, 0.1, 0.5, 0.9]


@st.composite
def dropout_args(draw, mask_dtype=np.bool_):
    X = draw(values(draw(shape())))
    mask = draw(hnp.arrays(np.bool_, X.shape)).astype(mask_dtype)
    return (X,), {"p": draw(st.sampled_from(DROP_PROBABILITIES)), "mask": mask}


@st.composite
def dropout_p(draw):
    return (draw(values(draw(shape()))),), {"p": draw(st.sampled_from(DROP_PROBABILITIES))}


CASES = [
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

TestCatalogue = catalogue_tests(CASES)


def test_train_mode_keeps_masked_entries_scaled_by_one_over_one_minus_p():
    X = np.arange(1.0, 7.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, True, True]])
    S = nb.dropout(nb.Tensor(X), 0.25, mask=mask)
    np.testing.assert_allclose(S.value, np.where(mask, X / 0.75, 0.0), rtol=1e-15, atol=0)
    assert S.source.op is Dropout


def test_test_mode_is_the_identity_and_adds_no_node():
    X = nb.Tensor(np.ones((2, 3)))
    assert nb.dropout(X, 0.5, train=False) is X


def test_p_zero_keeps_everything():
    X = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(nb.dropout(X, 0.0, rng=np.random.default_rng(1)).value, X)


def test_a_seeded_rng_draws_the_same_mask_again():
    X = np.ones((10, 10))
    first = nb.dropout(X, 0.5, rng=np.random.default_rng(7)).value
    second = nb.dropout(X, 0.5, rng=np.random.default_rng(7)).value
    np.testing.assert_array_equal(first, second)
    assert 0 < np.count_nonzero(first) < first.size


def test_backward_is_the_mask_times_the_scale():
    rng = np.random.default_rng(0)
    X, S_bar = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    mask = draw_mask(rng, (3, 4), 0.3)
    X_leaf = nb.Tensor(X)
    nb.dropout(X_leaf, 0.3, mask=mask).backward(S_bar)
    np.testing.assert_allclose(X_leaf.grad, S_bar * mask / 0.7, rtol=1e-15)  # eq. dropout-backward
    assert np.all(X_leaf.grad[~mask] == 0)  # a dropped unit took no part in the loss


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9])
def test_gradients_with_a_fixed_mask_match_central_differences_and_torch(p):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 3))
    mask = draw_mask(rng, X.shape, p)
    check_backward(lambda X: nb.dropout(X, p, mask=mask), X)
    check_against_torch(lambda X: nb.dropout(X, p, mask=mask), lambda X: X * torch.from_numpy(mask) / (1 - p), X)


def test_a_backward_without_the_scale_fails_the_check():
    class DropoutUnscaled(Dropout):
        @staticmethod
        def backward(ctx, S_bar):
            return S_bar * ctx.mask

    X = np.random.default_rng(2).standard_normal((3, 4))
    mask = np.ones((3, 4))
    with pytest.raises(GradientCheckError, match=r"worst relative error 5\.0e-01"):
        check_backward(lambda X: DropoutUnscaled.apply(X, mask=mask, scale=2.0), X)


def test_a_mask_redrawn_at_every_evaluation_fails_the_check():
    rng = np.random.default_rng(3)
    X = np.random.default_rng(4).standard_normal((3, 4))
    with pytest.raises(GradientCheckError):
        check_backward(lambda X: nb.dropout(X, 0.5, rng=rng), X)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_the_keep_rate_is_one_minus_p_as_in_torch(p):
    n = 200_000
    ours = nb.dropout(np.ones(n), p, rng=np.random.default_rng(5)).value
    torch.manual_seed(5)
    theirs = torch.nn.functional.dropout(torch.ones(n, dtype=torch.float64), p, training=True).numpy()
    standard_error = np.sqrt(p * (1 - p) / n)
    for S in (ours, theirs):
        kept = S != 0
        assert abs(kept.mean() - (1 - p)) < 4 * standard_error
        np.testing.assert_allclose(S[kept], 1 / (1 - p), rtol=1e-15)  # the same scale


def test_the_expected_output_is_x_in_train_mode():
    p, K = 0.5, 20_000
    X = np.array([[-2.0, 0.5, 1.0], [3.0, -1.0, 0.25]])
    S = nb.dropout(np.broadcast_to(X, (K, *X.shape)).copy(), p, rng=np.random.default_rng(6)).value
    standard_error = np.abs(X) * np.sqrt(p / (1 - p) / K)  # Var S_ij = X_ij^2 p / (1 - p)
    assert np.all(np.abs(S.mean(axis=0) - X) < 4 * standard_error)


def test_float32_stays_float32():
    X = nb.Tensor(np.ones((2, 2), dtype=np.float32))
    S = nb.dropout(X, 0.5, mask=np.array([[1, 0], [0, 1]]))
    assert S.dtype == np.float32
    S.backward(np.ones((2, 2), dtype=np.float32))
    assert X.grad.dtype == np.float32


# ---- bad input: each error names the problem and the values ----------------------------


@pytest.mark.parametrize(
    "p, message",
    [
        (1, r"dropout: p must lie in \[0, 1\), got p = 1; p = 1 would drop every unit, and the scale 1 / \(1 - p\) would divide by zero"),
        (1.5, r"dropout: p must lie in \[0, 1\), got p = 1.5; p is the probability of dropping a unit"),
        (-0.1, r"dropout: p must lie in \[0, 1\), got p = -0.1"),
        (float("nan"), r"dropout: p must lie in \[0, 1\), got p = nan"),
    ],
)
def test_p_outside_zero_one_is_refused_with_its_value(p, message):
    with pytest.raises(ValueError, match=message):
        nb.dropout(np.ones(3), p)
    with pytest.raises(ValueError, match=message):
        nb.dropout(np.ones(3), p, train=False)  # a bad p is a bug in test mode too
    with pytest.raises(ValueError, match=message):
        nb.nn.Dropout(p)


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_p_that_is_not_a_number_is_refused(p):
    with pytest.raises(TypeError, match=r"dropout: p is the probability of dropping a unit, a number in \[0, 1\)"):
        nb.dropout(np.ones(3), p)


def test_a_mask_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(nb.ShapeError, match=r"dropout: mask has shape \(3, 2\) but X has shape \(2, 3\); they must be equal"):
        nb.dropout(np.ones((2, 3)), 0.5, mask=np.ones((3, 2), dtype=bool))


def test_a_mask_that_is_not_zero_one_says_where():
    mask = np.array([[1.0, 0.5], [0.0, 2.0]])
    with pytest.raises(ValueError, match=r"mask must be boolean or hold only 0s and 1s .* 2 other entries, the first 0.5 at index \(0, 1\)"):
        nb.dropout(np.ones((2, 2)), 0.5, mask=mask)


def test_a_mask_of_strings_is_refused():
    with pytest.raises(TypeError, match=r"dropout: mask must be boolean or hold 0s and 1s, got dtype <U1"):
        nb.dropout(np.ones(2), 0.5, mask=np.array(["1", "0"]))


def test_an_integer_x_is_refused():
    with pytest.raises(TypeError, match=r"dropout: expected a floating-point array, got dtype int64 with shape \(3,\)"):
        nb.dropout(np.arange(3), 0.5)


def test_a_mask_in_test_mode_is_refused():
    with pytest.raises(ValueError, match=r"a mask was given with train=False; in test mode dropout is the identity"):
        nb.dropout(np.ones(2), 0.5, mask=np.ones(2), train=False)
