"""nabla.engine: leaves, op nodes, the backward pass and its checks."""

import ast
import inspect

import numpy as np
import pytest

import nabla as nb
from nabla.ops import Multiply


def test_a_leaf_has_a_value_no_source_and_no_grad():
    a = nb.Tensor(np.array([1.0, 2.0]), name="a")
    assert a.source is None and a.grad is None
    assert a.shape == (2,) and a.dtype == np.float64
    assert repr(a) == "Tensor('a', shape=(2,), leaf)"


def test_an_op_node_links_inputs_and_outputs():
    a, b = nb.Tensor(np.array([1.0, 2.0])), nb.Tensor(np.array([3.0, 5.0]))
    c = a + b
    assert c.source.op is nb.ops.Add
    assert c.source.inputs == (a, b)
    assert c.source.outputs == (c,)
    np.testing.assert_array_equal(c.value, [4.0, 7.0])


def test_a_graph_is_freed_as_soon_as_its_output_is_dropped():
    import gc
    import weakref

    gc.disable()  # only reference counting may free it: no reference cycles
    try:
        a = nb.Tensor(np.ones(3))
        loss = nb.sum(a * 2.0 + a)
        intermediate = weakref.ref(loss.source.inputs[0])
        node = weakref.ref(loss.source)
        del loss
        assert intermediate() is None and node() is None
    finally:
        gc.enable()


def test_backward_from_a_scalar_fills_every_grad():
    a, b = nb.Tensor(np.array([1.0, 2.0])), nb.Tensor(np.array([3.0, 5.0]))
    c = a * b
    loss = nb.sum(c)
    loss.backward()
    np.testing.assert_array_equal(a.grad, b.value)
    np.testing.assert_array_equal(b.grad, a.value)
    np.testing.assert_array_equal(c.grad, [1.0, 1.0])
    assert loss.grad == 1.0


def test_a_tensor_used_twice_accumulates_both_contributions():
    # The diamond: d = a*2 + a*3 has two paths from a to d; dd/da = 2 + 3.
    a = nb.Tensor(np.array([1.0, -1.0, 4.0]))
    nb.sum(a * 2.0 + a * 3.0).backward()
    np.testing.assert_array_equal(a.grad, [5.0, 5.0, 5.0])
    # and x * x: both inputs of one op are the same tensor
    x = nb.Tensor(np.array([3.0]))
    nb.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad, [6.0])


def test_a_second_backward_adds_into_grad():
    a = nb.Tensor(np.array([1.0, 2.0]))
    loss = nb.sum(a * a)
    loss.backward()
    first = a.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(a.grad, 2 * first)
    a.grad = None
    loss.backward()
    np.testing.assert_array_equal(a.grad, first)


def test_gradients_do_not_share_memory():
    a, b = nb.Tensor(np.ones(2)), nb.Tensor(np.ones(2))
    upstream = np.array([1.0, 2.0])
    c = a + b  # Add.backward hands the same array to both inputs
    c.backward(upstream)
    a.grad *= 0.5
    np.testing.assert_array_equal(b.grad, [1.0, 2.0])
    np.testing.assert_array_equal(c.grad, [1.0, 2.0])
    np.testing.assert_array_equal(upstream, [1.0, 2.0])


def test_backward_with_an_upstream_gradient():
    a = nb.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    S_bar = np.array([[1.0, -1.0], [0.5, 2.0]])
    (a * 3.0).backward(S_bar)
    np.testing.assert_array_equal(a.grad, 3.0 * S_bar)


def test_the_engine_imports_no_op():
    tree = ast.parse(inspect.getsource(nb.engine))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.startswith("nabla")]


def test_every_operator_finds_its_op():
    X, W = nb.Tensor(np.full((2, 2), 2.0)), nb.Tensor(np.eye(2))
    made_by = {
        "+": X + 1.0, "radd": 1.0 + X, "-": X - 1.0, "rsub": 1.0 - X, "*": X * 3.0, "rmul": 3.0 * X,
        "/": X / 2.0, "rdiv": 2.0 / X, "neg": -X, "@": X @ W, "rmatmul": np.eye(2) @ X, "T": X.T, "**": X**2,
    }
    ops = {name: tensor.source.op.__name__ for name, tensor in made_by.items()}
    assert ops == {
        "+": "Add", "radd": "Add", "-": "Subtract", "rsub": "Subtract", "*": "Multiply", "rmul": "Multiply",
        "/": "Divide", "rdiv": "Divide", "neg": "Negate", "@": "MatMul", "rmatmul": "MatMul", "T": "Transpose",
        "**": "Power",
    }


