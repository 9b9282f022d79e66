"""Bad input across the public API: each call gets an error of the right type whose message names the argument.

One table, grouped by module, so that a reader sees the conventions (code/nabla/README.md, "Errors"):

* ``TypeError``: the argument is not of a kind the function takes at all: a string, None or a
  list where a number or an array is expected; an integer array where floats are needed; a float
  array where integer labels are needed; an int where a ``numpy.random.Generator`` is expected;
  a string where True or False is expected.
* ``ValueError``: the kind is right but the value is not: a count that is 0, negative, fractional
  (2.5) or a bool; a probability or fraction outside its range; NaN or infinity where a finite
  number is needed; an unknown name; labels outside [0, C); an empty batch.
* ``nabla.ShapeError`` (a ValueError): shapes that do not fit together, each named.

Each row is (call, expected error type, a fragment the message must contain). Every call is cheap:
no data set is loaded, no network is trained for more than a few steps.
"""

import numpy as np
import pytest

import nabla as nb
from nabla import data, fastpath, lr_search, nn, optim, train
from nabla.data import Split
from nabla.experiments import __main__ as cli
from nabla.experiments import settings_for, width

RNG = np.random.default_rng(0)
X = nb.Tensor(RNG.standard_normal((2, 3)))
IMAGES = RNG.standard_normal((2, 1, 5, 5))
FILTERS = RNG.standard_normal((2, 1, 3, 3))
FEATURES, LABELS = RNG.standard_normal((20, 4)), np.arange(20) % 3  # 20 examples, 4 features, 3 classes


def mlp(sizes=(4, 5, 3)):
    return nn.MLP(list(sizes), rng=np.random.default_rng(0))


def fit(split=None, optimizer="sgd", model=None, **options):
    """One epoch of ``fit`` on a small problem, with ``options`` replacing the defaults."""
    model = model or mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1) if optimizer == "sgd" else fastpath.FusedSGD(0.1)
    options = {"epochs": 1, "batch_size": 4, **options}
    return train.fit(model, optimizer, split or Split(FEATURES, LABELS), **options)


def labels_with(last):
    return np.r_[LABELS[:-1], last]


def cli_check(*argv):
    return cli.check(cli.parse(["width", *argv]))


