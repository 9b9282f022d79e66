r"""Two hand-made features of a digit image: how much ink, and how wide the strokes are.

Chapter 12 (book/gradient-descent.md) separates MNIST's zeros from its ones with a small MLP on
these two numbers instead of the 784 pixels. Every image is first scaled to intensities
$x_{rc} = \text{pixel}_{rc} / 255 \in [0, 1]$, row $r$ and column $c$ in $0, \dots, 27$.

* :func:`ink_count`: the number of pixels with $x_{rc} > 0.5$.
* :func:`horizontal_variance`: the variance of the column index $c$, each pixel weighted by its
  intensity, measured about each row's own centre (``within_rows=True``, the default) or about
  the centre of the whole image (``within_rows=False``). The chapter explains why the first
  separates slanted ones from zeros and the second does not.
* :func:`digit_features` stacks the two; :func:`standardize` maps each to mean 0 and standard
  deviation 1 with the training set's statistics.
"""

from __future__ import annotations

import numpy as np

INK_THRESHOLD = 0.5


def intensities(images):
    """uint8 images (n, 28, 28) in 0..255 as float64 intensities in [0, 1]; anything else is refused."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"features: images must have shape (n, height, width), got shape {images.shape}")
    if images.dtype != np.uint8:
        raise TypeError(f"features: images must be uint8 in 0..255 as stored, got dtype {images.dtype}")
    return images.astype(np.float64) / 255.0


def ink_count(images, threshold=INK_THRESHOLD):
    r"""$\#\{(r, c) : x_{rc} > \text{threshold}\}$ for each image: shape (n,), float64.

    ``images`` are uint8 (n, height, width); intensities are pixel / 255.
    """
    return (intensities(images) > threshold).sum(axis=(1, 2)).astype(np.float64)


def horizontal_variance(images, within_rows=True):
    r"""The intensity-weighted variance of the column index, for each image: shape (n,), float64.

    With weights $x_{rc}$ and total ink $m = \sum_{r,c} x_{rc}$,

    $$ v = \frac1m \sum_{r,c} x_{rc}\, (c - \mu_r)^2, \qquad
       \mu_r = \frac{\sum_c x_{rc}\, c}{\sum_c x_{rc}} \ (\text{within rows}), \quad
       \mu_r = \mu = \frac1m \sum_{r,c} x_{rc}\, c \ (\text{whole image}). $$

    Within rows, each row is centred on its own ink, so a slanted stroke, narrow in every row,
    has a small variance however far its rows drift apart; a row with no ink contributes
    nothing. An image with no ink at all has no variance and raises ValueError.
    """
    x = intensities(images)
    columns = np.arange(x.shape[2], dtype=np.float64)
    ink = x.sum(axis=(1, 2))
    if np.any(ink == 0):
        raise ValueError(f"horizontal_variance: image(s) {np.flatnonzero(ink == 0).tolist()} have no ink, so no variance")
    if within_rows:
        row_ink = x.sum(axis=2)  # (n, rows)
        # A blank row's centre is irrelevant (its weights are all 0); 1 avoids dividing by 0.
        mu = (x * columns).sum(axis=2) / np.where(row_ink > 0, row_ink, 1.0)
        mu = mu[:, :, None]  # (n, rows, 1): one centre per row
    else:
        mu = ((x * columns).sum(axis=(1, 2)) / ink)[:, None, None]  # (n, 1, 1): one centre per image
    return (x * (columns - mu) ** 2).sum(axis=(1, 2)) / ink


def digit_features(images, within_rows=True):
    """``ink_count`` and ``horizontal_variance`` side by side: shape (n, 2), float64, not standardised."""
    return np.stack([ink_count(images), horizontal_variance(images, within_rows)], axis=1)


def standardize(F_train, F_test):
    r"""Both feature sets mapped by $f \mapsto (f - \mu) / \sigma$, with $\mu$, $\sigma$ (population) per column of F_train.

    The training set ends with mean 0 and standard deviation 1 in each column; the test set gets
    the same map and only approximately those statistics. Returns ``(X_train, X_test)``.
    """
    mu, sigma = F_train.mean(axis=0), F_train.std(axis=0)
    if np.any(sigma == 0):
        raise ValueError(f"standardize: feature(s) {np.flatnonzero(sigma == 0).tolist()} are constant on the training set")
    return (F_train - mu) / sigma, (F_test - mu) / sigma


def best_threshold_accuracy(feature, y):
    """The accuracy of the best rule "one (y = +1) if feature < t, else zero (y = -1)" over all thresholds t.

    ``feature`` (n,) and labels ``y`` (n,) in {-1, +1}: how well one feature alone separates the
    two classes (book/gradient-descent.md compares the two kinds of horizontal variance by it).
    """
    y_sorted = np.asarray(y)[np.argsort(feature)]
    ones_below = np.concatenate([[0], np.cumsum(y_sorted > 0)])  # predicted one, and is one
    zeros_above = np.sum(y_sorted < 0) - np.concatenate([[0], np.cumsum(y_sorted < 0)])
    return np.max(ones_below + zeros_above) / len(y_sorted)
