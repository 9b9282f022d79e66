r"""nabla: a small, readable reverse-mode autodiff engine on numpy.

The package of the executable textbook *Backprop, Derived*: every op's backward pass is
derived in a chapter of the book, and the chapter includes the code from here.

    import nabla as nb
    x = nb.Tensor(np.array([1.0, 2.0]))
    loss = nb.sum(x * x)
    loss.backward()          # x.grad is now 2 x
"""

from nabla import gradcheck, ops
from nabla.ops import add, broadcast_to, divide, mean, multiply, negate, power, subtract, sum
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
    "gradcheck",
    "ops",
]
