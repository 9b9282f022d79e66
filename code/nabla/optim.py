r"""Optimizers with torch.optim's interface, acting on nabla tensors' ``.grad``.

``SGD`` (with momentum and Nesterov), ``Adagrad``, ``RMSprop`` and ``Adam`` take the same
arguments, under the same names, as their ``torch.optim`` namesakes, make the same updates and
keep the same state: ``optimizer.state[p]`` is a dict for parameter ``p`` (the tensor itself is
the key; a nabla Tensor, like a torch one, hashes by identity) with torch's names,
``momentum_buffer``, ``sum``, ``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq`` and
``step``. ``state_dict()`` and ``load_state_dict()`` save and restore it, parameters by index,
so a run can be resumed exactly. tests/test_optim.py checks updates and state step by step
against torch in float64. Each ``step()`` updates the parameters' ``.value`` in place (a
parameter stays the same tensor) and skips a parameter whose ``.grad`` is None.

Every argument is checked as torch checks it, and a little more (an infinite learning rate, a
momentum of 1 or more): a bad one raises an error that names it and its value.

Every update rule is written with the book's names: $\theta$ the parameter (``p``), $g$ its
gradient, $\eta$ the learning rate (``lr``). Derived in book/optimizers.md.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from nabla.engine import ShapeError, Tensor


def check_number(optimizer, name, value, low, high=math.inf, closed=False):
    """``value`` if it is a finite real number in [low, high) ([low, high] if ``closed``), else a TypeError or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: {name} must be a number, got {name} = {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and (low <= value < high or (closed and value == high))):
        where = f"a finite number >= {low}" if high == math.inf else f"in [{low}, {high}{']' if closed else ')'}"
        raise ValueError(f"{optimizer}: {name} must be {where}, got {name} = {value!r}")
    return value


