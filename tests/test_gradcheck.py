"""The gradient checker: it passes right backward passes and catches wrong ones."""

import re

import numpy as np
import pytest
import torch

import nabla as nb
from nabla.engine import ShapeError
from nabla.gradcheck import (
    GradientCheckError,
    central_difference,
    check_against_torch,
    check_backward,
    check_derivation,
    check_gradients,
    relative_error,
)
from nabla.failures import show_error, show_failure
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
    assert "input 1, shape (3, 4): WRONG at 12 of 12 entries" in report
    with pytest.raises(GradientCheckError, match="input 1 is wrong"):
        check_against_torch(lambda X, Y: X * Y, lambda X, Y: X * Y, X, Y)


def test_a_missing_minus_sign_is_caught():
    class WrongDivide(Divide):
        @staticmethod
        def backward(ctx, S_bar):
            return S_bar / ctx.Y, S_bar * ctx.X / ctx.Y**2

    with pytest.raises(GradientCheckError, match=r"input 1, shape \(3, 4\): WRONG at 12 of 12 entries, worst relative error 2.0e\+00"):
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
    with pytest.raises(GradientCheckError, match=r"\(forward values\): output 0 is wrong"):
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
    assert re.search(r"input 1, shape \(3, 4\): WRONG at \d+ of 12 entries, worst relative error .* at index \(\d, \d\) \(yours .*, central difference .*\)", str(caught.value))


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


# show_failure: how a chapter shows a wrong derivation


class MultiplyWrongY(Multiply):
    """S = X * Y whose Y_bar forgot the factor X."""

    @staticmethod
    def backward(ctx, S_bar):
        return S_bar * ctx.Y, S_bar


wrong_y = lambda X, Y: MultiplyWrongY.apply(X, Y)  # noqa: E731


def test_show_failure_prints_the_report_and_returns_the_error(capsys):
    error = show_failure(check_backward, wrong_y, X, Y, wrong="Y", entries={"Y": 12, "X": 0})
    printed = capsys.readouterr().out
    assert printed == str(error) + "\n"
    assert "the gradient of input 1 is wrong" in printed
    assert "Traceback" not in printed and "/" not in printed.split("(tolerance")[0]
    assert [v.ok for v in error.verdicts] == [True, False]
    assert [v.wrong_entries for v in error.verdicts] == [0, 12]


def test_show_failure_takes_every_check():
    show_failure(check_against_torch, wrong_y, lambda X, Y: X * Y, X, Y, wrong={"Y"}, entries=12)
    show_failure(check_gradients, wrong_y, lambda X, Y: X * Y, X, Y, wrong=["Y"])
    show_failure(check_derivation, lambda X, Y: X * Y, lambda S_bar, X, Y: (S_bar * Y, S_bar), X, Y, wrong="Y")


def test_show_failure_raises_when_the_check_passes():
    with pytest.raises(AssertionError, match=r"expected to find the gradient of \['Y'\] wrong, but it passed"):
        show_failure(check_backward, lambda X, Y: X * Y, X, Y, wrong="Y")


def test_show_failure_raises_when_other_inputs_are_blamed():
    with pytest.raises(AssertionError, match=r"expected to find \['X'\] wrong .* but it found \['Y'\] wrong"):
        show_failure(check_backward, wrong_y, X, Y, wrong="X")
    with pytest.raises(AssertionError, match=r"expected to find \['X', 'Y'\] wrong"):
        show_failure(check_backward, wrong_y, X, Y, wrong=["X", "Y"])


def test_show_failure_raises_when_the_count_differs():
    with pytest.raises(AssertionError, match=r"expected 2 wrong elements in all, found 12"):
        show_failure(check_backward, wrong_y, X, Y, wrong="Y", entries=2)
    with pytest.raises(AssertionError, match=r"expected \{'Y': 11\} wrong elements, found \{'Y': 12\}"):
        show_failure(check_backward, wrong_y, X, Y, wrong="Y", entries={"Y": 11})


def test_show_failure_lets_another_error_through():
    with pytest.raises(NameError):
        show_failure(check_backward, lambda X, Y: undefined_name * X, X, Y, wrong="Y")  # noqa: F821
    with pytest.raises(ShapeError):  # a backward of the wrong shape: the engine's error, not a wrong gradient
        show_failure(check_backward, lambda X, Y: Multiply.apply(X, nb.sum(Y, axis=0)), X, Y, wrong="Y")


def test_show_failure_refuses_a_failure_that_is_not_about_gradients():
    with pytest.raises(AssertionError, match="failed, but not on the inputs' gradients") as caught:
        show_failure(check_against_torch, lambda X: X * 2.0, lambda X: X * 3.0, X, wrong="X")
    assert isinstance(caught.value.__cause__, GradientCheckError)
    with pytest.raises(AssertionError, match="not on the inputs' gradients"):
        show_failure(check_derivation, lambda X: X * 2, lambda S_bar, X: (2 * S_bar).sum(axis=0), X, wrong="X")