CASES = {
    # ---- engine: Tensor and its operators ------------------------------------------------
    "Tensor of a string": (lambda: nb.Tensor("abc"), TypeError, "expected a floating-point array, got str"),
    "Tensor of integers": (lambda: nb.Tensor([1, 2]), TypeError, "got dtype int64"),
    "Tensor of booleans": (lambda: nb.Tensor(np.array([True])), TypeError, "got dtype bool"),
    "Tensor of complex numbers": (lambda: nb.Tensor(np.array([1j])), TypeError, "got dtype complex128"),
    "Tensor of ragged lists": (lambda: nb.Tensor([[1.0], [1.0, 2.0]]), nb.ShapeError, "rows of different lengths"),
    "Tensor with a source that is no OpNode": (lambda: nb.Tensor(np.ones(2), source="x"), TypeError, "source is the OpNode"),
    "Tensor + str": (lambda: X + "a", TypeError, "add: cannot use a str as a tensor"),
    "Tensor + list": (lambda: X + [1.0, 2.0, 3.0], TypeError, "add: cannot use a list"),
    "Tensor + bool": (lambda: X + True, TypeError, "add: cannot use a bool"),
    "Tensor * int array": (lambda: X * np.ones(3, dtype=int), TypeError, "multiply: expected a floating-point array"),
    "Tensor ** Tensor": (lambda: X ** X, TypeError, "exponent must be a constant number, got Tensor"),
    "Tensor ** NaN": (lambda: X ** float("nan"), ValueError, "power: the exponent must be a finite number, got nan"),
    "Tensor ** inf": (lambda: X ** float("inf"), ValueError, "the exponent must be a finite number, got inf"),
    "2 ** Tensor": (lambda: 2 ** X, TypeError, "puts the tensor in the exponent"),
    "Tensor / 0": (lambda: X / 0, ZeroDivisionError, "divide: Y contains 6 zero(s)"),
    "backward of a non-scalar": (lambda: (X * 1.0).backward(), ValueError, "starts from a scalar loss"),
    "backward with an upstream of the wrong shape": (lambda: nb.sum(X * 1.0).backward(np.ones(3)), nb.ShapeError, "upstream has shape (3,)"),
    "backward with an integer upstream": (lambda: (X * 1.0).backward(np.ones((2, 3), dtype=int)), TypeError, "backward(upstream)"),
    "item of a many-element tensor": (lambda: X.item(), ValueError, "item: takes a tensor of one element, but this one has shape (2, 3)"),
    "bool of a many-element tensor": (lambda: bool(X), ValueError, "truth value of a tensor of shape (2, 3) is ambiguous"),
    # ---- ops: arithmetic, element-wise, matmul -------------------------------------------
    "add shapes that do not broadcast": (lambda: nb.add(X, np.ones(4)), nb.ShapeError, "add: cannot broadcast shapes (2, 3) and (4,)"),
    "exp of a list": (lambda: nb.exp([1.0, 2.0]), TypeError, "cannot use a list as a tensor"),
    "exp of integers": (lambda: nb.exp(np.array([1, 2])), TypeError, "got dtype int64"),
    "log of a negative number": (lambda: nb.log(nb.Tensor(np.array([-1.0]))), ValueError, "log: X has 1 entries that are not positive"),
    "log of NaN": (lambda: nb.log(nb.Tensor(np.array([np.nan]))), ValueError, "the first nan"),
    "sqrt of a negative number": (lambda: nb.sqrt(nb.Tensor(np.array([-1.0]))), ValueError, "not real for negative X"),
    "matmul of vectors": (lambda: nb.matmul(np.ones(3), np.ones(3)), nb.ShapeError, "matmul: takes two matrices"),
    "matmul inner sizes": (lambda: X @ X, nb.ShapeError, "the inner sizes 3 and 2 must match"),
    "maximum shapes": (lambda: nb.maximum(X, np.ones(4)), nb.ShapeError, "maximum: cannot broadcast shapes"),
    "where with an integer condition": (lambda: nb.where(np.array([1, 0, 1]), X, X), TypeError, "condition must be a boolean array"),
    "where with a condition of the wrong shape": (lambda: nb.where(np.array([True, False]), X, X), nb.ShapeError, "condition of shape (2,)"),
    # ---- ops: shapes and axes ------------------------------------------------------------
    "sum over an axis out of range": (lambda: nb.sum(X, axis=5), ValueError, "sum: axis 5 is out of range for a tensor with 2 dimensions"),
    "sum over a float axis": (lambda: nb.sum(X, axis=1.0), TypeError, "an axis is an int or a tuple of ints"),
    "sum with keepdims a string": (lambda: nb.sum(X, keepdims="yes"), TypeError, "sum: keepdims must be True or False"),
    "mean of an empty tensor": (lambda: nb.mean(nb.Tensor(np.ones((0, 3)))), ValueError, "hold no elements"),
    "mean over an axis twice": (lambda: nb.mean(X, axis=(0, 0)), ValueError, "names the same axis twice"),
    "broadcast_to an unreachable shape": (lambda: nb.broadcast_to(X, (3, 3)), nb.ShapeError, "cannot broadcast shape (2, 3) to (3, 3)"),
    "broadcast_to a shape of strings": (lambda: nb.broadcast_to(X, "ab"), TypeError, "broadcast_to: a shape is an int or a tuple of ints"),
    "broadcast_to a negative size": (lambda: nb.broadcast_to(X, (-2, 3)), ValueError, "the sizes of a shape must be >= 0"),
    "transpose with axes out of range read as others": (lambda: nb.transpose(X, (2, 1)), ValueError, "axes (2, 1) are not a permutation"),
    "transpose with a repeated axis": (lambda: nb.transpose(X, (0, 0)), ValueError, "are not a permutation of the 2 axes"),
    "transpose with float axes": (lambda: nb.transpose(X, (1.0, 0.0)), TypeError, "transpose: axes must be a tuple of ints"),
    "transpose with one int": (lambda: nb.transpose(X, 1), TypeError, "transpose: axes must be a tuple of ints"),
    "reshape to another size": (lambda: nb.reshape(X, (4, 2)), nb.ShapeError, "cannot arrange 6 elements of shape (2, 3) as (4, 2)"),
    "reshape to a float shape": (lambda: nb.reshape(X, (3.0, 2)), TypeError, "reshape: a shape is an int or a tuple of ints"),
    "reshape with two -1": (lambda: nb.reshape(X, (-1, -1)), ValueError, "(one may be -1)"),
    "expand at a float position": (lambda: nb.expand(X, 1.0, 2), TypeError, "expand: the position of the new axis is an int"),
    "expand True times": (lambda: nb.expand(X, 0, True), ValueError, "expand: size must be a positive int, got True"),
    "unsqueeze at a string position": (lambda: nb.unsqueeze(X, "1"), TypeError, "unsqueeze: the position of the new axis is an int"),
    "unsqueeze out of range": (lambda: nb.unsqueeze(X, 4), ValueError, "a new axis goes at a position from -3 to 2"),
    "select with float indices": (lambda: nb.select(X, [0.0]), TypeError, "select: index must hold integers"),
    "select out of range": (lambda: nb.select(X, [5]), IndexError, "index [5] is out of range for axis 0 of size 2"),
    "squeeze an axis of size 2": (lambda: nb.squeeze(X, 0), nb.ShapeError, "axis 0 of shape (2, 3) has size 2, not 1"),
    "normalize a zero row": (lambda: nb.normalize(nb.Tensor(np.zeros((2, 2)))), ZeroDivisionError, "a slice of norm 0"),
    # ---- ops: classification -------------------------------------------------------------
    "softmax along an axis out of range": (lambda: nb.softmax(X, axis=3), ValueError, "softmax: axis 3 is out of range"),
    "softmax along an empty axis": (lambda: nb.softmax(nb.Tensor(np.ones((2, 0)))), ValueError, "no entries along axis 1"),
    "log_softmax of a scalar": (lambda: nb.log_softmax(nb.Tensor(np.array(1.0))), ValueError, "out of range for a tensor with 0 dimensions"),
    "cross_entropy of an empty batch": (lambda: nb.cross_entropy(nb.Tensor(np.ones((0, 3))), np.array([], dtype=int)), ValueError,
                                        "logits of shape (0, 3) hold no examples"),
    "cross_entropy with a label -1": (lambda: nb.cross_entropy(X, [0, -1]), ValueError, "labels must lie in [0, 3), got [-1]"),
    "cross_entropy with a label C": (lambda: nb.cross_entropy(X, [0, 3]), ValueError, "labels must lie in [0, 3), got [3]"),
    "cross_entropy with float labels": (lambda: nb.cross_entropy(X, np.array([0.0, 1.0])), TypeError, "integer class indices, got dtype float64"),
    "cross_entropy with boolean labels": (lambda: nb.cross_entropy(X, np.array([True, False])), TypeError, "got dtype bool"),
    "cross_entropy with no labels": (lambda: nb.cross_entropy(X, []), nb.ShapeError, "labels have shape (0,)"),
    "cross_entropy with labels as a Tensor": (lambda: nb.cross_entropy(X, nb.Tensor(np.array([0.0, 1.0]))), TypeError, "got a Tensor"),
    "cross_entropy of a vector": (lambda: nb.cross_entropy(nb.Tensor(np.ones(3)), [0]), nb.ShapeError, "logits must have shape (N, C)"),
    # ---- ops: convolution and pooling ----------------------------------------------------
    "conv2d with a 0 x 0 kernel": (lambda: nb.conv2d(IMAGES, np.ones((2, 1, 0, 0))), nb.ShapeError, "a kernel of at least 1 x 1"),
    "conv2d with no filters": (lambda: nb.conv2d(IMAGES, np.ones((0, 1, 3, 3))), nb.ShapeError, "at least one filter F"),
    "conv2d with mismatched channels": (lambda: nb.conv2d(IMAGES, np.ones((2, 3, 3, 3))), nb.ShapeError, "with 1 channels but W has shape"),
    "conv2d with stride 0": (lambda: nb.conv2d(IMAGES, FILTERS, stride=0), ValueError, "conv2d: stride must be a positive int, got 0"),
    "conv2d with a string stride": (lambda: nb.conv2d(IMAGES, FILTERS, stride="1"), TypeError, "conv2d: stride must be an int, got str"),
    "conv2d with a pair as stride": (lambda: nb.conv2d(IMAGES, FILTERS, stride=(1, 1)), TypeError, "stride must be an int, got tuple"),
    "conv2d with padding 0.5": (lambda: nb.conv2d(IMAGES, FILTERS, padding=0.5), ValueError, "padding must be a non-negative int, got 0.5"),
    "conv2d with a bias per channel": (lambda: nb.conv2d(IMAGES, FILTERS, np.ones(3)), nb.ShapeError, "b has shape (3,)"),
    "conv2d of one image without a batch axis": (lambda: nb.conv2d(IMAGES[0], FILTERS), nb.ShapeError, "X must have 4 axes"),
    "max_pool2d with a window of 0": (lambda: nb.max_pool2d(IMAGES, 0), ValueError, "kernel_size must be a positive int, got 0"),
    "max_pool2d with a string window": (lambda: nb.max_pool2d(IMAGES, "2"), TypeError, "kernel_size must be an int, got str"),
    "max_pool2d with a triple": (lambda: nb.max_pool2d(IMAGES, (2, 2, 2)), ValueError, "an int or a pair (kh, kw)"),
    "max_pool2d with a window larger than the image": (lambda: nb.max_pool2d(IMAGES, 6), nb.ShapeError, "larger than the input (5, 5)"),
    # ---- ops: normalisation and dropout --------------------------------------------------
    "batchnorm of a vector": (lambda: nb.batchnorm(np.ones(3), np.ones(3), np.zeros(3)), nb.ShapeError, "X must have shape (N, D)"),
    "batchnorm with eps -1": (lambda: nb.batchnorm(X, np.ones(3), np.zeros(3), eps=-1), ValueError, "eps is added to the variance"),
    "batchnorm with a string eps": (lambda: nb.batchnorm(X, np.ones(3), np.zeros(3), eps="0"), TypeError, "batchnorm: eps must be a number"),
    "batchnorm with momentum 2": (lambda: nb.batchnorm(X, np.ones(3), np.zeros(3), momentum=2), ValueError, "a number in [0, 1], got 2"),
    "batchnorm with stats a string": (lambda: nb.batchnorm(X, np.ones(3), np.zeros(3), stats="s"), TypeError, "stats must be a BatchNormStats"),
    "batchnorm with train a string": (lambda: nb.batchnorm(X, np.ones(3), np.zeros(3), train="no"), TypeError, "batchnorm: train must be True or False"),
    "BatchNormStats of 2.5 features": (lambda: nb.BatchNormStats(2.5), ValueError, "num_features must be a positive int, got 2.5"),
    "BatchNormStats of True features": (lambda: nb.BatchNormStats(True), ValueError, "num_features must be a positive int, got True"),
    "BatchNormStats of '3' features": (lambda: nb.BatchNormStats("3"), TypeError, "num_features must be an int, got str"),
    "layernorm with eps NaN": (lambda: nb.layernorm(X, np.ones(3), np.zeros(3), eps=float("nan")), ValueError, "got nan"),
    "spatial_batchnorm of a matrix": (lambda: nb.spatial_batchnorm(X, np.ones(3), np.zeros(3)), nb.ShapeError, "(N, C, H, W)"),
    "dropout with p = 1": (lambda: nb.dropout(X, 1.0), ValueError, "p must lie in [0, 1), got p = 1.0"),
    "dropout with p NaN": (lambda: nb.dropout(X, float("nan")), ValueError, "got p = nan"),
    "dropout with a string p": (lambda: nb.dropout(X, "0.5"), TypeError, "p is the probability of dropping a unit"),
    "dropout with an int as rng": (lambda: nb.dropout(X, 0.5, rng=0), TypeError, "dropout: rng must be a numpy.random.Generator or None"),
    "dropout with train a string": (lambda: nb.dropout(X, 0.5, train="no"), TypeError, "dropout: train must be True or False"),
    # ---- nn: layers and the MLP ----------------------------------------------------------
    "Linear with 0 inputs": (lambda: nn.Linear(0, 3), ValueError, "Linear: in_features must be a positive int, got 0"),
    "Linear with 0 outputs": (lambda: nn.Linear(3, 0), ValueError, "Linear: out_features must be a positive int, got 0"),
    "Linear with 2.5 inputs": (lambda: nn.Linear(2.5, 3), ValueError, "in_features must be a positive int, got 2.5"),
    "Linear with '3' inputs": (lambda: nn.Linear("3", 3), TypeError, "in_features must be an int, got str"),
    "Linear with an int as rng": (lambda: nn.Linear(3, 3, rng=0), TypeError, "Linear: rng must be a numpy.random.Generator"),
    "Linear with an integer dtype": (lambda: nn.Linear(3, 3, dtype=int), TypeError, "Linear: parameters need a floating-point dtype"),
    "Linear with a dtype that is none": (lambda: nn.Linear(3, 3, dtype="floaty"), TypeError, "dtype must be a numpy dtype"),
    "Linear of the wrong width": (lambda: nn.Linear(3, 2)(nb.Tensor(np.ones((2, 4)))), nb.ShapeError, "the inner sizes 4 and 3 must match"),
    "Conv2d with kernel 0": (lambda: nn.Conv2d(1, 2, 0), ValueError, "Conv2d: kernel_size must be a positive int, got 0"),
    "Conv2d with 0 input channels": (lambda: nn.Conv2d(0, 2, 3), ValueError, "in_channels must be a positive int"),
    "Conv2d with a kernel of one size": (lambda: nn.Conv2d(1, 2, (3,)), ValueError, "an int or a pair (kh, kw), got (3,)"),
    "Conv2d with stride 0": (lambda: nn.Conv2d(1, 2, 3, stride=0), ValueError, "Conv2d: stride must be a positive int"),
    "Conv2d with padding -1": (lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, "padding must be a non-negative int"),
    "Conv2d with an int as rng": (lambda: nn.Conv2d(1, 2, 3, rng=0), TypeError, "Conv2d: rng must be a numpy.random.Generator"),
    "MaxPool2d with a window of 0": (lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be a positive int"),
    "BatchNorm1d with 0 features": (lambda: nn.BatchNorm1d(0), ValueError, "num_features must be a positive int, got 0"),
    "BatchNorm1d with momentum 5": (lambda: nn.BatchNorm1d(3, momentum=5), ValueError, "BatchNorm1d: momentum is the weight of the new batch"),
    "LayerNorm with 2.5 features": (lambda: nn.LayerNorm(2.5), ValueError, "LayerNorm: num_features must be a positive int"),
    "LayerNorm with eps -1": (lambda: nn.LayerNorm(3, eps=-1), ValueError, "LayerNorm: eps is added to the variance"),
    "Dropout with an int as rng": (lambda: nn.Dropout(0.5, rng=0), TypeError, "Dropout: rng must be a numpy.random.Generator"),
    "MLP of one int": (lambda: nn.MLP(5), TypeError, "MLP: sizes is a list of layer widths"),
    "MLP with a layer of width 0": (lambda: nn.MLP([4, 0, 3]), ValueError, "MLP: sizes[1] must be a positive int, got 0"),
    "MLP with a layer of width 2.5": (lambda: nn.MLP([4, 2.5, 3]), ValueError, "sizes[1] must be a positive int, got 2.5"),
    "MLP with an activation's name": (lambda: nn.MLP([4, 5, 3], activation="relu"), TypeError, "activation must be a function"),
    "MLP with residual a string": (lambda: nn.MLP([4, 5, 3], residual="yes"), TypeError, "MLP: residual must be True or False"),
    "MLP with an unknown norm": (lambda: nn.MLP([4, 5, 3], norm="Batch"), ValueError, "norm must be None, 'batch' or 'layer', got 'Batch'"),
    "MLP with an unknown scheme": (lambda: nn.MLP([4, 5, 3], init="ones"), ValueError, "the scheme must be one of"),
    "MLP with a scale and no scheme to use it": (lambda: nn.MLP([4, 5, 3], init_scale=2.0), ValueError, "the scheme 'glorot' takes no scale"),
    "MLP with dropout 1": (lambda: nn.MLP([4, 5, 3], dropout=1), ValueError, "p must lie in [0, 1)"),
    "MLP with an int as rng": (lambda: nn.MLP([4, 5, 3], rng=0), TypeError, "MLP: rng must be a numpy.random.Generator"),
    "MLP with an int as dropout_rng": (lambda: nn.MLP([4, 5, 3], dropout=0.5, dropout_rng=0), TypeError, "Dropout: rng must be"),
    "init with a NaN scale": (lambda: nn.init(mlp(), "he", np.random.default_rng(0), float("nan")), ValueError, "finite number > 0, got nan"),
    "init with a string scale": (lambda: nn.init(mlp(), "he", np.random.default_rng(0), "2"), TypeError, "init: the scale must be a number"),
    "init of zeros with a scale": (lambda: nn.init(mlp(), "zeros", np.random.default_rng(0), 3.0), ValueError, "'zeros' takes no scale"),
    "init with an int as rng": (lambda: nn.init(mlp(), "he", 0), TypeError, "init: rng must be a numpy.random.Generator"),
    "init of a model without layers": (lambda: nn.init(nn.Linear(3, 3), "he", np.random.default_rng(0)), TypeError, "must hold its Linear layers"),
    "train mode a string": (lambda: mlp().train("no"), TypeError, "train: mode must be True or False"),
    # ---- data ----------------------------------------------------------------------------
    "subsample a fraction 0": (lambda: data.subsample(FEATURES, LABELS, 0, 0), ValueError, "fraction must be in (0, 1], got 0"),
    "subsample a fraction NaN": (lambda: data.subsample(FEATURES, LABELS, float("nan"), 0), ValueError, "got nan"),
    "subsample a fraction '0.5'": (lambda: data.subsample(FEATURES, LABELS, "0.5", 0), TypeError, "fraction must be a number in (0, 1]"),
    "subsample a fraction True": (lambda: data.subsample(FEATURES, LABELS, True, 0), TypeError, "got bool True"),
    "subsample with seed -1": (lambda: data.subsample(FEATURES, LABELS, 0.5, -1), ValueError, "subsample: seed must be a non-negative int"),
    "subsample with seed 1.5": (lambda: data.subsample(FEATURES, LABELS, 0.5, 1.5), ValueError, "seed must be a non-negative int, got 1.5"),
    "subsample with more labels than images": (lambda: data.subsample(FEATURES, LABELS[:5], 0.5, 0), ValueError, "20 images but 5 labels"),
    "split of an unknown data set": (lambda: data.split("MNIST"), ValueError, "dataset must be one of 'fashion_mnist', 'mnist'"),
    "split with a Generator as seed": (lambda: data.split("mnist", seed=np.random.default_rng(0)), TypeError, "split: seed must be an int"),
    "split with seed -1": (lambda: data.split("mnist", seed=-1), ValueError, "split: seed must be a non-negative int"),
    "split with images a string": (lambda: data.split("mnist", images="yes"), TypeError, "split: images must be True or False"),
    "split with standardize None": (lambda: data.split("mnist", standardize=None), ValueError, "standardize must be one of"),
    "split with hold_out and test_size": (lambda: data.split("mnist", hold_out=10, test_size=10), ValueError, "pass one of them"),
    "split with an int as root": (lambda: data.split("mnist", root=3), TypeError, "root must be a folder's path"),
    "load of an unknown folder": (lambda: data.load("mnist"), ValueError, "no data set 'mnist'"),
    "load with train a string": (lambda: data.load("MNIST", train="no"), TypeError, "load: train must be True or False"),
    "Split with an unknown evaluation set": (lambda: Split(FEATURES, LABELS, FEATURES, LABELS, "val"), ValueError, "eval_set must be one of"),
    "Split with half an evaluation set": (lambda: Split(FEATURES, LABELS, FEATURES), ValueError, "give all three or none"),
    "standardise images of strings": (lambda: data.flatten_and_standardize("a", "b"), TypeError, "the images must be arrays of numbers"),
    "standardise images of two sizes": (lambda: data.flatten_and_standardize(np.ones((2, 3, 3)), np.ones((2, 4, 4))), ValueError,
                                        "training images have 9 pixels but test images have 16"),
    # ---- train ---------------------------------------------------------------------------
    "fit with a label -1": (lambda: fit(Split(FEATURES, labels_with(-1))), ValueError, "train: labels y must be class indices >= 0, got [-1]"),
    "fit with a label C": (lambda: fit(Split(FEATURES, labels_with(3))), ValueError, "train: labels y must lie in [0, 3) for a model with 3 outputs"),
    "fit by the fused step with a label -1": (lambda: fit(Split(FEATURES, labels_with(-1)), optimizer="fused"), ValueError, "class indices >= 0"),
    "fit by the fused step with a label C": (lambda: fit(Split(FEATURES, labels_with(3)), optimizer="fused", batch_size=1), ValueError,
                                             "labels y must lie in [0, 3)"),
    "fit with evaluation labels outside [0, C)": (lambda: fit(Split(FEATURES, LABELS, FEATURES, np.full(20, 7), "test")), ValueError,
                                                  "test: labels y must lie in [0, 3)"),
    "fit with labels of ten classes for three outputs": (lambda: fit(Split(FEATURES, np.arange(20) % 10)), ValueError, "got [3, 4, 5, 6, 7]"),
    "fit with float labels": (lambda: fit(Split(FEATURES, LABELS.astype(float))), TypeError, "labels y must be integer class indices"),
    "fit with integer features": (lambda: fit(Split(FEATURES.astype(int), LABELS)), TypeError, "features X must be floating point"),
    "fit with NaN features": (lambda: fit(Split(np.full((20, 4), np.nan), LABELS)), ValueError, "features X hold 80 NaN or infinite values"),
    "fit with fewer labels than rows": (lambda: fit(Split(FEATURES, LABELS[:5])), ValueError, "labels y have shape (5,) but features X have shape (20, 4)"),
    "fit with features of the wrong width": (lambda: fit(Split(np.ones((20, 5)), LABELS)), nb.ShapeError, "the inner sizes 5 and 4 must match"),
    "fit by the fused step on features of the wrong width": (lambda: fit(Split(np.ones((20, 5)), LABELS), optimizer="fused"), nb.ShapeError,
                                                             "the model's first layer takes 4 features"),
    "fit with batch size 0": (lambda: fit(batch_size=0), ValueError, "batch size B must be an integer >= 1, got B = 0"),
    "fit with batch size '4'": (lambda: fit(batch_size="4"), TypeError, "the batch size B must be a number, got str"),
    "fit with a batch larger than the data": (lambda: fit(batch_size=21), ValueError, "larger than the 20 training examples"),
    "fit for -1 epochs": (lambda: fit(epochs=-1), ValueError, "epochs must be an integer >= 0, got -1"),
    "fit for '2' epochs": (lambda: fit(epochs="2"), TypeError, "epochs must be a number, got str"),
    "fit with an unknown sampling": (lambda: fit(sampling="perm"), ValueError, "sampling must be 'permutation' or 'replacement'"),
    "fit with seed -1": (lambda: fit(seed=-1), ValueError, "fit: seed must be an integer >= 0, got -1"),
    "fit with seed 1.5": (lambda: fit(seed=1.5), ValueError, "fit: seed must be an integer >= 0, got 1.5"),
    "fit with a Generator as seed": (lambda: fit(seed=np.random.default_rng(0)), TypeError, "fit: seed must be a number, got Generator"),
    "fit a model that is a string": (lambda: train.fit("model", optim.SGD(mlp().parameters(), lr=0.1), Split(FEATURES, LABELS), epochs=1),
                                     TypeError, "fit: model must be a nabla.nn.Module"),
    "fit with an optimizer of another model": (lambda: train.fit(mlp(), optim.SGD(mlp().parameters(), lr=0.1), Split(FEATURES, LABELS), epochs=1,
                                                                 batch_size=4), ValueError, "the optimizer holds none of the model's parameters"),
    "fit on a tuple": (lambda: fit((FEATURES, LABELS)), TypeError, "the data must be a nabla.data.Split, got tuple"),
    "evaluate with labels outside [0, C)": (lambda: train.evaluate(mlp(), FEATURES, np.full(20, 5)), ValueError, "evaluate: labels y must lie in [0, 3)"),
    "evaluate with a label -1": (lambda: train.evaluate(mlp(), FEATURES, np.full(20, -1)), ValueError, "evaluate: labels y must be class indices >= 0"),
    "evaluate with float labels": (lambda: train.evaluate(mlp(), FEATURES, LABELS.astype(float)), TypeError, "integer class indices"),
    "evaluate with too few labels": (lambda: train.evaluate(mlp(), FEATURES, LABELS[:3]), ValueError, "labels y have shape (3,)"),
    "evaluate on no examples": (lambda: train.evaluate(mlp(), FEATURES[:0], LABELS[:0]), ValueError, "evaluate: the data set is empty"),
    "updates per epoch for batches of 0": (lambda: train.updates_per_epoch(10, 0), ValueError, "batch size B must be an integer >= 1"),
    "a learning rate NaN": (lambda: train.check_lr(float("nan")), ValueError, "the learning rate must be a finite number > 0, got lr = nan"),
    "a learning rate '0.1'": (lambda: train.check_lr("0.1"), TypeError, "the learning rate lr must be a number, got str"),
    # ---- fastpath ------------------------------------------------------------------------
    "FusedSGD with lr 0": (lambda: fastpath.FusedSGD(0), ValueError, "the learning rate must be a finite number > 0, got lr = 0"),
    "FusedSGD with reg -1": (lambda: fastpath.FusedSGD(0.1, reg=-1), ValueError, "reg must be a finite number >= 0, got reg = -1"),
    "FusedSGD with reg '0'": (lambda: fastpath.FusedSGD(0.1, reg="0"), TypeError, "the L2 coefficient reg must be a number, got str"),
    "fast_step with a label C": (lambda: fastpath.fast_step(mlp(), FEATURES, np.full(20, 3), 0.1), ValueError, "fast_step: labels y must lie in [0, 3)"),
    "fast_step with a label -1": (lambda: fastpath.fast_step(mlp(), FEATURES, np.full(20, -1), 0.1), ValueError, "fast_step: labels y must be class"),
    "fast_step on features of the wrong width": (lambda: fastpath.fast_step(mlp(), np.ones((20, 5)), LABELS, 0.1), nb.ShapeError,
                                                 "fast_step: X has shape (20, 5) but the model's first layer takes 4 features"),
    "fast_step with lr NaN": (lambda: fastpath.fast_step(mlp(), FEATURES, LABELS, float("nan")), ValueError, "got lr = nan"),
    "fast_step of a deeper MLP": (lambda: fastpath.fast_step(mlp((4, 5, 5, 3)), FEATURES, LABELS, 0.1), ValueError, "one-hidden-layer ReLU nn.MLP only"),
    "per_example_stepper with a label C": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, np.full(20, 3)), ValueError,
                                           "per_example_stepper: labels y must lie in [0, 3)"),
    "per_example_stepper with too few labels": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, LABELS[:4]), ValueError, "labels y have shape (4,)"),
    "a per-example step at example 1.5": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, LABELS)(1.5, 0.1), TypeError,
                                          "takes the index i of an example, an int; got 1.5"),
    "a per-example step at example -1": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, LABELS)(-1, 0.1), IndexError, "example -1 is out of range"),
    "a per-example step with lr '0.1'": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, LABELS)(0, "0.1"), TypeError, "lr must be a number"),
    "a per-example step with lr NaN": (lambda: fastpath.per_example_stepper(mlp(), FEATURES, LABELS)(0, float("nan")), ValueError, "got lr = nan"),
    "penalty with reg -1": (lambda: fastpath.penalty(mlp(), -1), ValueError, "reg must be a finite number >= 0"),
    # ---- lr_search -----------------------------------------------------------------------
    "diverged of a string": (lambda: lr_search.diverged("a", 1.0), TypeError, "diverged: initial_loss must be a number"),
    "diverged from a NaN loss": (lambda: lr_search.diverged(float("nan"), 1.0), ValueError, "the initial loss must be finite, got nan"),
    "find_divergent_lr of a number": (lambda: lr_search.find_divergent_lr(3), TypeError, "diverges must be a function lr -> bool"),
    "find_divergent_lr from 0": (lambda: lr_search.find_divergent_lr(lambda lr: lr > 1, start=0), ValueError, "start: the learning rate must be"),
    "find_divergent_lr down to 0 (searched forever)": (lambda: lr_search.find_divergent_lr(lambda lr: True, min_lr=0), ValueError, "got min_lr = 0"),
    "find_divergent_lr with max_lr below start": (lambda: lr_search.find_divergent_lr(lambda lr: lr > 1, start=1, max_lr=0.1), ValueError,
                                                  "need min_lr <= start <= max_lr"),
    "sgd_diverges of a model, not a function": (lambda: lr_search.sgd_diverges(mlp(), Split(FEATURES, LABELS), 0.1), TypeError,
                                                "make_model must be a function that returns a fresh model"),
    "sgd_diverges on a tuple": (lambda: lr_search.sgd_diverges(mlp, (FEATURES, LABELS), 0.1), TypeError, "split must be a nabla.data.Split"),
    "sgd_diverges with lr -1": (lambda: lr_search.sgd_diverges(mlp, Split(FEATURES, LABELS), -1), ValueError, "got lr = -1"),
    "sweep_batch_sizes of one int": (lambda: list(lr_search.sweep_batch_sizes(mlp, Split(FEATURES, LABELS), 4, [1], epochs=1)), TypeError,
                                     "batch_sizes must be a list"),
    "sweep_batch_sizes with no factors": (lambda: list(lr_search.sweep_batch_sizes(mlp, Split(FEATURES, LABELS), [4], [], epochs=1)), ValueError,
                                          "factors is empty"),
    "sweep_batch_sizes with a factor 0": (lambda: list(lr_search.sweep_batch_sizes(mlp, Split(FEATURES, LABELS), [4], [0], epochs=1)), ValueError,
                                          "factors multiply eta* and must be finite numbers > 0"),
    # ---- the command line and the experiments' settings ----------------------------------
    "an unknown experiment": (lambda: cli.check(cli.parse(["depth"])), ValueError, "no experiment 'depth'"),
    "an unknown scale": (lambda: cli_check("--scale", "huge"), ValueError, "no scale 'huge'"),
    "--epochs 0": (lambda: cli_check("--epochs", "0"), ValueError, "setting 'epochs' must be >= 1, got 0"),
    "--seed -1": (lambda: cli_check("--seed", "-1"), ValueError, "setting 'seed' must be >= 0, got -1"),
    "--set NAME without a value": (lambda: cli_check("--set", "widths"), ValueError, "expected NAME=VALUE"),
    "--set a value that is not JSON": (lambda: cli_check("--set", "widths=[8,"), ValueError, "is not JSON"),
    "--set an unknown setting": (lambda: cli_check("--set", "depth=3"), ValueError, "unknown setting 'depth'"),
    "--set epochs=1.5": (lambda: cli_check("--set", "epochs=1.5"), TypeError, "setting 'epochs' is"),
    "--set fraction=2": (lambda: cli_check("--set", "fraction=2"), ValueError, "setting 'fraction' must be a fraction in (0, 1], got 2"),
    "--set fraction=NaN": (lambda: cli_check("--set", "fraction=NaN"), ValueError, "got nan"),
    "--set widths=[0]": (lambda: cli_check("--set", "widths=[8, 0]"), ValueError, "'widths' must be >= 1 in each element"),
    "--set widths=[]": (lambda: cli_check("--set", "widths=[]"), ValueError, "'widths' is an empty list"),
    "--set batch_size=0": (lambda: cli_check("--set", "batch_size=0"), ValueError, "'batch_size' must be >= 1, got 0"),
    "--set test_size=0": (lambda: cli_check("--set", "test_size=0"), ValueError, "'test_size' must be >= 1"),
    "--set init=ones": (lambda: cli_check("--set", 'init="ones"'), ValueError, "'init' must be one of 'glorot'"),
    "--set dataset=cifar": (lambda: cli_check("--set", 'dataset="cifar"'), ValueError, "'dataset' must be 'fashion_mnist' or 'mnist'"),
    "--data-root that is no folder": (lambda: cli_check("--data-root", "/no/such/folder"), ValueError, "is not a folder"),
    "a learning rate override of 0": (lambda: settings_for({"full": {"lr": 0.1}}, "full", {"lr": 0.0}), ValueError, "'lr' must be a finite number > 0"),
    "a keep probability override of 0": (lambda: settings_for({"full": {"keeps": [1.0]}}, "full", {"keeps": [0.5, 0.0]}), ValueError,
                                         "'keeps' must be a keep probability in (0, 1]"),
    "a momentum override of 1": (lambda: settings_for({"full": {"momentum": 0.9}}, "full", {"momentum": 1.0}), ValueError, "in [0, 1)"),
    "a width override of a string": (lambda: settings_for(width.SCALES, "budget", {"widths": "8"}), TypeError, "setting 'widths' is"),
}


@pytest.mark.parametrize("call, error, fragment", CASES.values(), ids=CASES.keys())
def test_bad_input_gets_a_clear_error(call, error, fragment):
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value), f"expected {fragment!r} in the message {str(raised.value)!r}"