def check_flag(optimizer, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{optimizer}: {name} must be True or False, got {name} = {value!r} ({type(value).__name__})")
    return value


class Optimizer:
    """Holds the parameters, the hyperparameters, and for each parameter the state its update rule keeps between steps."""

    def __init__(self, params, **hyperparameters):
        name = type(self).__name__
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty list of parameters")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a nabla Tensor")
        if len({id(p) for p in self.params}) < len(self.params):
            raise ValueError(f"{name}: a parameter appears more than once in the list (its state would be kept twice)")
        self.hyperparameters = tuple(hyperparameters)
        self.set_hyperparameters(hyperparameters)
        self.state = {}  # {parameter: {name: value}}, filled at a parameter's first step

    def set_hyperparameters(self, hyperparameters):
        for key, value in hyperparameters.items():
            setattr(self, key, value)
        self.check()

    def check(self):
        raise NotImplementedError  # each optimizer checks its own hyperparameters

    def zero_grad(self):
        """Forget every parameter's gradient (``backward()`` adds into ``.grad``)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        for p in self.params:
            if p.grad is not None:
                self.update(p.value, p.grad, self.state.setdefault(p, {}))

    def update(self, p, g, state):
        raise NotImplementedError  # an abstract method: each optimizer defines its rule

    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{hyperparameter: value, "params": [0, 1, ...]}]}``, as torch's.

        Parameters are named by their index in the list the optimizer was built with; the
        arrays are copies, so later steps do not change a saved state.
        """
        index = {id(p): i for i, p in enumerate(self.params)}
        state = {index[id(p)]: {key: np.copy(value) if isinstance(value, np.ndarray) else value for key, value in s.items()}
                 for p, s in self.state.items() if s}  # as torch, no entry for a parameter with nothing to keep
        group = {key: getattr(self, key) for key in self.hyperparameters}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict):
        """Take the hyperparameters and state of ``state_dict`` (from :meth:`state_dict` of an optimizer of this kind).

        The structure is checked first (one group, as many parameters as this optimizer has, the
        hyperparameters and state names of this optimizer, arrays of each parameter's shape); a
        mismatch raises and leaves this optimizer as it was.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict: expected a dict with the keys 'state' and 'param_groups', got "
                             f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__}")
        groups = state_dict["param_groups"]
        if not isinstance(groups, list) or len(groups) != 1:
            raise ValueError(f"{name}.load_state_dict: expected one parameter group, got {len(groups) if isinstance(groups, list) else groups!r}")
        group = dict(groups[0])
        indices = group.pop("params", None)
        if indices != list(range(len(self.params))):
            raise ValueError(f"{name}.load_state_dict: the state is of {len(indices) if isinstance(indices, list) else indices!r} "
                             f"parameters, this optimizer has {len(self.params)}")
        if set(group) != set(self.hyperparameters):
            raise ValueError(f"{name}.load_state_dict: the hyperparameters are {sorted(group)}, a {name} has {sorted(self.hyperparameters)}")
        state = {}
        for i, saved in state_dict["state"].items():
            if not (isinstance(i, int) and 0 <= i < len(self.params)):
                raise ValueError(f"{name}.load_state_dict: state of parameter {i!r}, but the parameters are 0..{len(self.params) - 1}")
            unknown = set(saved) - set(self.STATE)
            if unknown:
                raise ValueError(f"{name}.load_state_dict: parameter {i} has state {sorted(unknown)}; a {name} keeps {list(self.STATE)}")
            if saved and "step" in self.STATE and "step" not in saved:
                raise ValueError(f"{name}.load_state_dict: parameter {i} has state {sorted(saved)} but no 'step'")
            p, state[self.params[i]] = self.params[i], {}
            for key, value in saved.items():
                if key == "step":
                    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                        raise ValueError(f"{name}.load_state_dict: state[{i}]['step'] must be an int >= 1, got {value!r}")
                    state[p][key] = int(value)
                    continue
                value = np.array(value, dtype=np.float64)  # a copy, so the saved state stays as it was
                if value.shape != p.value.shape:
                    raise ShapeError(f"{name}.load_state_dict: state[{i}][{key!r}] has shape {value.shape}, "
                                     f"but parameter {i} has shape {p.value.shape}")
                state[p][key] = value
        old = {key: getattr(self, key) for key in self.hyperparameters}
        try:
            self.set_hyperparameters(group)
        except (TypeError, ValueError):
            self.set_hyperparameters(old)
            raise
        self.state = state


class SGD(Optimizer):
    r"""Stochastic gradient descent, with momentum and Nesterov momentum as in torch.optim.SGD.

    $g \leftarrow g + \lambda\theta$ (weight decay); with momentum $\mu > 0$ the velocity
    $v \leftarrow \mu v + (1 - \tau) g$ (the first step sets $v = g$), and the step direction
    is $v$, or $g + \mu v$ for Nesterov; then $\theta \leftarrow \theta - \eta \cdot$ direction.
    State: ``momentum_buffer`` ($v$), with momentum only.
    """

    STATE = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)

    def check(self):
        check_number("SGD", "lr", self.lr, 0)
        # A momentum of 1 or more never forgets a gradient: the velocity grows without bound.
        check_number("SGD", "momentum", self.momentum, 0, 1)
        check_number("SGD", "dampening", self.dampening, 0, 1, closed=True)
        check_number("SGD", "weight_decay", self.weight_decay, 0)
        if check_flag("SGD", "nesterov", self.nesterov) and (self.momentum == 0 or self.dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, "
                             f"got momentum = {self.momentum} and dampening = {self.dampening}")

    def update(self, p, g, state):
        g = g + self.weight_decay * p
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                state["momentum_buffer"] = self.momentum * state["momentum_buffer"] + (1 - self.dampening) * g
            v = state["momentum_buffer"]  # the velocity
            g = g + self.momentum * v if self.nesterov else v
        p -= self.lr * g


class Adagrad(Optimizer):
    r"""AdaGrad: $s \leftarrow s + g^2$, $\theta \leftarrow \theta - \eta\, g / (\sqrt s + \epsilon)$.

    The accumulated $s$ only grows, so every parameter's effective step $\eta/\sqrt s$ only
    shrinks. State: ``sum`` ($s$) and ``step`` ($t$).
    """

    STATE = ("step", "sum")

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def check(self):
        for name in self.hyperparameters:
            check_number("Adagrad", name, getattr(self, name), 0)

    def update(self, p, g, state):
        state["step"] = state.get("step", 0) + 1
        g = g + self.weight_decay * p
        state.setdefault("sum", np.full_like(p, self.initial_accumulator_value))
        state["sum"] += g * g
        lr = self.lr / (1 + (state["step"] - 1) * self.lr_decay)
        p -= lr * g / (np.sqrt(state["sum"]) + self.eps)


class RMSprop(Optimizer):
    r"""RMSProp: $r \leftarrow \alpha r + (1 - \alpha) g^2$, $\theta \leftarrow \theta - \eta\, g / (\sqrt r + \epsilon)$.

    A leaky average instead of AdaGrad's sum, so the step size can recover. ``centered``
    divides by the estimated standard deviation instead; ``momentum`` keeps a velocity of the
    steps. State: ``square_avg`` ($r$), ``grad_avg`` (centred only), ``momentum_buffer`` (with
    momentum only) and ``step``.
    """

    STATE = ("step", "square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)

    def check(self):
        for name in ("lr", "eps", "weight_decay"):
            check_number("RMSprop", name, getattr(self, name), 0)
        check_number("RMSprop", "alpha", self.alpha, 0, 1)
        check_number("RMSprop", "momentum", self.momentum, 0, 1)
        check_flag("RMSprop", "centered", self.centered)

    def update(self, p, g, state):
        state["step"] = state.get("step", 0) + 1
        g = g + self.weight_decay * p
        r = state["square_avg"] = self.alpha * state.get("square_avg", 0.0) + (1 - self.alpha) * g * g
        if self.centered:
            m = state["grad_avg"] = self.alpha * state.get("grad_avg", 0.0) + (1 - self.alpha) * g
            r = r - m * m
        direction = g / (np.sqrt(r) + self.eps)
        if self.momentum:
            direction = state["momentum_buffer"] = self.momentum * state.get("momentum_buffer", 0.0) + direction
        p -= self.lr * direction


class Adam(Optimizer):
    r"""Adam: moments $m \leftarrow \beta_1 m + (1-\beta_1) g$, $r \leftarrow \beta_2 r + (1-\beta_2) g^2$,
    bias-corrected $\hat m = m / (1 - \beta_1^t)$, $\hat r = r / (1 - \beta_2^t)$, and
    $\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat r} + \epsilon)$.

    ``bias_correction=False`` (not a torch argument) drops the correction, to show why it is
    there: $m$ and $r$ start at 0 and are biased towards 0 for the first $\sim 1/(1-\beta)$ steps.
    State: ``exp_avg`` ($m$), ``exp_avg_sq`` ($r$) and ``step`` ($t$).
    """

    STATE = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, bias_correction=True):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, bias_correction=bias_correction)

    def check(self):
        for name in ("lr", "eps", "weight_decay"):
            check_number("Adam", name, getattr(self, name), 0)
        if not isinstance(self.betas, (tuple, list)):
            raise TypeError(f"Adam: betas must be a pair (beta_1, beta_2), got betas = {self.betas!r} ({type(self.betas).__name__})")
        if len(self.betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta_1, beta_2), got betas = {self.betas!r} of length {len(self.betas)}")
        for i, beta in enumerate(self.betas):
            check_number("Adam", f"betas[{i}]", beta, 0, 1)
        check_flag("Adam", "bias_correction", self.bias_correction)

    def update(self, p, g, state):
        t = state["step"] = state.get("step", 0) + 1
        beta1, beta2 = self.betas
        g = g + self.weight_decay * p
        m = state["exp_avg"] = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
        r = state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
        if self.bias_correction:
            m_hat, r_hat = m / (1 - beta1**t), r / (1 - beta2**t)
        else:
            m_hat, r_hat = m, r
        p -= self.lr * m_hat / (np.sqrt(r_hat) + self.eps)
