r"""Gradient checking: is a backward pass right? Derived in book/gradient-checking.md.

Two independent witnesses:

* :func:`check_backward` compares nabla's gradients with central differences
  $\frac{\ell(X + h e_i) - \ell(X - h e_i)}{2h}$ of the scalar $\ell = \sum \bar S \odot f(X)$,
  where $\bar S$ is a random upstream gradient;
* :func:`check_against_torch` compares them with PyTorch autograd, given the same upstream gradient.

Both run in float64 and raise :class:`GradientCheckError` (an AssertionError) with a report
that names the wrong input, the worst element and both values there. They never just print.

A chapter that shows a *wrong* derivation runs one of these checks through
:func:`nabla.failures.show_failure`, which prints the report and asserts which inputs it blames.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from nabla.engine import ShapeError, Tensor


class GradientCheckError(AssertionError):
    """A gradient disagreed with its witness; the message is the full report.

    ``verdicts`` holds one :class:`InputVerdict` per input when the report is about the inputs'
    gradients, and is None when the check failed before any gradient was compared (forward
    values or output shapes that disagree).
    """

    def __init__(self, message, verdicts=None):
        super().__init__(message)
        self.verdicts = verdicts


def check_settings(**settings):
    """Refuse a step, tolerance or floor that is not a positive number (a tolerance may be inf)."""
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a positive number, got {type(value).__name__} {value!r}")
        if not value > 0 or (name != "tol" and not np.isfinite(value)):
            kind = "a positive number" if name == "tol" else "a positive finite number"
            raise ValueError(f"{name} must be {kind}, got {name} = {value!r}")


def check_upstream(upstream, shape):
    r"""The upstream gradient $\bar S$ as given, refused unless it is float64 and has the output's shape."""
    upstream = np.asarray(upstream)
    if upstream.dtype != np.float64:
        raise TypeError(f"gradient checks run in float64, but the upstream gradient has dtype {upstream.dtype}")
    if upstream.shape != tuple(shape):
        raise ShapeError(
            f"the upstream gradient has shape {upstream.shape} but the output has shape {tuple(shape)}; "
            "they must be equal (numpy would broadcast one against the other and check something else)"
        )
    return upstream


def relative_error(a, b, floor=1e-3):
    r"""Element-wise $|a - b| / \max(|a|, |b|, \text{floor})$.

    Relative, so a gradient of size 1e6 and one of size 1e-2 are judged alike; the floor
    keeps two numbers that are both nearly zero (whose relative difference means nothing)
    from failing a check: below it, the error is absolute.
    """
    check_settings(floor=floor)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeError(f"relative_error: a has shape {a.shape} but b has shape {b.shape}; they must be equal")
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def float64_inputs(inputs):
    """The inputs as float64 arrays; anything else is refused, not converted."""
    arrays = []
    for i, x in enumerate(inputs):
        array = np.asarray(x.value if isinstance(x, Tensor) else x)
        if array.dtype != np.float64:
            raise TypeError(
                f"gradient checks run in float64, but input {i} has dtype {array.dtype}; "
                "float32 rounding errors would swamp the differences being measured"
            )
        arrays.append(array)
    return arrays


def evaluate(f, arrays):
    """``f`` applied to fresh leaf tensors holding copies of ``arrays``: (leaves, output)."""
    leaves = [Tensor(array.copy()) for array in arrays]
    output = f(*leaves)
    if not isinstance(output, Tensor):
        raise TypeError(f"the function under test must return a nabla Tensor, got {type(output).__name__}")
    return leaves, output


def random_upstream(shape, seed):
    r"""A random upstream gradient $\bar S$: standard normal, so no two entries are alike."""
    return np.random.default_rng(seed).standard_normal(shape)


def central_difference(f, *inputs, upstream, h=1e-5):
    r"""Numerical gradients of $\ell = \sum \bar S \odot f(\text{inputs})$, one per input.

    Each element $i$ of each input is moved by $\pm h$ in turn:
    $\partial\ell/\partial x_i \approx (\ell(x + h e_i) - \ell(x - h e_i)) / 2h$, whose error is
    $O(h^2)$ (a forward difference's is $O(h)$).
    """
    check_settings(h=h)
    arrays = float64_inputs(inputs)

    def loss(arrays):
        S = evaluate(f, arrays)[1].value
        return float(np.sum(check_upstream(upstream, S.shape) * S))

    gradients = []
    for X in arrays:
        X_grad = np.zeros_like(X)
        for index in np.ndindex(X.shape):
            original = X[index]
            X[index] = original + h
            loss_plus = loss(arrays)
            X[index] = original - h
            loss_minus = loss(arrays)
            X[index] = original
            X_grad[index] = (loss_plus - loss_minus) / (2 * h)
        gradients.append(X_grad)
    return gradients


