"""nabla.ops.conv: conv2d and max_pool2d, im2col and col2im, ties, errors, and the layers built on them.

The catalogue cases check forward and backward on random shapes. Shapes stay small (at most 2
images, 2 channels, 3 filters, 6 x 6 pixels), so that central differences, which run the op
twice per input element, stay fast; stride 2 and padding 1 are drawn as often as 1 and 0. A
max pool has a kink wherever two entries of a window tie, so its inputs are a shuffled ladder
of distinct values, 0.25 apart: far from any tie.

The tests after the catalogue pin down what it cannot: the layout of im2col, col2im as its
exact adjoint, which element of a tied window gets the gradient, and every error message.
"""

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from nabla.gradcheck import check_against_torch, check_gradients
from nabla.ops.conv import col2im, im2col, output_size
from op_catalogue import OpCase, catalogue_tests, values

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


CASES = [
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

TestCatalogue = catalogue_tests(CASES)


def test_output_size_is_the_number_of_kernel_positions():
    assert output_size(28, 3, 1, 1) == 28
    assert output_size(7, 3, 2, 1) == 4  # padded 9: positions 0, 2, 4, 6
    assert output_size(5, 2, 2, 0) == 2  # the last column is never reached


def test_im2col_puts_one_patch_per_row_in_row_major_order():
    X = np.arange(16.0).reshape(1, 1, 4, 4)
    X_hat = im2col(X, 3, 3)
    assert X_hat.shape == (4, 9)
    np.testing.assert_array_equal(X_hat[0], [0, 1, 2, 4, 5, 6, 8, 9, 10])
    np.testing.assert_array_equal(X_hat[3], [5, 6, 7, 9, 10, 11, 13, 14, 15])


def test_im2col_orders_columns_by_channel_then_kernel_row_then_column():
    X = np.arange(2 * 2 * 2 * 2.0).reshape(2, 2, 2, 2)  # N = C = 2, 2 x 2 images
    X_hat = im2col(X, 2, 2)
    assert X_hat.shape == (2, 8)  # one position per image; C kh kw = 8 columns
    np.testing.assert_array_equal(X_hat, X.reshape(2, 8))


def test_im2col_pads_with_zeros():
    X_hat = im2col(np.ones((1, 1, 2, 2)), 3, 3, padding=1)
    assert X_hat.shape == (4, 9)
    np.testing.assert_array_equal(X_hat[0].reshape(3, 3), [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


@pytest.mark.parametrize("kh, kw, stride, padding", [(3, 3, 1, 0), (3, 2, 2, 1), (2, 2, 2, 0), (1, 3, 3, 2), (3, 3, 1, 2)])
def test_col2im_is_the_adjoint_of_im2col(kh, kw, stride, padding):
    # <im2col(X), Z> = <X, col2im(Z)> for all X and Z: the definition of an adjoint.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3, 5, 6))
    X_hat = im2col(X, kh, kw, stride, padding)
    Z = rng.standard_normal(X_hat.shape)
    assert np.isclose(np.sum(X_hat * Z), np.sum(X * col2im(Z, X.shape, kh, kw, stride, padding)), rtol=1e-12)


def test_col2im_of_ones_counts_the_patches_over_each_pixel():
    counts = col2im(np.ones((4, 9)), (1, 1, 4, 4), 3, 3)[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 1), (3, 2)])
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_gradients_match_central_differences_and_torch(stride, padding, bias):
    rng = np.random.default_rng(stride + 10 * padding)
    X, W, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    if bias:
        check_gradients(
            lambda X, W, b: nb.conv2d(X, W, b, stride=stride, padding=padding),
            lambda X, W, b: torch.nn.functional.conv2d(X, W, b, stride=stride, padding=padding),
            X, W, b,
        )
    else:
        check_gradients(
            lambda X, W: nb.conv2d(X, W, stride=stride, padding=padding),
            lambda X, W: torch.nn.functional.conv2d(X, W, stride=stride, padding=padding),
            X, W,
        )


def test_conv2d_keeps_float32():
    X, W = np.ones((1, 1, 4, 4), dtype=np.float32), np.ones((2, 1, 3, 3), dtype=np.float32)
    Y = nb.conv2d(nb.Tensor(X), nb.Tensor(W), np.zeros(2, dtype=np.float32), padding=1)
    assert Y.dtype == np.float32 and Y.shape == (1, 2, 4, 4)


@pytest.mark.parametrize("kernel_size, stride", [(2, None), (3, 2), (3, 1), ((2, 3), 2)])
def test_max_pool2d_gradients_match_central_differences_and_torch(kernel_size, stride):
    rng = np.random.default_rng(0)
    X = 0.25 * rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10  # distinct: no ties
    check_gradients(
        lambda X: nb.max_pool2d(X, kernel_size, stride),
        lambda X: torch.nn.functional.max_pool2d(X, kernel_size, stride),
        X,
    )


def test_a_tied_window_gives_its_gradient_to_the_first_maximum_in_row_major_order():
    X = nb.Tensor(np.array([[[[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]]))
    nb.max_pool2d(X, 3).backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(X.grad[0, 0], [[0, 5, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("kernel_size, stride", [(2, None), (3, 1), (3, 2)])
def test_ties_are_broken_as_torch_breaks_them_on_the_cpu(kernel_size, stride):
    # Entries from {0, 1, 2}: nearly every window has a tie for its maximum.
    X = np.random.default_rng(1).integers(0, 3, size=(2, 3, 8, 9)).astype(np.float64)
    check_against_torch(
        lambda X: nb.max_pool2d(X, kernel_size, stride),
        lambda X: torch.nn.functional.max_pool2d(X, kernel_size, stride),
        X,
        tol=1e-12,  # overlapping windows add in another order; a different winner would be off by O(1)
    )


# ---- bad input: each error names the problem and the shapes or values ------------------


@pytest.mark.parametrize(
    "X_shape, W_shape, kwargs, error, message",
    [
        ((1, 1, 2, 3), (2, 1, 5, 3), {"padding": 1}, nb.ShapeError,
         r"conv2d: the kernel \(5, 3\) is larger than the padded input \(4, 5\) \(X's height and width \(2, 3\) plus padding 1 on each side\)"),
        ((1, 1, 4, 4), (2, 1, 3, 6), {}, nb.ShapeError, r"the kernel \(3, 6\) is larger than the padded input \(4, 4\)"),
        ((2, 3, 5, 5), (4, 2, 3, 3), {}, nb.ShapeError,
         r"conv2d: X has shape \(2, 3, 5, 5\) with 3 channels but W has shape \(4, 2, 3, 3\) with 2; axis 1 of both \(the input channels C\) must match"),
        ((3, 5, 5), (4, 3, 3, 3), {}, nb.ShapeError, r"conv2d: X must have 4 axes \(N, C, H, W\), got shape \(3, 5, 5\)"),
        ((1, 3, 5, 5), (3, 3, 3), {}, nb.ShapeError, r"conv2d: W must have 4 axes \(F, C, kh, kw\), got shape \(3, 3, 3\)"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ValueError, r"conv2d: stride must be a positive int, got 0"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 1.5}, ValueError, r"conv2d: stride must be a positive int, got 1.5"),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ValueError, r"conv2d: padding must be a non-negative int, got -1"),
        ((1, 1, 5, 5), (2, 1, 3, 3), {"b": np.zeros(3)}, nb.ShapeError,
         r"conv2d: b has shape \(3,\) but W has shape \(2, 1, 3, 3\); expected one bias per filter, \(2,\)"),
    ],
)
def test_conv2d_errors_name_the_shapes(X_shape, W_shape, kwargs, error, message):
    with pytest.raises(error, match=message):
        nb.conv2d(nb.Tensor(np.ones(X_shape)), nb.Tensor(np.ones(W_shape)), **kwargs)


@pytest.mark.parametrize(
    "X_shape, kernel_size, stride, error, message",
    [
        ((4, 4), 2, None, nb.ShapeError, r"max_pool2d: X must have 4 axes \(N, C, H, W\), got shape \(4, 4\)"),
        ((1, 1, 3, 5), 4, None, nb.ShapeError,
         r"max_pool2d: the window \(4, 4\) is larger than the input \(3, 5\) \(X has shape \(1, 1, 3, 5\)\)"),
        ((1, 1, 4, 4), 2, 0, ValueError, r"max_pool2d: stride must be a positive int, got 0"),
        ((1, 1, 4, 4), 0, None, ValueError, r"max_pool2d: kernel_size must be a positive int, got 0"),
        ((1, 1, 4, 4), (1, 2, 3), None, ValueError, r"max_pool2d: kernel_size must be an int or a pair \(kh, kw\), got \(1, 2, 3\)"),
        ((1, 1, 4, 4), (1, 2), None, ValueError, r"max_pool2d: give a stride for the non-square kernel \(1, 2\)"),
    ],
)
def test_max_pool2d_errors_name_the_values(X_shape, kernel_size, stride, error, message):
    with pytest.raises(error, match=message):
        nb.max_pool2d(nb.Tensor(np.ones(X_shape)), kernel_size, stride)
