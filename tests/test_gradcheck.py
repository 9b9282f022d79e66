"""The gradient checker: it passes right backward passes and catches wrong ones."""

import re

import numpy as np
import pytest
import torch

import nabla as nb
from nabla.gradcheck import (
    GradientCheckError,
    central_difference,
    check_against_torch,
    check_backward,
    relative_error,
)
from nabla.ops import Divide, Multiply

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
Y = rng.uniform(0.5, 2.0, (3, 4))


def wrong_multiply_backward(ctx, S_bar):
    return S_bar * ctx.Y, S_bar  # the second forgot the factor X


def test_relative_error_is_relative_above_the_floor_and_absolute_below():
    assert relative_error(1e6, 1e6 + 1) == pytest.approx(1e-6)
    assert relative_error(1e-9, 3e-9) == pytest.approx(2e-9 / 1e-3)
    assert relative_error(0.0, 0.0) == 0.0


def test_central_difference_of_a_square():
    (grad,) = central_difference(lambda x: x * x, np.array([1.0, -2.0]), upstream=np.array([1.0, 3.0]))
    np.testing.assert_allclose(grad, [2.0, -12.0], rtol=1e-8)


def test_a_right_backward_passes_and_reports_every_input():
    verdicts = check_backward(lambda X, Y: X / Y + X * Y, X, Y)
    assert [v.input for v in verdicts] == [0, 1]
    assert all(v.ok and v.max_relative_error < 1e-7 for v in verdicts)


def test_a_wrong_backward_patched_in_is_caught(monkeypatch):
    monkeypatch.setattr(Multiply, "backward", staticmethod(wrong_multiply_backward))
    with pytest.raises(GradientCheckError) as caught:
        check_backward(lambda X, Y: X * Y, X, Y)
    report = str(caught.value)
    assert "the gradient of input 1 is wrong" in report
    assert "input 0, shape (3, 4): ok" in report
    assert "input 1, shape (3, 4): WRONG" in report
    with pytest.raises(GradientCheckError, match="input 1 is wrong"):
        check_against_torch(lambda X, Y: X * Y, lambda X, Y: X * Y, X, Y)


def test_a_missing_minus_sign_is_caught():
    class WrongDivide(Divide):
        @staticmethod
        def backward(ctx, S_bar):
            return S_bar / ctx.Y, S_bar * ctx.X / ctx.Y**2

    with pytest.raises(GradientCheckError, match=r"input 1, shape \(3, 4\): WRONG, worst relative error 2.0e\+00"):
        check_backward(lambda X, Y: WrongDivide.apply(X, Y), X, Y)


def test_only_a_random_upstream_tells_y_bar_times_y_from_y():
    class ForgetfulMultiply(Multiply):
        """Returns Y where S_bar * Y is due: right only when S_bar is all ones."""

        @staticmethod
        def backward(ctx, S_bar):
            return ctx.Y.copy(), S_bar * ctx.X

    f = lambda X, Y: ForgetfulMultiply.apply(X, Y)  # noqa: E731
    check_backward(f, X, Y, upstream=np.ones((3, 4)))  # passes: the ones hide the bug
    with pytest.raises(GradientCheckError, match="input 0 is wrong"):
        check_backward(f, X, Y)


def test_the_torch_comparison_also_checks_forward_values():
    with pytest.raises(GradientCheckError, match="forward values"):
        check_against_torch(lambda X: X * 2.0, lambda X: X * 2.0000001, X)


def test_the_torch_comparison_checks_output_shapes():
    with pytest.raises(GradientCheckError, match=r"nabla's output has shape \(\) , torch's \(4,\)".replace(" ,", ",")):
        check_against_torch(lambda X: nb.sum(X), lambda X: X.sum(0), X)


def test_checks_refuse_float32():
    with pytest.raises(TypeError, match="gradient checks run in float64, but input 0 has dtype float32"):
        check_backward(lambda X: X * X, X.astype(np.float32))


def test_the_function_under_test_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a nabla Tensor, got ndarray"):
        check_backward(lambda X: X.value * 2, X)


def test_an_input_that_does_not_reach_the_output_has_a_zero_gradient():
    verdicts = check_backward(lambda X, Y: X * 2.0, X, Y)
    assert all(v.ok for v in verdicts)
    check_against_torch(lambda X, Y: X * 2.0, lambda X, Y: X * 2.0, X, Y)


def test_torch_twin_agrees_on_a_composite():
    check_against_torch(
        lambda X, Y: nb.mean((X - Y) ** 2 / Y, axis=0),
        lambda X, Y: torch.mean((X - Y) ** 2 / Y, dim=0),
        X,
        Y,
    )


def test_check_derivation_accepts_a_right_rule_written_in_numpy():
    verdicts = nb.gradcheck.check_derivation(lambda X, Y: X / Y, lambda S_bar, X, Y: (S_bar / Y, -S_bar * X / Y**2), X, Y)
    assert all(v.ok for v in verdicts)


def test_check_derivation_names_the_wrong_input_where_and_by_how_much():
    with pytest.raises(GradientCheckError) as caught:
        nb.gradcheck.check_derivation(lambda X, Y: X / Y, lambda S_bar, X, Y: (S_bar / Y, -S_bar * X / Y), X, Y)
    assert "check_derivation: the gradient of input 1 is wrong" in str(caught.value)
    assert re.search(r"input 1, shape \(3, 4\): WRONG, worst relative error .* at index \(\d, \d\) \(yours .*, central difference .*\)", str(caught.value))


def test_check_derivation_catches_an_adjoint_of_the_wrong_shape():
    with pytest.raises(GradientCheckError, match=r"your adjoint of input 0 has shape \(4,\), but input 0 has shape \(3, 4\)"):
        nb.gradcheck.check_derivation(lambda X: X * 2, lambda S_bar, X: (2 * S_bar).sum(axis=0), X)


def test_check_gradients_runs_both_witnesses_and_prints_both():
    report = nb.gradcheck.check_gradients(lambda X, Y: X / Y, lambda X, Y: X / Y, X, Y)
    assert len(report.central) == len(report.torch) == 2
    assert "central differences (check_backward):" in repr(report) and "PyTorch autograd" in repr(report)
    with pytest.raises(GradientCheckError, match="forward values"):
        nb.gradcheck.check_gradients(lambda X: X * 2.0, lambda X: X * 3.0, X)


def test_away_from_zero_keeps_its_distance():
    values = nb.gradcheck.away_from_zero(np.random.default_rng(0), (1000,), 0.25, 2.0)
    assert values.dtype == np.float64
    assert np.all((np.abs(values) >= 0.25) & (np.abs(values) <= 2.0))
    assert (values < 0).any() and (values > 0).any()