@dataclass
class InputVerdict:
    """How one input's gradient compared with its witness."""

    input: int
    shape: tuple
    max_relative_error: float
    where: tuple
    ours: float
    theirs: float
    ok: bool
    wrong_entries: int = 0  # how many elements are beyond the tolerance

    def describe(self, ours="nabla", theirs="witness"):
        verdict = "ok" if self.ok else f"WRONG at {self.wrong_entries} of {int(np.prod(self.shape))} entries"
        line = f"  input {self.input}, shape {self.shape}: {verdict}, worst relative error {self.max_relative_error:.1e}"
        if self.where is not None:
            line += f" at index {self.where} ({ours} {self.ours:.6g}, {theirs} {self.theirs:.6g})"
        return line


def compare(gradients, references, tol, floor):
    """One :class:`InputVerdict` per input: the worst element and whether it is within ``tol``."""
    verdicts = []
    for i, (ours, theirs) in enumerate(zip(gradients, references)):
        error = relative_error(ours, theirs, floor)
        if error.size == 0:
            verdicts.append(InputVerdict(i, ours.shape, 0.0, None, np.nan, np.nan, True))
            continue
        worst = np.unravel_index(np.argmax(error), error.shape)
        verdicts.append(
            InputVerdict(
                input=i,
                shape=ours.shape,
                max_relative_error=float(error[worst]),
                where=tuple(int(k) for k in worst),
                ours=float(ours[worst]),
                theirs=float(theirs[worst]),
                ok=bool(error[worst] <= tol),  # a NaN fails, as it should
                wrong_entries=int(np.sum(~(error <= tol))),
            )
        )
    return verdicts


def report(title, verdicts, ours, theirs, settings, of_gradients=True):
    """Raise GradientCheckError if any verdict failed; else return the verdicts.

    ``of_gradients``: the verdicts are of the inputs' gradients (False for forward values),
    and the error carries them.
    """
    if all(v.ok for v in verdicts):
        return verdicts
    wrong = ", ".join(str(v.input) for v in verdicts if not v.ok)
    what = f"the gradient of input {wrong}" if of_gradients else f"output {wrong}"
    lines = [f"{title}: {what} is wrong"]
    lines += [v.describe(ours, theirs) for v in verdicts]
    lines.append(f"  ({settings})")
    raise GradientCheckError("\n".join(lines), verdicts if of_gradients else None)


def check_backward(f, *inputs, upstream=None, h=1e-5, tol=1e-5, floor=1e-3, seed=0):
    r"""Assert that nabla's backward pass through ``f`` agrees with central differences.

    ``f`` takes nabla tensors (one per input) and returns a tensor $S$. With a random
    upstream gradient $\bar S$ (or the one given), the scalar $\ell = \sum \bar S \odot S$ is
    differentiated twice: by ``backward()`` and by central differences with step ``h``. Every
    input's gradient must agree element-wise to ``tol`` in :func:`relative_error`.

    Returns one :class:`InputVerdict` per input; raises GradientCheckError with a per-input
    report (worst relative error, where, both values) if any input's gradient is wrong.
    """
    check_settings(h=h, tol=tol, floor=floor)
    arrays = float64_inputs(inputs)
    leaves, output = evaluate(f, arrays)
    upstream = random_upstream(output.shape, seed) if upstream is None else check_upstream(upstream, output.shape)
    output.backward(upstream)
    analytic = [leaf.grad if leaf.grad is not None else np.zeros_like(leaf.value) for leaf in leaves]
    numeric = central_difference(f, *arrays, upstream=upstream, h=h)
    verdicts = compare(analytic, numeric, tol, floor)
    return report(
        "check_backward",
        verdicts,
        "backward",
        "central difference",
        f"tolerance {tol:g} in relative error with floor {floor:g}; central differences, h = {h:g}; float64",
    )


