r"""Layers built from nabla's ops: ``Linear`` and ``MLP`` (book/matmul.md), ``Dropout`` (book/dropout.md) and the layers of the later Part I chapters.

A module holds its parameters as leaf tensors and computes its output by calling ops, so
``backward()`` fills the parameters' ``.grad`` with no extra code here.
"""

from __future__ import annotations

import numpy as np

from nabla import ops
from nabla.ops.conv import conv2d, max_pool2d
from nabla.ops.normalization import BatchNormStats, batchnorm, layernorm
from nabla.ops.regularization import check_p, dropout
from nabla.engine import Tensor


class Module:
    """Something with parameters: a layer or a network of layers.

    Like ``torch.nn.Module``, a module is in train mode until ``.eval()``; the mode matters to
    layers that behave differently at test time (``Dropout``, ``BatchNorm1d``) and is passed
    down to every module this one holds.
    """

    training = True

    def children(self):
        """The modules this one holds directly, as attributes or in lists of them."""
        for value in vars(self).values():
            for child in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(child, Module):
                    yield child

    def parameters(self):
        """Every parameter tensor of this module and of the modules it holds, each once."""
        found = [value for value in vars(self).values() if isinstance(value, Tensor)]
        for child in self.children():
            found.extend(child.parameters())
        return found

    def train(self, mode=True):
        """Switch this module and those it holds to train mode (test mode if ``mode`` is False)."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Switch to test mode; returns the module."""
        return self.train(False)

    def zero_grad(self):
        """Forget the gradients of every parameter (``backward()`` adds into ``.grad``)."""
        for parameter in self.parameters():
            parameter.grad = None

    def __call__(self, X):
        return self.forward(X)


class Linear(Module):
    r"""$Y = XW + b$ for X of shape (N, D), W of shape (D, M) and b of shape (M,).

    W is drawn with Glorot (Xavier) uniform initialisation, $W_{ij} \sim U(-a, a)$ with
    $a = \sqrt{6 / (D + M)}$, which keeps the variance of activations and of gradients
    roughly equal from layer to layer; b starts at zero.
    """

    def __init__(self, in_features, out_features, rng=None, dtype=np.float64):
        rng = np.random.default_rng() if rng is None else rng
        a = np.sqrt(6.0 / (in_features + out_features))
        self.W = Tensor(rng.uniform(-a, a, (in_features, out_features)).astype(dtype), name="W")
        self.b = Tensor(np.zeros(out_features, dtype=dtype), name="b")

    def forward(self, X):
        return ops.matmul(X, self.W) + self.b  # b is broadcast over the N rows


class MLP(Module):
    r"""A multilayer perceptron: Linear layers with ``activation`` between them (not after the last).

    ``MLP([784, 32, 10])`` maps (N, 784) to (N, 10) logits through one hidden layer of 32 units.
    """

    def __init__(self, sizes, activation=ops.relu, rng=None, dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs an input and an output size, got {sizes}")
        rng = np.random.default_rng() if rng is None else rng
        self.layers = [Linear(d, m, rng, dtype) for d, m in zip(sizes[:-1], sizes[1:])]
        self.activation = activation

    def forward(self, X):
        for layer in self.layers[:-1]:
            X = self.activation(layer(X))
        return self.layers[-1](X)


class Dropout(Module):
    r"""Inverted dropout as a layer: $M \odot X / (1 - p)$ in train mode, X in test mode.

    Like ``torch.nn.Dropout``, a new layer is in train mode; ``.eval()`` switches it to
    test mode (the identity) and ``.train()`` back. Each call in train mode draws a fresh
    mask from ``rng``. It has no parameters. Derived in book/dropout.md.
    """

    def __init__(self, p=0.5, rng=None):
        self.p = check_p(p)  # refuse a bad p now, not at the first forward pass
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, X):
        return dropout(X, self.p, train=self.training, rng=self.rng)


# ---- convolutional layers (book/convolution.md) ------------------------------------------

class Conv2d(Module):
    r"""$Y = W \star X + b$ for X of shape (N, C, H, W): ``out_channels`` filters of shape (C, kh, kw).

    W is drawn with Glorot uniform initialisation, counting each filter entry once per
    position it is used: $a = \sqrt{6 / (C k_h k_w + F k_h k_w)}$; b starts at zero.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None, dtype=np.float64):
        rng = np.random.default_rng() if rng is None else rng
        kh, kw = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        a = np.sqrt(6.0 / ((in_channels + out_channels) * kh * kw))
        self.W = Tensor(rng.uniform(-a, a, (out_channels, in_channels, kh, kw)).astype(dtype), name="W")
        self.b = Tensor(np.zeros(out_channels, dtype=dtype), name="b")
        self.stride, self.padding = stride, padding

    def forward(self, X):
        return conv2d(X, self.W, self.b, stride=self.stride, padding=self.padding)


class MaxPool2d(Module):
    """The maximum of each ``kernel_size`` window of each channel; no parameters."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, X):
        return max_pool2d(X, self.kernel_size, self.stride)


class Flatten(Module):
    """(N, C, H, W) to (N, C * H * W): the bridge from convolutional layers to a ``Linear`` one."""

    def forward(self, X):
        return ops.reshape(X, (X.shape[0], -1))


# ---- normalisation layers (book/batchnorm.md) --------------------------------------------

class BatchNorm1d(Module):
    r"""Batch normalisation of X (N, D) as a layer: parameters gamma (ones) and beta (zeros), running statistics.

    Like ``torch.nn.BatchNorm1d``, a new layer is in train mode: it normalises with the batch's
    statistics and averages them into ``.stats`` (a :class:`~nabla.normalization.BatchNormStats`);
    ``.eval()`` switches it to test mode, which normalises with ``.stats``, and ``.train()`` back.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float64):
        self.gamma = Tensor(np.ones(num_features, dtype=dtype), name="gamma")
        self.beta = Tensor(np.zeros(num_features, dtype=dtype), name="beta")
        self.stats = BatchNormStats(num_features, dtype=dtype)
        self.momentum, self.eps = momentum, eps

    def forward(self, X):
        return batchnorm(X, self.gamma, self.beta, self.stats, train=self.training, momentum=self.momentum, eps=self.eps)


class LayerNorm(Module):
    r"""Layer normalisation of X (..., D) over its last axis as a layer: gamma (ones) and beta (zeros)."""

    def __init__(self, num_features, eps=1e-5, dtype=np.float64):
        self.gamma = Tensor(np.ones(num_features, dtype=dtype), name="gamma")
        self.beta = Tensor(np.zeros(num_features, dtype=dtype), name="beta")
        self.eps = eps

    def forward(self, X):
        return layernorm(X, self.gamma, self.beta, eps=self.eps)