def test_a_long_chain_does_not_hit_the_recursion_limit():
    x = nb.Tensor(np.array(1.0))
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_no_grad_shares_memory_with_another_grad_a_value_or_the_upstream():
    # Add hands S_bar to both inputs, Reshape a view of its adjoint, and the upstream is the reader's.
    X, Y = nb.Tensor(np.ones((2, 3))), nb.Tensor(np.full((2, 3), 2.0))
    S = nb.reshape(X + Y, (3, 2))
    upstream = np.arange(6.0).reshape(3, 2)
    S.backward(upstream)
    tensors = S.topological_order()
    grads = [t.grad for t in tensors]
    for i, grad in enumerate(grads):
        others = grads[:i] + grads[i + 1 :] + [t.value for t in tensors] + [upstream]
        assert not any(np.shares_memory(grad, other) for other in others)
    np.testing.assert_array_equal(X.grad, upstream.reshape(2, 3))


def test_a_fresh_adjoint_is_stored_without_a_copy():
    # W's adjoint X^T Y_bar is a new array that nothing else holds: copying it would be waste.
    X, W = nb.Tensor(np.ones((1, 4))), nb.Tensor(np.ones((4, 3)))
    Y = X @ W
    Y_bar = np.ones((1, 3))
    (_, W_bar) = Y.source.op.backward(Y.source.context, Y_bar)
    Y.backward(Y_bar)
    assert W.grad.base is None and W.grad.flags.owndata
    np.testing.assert_array_equal(W.grad, W_bar)


def test_topological_order_puts_each_tensor_before_its_inputs():
    a = nb.Tensor(np.array(2.0))
    b = a * 3.0
    c = b + a
    order = c.topological_order()
    position = {id(t): i for i, t in enumerate(order)}
    assert order[0] is c
    assert len(order) == len({id(t) for t in order})
    for t in order:
        if t.source is not None:
            assert all(position[id(t)] < position[id(i)] for i in t.source.inputs)


# ---- bad input --------------------------------------------------------------------------


def test_backward_from_a_non_scalar_is_refused_with_its_shape():
    c = nb.Tensor(np.ones((3, 2))) * 2.0
    with pytest.raises(ValueError, match=r"starts from a scalar loss, but this tensor has shape \(3, 2\)"):
        c.backward()


def test_an_upstream_of_the_wrong_shape_is_refused():
    c = nb.Tensor(np.ones((3, 2))) * 2.0
    with pytest.raises(nb.ShapeError, match=r"upstream has shape \(2, 3\) but the tensor has shape \(3, 2\)"):
        c.backward(np.ones((2, 3)))


@pytest.mark.parametrize(
    "value, dtype",
    [(np.arange(3), "int64"), (np.array([True, False]), "bool"), ([1, 2], "int64"), (np.array([1 + 2j]), "complex128")],
)
def test_integer_boolean_and_complex_arrays_are_refused(value, dtype):
    with pytest.raises(TypeError, match=rf"expected a floating-point array, got dtype {dtype}"):
        nb.Tensor(value)


@pytest.mark.parametrize("value", ["1.0", None, b"x"])
def test_wrong_types_are_refused(value):
    with pytest.raises(TypeError, match="expected a floating-point array"):
        nb.Tensor(value)


def test_a_tensor_inside_a_tensor_is_refused():
    with pytest.raises(TypeError, match="got a Tensor; use its .value"):
        nb.Tensor(nb.Tensor(np.ones(2)))


def test_a_backward_that_returns_the_wrong_shape_fails_by_name():
    class SquashingMultiply(Multiply):
        @staticmethod
        def backward(ctx, S_bar):
            return (S_bar * ctx.Y).sum(axis=0), S_bar * ctx.X  # the first lost an axis

    X, Y = nb.Tensor(np.ones((2, 3))), nb.Tensor(np.ones((2, 3)))
    with pytest.raises(nb.ShapeError, match=r"SquashingMultiply.backward returned a gradient of shape \(3,\) for input 0, which has shape \(2, 3\)"):
        nb.sum(SquashingMultiply.apply(X, Y)).backward()


def test_a_backward_that_returns_too_few_gradients_fails_by_name():
    class HalfMultiply(Multiply):
        @staticmethod
        def backward(ctx, S_bar):
            return S_bar * ctx.Y

    with pytest.raises(RuntimeError, match="HalfMultiply.backward returned 1 gradients for 2 inputs"):
        nb.sum(HalfMultiply.apply(nb.Tensor(np.ones(2)), nb.Tensor(np.ones(2)))).backward()
