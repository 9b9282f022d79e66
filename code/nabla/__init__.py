r"""nabla: a small, readable reverse-mode autodiff engine on numpy.

The package of the executable textbook *Backprop, Derived*: every op's backward pass is
derived in a chapter of the book, and the chapter includes the code from here.

    import nabla as nb
    x = nb.Tensor(np.array([1.0, 2.0]))
    loss = nb.sum(x * x)
    loss.backward()          # x.grad is now 2 x
"""

from nabla import data, gradcheck, nn, ops, optim
from nabla.conv import conv2d, max_pool2d
from nabla.normalization import BatchNormStats, batchnorm, batchnorm_graph, layernorm, spatial_batchnorm
from nabla.ops import (
    abs,
    add,
    broadcast_to,
    cross_entropy,
    divide,
    exp,
    expand,
    log,
    log_softmax,
    matmul,
    maximum,
    mean,
    multiply,
    negate,
    normalize,
    power,
    relu,
    reshape,
    select,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    subtract,
    sum,
    tanh,
    transpose,
    unsqueeze,
    where,
)
from nabla.regularization import dropout
from nabla.tensor import ShapeError, Tensor

__all__ = [
    "Tensor",
    "ShapeError",
    "add",
    "subtract",
    "multiply",
    "divide",
    "negate",
    "power",
    "sum",
    "mean",
    "broadcast_to",
    "exp",
    "log",
    "sigmoid",
    "tanh",
    "relu",
    "matmul",
    "expand",
    "reshape",
    "transpose",
    "select",
    "squeeze",
    "unsqueeze",
    "normalize",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "conv2d",
    "max_pool2d",
    "abs",
    "sqrt",
    "maximum",
    "where",
    "dropout",
    "batchnorm",
    "batchnorm_graph",
    "spatial_batchnorm",
    "layernorm",
    "BatchNormStats",
    "data",
    "gradcheck",
    "nn",
    "ops",
    "optim",
]
