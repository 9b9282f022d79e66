r"""Layers built from nabla's ops: ``Linear`` and ``MLP`` (book/matmul.md), ``Dropout`` (book/dropout.md) and the layers of the later Part I chapters.

A module holds its parameters as leaf tensors and computes its output by calling ops, so
``backward()`` fills the parameters' ``.grad`` with no extra code here.
"""

from __future__ import annotations

import numpy as np

from nabla import ops
from nabla.ops.conv import conv2d, kernel_pair, max_pool2d
from nabla.ops.normalization import BatchNormStats, batchnorm, check_constants, layernorm
from nabla.ops.regularization import check_p, dropout
from nabla.engine import Tensor, as_generator, as_int, check_flag


def float_dtype(dtype, name):
    """``dtype`` as a numpy floating-point dtype, or a TypeError: a parameter carries a gradient, a real number."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: dtype must be a numpy dtype such as np.float64, got {dtype!r}") from None
    if dtype.kind != "f":
        raise TypeError(f"{name}: parameters need a floating-point dtype (np.float64, np.float32), got {dtype}")
    return dtype


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
        self.training = check_flag(mode, "train: mode")
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
        in_features, out_features = as_int(in_features, "Linear: in_features"), as_int(out_features, "Linear: out_features")
        rng, dtype = as_generator(rng, "Linear"), float_dtype(dtype, "Linear")
        self.W = Tensor(glorot_uniform(rng, in_features, out_features).astype(dtype), name="W")
        self.b = Tensor(np.zeros(out_features, dtype=dtype), name="b")

    def forward(self, X):
        return ops.matmul(X, self.W) + self.b  # b is broadcast over the N rows


class Dropout(Module):
    r"""Inverted dropout as a layer: $M \odot X / (1 - p)$ in train mode, X in test mode.

    Like ``torch.nn.Dropout``, a new layer is in train mode; ``.eval()`` switches it to
    test mode (the identity) and ``.train()`` back. Each call in train mode draws a fresh
    mask from ``rng``. It has no parameters. Derived in book/dropout.md.
    """

    def __init__(self, p=0.5, rng=None):
        self.p = check_p(p)  # refuse a bad p now, not at the first forward pass
        self.rng = as_generator(rng, "Dropout")

    def forward(self, X):
        return dropout(X, self.p, train=self.training, rng=self.rng)


# ---- convolutional layers (book/convolution.md) ------------------------------------------

class Conv2d(Module):
    r"""$Y = W \star X + b$ for X of shape (N, C, H, W): ``out_channels`` filters of shape (C, kh, kw).

    W is drawn with Glorot uniform initialisation, counting each filter entry once per
    position it is used: $a = \sqrt{6 / (C k_h k_w + F k_h k_w)}$; b starts at zero.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None, dtype=np.float64):
        in_channels, out_channels = as_int(in_channels, "Conv2d: in_channels"), as_int(out_channels, "Conv2d: out_channels")
        kh, kw = kernel_pair(kernel_size, "Conv2d")
        stride, padding = as_int(stride, "Conv2d: stride"), as_int(padding, "Conv2d: padding", least=0)
        rng, dtype = as_generator(rng, "Conv2d"), float_dtype(dtype, "Conv2d")
        a = np.sqrt(6.0 / ((in_channels + out_channels) * kh * kw))
        self.W = Tensor(rng.uniform(-a, a, (out_channels, in_channels, kh, kw)).astype(dtype), name="W")
        self.b = Tensor(np.zeros(out_channels, dtype=dtype), name="b")
        self.stride, self.padding = stride, padding

    def forward(self, X):
        return conv2d(X, self.W, self.b, stride=self.stride, padding=self.padding)