def check_against_torch(f, torch_f, *inputs, upstream=None, tol=1e-10, floor=1e-3, seed=0):
    r"""Assert that ``f`` (on nabla tensors) and ``torch_f`` (on torch tensors) agree.

    Both the forward values and, for a random upstream gradient $\bar S$ (or the one
    given), the gradients of every input must agree to ``tol`` in :func:`relative_error`.
    Two exact computations in float64 differ only by rounding, hence the tight default.
    """
    import torch  # here, not at the top: nabla itself does not need torch

    check_settings(tol=tol, floor=floor)
    arrays = float64_inputs(inputs)
    leaves, output = evaluate(f, arrays)
    torch_leaves = [torch.tensor(array, requires_grad=True) for array in arrays]
    torch_output = torch_f(*torch_leaves)
    if tuple(torch_output.shape) != output.shape:
        raise GradientCheckError(
            f"check_against_torch: nabla's output has shape {output.shape}, torch's {tuple(torch_output.shape)}"
        )
    upstream = random_upstream(output.shape, seed) if upstream is None else check_upstream(upstream, output.shape)
    output.backward(upstream)
    torch_output.backward(torch.tensor(upstream))

    forward = compare([output.value], [torch_output.detach().numpy()], tol, floor)
    report(
        "check_against_torch (forward values)",
        forward,
        "nabla",
        "torch",
        f"tolerance {tol:g}, floor {floor:g}",
        of_gradients=False,
    )
    ours = [leaf.grad if leaf.grad is not None else np.zeros_like(leaf.value) for leaf in leaves]
    theirs = [t.grad.numpy() if t.grad is not None else np.zeros_like(a) for t, a in zip(torch_leaves, arrays)]
    return report(
        "check_against_torch",
        compare(ours, theirs, tol, floor),
        "nabla",
        "torch",
        f"tolerance {tol:g} in relative error with floor {floor:g}; float64",
    )


def check_derivation(forward, backward, *inputs, upstream=None, h=1e-5, tol=1e-5, floor=1e-3, seed=0):
    r"""Check a backward pass you derived yourself, written as plain numpy: the exercise tool.

    ``forward(*arrays)`` computes $S$ from numpy arrays; ``backward(S_bar, *arrays)`` returns
    your adjoints, one per input (a tuple, or one array for one input). With a random upstream
    gradient $\bar S$ (or the one given), your adjoints are compared with central differences
    of $\ell = \sum \bar S \odot S$. Returns the per-input verdicts; raises GradientCheckError
    naming the wrong input, the worst element and both values there.

    Example: ``check_derivation(lambda X, Y: X / Y, lambda S_bar, X, Y: (S_bar / Y, -S_bar * X / Y**2), X, Y)``
    """
    check_settings(h=h, tol=tol, floor=floor)
    arrays = float64_inputs(inputs)
    S = np.asarray(forward(*arrays))
    upstream = random_upstream(S.shape, seed) if upstream is None else check_upstream(upstream, S.shape)
    yours = backward(upstream, *arrays)
    yours = yours if isinstance(yours, (tuple, list)) else (yours,)
    if len(yours) != len(arrays):
        raise ValueError(f"check_derivation: backward returned {len(yours)} adjoints for {len(arrays)} inputs")
    yours = [np.asarray(bar) for bar in yours]
    for i, (bar, X) in enumerate(zip(yours, arrays)):
        if bar.dtype != np.float64:
            raise TypeError(
                f"check_derivation: your adjoint of input {i} has dtype {bar.dtype}; gradient checks run in "
                "float64, and converting it would hide the rounding it already suffered"
            )
        if bar.shape != X.shape:
            raise GradientCheckError(
                f"check_derivation: your adjoint of input {i} has shape {bar.shape}, but input {i} has "
                f"shape {X.shape}; an adjoint always has its tensor's shape"
            )
    numeric = central_difference(lambda *t: Tensor(forward(*(x.value for x in t))), *arrays, upstream=upstream, h=h)
    return report(
        "check_derivation",
        compare(yours, numeric, tol, floor),
        "yours",
        "central difference",
        f"tolerance {tol:g} in relative error with floor {floor:g}; central differences, h = {h:g}; float64",
    )


@dataclass
class GradientReport:
    """The verdicts of both witnesses on one function: central differences and torch."""

    central: list
    torch: list

    def __repr__(self):
        lines = ["central differences (check_backward):"]
        lines += [v.describe("backward", "central difference") for v in self.central]
        lines += ["PyTorch autograd (check_against_torch):"]
        lines += [v.describe("nabla", "torch") for v in self.torch]
        return "\n".join(lines)


def check_gradients(f, torch_f, *inputs, upstream=None, seed=0):
    r"""Both witnesses at once, with one upstream gradient $\bar S$: the check every chapter runs.

    Raises GradientCheckError if nabla's gradients disagree with central differences
    (:func:`check_backward`) or with PyTorch (:func:`check_against_torch`); otherwise returns a
    :class:`GradientReport`, which prints as the per-input worst errors of each.
    """
    return GradientReport(
        central=check_backward(f, *inputs, upstream=upstream, seed=seed),
        torch=check_against_torch(f, torch_f, *inputs, upstream=upstream, seed=seed),
    )


def away_from_zero(rng, shape, low=0.5, high=2.0):
    """Random float64 entries with magnitude in [low, high] and a random sign.

    For checking ops with a kink or a pole at 0 (ReLU, |x|, division): central differences
    straddling the kink, or near the pole, measure something other than the derivative.
    """
    check_settings(low=low, high=high)
    if low > high:
        raise ValueError(f"away_from_zero: low = {low!r} is above high = {high!r}")
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)
