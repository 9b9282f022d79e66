r"""Optimizers with torch.optim's interface, acting on nabla tensors' ``.grad``.

``SGD`` (with momentum and Nesterov), ``Adagrad``, ``RMSprop`` and ``Adam`` take the same
arguments, under the same names, as their ``torch.optim`` namesakes and make the same updates,
so a reader can swap one for the other; tests/test_optim.py checks them step by step against
torch in float64. Each ``step()`` updates the parameters' ``.value`` in place (a parameter
stays the same tensor) and skips a parameter whose ``.grad`` is None.

Every update rule is written with the book's names: $\theta$ the parameter (``p``), $g$ its
gradient, $\eta$ the learning rate (``lr``). Derived in the optimizers chapter.
"""

from __future__ import annotations

import numpy as np

from nabla.engine import Tensor


class Optimizer:
    """Holds the parameters and, for each, the state its update rule keeps between steps."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a nabla Tensor")
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: the learning rate must be >= 0, got lr = {lr}")
        self.lr = lr
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        """Forget every parameter's gradient (``backward()`` adds into ``.grad``)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                # Counted per parameter, as torch does: a parameter skipped at a step (no
                # gradient) has taken one step fewer, and its bias correction must know it.
                state["t"] = state.get("t", 0) + 1
                self.update(p.value, p.grad, state)

    def update(self, p, g, state):
        raise NotImplementedError  # an abstract method: each optimizer defines its rule


def check_range(name, value, low, high, optimizer):
    if not low <= value < high:
        raise ValueError(f"{optimizer}: {name} must lie in [{low}, {high}), got {name} = {value}")


class SGD(Optimizer):
    r"""Stochastic gradient descent, with momentum and Nesterov momentum as in torch.optim.SGD.

    $g \leftarrow g + \lambda\theta$ (weight decay); with momentum $\mu > 0$ the velocity
    $b \leftarrow \mu b + (1 - \tau) g$ (the first step sets $b = g$), and the step direction
    is $b$, or $g + \mu b$ for Nesterov; then $\theta \leftarrow \theta - \eta \cdot$ direction.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        check_range("momentum", momentum, 0.0, 1.0, "SGD")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got {momentum} and {dampening}")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def update(self, p, g, state):
        g = g + self.weight_decay * p
        if self.momentum:
            if "b" not in state:
                state["b"] = g.copy()
            else:
                state["b"] = self.momentum * state["b"] + (1 - self.dampening) * g
            g = g + self.momentum * state["b"] if self.nesterov else state["b"]
        p -= self.lr * g


class Adagrad(Optimizer):
    r"""AdaGrad: $s \leftarrow s + g^2$, $\theta \leftarrow \theta - \eta\, g / (\sqrt s + \epsilon)$.

    The accumulated $s$ only grows, so every parameter's effective step $\eta/\sqrt s$ only shrinks.
    """

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, lr)
        self.lr_decay, self.weight_decay = lr_decay, weight_decay
        self.initial_accumulator_value, self.eps = initial_accumulator_value, eps

    def update(self, p, g, state):
        g = g + self.weight_decay * p
        state.setdefault("s", np.full_like(p, self.initial_accumulator_value))
        state["s"] += g * g
        lr = self.lr / (1 + (state["t"] - 1) * self.lr_decay)
        p -= lr * g / (np.sqrt(state["s"]) + self.eps)


class RMSprop(Optimizer):
    r"""RMSProp: $v \leftarrow \alpha v + (1 - \alpha) g^2$, $\theta \leftarrow \theta - \eta\, g / (\sqrt v + \epsilon)$.

    A leaky average instead of AdaGrad's sum, so the step size can recover. ``centered``
    divides by the estimated standard deviation instead; ``momentum`` keeps a velocity of the steps.
    """

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, lr)
        check_range("alpha", alpha, 0.0, 1.0, "RMSprop")
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered

    def update(self, p, g, state):
        g = g + self.weight_decay * p
        v = state["v"] = self.alpha * state.get("v", 0.0) + (1 - self.alpha) * g * g
        if self.centered:
            m = state["m"] = self.alpha * state.get("m", 0.0) + (1 - self.alpha) * g
            v = v - m * m
        direction = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            direction = state["b"] = self.momentum * state.get("b", 0.0) + direction
        p -= self.lr * direction


class Adam(Optimizer):
    r"""Adam: moments $m \leftarrow \beta_1 m + (1-\beta_1) g$, $v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
    bias-corrected $\hat m = m / (1 - \beta_1^t)$, $\hat v = v / (1 - \beta_2^t)$, and
    $\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$.

    ``bias_correction=False`` (not a torch argument) drops the correction, to show why it is
    there: $m$ and $v$ start at 0 and are biased towards 0 for the first $\sim 1/(1-\beta)$ steps.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, bias_correction=True):
        super().__init__(params, lr)
        for i, beta in enumerate(betas):
            check_range(f"betas[{i}]", beta, 0.0, 1.0, "Adam")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.bias_correction = bias_correction

    def update(self, p, g, state):
        beta1, beta2 = self.betas
        g = g + self.weight_decay * p
        m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
        if self.bias_correction:
            m_hat, v_hat = m / (1 - beta1 ** state["t"]), v / (1 - beta2 ** state["t"])
        else:
            m_hat, v_hat = m, v
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
