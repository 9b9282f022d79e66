"""nabla.ops.normalization: batch, layer and spatial batch normalisation, their running statistics, errors and layers.

The catalogue cases check each normalisation's forward and backward against torch and central
differences. Their inputs are drawn so that every normalised slice has a real spread: a slice
whose entries are (nearly) equal has a variance near 0, where x_hat = (x - mu) / sigma is
dominated by eps and its derivatives by 1 / sqrt(eps), and central differences stop measuring
anything. Each slice is a permuted ramp (distinct, evenly spaced values) plus small noise,
scaled and shifted.

The tests after the catalogue check the properties of each normalisation, train and test
modes, the Bessel correction, and the error messages.
"""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import nabla as nb
from nabla.gradcheck import GradientCheckError, check_backward, check_gradients, relative_error
from nabla.ops.normalization import BatchNorm
from op_catalogue import MAX_SIDE, OpCase, catalogue_tests, values

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
def batch_args(draw):
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


def batchnorm_test_mode(X, gamma, beta, running_mean, running_var):
    stats = nb.BatchNormStats(X.shape[1])
    stats.mean, stats.var = running_mean, running_var
    return nb.batchnorm(X, gamma, beta, stats=stats, train=False, eps=EPS)


def torch_batch_norm(X, gamma, beta):
    """The torch twin of every train-mode batch norm: the fused op, the graph, the spatial one."""
    return F.batch_norm(X, None, None, gamma, beta, training=True, eps=EPS)


