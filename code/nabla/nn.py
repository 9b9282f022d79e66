r"""Layers built from nabla's ops: ``Linear`` and ``MLP``. Derived in book/matmul.md.

A module holds its parameters as leaf tensors and computes its output by calling ops, so
``backward()`` fills the parameters' ``.grad`` with no extra code here.
"""

from __future__ import annotations

import numpy as np

from nabla import ops
from nabla.tensor import Tensor


class Module:
    """Something with parameters: a layer or a network of layers."""

    def parameters(self):
        """Every parameter tensor of this module and of the modules it holds, each once."""
        found = []
        for value in vars(self).values():
            children = value if isinstance(value, (list, tuple)) else [value]
            for child in children:
                if isinstance(child, Tensor):
                    found.append(child)
                elif isinstance(child, Module):
                    found.extend(child.parameters())
        return found

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
