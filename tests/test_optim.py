"""nabla.optim against torch.optim, step by step in float64: the updates, the state, state_dict; hand-made vectors; bad arguments."""

import copy

import numpy as np
import pytest
import torch

import nabla as nb
from nabla import optim
from nabla.engine import ShapeError

# Every option of every optimizer, alone and together.
SETTINGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SETTINGS)]


def loss_nabla(W, b, X, y):
    return nb.cross_entropy(nb.tanh(nb.Tensor(X) @ W + b), y)


def loss_torch(W, b, X, y):
    return torch.nn.functional.cross_entropy(torch.tanh(torch.from_numpy(X) @ W + b), torch.from_numpy(y))


def problem(seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    return X, y, rng.standard_normal((5, 3)), rng.standard_normal(3)


def nabla_steps(optimizer, params, X, y, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_nabla(*params, X, y).backward()
        optimizer.step()


@pytest.mark.parametrize("name, kwargs", SETTINGS, ids=IDS)
def test_twenty_steps_match_torch_optim_in_parameters_and_state(name, kwargs):
    X, y, W0, b0 = problem()
    ours = [nb.Tensor(W0.copy()), nb.Tensor(b0.copy())]
    theirs = [torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    our_optimizer = getattr(optim, name)(ours, **kwargs)
    their_optimizer = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(20):
        nabla_steps(our_optimizer, ours, X, y, 1)
        their_optimizer.zero_grad()
        loss_torch(*theirs, X, y).backward()
        their_optimizer.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.value, q.detach().numpy(), rtol=1e-12, atol=1e-12)
    # The state: the same names, parameter by parameter, and the same values.
    our_state, their_state = our_optimizer.state_dict()["state"], their_optimizer.state_dict()["state"]
    assert set(our_state) == set(their_state)
    for i, p in enumerate(ours):
        assert our_optimizer.state.get(p, {}).keys() == our_state.get(i, {}).keys() == their_state.get(i, {}).keys()
        for key, value in their_state.get(i, {}).items():
            if key == "step":
                assert our_state[i][key] == int(value.item()) == 20
            else:
                np.testing.assert_allclose(our_state[i][key], value.numpy(), rtol=1e-12, atol=1e-12)
    # And the hyperparameters, under torch's names (but Adam's bias_correction, which torch lacks).
    their_group = their_optimizer.state_dict()["param_groups"][0]
    for key, value in our_optimizer.state_dict()["param_groups"][0].items():
        assert key == "bias_correction" or their_group[key] == value, key


@pytest.mark.parametrize("name, kwargs", SETTINGS, ids=IDS)
def test_a_run_resumed_from_its_state_dict_is_the_uninterrupted_run_bitwise(name, kwargs):
    X, y, W0, b0 = problem(1)
    uninterrupted = [nb.Tensor(W0.copy()), nb.Tensor(b0.copy())]
    nabla_steps(getattr(optim, name)(uninterrupted, **kwargs), uninterrupted, X, y, 12)

    first = [nb.Tensor(W0.copy()), nb.Tensor(b0.copy())]
    optimizer = getattr(optim, name)(first, **kwargs)
    nabla_steps(optimizer, first, X, y, 5)
    saved = optimizer.state_dict()
    frozen = copy.deepcopy(saved)
    nabla_steps(optimizer, first, X, y, 3)  # steps after saving must not change what was saved
    for i, state in saved["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, frozen["state"][i][key])

    # A new optimizer, built with other settings, on parameters at the saved point, takes the saved state.
    resumed = [nb.Tensor(W0.copy()), nb.Tensor(b0.copy())]
    nabla_steps(getattr(optim, name)(resumed, **kwargs), resumed, X, y, 5)
    fresh = getattr(optim, name)(resumed, lr=0.5)
    fresh.load_state_dict(saved)
    nabla_steps(fresh, resumed, X, y, 7)
    for p, q in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(p.value, q.value)


def test_state_is_keyed_by_the_parameter_with_torchs_names():
    p, q = nb.Tensor(np.zeros(3)), nb.Tensor(np.zeros(2))
    adam = optim.Adam([p, q], lr=0.1)
    p.grad = np.array([1.0, -2.0, 0.5])
    adam.step()
    assert set(adam.state) == {p} and adam.state[p]["step"] == 1
    np.testing.assert_allclose(adam.state[p]["exp_avg"], 0.1 * p.grad)
    np.testing.assert_allclose(adam.state[p]["exp_avg_sq"], 0.001 * p.grad**2)
    assert adam.state_dict()["state"].keys() == {0}  # q has taken no step


def saved_state(kind=optim.Adam, **kwargs):
    p = nb.Tensor(np.ones((2, 3)))
    optimizer = kind([p], **kwargs)
    p.grad = np.ones((2, 3))
    optimizer.step()
    return optimizer.state_dict()


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda s: s.pop("state"), ValueError, "expected a dict with the keys 'state' and 'param_groups'"),
        (lambda s: s["param_groups"].append(dict(s["param_groups"][0])), ValueError, "expected one parameter group, got 2"),
        (lambda s: s["param_groups"][0].update(params=[0, 1]), ValueError, "the state is of 2 parameters, this optimizer has 1"),
        (lambda s: s["param_groups"][0].pop("eps"), ValueError, "the hyperparameters are"),
        (lambda s: s["param_groups"][0].update(lr=-1.0), ValueError, r"Adam: lr must be a finite number >= 0, got lr = -1.0"),
        (lambda s: s["state"].update({3: {}}), ValueError, r"state of parameter 3, but the parameters are 0..0"),
        (lambda s: s["state"][0].update(momentum_buffer=np.ones((2, 3))), ValueError, r"parameter 0 has state \['momentum_buffer'\]"),
        (lambda s: s["state"][0].pop("step"), ValueError, "but no 'step'"),
        (lambda s: s["state"][0].update(step=0), ValueError, r"state\[0\]\['step'\] must be an int >= 1, got 0"),
        (lambda s: s["state"][0].update(exp_avg=np.ones(6)), ShapeError, r"state\[0\]\['exp_avg'\] has shape \(6,\), but parameter 0 has shape \(2, 3\)"),
    ],
)
def test_load_state_dict_refuses_a_state_of_another_structure(change, error, message):
    p = nb.Tensor(np.ones((2, 3)))
    optimizer = optim.Adam([p], lr=0.01)
    state = saved_state(lr=0.2)
    change(state)
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state)
    assert optimizer.lr == 0.01 and optimizer.state == {}  # left as it was