CASES = [
    OpCase(
        "batchnorm",
        lambda X, gamma, beta: nb.batchnorm(X, gamma, beta, eps=EPS),
        torch_batch_norm,
        batch_args(),
    ),
    OpCase(
        "batchnorm_graph",
        lambda X, gamma, beta: nb.batchnorm_graph(X, gamma, beta, eps=EPS),
        torch_batch_norm,
        batch_args(),
    ),
    OpCase(
        "batchnorm test mode",
        batchnorm_test_mode,
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

TestCatalogue = catalogue_tests(CASES)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def batch(rng, N=16, D=5):
    """A batch whose features have means 2, 4, ... and standard deviations 0.5, 1, ..."""
    X = rng.standard_normal((N, D)) * 0.5 * np.arange(1, D + 1) + 2.0 * np.arange(1, D + 1)
    return X, rng.standard_normal(D), rng.standard_normal(D)


# ---- train mode ------------------------------------------------------------------------


def test_train_mode_output_has_mean_beta_and_deviation_gamma(rng):
    X, gamma, beta = batch(rng)
    Y = nb.batchnorm(X, gamma, beta, eps=0.0).value
    np.testing.assert_allclose(Y.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(Y.std(axis=0), np.abs(gamma), rtol=1e-12)


def test_fused_backward_equals_the_graph_at_n100_d500(rng):
    X, gamma, beta = batch(rng, N=100, D=500)
    Y_bar = rng.standard_normal(X.shape)
    grads = []
    for f in (nb.batchnorm, nb.batchnorm_graph):
        leaves = [nb.Tensor(a) for a in (X, gamma, beta)]
        Y = f(*leaves)
        Y.backward(Y_bar)
        grads.append((Y.value, *(leaf.grad for leaf in leaves)))
    for fused, graph in zip(*grads):
        assert np.max(relative_error(fused, graph)) <= 1e-10


def test_adjoint_of_x_sums_to_zero_and_is_orthogonal_to_x_hat(rng):
    # With eps = 0, Y does not change when a column of X is shifted or scaled, so X_bar has no
    # component along 1 or along x_hat. (With eps > 0 the scaling changes Y a little.)
    X, gamma, beta = batch(rng)
    X_leaf = nb.Tensor(X)
    nb.batchnorm(X_leaf, gamma, beta, eps=0.0).backward(rng.standard_normal(X.shape))
    X_hat = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(X_leaf.grad.sum(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.sum(X_leaf.grad * X_hat, axis=0), 0, atol=1e-12)


def test_holding_mu_and_sigma_constant_is_caught(rng):
    class Constants(BatchNorm):
        @staticmethod
        def backward(ctx, Y_bar):
            return Y_bar * ctx.gamma / ctx.s, np.sum(Y_bar * ctx.X_hat, axis=0), Y_bar.sum(axis=0)

    X, gamma, beta = batch(rng, N=6, D=3)
    with pytest.raises(GradientCheckError, match=r"the gradient of input 0 is wrong"):
        check_backward(lambda X, g, b: Constants.apply(X, g, b, eps=1e-5), X, gamma, beta)


# ---- running statistics, test mode, Bessel's correction ---------------------------------


def test_running_statistics_and_test_mode_match_torch(rng):
    D, momentum = 4, 0.3
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    stats = nb.BatchNormStats(D)
    running_mean, running_var = torch.zeros(D, dtype=torch.float64), torch.ones(D, dtype=torch.float64)
    for N in (2, 3, 8, 5):  # small batches, where 1/N and 1/(N - 1) differ most
        X = batch(rng, N=N, D=D)[0]
        ours = nb.batchnorm(X, gamma, beta, stats=stats, momentum=momentum).value
        theirs = F.batch_norm(torch.from_numpy(X), running_mean, running_var, torch.from_numpy(gamma),
                              torch.from_numpy(beta), training=True, momentum=momentum)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.mean, running_mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(stats.var, running_var.numpy(), rtol=1e-14)
    assert stats.updates == 4

    X = batch(rng, N=7, D=D)[0]
    ours = nb.batchnorm(X, gamma, beta, stats=stats, train=False).value
    theirs = F.batch_norm(torch.from_numpy(X), running_mean, running_var, torch.from_numpy(gamma),
                          torch.from_numpy(beta), training=False)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)


def test_running_variance_is_bessel_corrected_unless_asked_not_to(rng):
    X = batch(rng, N=4, D=3)[0]
    unbiased, biased = nb.BatchNormStats(3), nb.BatchNormStats(3, unbiased=False)
    for stats in (unbiased, biased):
        nb.batchnorm(X, np.ones(3), np.zeros(3), stats=stats, momentum=1.0)  # momentum 1: the batch's own values
    np.testing.assert_allclose(unbiased.var, X.var(axis=0, ddof=1), rtol=1e-14)
    np.testing.assert_allclose(biased.var, X.var(axis=0), rtol=1e-14)
    np.testing.assert_allclose(unbiased.var / biased.var, 4 / 3, rtol=1e-14)
    np.testing.assert_array_equal(unbiased.mean, biased.mean)


def test_a_fresh_stats_object_makes_test_mode_the_affine_map(rng):
    X, gamma, beta = batch(rng)
    Y = nb.batchnorm(X, gamma, beta, stats=nb.BatchNormStats(X.shape[1]), train=False, eps=0.0).value
    np.testing.assert_allclose(Y, gamma * X + beta, rtol=1e-14)


def test_test_mode_leaves_stats_alone_and_takes_a_batch_of_one(rng):
    X, gamma, beta = batch(rng)
    stats = nb.BatchNormStats(X.shape[1])
    nb.batchnorm(X, gamma, beta, stats=stats)
    mean, var = stats.mean.copy(), stats.var.copy()
    Y = nb.batchnorm(X[:1], gamma, beta, stats=stats, train=False)
    assert Y.shape == (1, X.shape[1]) and stats.updates == 1
    np.testing.assert_array_equal(stats.mean, mean)
    np.testing.assert_array_equal(stats.var, var)


def test_warmed_up_test_mode_gives_means_near_beta_and_deviations_near_gamma(rng):
    D = 5
    gamma, beta = rng.uniform(0.5, 2.0, D), rng.standard_normal(D)
    stats = nb.BatchNormStats(D)
    for _ in range(300):
        nb.batchnorm(batch(rng, N=32, D=D)[0], gamma, beta, stats=stats)
    Y = nb.batchnorm(batch(rng, N=20_000, D=D)[0], gamma, beta, stats=stats, train=False).value
    np.testing.assert_allclose(Y.mean(axis=0), beta, atol=0.1)
    np.testing.assert_allclose(Y.std(axis=0), gamma, rtol=0.1)


def test_test_mode_gradients(rng):
    X, gamma, beta = batch(rng, N=5, D=3)
    stats = nb.BatchNormStats(3)
    stats.mean, stats.var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    check_gradients(
        lambda X, g, b: nb.batchnorm(X, g, b, stats=stats, train=False),
        lambda X, g, b: F.batch_norm(X, torch.from_numpy(stats.mean), torch.from_numpy(stats.var), g, b, training=False),
        X, gamma, beta,
    )


# ---- layer normalisation -----------------------------------------------------------------


def test_layernorm_of_an_example_does_not_depend_on_the_batch(rng):
    X, gamma, beta = batch(rng, N=10, D=6)
    whole = nb.layernorm(X, gamma, beta).value
    for i in range(len(X)):
        np.testing.assert_array_equal(nb.layernorm(X[i : i + 1], gamma, beta).value, whole[i : i + 1])
    # ... while batch normalisation of one example changes with its batch mates
    assert not np.allclose(nb.batchnorm(X[:5], gamma, beta).value, nb.batchnorm(X, gamma, beta).value[:5])


def test_layernorm_is_batchnorm_of_the_transpose(rng):
    X = batch(rng, N=7, D=4)[0]
    np.testing.assert_allclose(
        nb.layernorm(X, np.ones(4), np.zeros(4)).value, nb.batchnorm(X.T, np.ones(7), np.zeros(7)).value.T, rtol=1e-13
    )


# ---- spatial batch normalisation -----------------------------------------------------------


def test_spatial_batchnorm_normalises_each_channel_over_batch_and_image(rng):
    X = rng.standard_normal((3, 2, 4, 5)) * np.array([1.0, 3.0])[:, None, None] + np.array([-1.0, 2.0])[:, None, None]
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    Y = nb.spatial_batchnorm(X, gamma, beta).value
    mu = X.mean(axis=(0, 2, 3), keepdims=True)
    sigma = np.sqrt(X.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(Y, gamma[:, None, None] * (X - mu) / sigma + beta[:, None, None], rtol=1e-12)


def test_spatial_running_statistics_match_torch_batchnorm2d(rng):
    ours = nb.BatchNormStats(3)
    theirs = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    gamma, beta = np.ones(3), np.zeros(3)
    for _ in range(3):
        X = rng.standard_normal((2, 3, 2, 3)) + 1.0
        nb.spatial_batchnorm(X, gamma, beta, stats=ours)
        theirs(torch.from_numpy(X))
    np.testing.assert_allclose(ours.mean, theirs.running_mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(ours.var, theirs.running_var.numpy(), rtol=1e-14)  # Bessel with n = N H W = 12
    X = rng.standard_normal((1, 3, 2, 2))
    np.testing.assert_allclose(
        nb.spatial_batchnorm(X, gamma, beta, stats=ours, train=False).value,
        theirs.eval()(torch.from_numpy(X)).detach().numpy(),
        rtol=1e-12,
    )


# ---- bad input: each error names the problem and the shapes ------------------------------


ONES3, ZEROS3 = np.ones(3), np.zeros(3)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: nb.batchnorm(np.ones((1, 3)), ONES3, ZEROS3), ValueError,
         r"batchnorm: train mode normalises over the batch, but X has shape \(1, 3\): a batch of 1 has variance 0"),
        (lambda: nb.batchnorm_graph(np.ones((1, 3)), ONES3, ZEROS3), ValueError, r"batchnorm_graph: .* shape \(1, 3\)"),
        (lambda: nb.batchnorm(np.ones((4, 3)), np.ones(4), ZEROS3), nb.ShapeError,
         r"batchnorm: gamma has shape \(4,\) but X has shape \(4, 3\); gamma and beta need one entry per feature, shape \(3,\)"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, np.zeros((1, 3))), nb.ShapeError,
         r"batchnorm: beta has shape \(1, 3\) but X has shape \(4, 3\)"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, ZEROS3, train=False), ValueError,
         r"batchnorm: test mode \(train=False\) normalises X of shape \(4, 3\) with running statistics, but stats is None"),
        (lambda: nb.batchnorm(np.ones((2, 3, 4, 4)), ONES3, ZEROS3), nb.ShapeError,
         r"batchnorm: X must have shape \(N, D\), got \(2, 3, 4, 4\); for images of shape \(N, C, H, W\) use nb.spatial_batchnorm"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, ZEROS3, stats=nb.BatchNormStats(5)), nb.ShapeError,
         r"batchnorm: stats hold 5 features but X has shape \(4, 3\)"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, ZEROS3, momentum=1.5), ValueError, r"momentum .* \[0, 1\], got 1.5"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, ZEROS3, eps=-1e-5), ValueError, r"eps .* >= 0, got -1e-05"),
        (lambda: nb.batchnorm(np.ones((4, 3)), ONES3, ZEROS3, eps=0.0), ZeroDivisionError,
         r"batchnorm: feature 0 of X \(shape \(4, 3\)\) is constant over the batch and eps = 0"),
        (lambda: nb.spatial_batchnorm(np.ones((4, 3)), ONES3, ZEROS3), nb.ShapeError,
         r"spatial_batchnorm: X must have shape \(N, C, H, W\), got \(4, 3\)"),
        (lambda: nb.spatial_batchnorm(np.ones((2, 3, 4, 4)), np.ones(4), ZEROS3), nb.ShapeError,
         r"spatial_batchnorm: gamma has shape \(4,\) but X has shape \(2, 3, 4, 4\); .* per channel, shape \(3,\)"),
        (lambda: nb.spatial_batchnorm(np.ones((1, 3, 1, 1)), ONES3, ZEROS3), ValueError,
         r"spatial_batchnorm: train mode normalises each channel over its N \* H \* W = 1 values, but X has shape \(1, 3, 1, 1\)"),
        (lambda: nb.layernorm(np.ones((4, 3)), np.ones(4), ZEROS3), nb.ShapeError,
         r"layernorm: gamma has shape \(4,\) but X has shape \(4, 3\); .* shape \(3,\)"),
        (lambda: nb.layernorm(np.ones((4, 1)), np.ones(1), np.zeros(1)), ValueError,
         r"layernorm: X has shape \(4, 1\), one feature per example"),
        (lambda: nb.layernorm(np.ones(()), np.ones(1), np.zeros(1)), nb.ShapeError, r"layernorm: X must have a feature axis"),
        (lambda: nb.BatchNormStats(0), ValueError, r"num_features must be a positive int, got 0"),
    ],
)
def test_bad_input_is_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_spatial_batchnorm_in_test_mode_takes_a_single_pixel(rng):
    stats = nb.BatchNormStats(3)
    assert nb.spatial_batchnorm(np.ones((1, 3, 1, 1)), ONES3, ZEROS3, stats=stats, train=False).shape == (1, 3, 1, 1)