class MaxPool2d(Module):
    """The maximum of each ``kernel_size`` window of each channel; no parameters."""

    def __init__(self, kernel_size, stride=None):
        kernel_pair(kernel_size, "MaxPool2d")  # refuse a bad size now, not at the first forward pass
        self.kernel_size, self.stride = kernel_size, None if stride is None else as_int(stride, "MaxPool2d: stride")

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
        num_features, dtype = as_int(num_features, "BatchNorm1d: num_features"), float_dtype(dtype, "BatchNorm1d")
        check_constants("BatchNorm1d", eps, momentum)
        self.gamma = Tensor(np.ones(num_features, dtype=dtype), name="gamma")
        self.beta = Tensor(np.zeros(num_features, dtype=dtype), name="beta")
        self.stats = BatchNormStats(num_features, dtype=dtype)
        self.momentum, self.eps = momentum, eps

    def forward(self, X):
        return batchnorm(X, self.gamma, self.beta, self.stats, train=self.training, momentum=self.momentum, eps=self.eps)


class LayerNorm(Module):
    r"""Layer normalisation of X (..., D) over its last axis as a layer: gamma (ones) and beta (zeros)."""

    def __init__(self, num_features, eps=1e-5, dtype=np.float64):
        num_features, dtype = as_int(num_features, "LayerNorm: num_features"), float_dtype(dtype, "LayerNorm")
        check_constants("LayerNorm", eps)
        self.gamma = Tensor(np.ones(num_features, dtype=dtype), name="gamma")
        self.beta = Tensor(np.zeros(num_features, dtype=dtype), name="beta")
        self.eps = eps

    def forward(self, X):
        return layernorm(X, self.gamma, self.beta, eps=self.eps)


# ---- the multilayer perceptron of Part III (book/mlp.md) ----------------------------------

NORMS = {None: None, "batch": BatchNorm1d, "layer": LayerNorm}


class MLP(Module):
    r"""A multilayer perceptron: Linear layers, and between them a normalisation, the activation and dropout.

    ``MLP([784, 32, 10])`` maps (N, 784) to (N, 10) logits through one hidden layer of 32
    units. Each hidden layer $k$ computes $Z_k = A_{k-1} W_k + b_k$, then
    $A_k = \mathrm{dropout}(\phi(\mathcal N(Z_k)))$ from $A_0 = X$; the last Linear layer gives
    the logits, with nothing after it. The options, each off by default:

    * ``residual``: every hidden layer after the first adds its input, $A_k = A_{k-1} + \dots$,
      so all hidden layers need the same width (book/mlp.md);
    * ``norm``: ``"batch"`` (:class:`BatchNorm1d`) or ``"layer"`` (:class:`LayerNorm`) as
      $\mathcal N$, between each hidden Linear layer and its activation (book/normalisation-practice.md);
    * ``dropout``: the probability ``p`` of dropping a hidden unit, as in :class:`Dropout`;
      0 means no dropout layers; masks come from ``dropout_rng`` (book/regularisation.md);
    * ``init``, ``init_scale``: an initialisation scheme of :func:`init` applied to each Linear
      layer right after it is built, from ``rng``: layer 1 draws its Glorot weights and is
      re-drawn, then layer 2, and so on (the default ``"glorot"`` keeps the first draw).

    ``rng`` draws the weights, layer by layer, so the same seed gives the same weights whatever
    the normalisation and the dropout, which draw no weights.
    """

    def __init__(self, sizes, activation=ops.relu, residual=False, norm=None, dropout=0.0, rng=None,
                 init="glorot", init_scale=None, dropout_rng=None, dtype=np.float64):
        if not isinstance(sizes, (list, tuple)):
            raise TypeError(f"MLP: sizes is a list of layer widths, e.g. [784, 32, 10], got {type(sizes).__name__} {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs an input and an output size, got {sizes}")
        sizes = [as_int(n, f"MLP: sizes[{k}]") for k, n in enumerate(sizes)]
        if not callable(activation):
            raise TypeError(f"MLP: activation must be a function such as nb.relu, got {activation!r}")
        if check_flag(residual, "MLP: residual") and len(set(sizes[1:-1])) > 1:
            raise ValueError(
                "MLP: a skip connection adds a layer's input to its output, so every hidden layer needs "
                f"the same width; got {list(sizes[1:-1])}"
            )
        if norm not in NORMS:
            raise ValueError(f"MLP: norm must be None, 'batch' or 'layer', got {norm!r}")
        rng = as_generator(rng, "MLP")
        check_scheme(init, init_scale)
        self.layers = []
        for d, m in zip(sizes[:-1], sizes[1:]):
            self.layers.append(Linear(d, m, rng, dtype))
            if init != "glorot":
                init_linear(self.layers[-1], init, rng, init_scale)
        self.norms = [NORMS[norm](m, dtype=dtype) for m in sizes[1:-1]] if norm else []
        self.dropouts = [Dropout(dropout, dropout_rng) for _ in sizes[1:-1]] if check_p(dropout) > 0 else []
        self.activation, self.residual = activation, residual

    def hidden(self, X):
        """The activations of every hidden layer, a list of tensors (N, H), and the logits (N, C)."""
        A, activations = X, []
        for k, layer in enumerate(self.layers[:-1]):
            Z = layer(A)
            if self.norms:
                Z = self.norms[k](Z)
            S = self.activation(Z)
            if self.dropouts:
                S = self.dropouts[k](S)
            A = A + S if self.residual and k > 0 else S  # the skip connection: (N, H) + (N, H)
            activations.append(A)
        return activations, self.layers[-1](A)  # logits: no activation after the last layer

    def forward(self, X):
        return self.hidden(X)[1]