def test_load_state_dict_refuses_another_optimizers_state():
    with pytest.raises(ValueError, match="the hyperparameters are"):
        optim.Adam([nb.Tensor(np.ones((2, 3)))]).load_state_dict(saved_state(optim.SGD, lr=0.1, momentum=0.9))


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


# Every argument of every optimizer, with a value of the wrong kind and values out of range.
BAD_ARGUMENTS = [
    ("SGD", "lr", [-1.0, float("inf"), float("nan")], "a finite number >= 0"),
    ("SGD", "momentum", [-0.1, 1.0], r"in \[0, 1\)"),
    ("SGD", "dampening", [-0.1, 1.5], r"in \[0, 1\]"),
    ("SGD", "weight_decay", [-0.01, float("inf")], "a finite number >= 0"),
    ("Adagrad", "lr", [-1.0, float("inf")], "a finite number >= 0"),
    ("Adagrad", "lr_decay", [-0.1], "a finite number >= 0"),
    ("Adagrad", "weight_decay", [-0.01], "a finite number >= 0"),
    ("Adagrad", "initial_accumulator_value", [-0.1], "a finite number >= 0"),
    ("Adagrad", "eps", [-1.0, float("inf")], "a finite number >= 0"),
    ("RMSprop", "lr", [-1.0, float("inf")], "a finite number >= 0"),
    ("RMSprop", "alpha", [-0.1, 1.0, 1.5], r"in \[0, 1\)"),
    ("RMSprop", "eps", [-1.0], "a finite number >= 0"),
    ("RMSprop", "weight_decay", [-0.01], "a finite number >= 0"),
    ("RMSprop", "momentum", [-0.1, 1.0], r"in \[0, 1\)"),
    ("Adam", "lr", [-1.0, float("inf")], "a finite number >= 0"),
    ("Adam", "eps", [-1.0, float("nan")], "a finite number >= 0"),
    ("Adam", "weight_decay", [-0.01], "a finite number >= 0"),
]
KINDS = {"SGD": optim.SGD, "Adagrad": optim.Adagrad, "RMSprop": optim.RMSprop, "Adam": optim.Adam}


