"""nabla.train: fit's two samplings, its one record schema, test-mode measurement, divergence, bad input."""

import math

import numpy as np
import pytest

from nabla import Tensor, nn, ops, optim, train
from nabla.data import Split
from nabla.fastpath import FusedSGD

D, C = 784, 10


def random_problem(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), rng.integers(0, C, n)


def mlp(width=8, seed=0, sizes=None):
    return nn.MLP(sizes or [D, width, C], rng=np.random.default_rng(seed))


# ---- the records ---------------------------------------------------------------------------


@pytest.mark.parametrize("sampling, B, per_epoch, examples", [("permutation", 16, 4, 50), ("replacement", 16, 3, 48),
                                                              ("replacement", 1, 50, 50), ("permutation", 50, 1, 50)])
def test_one_record_per_epoch_with_the_schemas_keys(sampling, B, per_epoch, examples):
    X, y = random_problem(50)
    model = mlp()
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.05), Split(X, y, X[:10], y[:10], "validation"), epochs=3,
                    batch_size=B, sampling=sampling)
    assert [tuple(r) for r in run.records] == [train.RECORD_KEYS] * 4
    assert [r["epoch"] for r in run.records] == [0, 1, 2, 3]
    assert [r["steps"] for r in run.records] == [0, per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert [r["examples"] for r in run.records] == [0, examples, 2 * examples, 3 * examples]
    assert run.eval_set == "validation" and train.updates_per_epoch(50, B, sampling) == per_epoch
    assert run.records[-1]["eval_accuracy"] == train.evaluate(model, X[:10], y[:10])[1]
    assert [r["seconds"] for r in run.records] == sorted(r["seconds"] for r in run.records)


def test_without_an_evaluation_set_the_eval_columns_are_nan():
    X, y = random_problem(20)
    model = mlp()
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.05), Split(X, y), epochs=1, batch_size=5)
    assert run.eval_set is None and math.isnan(run.records[-1]["eval_loss"]) and math.isnan(run.records[-1]["eval_accuracy"])


def test_permutation_epochs_make_one_optimizer_step_per_minibatch_of_a_seeded_permutation():
    X, y = random_problem(50)
    model, twin = mlp(), mlp()
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), Split(X, y, X[:10], y[:10], "test"),
                    epochs=2, batch_size=16, seed=3)
    # the same updates by hand: epochs of a permutation from the seed, minibatches of 16, 16, 16, 2
    sgd, rng, losses = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9), np.random.default_rng(3), []
    for _ in range(2):
        permutation = rng.permutation(50)
        for begin in range(0, 50, 16):
            batch = permutation[begin : begin + 16]
            sgd.zero_grad()
            loss = ops.cross_entropy(twin(Tensor(X[batch])), y[batch])
            loss.backward()
            sgd.step()
            losses.append(loss.item())
    assert run.minibatch_losses == losses
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    assert run.records[-1]["train_loss"] == pytest.approx(train.evaluate(model, X, y)[0])
    assert run.minibatch_loss_per_epoch() == [None, pytest.approx(np.mean(losses[:4])), pytest.approx(np.mean(losses[4:]))]
    assert not run.diverged


def test_replacement_passes_draw_round_n_over_b_batches_of_b_with_replacement():
    rng = np.random.default_rng(0)
    batches = train.minibatches(rng, 100, 1, "replacement")
    assert len(batches) == 100 and all(len(b) == 1 for b in batches)
    indices = np.array(batches).ravel()
    assert indices.min() >= 0 and indices.max() < 100
    assert len(np.unique(indices)) < 100  # with replacement: about 1/e of the examples are missed
    assert np.array_equal(indices, np.random.default_rng(0).integers(0, 100, size=(100, 1)).ravel())  # the draw of record
    counts = np.bincount(np.array(train.minibatches(np.random.default_rng(1), 100_000, 1, "replacement")).ravel() % 10, minlength=10)
    assert np.all(np.abs(counts / 100_000 - 0.1) < 0.01)  # uniform
    for n, B, updates in [(100, 4, 25), (10, 3, 3), (7, 2, 4), (5, 5, 1)]:
        assert np.array(train.minibatches(np.random.default_rng(0), n, B, "replacement")).shape == (updates, B)


def test_permutation_epochs_see_every_example_once():
    batches = train.minibatches(np.random.default_rng(2), 10, 4, "permutation")
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert sum(batches, []) == np.random.default_rng(2).permutation(10).tolist()


def test_the_same_seed_gives_the_same_run():
    X, y = random_problem(20)

    def loss_curve(seed):
        run = train.fit(mlp(4), FusedSGD(0.01), Split(X, y), epochs=2, batch_size=1, sampling="replacement", seed=seed)
        return [r["train_loss"] for r in run.records]

    assert loss_curve(7) == loss_curve(7) != loss_curve(8)


def test_fit_measures_in_test_mode_and_leaves_the_model_training():
    class Probe(nn.Module):
        def __init__(self):
            self.linear = nn.Linear(D, C, rng=np.random.default_rng(0))
            self.modes = []

        def forward(self, X):
            self.modes.append(self.training)
            return self.linear(X)

    X, y = random_problem(20)
    model = Probe()
    train.fit(model, optim.SGD(model.parameters(), lr=0.1), Split(X, y), epochs=1, batch_size=10)
    # record(0) on the training set, two training minibatches, record(1): eval, train, train, eval
    assert model.modes == [False, True, True, False]
    assert model.training


