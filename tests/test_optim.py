"""nabla.optim against torch.optim, step by step in float64, and against hand-made vectors."""

import numpy as np
import pytest
import torch

import nabla as nb
from nabla import optim

SETTINGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
]


def loss_nabla(W, b, X, y):
    return nb.cross_entropy(nb.tanh(nb.Tensor(X) @ W + b), y)


def loss_torch(W, b, X, y):
    return torch.nn.functional.cross_entropy(torch.tanh(torch.from_numpy(X) @ W + b), torch.from_numpy(y))


@pytest.mark.parametrize("name, kwargs", SETTINGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SETTINGS)])
def test_twenty_steps_match_torch_optim(name, kwargs):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    W0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(3)
    ours = [nb.Tensor(W0.copy()), nb.Tensor(b0.copy())]
    theirs = [torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    our_optimizer = getattr(optim, name)(ours, **kwargs)
    their_optimizer = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(20):
        our_optimizer.zero_grad()
        loss_nabla(*ours, X, y).backward()
        our_optimizer.step()
        their_optimizer.zero_grad()
        loss_torch(*theirs, X, y).backward()
        their_optimizer.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.value, q.detach().numpy(), rtol=1e-12, atol=1e-12)


def step_once(optimizer_class, g, steps=1, **kwargs):
    p = nb.Tensor(np.zeros_like(g))
    optimizer = optimizer_class([p], **kwargs)
    for _ in range(steps):
        p.grad = g.copy()
        optimizer.step()
    return p.value


def test_hand_made_vectors():
    g = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(step_once(optim.SGD, g, lr=0.1), -0.1 * g)
    # momentum 0.5, two steps of the same g: b = g, then b = 1.5 g; moved 0.1 (g + 1.5 g)
    np.testing.assert_allclose(step_once(optim.SGD, g, 2, lr=0.1, momentum=0.5), -0.25 * g)
    # Adagrad's first step is lr * sign(g) (g / |g|), whatever |g| is
    np.testing.assert_allclose(step_once(optim.Adagrad, g, lr=0.1), -0.1 * np.sign(g), rtol=1e-9)
    # Adam's first bias-corrected step is lr * sign(g) too
    np.testing.assert_allclose(step_once(optim.Adam, g, lr=0.1), -0.1 * np.sign(g), rtol=1e-6)


def test_adam_without_bias_correction_takes_a_different_first_step():
    g = np.array([1.0, -2.0, 0.5])
    # m = 0.1 g, v = 0.001 g^2: the step is 0.1 / sqrt(0.001) = 3.16 times the corrected one
    step = step_once(optim.Adam, g, lr=0.1, bias_correction=False)
    np.testing.assert_allclose(step, -0.1 * 0.1 / np.sqrt(0.001) * np.sign(g), rtol=1e-6)


def test_adagrad_steps_only_shrink():
    p = nb.Tensor(np.zeros(1))
    optimizer = optim.Adagrad([p], lr=1.0)
    moves = []
    for g in [1.0, 0.1, 5.0, 1.0]:
        before = p.value.copy()
        p.grad = np.array([g])
        optimizer.step()
        moves.append(abs((p.value - before)[0]) / g)  # the effective step size eta / sqrt(s)
    assert all(a > b for a, b in zip(moves, moves[1:]))


def test_a_parameter_without_a_gradient_is_left_alone():
    p, q = nb.Tensor(np.ones(2)), nb.Tensor(np.ones(2))
    p.grad = np.ones(2)
    optim.SGD([p, q], lr=0.5).step()
    np.testing.assert_array_equal(q.value, [1.0, 1.0])
    np.testing.assert_array_equal(p.value, [0.5, 0.5])


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty list of parameters"),
        (lambda p: optim.SGD([np.ones(2)], lr=0.1), TypeError, "SGD: parameter 0 is a ndarray, not a nabla Tensor"),
        (lambda p: optim.Adam([p], lr=-1.0), ValueError, r"Adam: the learning rate must be >= 0, got lr = -1.0"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum > 0"),
        (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\] must lie in \[0.0, 1.0\), got betas\[1\] = 1.0"),
        (lambda p: optim.RMSprop([p], alpha=1.5), ValueError, r"RMSprop: alpha must lie in \[0.0, 1.0\)"),
    ],
)
def test_bad_settings_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make(nb.Tensor(np.ones(2)))


@pytest.mark.parametrize("name, kwargs", [("Adam", {"lr": 0.1}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.5})])
def test_steps_are_counted_per_parameter_as_in_torch(name, kwargs):
    # b has no gradient at the first step: its bias correction (or decay) must start later.
    ours = [nb.Tensor(np.ones(2)), nb.Tensor(np.ones(2))]
    theirs = [torch.ones(2, dtype=torch.float64, requires_grad=True), torch.ones(2, dtype=torch.float64, requires_grad=True)]
    our_optimizer, their_optimizer = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(3):
        g = np.array([0.5, -1.0]) * (step + 1)
        ours[0].grad, theirs[0].grad = g.copy(), torch.tensor(g)
        ours[1].grad = None if step == 0 else g.copy()
        theirs[1].grad = None if step == 0 else torch.tensor(g)
        our_optimizer.step()
        their_optimizer.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.value, q.detach().numpy(), rtol=1e-12)
