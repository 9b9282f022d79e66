r"""The ops, one module per family; each family is derived in the chapters named beside it.

    arithmetic       add, subtract, multiply, divide,       book/computation-graphs.md, division.md,
                     negate, power                          elementwise.md
    elementwise      exp, log, sigmoid, tanh, relu          book/elementwise.md
    matrix           matmul                                 book/matmul.md
    shape            broadcast_to, sum, mean, expand,       book/broadcasting.md
                     reshape, transpose, select, squeeze,
                     unsqueeze, normalize
    classification   softmax, log_softmax, cross_entropy    book/softmax.md
    normalization    batchnorm, batchnorm_graph,            book/batchnorm.md
                     spatial_batchnorm, layernorm
    regularization   dropout                                book/dropout.md
    conv             conv2d, max_pool2d                     book/convolution.md
    kinks            abs, sqrt, maximum, where              book/autodiff-lies.md

Each op is a class (``MatMul``) with a static ``forward`` and ``backward``, and a function
(``matmul``) that checks its arguments and applies it. Every name a module lists in its
``__all__`` can be imported from here (``nb.ops.MatMul``), and the functions from ``nabla``
itself (``nb.matmul``). No module is named after a function (``matmul``, ``softmax``,
``dropout``): the function, imported here, would hide the module of the same name.
"""

from nabla import engine
from nabla.engine import Op
from nabla.ops import arithmetic, classification, conv, elementwise, kinks, matrix, normalization, regularization, shape
from nabla.ops.arithmetic import *  # noqa: F403
from nabla.ops.classification import *  # noqa: F403
from nabla.ops.conv import *  # noqa: F403
from nabla.ops.elementwise import *  # noqa: F403
from nabla.ops.kinks import *  # noqa: F403
from nabla.ops.matrix import *  # noqa: F403
from nabla.ops.normalization import *  # noqa: F403
from nabla.ops.regularization import *  # noqa: F403
from nabla.ops.shape import *  # noqa: F403

__all__ = [
    "Op",
    *arithmetic.__all__,
    *elementwise.__all__,
    *matrix.__all__,
    *shape.__all__,
    *classification.__all__,
    *normalization.__all__,
    *regularization.__all__,
    *conv.__all__,
    *kinks.__all__,
]

# Tensor's operators call these (see nabla.engine.OPERATORS): x + y is add(x, y), x @ W is
# matmul(x, W), x.T is transpose(x), and so on.
engine.OPERATORS.update(
    add=arithmetic.add,
    subtract=arithmetic.subtract,
    multiply=arithmetic.multiply,
    divide=arithmetic.divide,
    negate=arithmetic.negate,
    power=arithmetic.power,
    matmul=matrix.matmul,
    transpose=shape.transpose,
)
