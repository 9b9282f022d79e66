"""The two hand-made digit features, on images drawn by hand where the answer is known."""

import numpy as np
import pytest

from nabla.features import digit_features, horizontal_variance, ink_count, standardize


def blank(n=1, size=28):
    return np.zeros((n, size, size), dtype=np.uint8)


def test_ink_count_counts_pixels_strictly_above_half():
    images = blank()
    images[0, 3, 4:9] = 255  # five full pixels
    images[0, 5, 5] = 128  # 128 / 255 > 0.5: counts
    images[0, 6, 6] = 127  # 127 / 255 < 0.5: does not
    assert ink_count(images).tolist() == [6.0]


def test_vertical_bar_has_zero_variance_and_two_columns_have_one_quarter():
    images = blank(2)
    images[0, 4:20, 10] = 255  # one column: no horizontal spread
    images[1, 4:20, 10:12] = 200  # columns 10 and 11, equal weights: variance 1/4
    for within_rows in (True, False):
        np.testing.assert_allclose(horizontal_variance(images, within_rows), [0.0, 0.25], atol=1e-12)


def test_slanted_stroke_is_narrow_within_rows_but_wide_over_the_image():
    images = blank()
    for r in range(20):
        images[0, r + 4, r + 4] = 255  # a diagonal: one pixel per row, columns 4..23
    assert horizontal_variance(images, within_rows=True)[0] == pytest.approx(0.0, abs=1e-12)
    assert horizontal_variance(images, within_rows=False)[0] == pytest.approx(np.var(np.arange(4, 24)))


def test_weights_are_intensities():
    images = blank()
    images[0, 0, 0], images[0, 0, 3] = 255, 85  # weights 1 and 1/3 at columns 0 and 3
    mu = (0 * 1 + 3 * (1 / 3)) / (4 / 3)
    expected = (1 * (0 - mu) ** 2 + (1 / 3) * (3 - mu) ** 2) / (4 / 3)
    assert horizontal_variance(images)[0] == pytest.approx(expected, rel=1e-12)


def test_digit_features_and_standardize():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    F = digit_features(images)
    assert F.shape == (30, 2) and F.dtype == np.float64
    X_train, X_test = standardize(F[:20], F[20:])
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(X_test, (F[20:] - F[:20].mean(0)) / F[:20].std(0))


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(TypeError, match="uint8"):
        ink_count(np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="shape"):
        ink_count(np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="no ink"):
        horizontal_variance(blank())
    with pytest.raises(ValueError, match="constant"):
        standardize(np.ones((5, 2)), np.ones((2, 2)))


def test_best_threshold_accuracy_finds_the_best_cut():
    from nabla.features import best_threshold_accuracy

    y = np.array([1, 1, -1, 1, -1, -1])
    assert best_threshold_accuracy(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), y) == 5 / 6  # cut after 1 or after 3
    assert best_threshold_accuracy(np.array([0.0, 1.0, 5.0, 2.0, 4.0, 3.0]), y) == 1.0
    assert best_threshold_accuracy(np.array([5.0, 4.0, 0.0, 3.0, 1.0, 2.0]), y) == 0.5  # ones above: the rule cannot say so