def test_any_nabla_model_trains():
    X, y = random_problem(40)
    model = nn.MLP([D, 8, 6, C], activation=ops.tanh, rng=np.random.default_rng(0))
    run = train.fit(model, optim.SGD(model.parameters(), lr=0.05), Split(X, y), epochs=3, batch_size=1, sampling="replacement")
    assert run.records[-1]["train_loss"] < run.records[0]["train_loss"]


# ---- interpolation and divergence ------------------------------------------------------------


def test_interpolation_is_the_first_epoch_with_full_training_accuracy():
    records = [{"epoch": p, "train_accuracy": a} for p, a in enumerate([1.0, 0.5, 0.99, 1.0, 0.98, 1.0])]
    assert train.interpolation_epoch(records) == 3  # epoch 0 (before training) does not count
    assert train.interpolation_epoch(records[:3]) is None


def test_a_wide_network_interpolates_a_small_set_and_a_narrow_one_does_not():
    X, y = random_problem(30)
    run = train.fit(mlp(64), FusedSGD(0.01), Split(X, y), epochs=20, batch_size=1, sampling="replacement")
    first = next(r["epoch"] for r in run.records if r["train_accuracy"] == 1.0)
    assert run.interpolation == first and all(r["train_accuracy"] < 1 for r in run.records[1:first])
    X, y = random_problem(200)
    assert train.fit(mlp(1), FusedSGD(1e-3), Split(X, y), epochs=2, batch_size=1, sampling="replacement").interpolation is None


def test_training_stops_at_a_non_finite_minibatch_loss():
    X, y = random_problem(40)
    model = mlp()
    run = train.fit(model, optim.SGD(model.parameters(), lr=1e200), Split(X, y), epochs=5, batch_size=4)
    assert run.diverged and len(run.records) < 6
    assert not math.isfinite(run.minibatch_losses[-1]) and run.records[-1]["steps"] == len(run.minibatch_losses)


def test_training_stops_at_a_non_finite_training_loss():
    X, y = random_problem(40)
    run = train.fit(mlp(), FusedSGD(1e6), Split(X, y), epochs=20, batch_size=1, sampling="replacement")
    assert run.diverged and len(run.records) < 21 and not math.isfinite(run.records[-1]["train_loss"])


# ---- evaluation --------------------------------------------------------------------------------


def test_evaluate_is_mean_cross_entropy_and_accuracy():
    L = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    y = np.array([0, 1])
    loss, accuracy = train.cross_entropy_and_accuracy(L, y)
    expected = -np.mean([2 - np.log(np.exp(2) + 2), 0 - np.log(2 + np.exp(5))])
    assert loss == pytest.approx(expected, rel=1e-14) and accuracy == 0.5
    assert np.isfinite(train.cross_entropy_and_accuracy(np.array([[1e308, -1e308]]), np.array([0]))[0])
    assert math.isnan(train.cross_entropy_and_accuracy(np.array([[np.nan, 0.0]]), np.array([0]))[0])
    model = mlp()
    X, y = random_problem(5000)
    assert train.evaluate(model, X, y)[0] == pytest.approx(ops.cross_entropy(model(Tensor(X)), y).item(), rel=1e-12)


# ---- bad input -------------------------------------------------------------------------------


def fit_one_epoch(X, y, **kwargs):
    model = mlp(4)
    return train.fit(model, optim.SGD(model.parameters(), lr=0.1), Split(X, y), **{"epochs": 1, "batch_size": 4, **kwargs})


@pytest.mark.parametrize("B", [0, -1, 2.5, True])
def test_bad_batch_size_is_refused(B):
    X, y = random_problem(10)
    with pytest.raises(ValueError, match="batch size B must be an integer >= 1"):
        fit_one_epoch(X, y, batch_size=B)


def test_bad_input_is_refused_with_a_message_that_names_it():
    X, y = random_problem(20)
    with pytest.raises(ValueError, match="larger than the 20 training examples"):
        fit_one_epoch(X, y, batch_size=21)
    with pytest.raises(ValueError, match=r"labels y have shape \(19,\) but features X have shape \(20, 784\)"):
        fit_one_epoch(X, y[:19])
    with pytest.raises(TypeError, match="features X must be floating point, got dtype int64"):
        fit_one_epoch(X.astype(np.int64), y)
    with pytest.raises(TypeError, match="integer class indices"):
        fit_one_epoch(X, y.astype(float))
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got 1.5"):
        fit_one_epoch(X, y, epochs=1.5)
    with pytest.raises(ValueError, match="sampling must be 'permutation' or 'replacement'"):
        fit_one_epoch(X, y, sampling="bootstrap")
    model = mlp(4)
    with pytest.raises(ValueError, match=r"validation: examples of shape \(5,\) but training examples of shape \(784,\)"):
        train.fit(model, optim.SGD(model.parameters(), lr=0.1), Split(X, y, X[:, :5], y, "validation"), epochs=1, batch_size=4)
    with pytest.raises(TypeError, match="the data must be a nabla.data.Split, got tuple"):
        train.fit(model, optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1)
    with pytest.raises(TypeError, match="optimizer must be an optimizer of nabla.optim"):
        train.fit(model, 0.1, Split(X, y), epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="X_eval, y_eval and eval_set go together"):
        Split(X, y, X, y)
    with pytest.raises(ValueError, match="eval_set must be one of"):
        Split(X, y, X, y, "holdout")