@pytest.mark.parametrize("name, argument, values, bound", BAD_ARGUMENTS, ids=[f"{n}-{a}" for n, a, _, _ in BAD_ARGUMENTS])
def test_every_argument_out_of_range_is_refused_by_name_and_value(name, argument, values, bound):
    p = nb.Tensor(np.ones(2))
    others = {"lr": 0.1} if argument != "lr" else {}
    for value in values:
        with pytest.raises(ValueError, match=rf"^{name}: {argument} must be {bound}, got {argument} = {value!r}$"):
            KINDS[name]([p], **others, **{argument: value})
    with pytest.raises(TypeError, match=rf"^{name}: {argument} must be a number, got {argument} = '0.1' \(str\)$"):
        KINDS[name]([p], **others, **{argument: "0.1"})


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty list of parameters"),
        (lambda p: optim.SGD([np.ones(2)], lr=0.1), TypeError, "SGD: parameter 0 is a ndarray, not a nabla Tensor"),
        (lambda p: optim.SGD([p, p], lr=0.1), ValueError, "SGD: a parameter appears more than once"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum > 0 and dampening = 0, got momentum = 0.0"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "got momentum = 0.9 and dampening = 0.1"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=1), TypeError, r"SGD: nesterov must be True or False, got nesterov = 1 \(int\)"),
        (lambda p: optim.SGD([p], lr=True), TypeError, r"SGD: lr must be a number, got lr = True \(bool\)"),
        (lambda p: optim.RMSprop([p], centered="yes"), TypeError, "RMSprop: centered must be True or False"),
        (lambda p: optim.Adam([p], bias_correction=None), TypeError, "Adam: bias_correction must be True or False"),
        (lambda p: optim.Adam([p], betas=0.9), TypeError, r"Adam: betas must be a pair \(beta_1, beta_2\), got betas = 0.9 \(float\)"),
        (lambda p: optim.Adam([p], betas=(0.9,)), ValueError, r"Adam: betas must be a pair \(beta_1, beta_2\), got betas = \(0.9,\) of length 1"),
        (lambda p: optim.Adam([p], betas=(0.9, 0.99, 0.999)), ValueError, "of length 3"),
        (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\] must be in \[0, 1\), got betas\[1\] = 1.0"),
        (lambda p: optim.Adam([p], betas=(-0.1, 0.999)), ValueError, r"Adam: betas\[0\] must be in \[0, 1\), got betas\[0\] = -0.1"),
    ],
)
def test_bad_settings_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make(nb.Tensor(np.ones(2)))


def test_a_negative_eps_is_refused_before_it_can_send_the_parameters_to_infinity():
    # With eps = -1 and |g| = 1, Adam's first step would divide by |g| + eps = 0.
    p = nb.Tensor(np.zeros(2))
    with pytest.raises(ValueError, match="Adam: eps must be a finite number >= 0, got eps = -1"):
        optim.Adam([p], lr=0.1, eps=-1)
    np.testing.assert_array_equal(p.value, [0.0, 0.0])


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