def test_show_failure_names_inputs_after_the_function_parameters():
    with pytest.raises(ValueError, match=r"no input is named \['Z'\]; the inputs are \['X', 'Y'\]"):
        show_failure(check_backward, wrong_y, X, Y, wrong="Z")
    with pytest.raises(ValueError, match=r"no input is named \['Z'\]"):
        show_failure(check_backward, wrong_y, X, Y, wrong="Y", entries={"Z": 1})
    with pytest.raises(ValueError, match="write it as a lambda that names each input"):
        show_failure(check_backward, MultiplyWrongY.apply, X, Y, wrong="Y")


def test_show_error_prints_the_message_and_checks_its_type_and_content(capsys):
    message = show_error(ShapeError, relative_error, np.ones(3), np.ones(4), match=["(3,)", "(4,)"])
    assert capsys.readouterr().out == message + "\n"
    with pytest.raises(AssertionError, match="expected a ShapeError, but nothing was raised"):
        show_error(ShapeError, relative_error, np.ones(3), np.ones(3), match="")
    with pytest.raises(AssertionError, match=r"which lacks \['\(5,\)'\]"):
        show_error(ShapeError, relative_error, np.ones(3), np.ones(4), match="(5,)")
    with pytest.raises(ValueError):  # another type goes through
        show_error(TypeError, relative_error, np.ones(3), np.ones(3), floor=0.0, match="")


# Bad arguments: a clear error that names them, not numpy's message or a wrong result


@pytest.mark.parametrize("name, value", [("h", 0.0), ("h", -1e-5), ("h", np.inf), ("h", np.nan), ("tol", 0.0), ("tol", np.nan), ("floor", -1.0)])
def test_checks_refuse_a_step_tolerance_or_floor_that_is_not_positive(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive"):
        check_backward(lambda X: X * X, X, **{name: value})


def test_checks_refuse_a_setting_that_is_not_a_number():
    with pytest.raises(TypeError, match="tol must be a positive number, got str '1e-5'"):
        check_backward(lambda X: X * X, X, tol="1e-5")
    with pytest.raises(TypeError, match="h must be a positive number, got bool True"):
        central_difference(lambda X: X * X, X, upstream=np.ones((3, 4)), h=True)
    with pytest.raises(ValueError, match="floor must be a positive"):
        check_against_torch(lambda X: X * 2.0, lambda X: X * 2.0, X, floor=0.0)


def test_an_infinite_tolerance_reports_instead_of_judging():
    (verdict,) = check_backward(lambda X: MultiplyWrongY.apply(X, X), X, tol=np.inf)
    assert verdict.ok and verdict.max_relative_error > 0.1


@pytest.mark.parametrize(
    "check",
    [
        lambda upstream: check_backward(lambda X: X * X, X, upstream=upstream),
        lambda upstream: check_against_torch(lambda X: X * X, lambda X: X * X, X, upstream=upstream),
        lambda upstream: check_derivation(lambda X: X * X, lambda S_bar, X: 2 * S_bar * X, X, upstream=upstream),
        lambda upstream: central_difference(lambda X: X * X, X, upstream=upstream),
    ],
)
def test_checks_refuse_an_upstream_gradient_of_another_shape_or_dtype(check):
    # (4,) would broadcast against the output's (3, 4): numpy would check another loss, silently
    with pytest.raises(ShapeError, match=r"the upstream gradient has shape \(4,\) but the output has shape \(3, 4\)"):
        check(np.ones(4))
    with pytest.raises(TypeError, match="the upstream gradient has dtype float32"):
        check(np.ones((3, 4), dtype=np.float32))


def test_central_difference_refuses_float32_inputs():
    with pytest.raises(TypeError, match="input 0 has dtype float32"):
        central_difference(lambda X: X * X, X.astype(np.float32), upstream=np.ones((3, 4)))


def test_relative_error_refuses_shapes_that_differ_and_a_floor_that_is_not_positive():
    with pytest.raises(ShapeError, match=r"a has shape \(3, 4\) but b has shape \(4,\)"):
        relative_error(X, X[0])
    with pytest.raises(ValueError, match="floor must be a positive finite number, got floor = 0"):
        relative_error(1.0, 1.0, floor=0)


def test_away_from_zero_refuses_bounds_that_are_not_positive_or_out_of_order():
    with pytest.raises(ValueError, match="low must be a positive"):
        nb.gradcheck.away_from_zero(rng, (3,), 0.0, 1.0)
    with pytest.raises(ValueError, match="low = 2.0 is above high = 1.0"):
        nb.gradcheck.away_from_zero(rng, (3,), 2.0, 1.0)


def test_check_derivation_refuses_an_adjoint_that_is_not_float64():
    with pytest.raises(TypeError, match="your adjoint of input 0 has dtype float32"):
        check_derivation(lambda X: X * 2, lambda S_bar, X: (2 * S_bar).astype(np.float32), X)