# ---- initialisation (book/mlp.md, book/width.md, book/normalisation-practice.md) -----------


def glorot_uniform(rng, fan_in, fan_out):
    r"""Glorot (Xavier) uniform weights (fan_in, fan_out): $W_{ij} \sim U(-a, a)$, $a = \sqrt{6 / (d_{in} + d_{out})}$."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, (fan_in, fan_out))


# The scale each scheme uses unless init_scale says otherwise.
SCHEMES = {"glorot": None, "he": 1.0, "normal": 1.0, "tiny": 1e-6, "zeros": None}


def init_linear(layer, scheme, rng, scale=None):
    r"""Set one Linear layer's W (d, m) by ``scheme``, drawing from ``rng``, and its bias b to 0.

    ``"glorot"``: $U(-a, a)$ with $a = \sqrt{6/(d + m)}$ (the default of :class:`Linear`);
    ``"he"``: $s\sqrt{2/d}\, z$; ``"normal"``: $s\, z$; ``"tiny"``: $s\, z$ with $s = 10^{-6}$;
    ``"zeros"``: 0; where $z_{ij} \sim N(0, 1)$ and $s$ = ``scale`` (1 unless given).
    """
    s = check_scheme(scheme, scale)
    W = layer.W.value
    d, m = W.shape
    if scheme == "glorot":
        W[...] = glorot_uniform(rng, d, m)
    elif scheme == "he":
        W[...] = s * np.sqrt(2.0 / d) * rng.standard_normal((d, m))  # He (Kaiming) scale times s
    elif scheme in ("normal", "tiny"):
        W[...] = s * rng.standard_normal((d, m))
    else:
        W[...] = 0.0
    layer.b.value[...] = 0.0


def check_scheme(scheme, scale):
    """The scale ``scheme`` uses (``scale``, or the scheme's own if None), or an error naming a bad scheme or scale."""
    if scheme not in SCHEMES:
        raise ValueError(f"init: the scheme must be one of {', '.join(map(repr, SCHEMES))}, got {scheme!r}")
    if scale is not None and SCHEMES[scheme] is None:  # would be ignored without a word
        raise ValueError(f"init: the scheme {scheme!r} takes no scale, got scale = {scale!r}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating))):
        raise TypeError(f"init: the scale must be a number, got {type(scale).__name__} {scale!r}")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"init: the scale must be a finite number > 0, got {scale!r}")
    return SCHEMES[scheme] if scale is None else scale


def init(model, scheme, rng, scale=None):
    """Re-initialise every Linear layer of ``model`` (``model.layers``, in order) by ``scheme`` (see :func:`init_linear`); the model."""
    if not isinstance(getattr(model, "layers", None), list):
        raise TypeError(f"init: model must hold its Linear layers in .layers (an nn.MLP), got {type(model).__name__}")
    rng = as_generator(rng, "init")
    for layer in model.layers:
        init_linear(layer, scheme, rng, scale)
    return model
