"""Every op in the catalogue, forward and backward, against torch and central differences.

Hypothesis draws shapes (0-d, size-1 axes, axes that broadcast) and values; the checks
are float64 and use a random upstream gradient, never only ones.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nabla as nb
from nabla.gradcheck import check_against_torch, check_backward, relative_error
from op_cases import CASES


def bind(f, constants):
    return lambda *inputs: f(*inputs, **constants)


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data())
def test_forward_matches_torch(case, data):
    arrays, constants = data.draw(case.inputs)
    ours = bind(case.nabla, constants)(*(nb.Tensor(X) for X in arrays))
    theirs = bind(case.torch, constants)(*(torch.tensor(X) for X in arrays))
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == np.float64
    assert np.max(relative_error(ours.value, theirs.numpy()), initial=0.0) <= 1e-12


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_backward_matches_torch(case, data, seed):
    arrays, constants = data.draw(case.inputs)
    check_against_torch(bind(case.nabla, constants), bind(case.torch, constants), *arrays, seed=seed, tol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=repr)
@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_backward_matches_central_differences(case, data, seed):
    arrays, constants = data.draw(case.inputs)
    check_backward(bind(case.nabla, constants), *arrays, seed=seed)


def test_broadcast_backward_sums_over_the_copies():
    # A (3, 1) column copied into 16 columns: each entry's adjoint is its row's sum.
    x = nb.Tensor(np.arange(3.0).reshape(3, 1))
    Y_bar = np.random.default_rng(0).standard_normal((2, 3, 16))
    nb.broadcast_to(x, (2, 3, 16)).backward(Y_bar)
    assert x.grad.shape == (3, 1)
    np.testing.assert_allclose(x.grad, Y_bar.sum(axis=(0, 2))[:, None])


def test_a_number_keeps_the_tensors_float32():
    x = nb.Tensor(np.ones(3, dtype=np.float32))
    assert (2 * x).dtype == np.float32
    assert (x / 4.0).dtype == np.float32


# ---- bad input: each error names the problem and the shapes or values ------------------


def test_shapes_that_cannot_broadcast_name_both_shapes():
    with pytest.raises(nb.ShapeError, match=r"add: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        nb.Tensor(np.ones((2, 3))) + np.ones(4)


def test_broadcast_to_a_smaller_shape_is_refused():
    with pytest.raises(nb.ShapeError, match=r"cannot broadcast shape \(3, 4\) to \(4,\)"):
        nb.broadcast_to(nb.Tensor(np.ones((3, 4))), (4,))


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


@pytest.mark.parametrize("axis", [2, -3, (0, 0)])
def test_a_bad_axis_is_named(axis):
    with pytest.raises(ValueError, match=r"sum: axis .* (out of range for a tensor with 2 dimensions|names the same axis twice)"):
        nb.sum(nb.Tensor(np.ones((2, 3))), axis=axis)


@pytest.mark.parametrize("axis", [1.5, "0", True])
def test_an_axis_that_is_not_an_int_is_refused(axis):
    with pytest.raises(TypeError, match=r"mean: an axis is an int or a tuple of ints"):
        nb.mean(nb.Tensor(np.ones((2, 3))), axis=axis)


def test_matmul_inner_sizes_that_differ_name_both_shapes():
    with pytest.raises(nb.ShapeError, match=r"matmul: X has shape \(4, 3\) but W has shape \(5, 2\); the inner sizes 3 and 5 must match"):
        nb.Tensor(np.ones((4, 3))) @ nb.Tensor(np.ones((5, 2)))


def test_matmul_takes_matrices():
    with pytest.raises(nb.ShapeError, match=r"takes two matrices, got X of shape \(3,\)"):
        nb.matmul(nb.Tensor(np.ones(3)), nb.Tensor(np.ones((3, 2))))


def test_log_of_non_positive_values_says_where():
    with pytest.raises(ValueError, match=r"log: X has 2 entries that are not positive, the first 0.0 at index \(1,\)"):
        nb.log(nb.Tensor(np.array([1.0, 0.0, -2.0])))


def test_relu_derivative_at_zero_is_zero_as_in_torch():
    x = nb.Tensor(np.array([-1.0, 0.0, 2.0]))
    nb.sum(nb.relu(x)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_sigmoid_and_softmax_do_not_overflow():
    x = nb.Tensor(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(nb.sigmoid(x).value, [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(nb.softmax(x).value, [[0.0, 0.0, 1.0]])
    assert nb.cross_entropy(x, np.array([2])).item() == pytest.approx(0.0)


def test_select_accumulates_repeated_rows():
    X = nb.Tensor(np.arange(6.0).reshape(3, 2))
    nb.sum(nb.select(X, [2, 2, 0])).backward()
    np.testing.assert_array_equal(X.grad, [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda X: nb.select(X, [3]), IndexError, r"select: index \[3\] is out of range for axis 0 of size 3 \(shape \(3, 2\)\)"),
        (lambda X: nb.select(X, [0.5]), TypeError, r"select: index must hold integers, got dtype float64"),
        (lambda X: nb.reshape(X, (4,)), nb.ShapeError, r"reshape: cannot arrange 6 elements of shape \(3, 2\) as \(4,\)"),
        (lambda X: nb.squeeze(X, 0), nb.ShapeError, r"squeeze: axis 0 of shape \(3, 2\) has size 3, not 1"),
        (lambda X: nb.unsqueeze(X, 3), ValueError, r"unsqueeze: a new axis goes at a position from -3 to 2, got 3"),
        (lambda X: nb.expand(X, 3, 2), ValueError, r"expand: a new axis goes at a position from 0 to 2"),
        (lambda X: nb.transpose(X, (0, 0)), ValueError, r"transpose: axes \(0, 0\) are not a permutation"),
        (lambda X: nb.normalize(X * 0.0), ZeroDivisionError, r"normalize: X of shape \(3, 2\) has a slice of norm 0"),
    ],
)
def test_shape_and_index_errors_name_the_values(call, error, message):
    with pytest.raises(error, match=message):
        call(nb.Tensor(np.arange(6.0).reshape(3, 2)))


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


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    X = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    logits = nb.Tensor(X)
    nb.cross_entropy(logits, labels).backward()
    P = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (P - np.eye(3)[labels]) / 4, rtol=1e-12)


def test_exp_refuses_to_overflow():
    with pytest.raises(FloatingPointError, match=r"exp: X has entries up to 1000.0, but exp overflows float64 above 709.78"):
        nb.exp(nb.Tensor(np.array([0.0, 1000.0])))


def test_kinks_take_the_values_pytorch_takes():
    x = nb.Tensor(np.array([0.0, -2.0, 3.0]))
    nb.sum(nb.abs(x)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, -1.0, 1.0])
    a, b = nb.Tensor(np.array([1.0, 2.0])), nb.Tensor(np.array([1.0, 1.0]))
    nb.sum(nb.maximum(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_sqrt_at_zero_is_refused_not_infinite():
    with pytest.raises(ValueError, match="no finite derivative at X == 0"):
        nb.sqrt(nb.Tensor(np.array([0.0, 1.0])))


def test_where_sends_each_adjoint_down_the_branch_taken():
    X, Y = nb.Tensor(np.array([1.0, 2.0, 3.0])), nb.Tensor(np.array([10.0, 20.0, 30.0]))
    nb.where(np.array([True, False, True]), X, Y).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(X.grad, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(Y.grad, [0.0, 2.0, 0.0])


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="where: condition must be a boolean array, got dtype int64"):
        nb.where(np.array([1, 0]), nb.Tensor(np.ones(2)), 0.0)
