"""nabla.experiments._torch: the one torch training loop, its records, sampling, transforms and helpers."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import noisy_clusters
from nabla.data import Split
from nabla.experiments._torch import (
    Normalize,
    as_torch,
    epoch_batches,
    evaluate,
    fit_torch,
    torch_session,
    transform_each,
)
from nabla.train import RECORD_KEYS


@pytest.fixture(scope="module")
def clusters():
    """90 training and 30 test rows of ten clusters in 784 dimensions, as a Split of numpy float64 arrays."""
    return Split(*noisy_clusters(90, 30, spread=0.5), eval_set="test")


def linear_model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(784, 10)


def fit(split, seed=0, lr=0.05, **options):
    model = linear_model()
    options = {"epochs": 3, "batch_size": 8, **options}
    return fit_torch(model, torch.optim.SGD(model.parameters(), lr=lr), split, seed=seed, **options)


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_records_have_the_schema_of_nablas_loop(clusters):
    records = fit(clusters)
    assert [tuple(r) for r in records] == [RECORD_KEYS] * 4
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    assert [r["steps"] for r in records] == [0, 12, 24, 36]  # ceil(90 / 8) = 12 updates an epoch
    assert [r["examples"] for r in records] == [0, 90, 180, 270]  # every example once an epoch
    assert records[-1]["train_loss"] < records[0]["train_loss"] and records[-1]["eval_accuracy"] > 0.5
    replacement = fit(clusters, sampling="replacement", epochs=2)
    assert [(r["steps"], r["examples"]) for r in replacement] == [(0, 0), (11, 88), (22, 176)]  # round(90 / 8) = 11 updates of 8
    alone = fit(Split(clusters.X_train, clusters.y_train), epochs=1)  # no evaluation set: NaN
    assert math.isnan(alone[-1]["eval_loss"]) and math.isnan(alone[-1]["eval_accuracy"])


def test_the_same_seed_gives_the_same_run(clusters):
    for sampling in ("permutation", "replacement"):
        first, again = fit(clusters, sampling=sampling), fit(clusters, sampling=sampling)
        assert without_seconds(first) == without_seconds(again)
        assert without_seconds(fit(clusters, sampling=sampling, seed=1)) != without_seconds(first)
    # Numpy arrays or tensors: the same records.
    assert without_seconds(fit(as_torch(clusters))) == without_seconds(fit(clusters))


def test_a_permutation_epoch_draws_the_batches_a_shuffling_sampler_draws():
    from torch.utils.data import BatchSampler, RandomSampler

    sampler = BatchSampler(RandomSampler(range(10), generator=torch.Generator().manual_seed(3)), 4, drop_last=False)
    ours = epoch_batches(10, 4, "permutation", torch.Generator().manual_seed(3))
    assert [batch.tolist() for batch in ours] == list(sampler)  # [[...4], [...4], [...2]]
    with_replacement = epoch_batches(10, 4, "replacement", torch.Generator().manual_seed(3))
    assert [len(batch) for batch in with_replacement] == [4, 4]  # round(10 / 4) batches of B


def test_training_stops_at_interpolation(clusters):
    records = fit(clusters, lr=0.5, epochs=50, stop_at_interpolation=True)
    assert len(records) < 51 and records[-1]["train_accuracy"] == 1.0
    assert all(r["train_accuracy"] < 1.0 for r in records[:-1])
    assert len(fit(clusters, lr=0.5, epochs=len(records) + 2)) == len(records) + 3  # without the flag it goes on


def test_on_epoch_sees_every_record_the_batch_loss_and_the_last():
    calls = []

    def on_epoch(model, record, batch_loss, last):
        calls.append((record["epoch"], batch_loss, last))
        record["extra"] = record["epoch"] * 10

    split = Split(*noisy_clusters(40, 10), eval_set="validation")
    records = fit(split, epochs=2, on_epoch=on_epoch)
    assert [r["extra"] for r in records] == [0, 10, 20]
    assert [(epoch, last) for epoch, _, last in calls] == [(0, False), (1, False), (2, True)]
    assert math.isnan(calls[0][1]) and all(math.isfinite(loss) and loss > 0 for _, loss, _ in calls[1:])


def test_a_transform_is_drawn_for_every_image_from_a_seed_of_the_epoch(clusters):
    seen = []

    def jitter(x):  # a random transform of one example, drawing from torch's global generator
        seen.append(x.shape)
        return x + 0.1 * torch.randn(x.shape)

    torch.manual_seed(1)
    first = fit(clusters, transform=jitter, epochs=2)
    assert seen == [(784,)] * 180  # one call per example and epoch, each on one example
    torch.manual_seed(2)  # whatever the global state before, the epochs draw the same
    assert without_seconds(fit(clusters, transform=jitter, epochs=2)) == without_seconds(first)
    # The transform reaches the minibatches only: at epoch 0 both runs measure the same model.
    plain = fit(clusters, epochs=2)
    assert first[0] | {"seconds": 0} == plain[0] | {"seconds": 0}
    assert first[1]["train_loss"] != plain[1]["train_loss"]
    images = torch.stack([torch.zeros(1, 2, 2)] * 3)
    out = transform_each(lambda x: x + torch.rand(1), images)
    assert out.shape == images.shape and len({round(v, 6) for v in out[:, 0, 0, 0].tolist()}) == 3  # a new draw per image


def test_evaluate_is_mean_cross_entropy_and_accuracy_in_eval_mode(clusters):
    X, y = as_torch(clusters).X_eval, as_torch(clusters).y_eval
    model = nn.Sequential(nn.Dropout(0.5), linear_model())
    model.train()
    loss, accuracy = evaluate(model, X, y, chunk=7)  # chunks of 7: 30 = 4 * 7 + 2
    L = model[1](X)
    assert not model.training  # dropout off while measuring
    assert loss == pytest.approx(nn.functional.cross_entropy(L, y).item(), rel=1e-6)
    assert accuracy == (L.argmax(1) == y).double().mean().item()


def test_bad_arguments_are_refused(clusters):
    with pytest.raises(ValueError, match="sampling must be 'permutation' or 'replacement'"):
        fit(clusters, sampling="shuffle")
    with pytest.raises(ValueError, match="batch size B = 100 is larger than the 90"):
        fit(clusters, batch_size=100)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        fit(clusters, epochs=-1)


def test_normalize_is_totensor_then_normalize():
    transforms = pytest.importorskip("torchvision.transforms")
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    X = torch.from_numpy(images / 255.0).float().unsqueeze(1)  # what nabla.data.split(standardize="none") gives
    mean, std = X.mean().item(), X.std().item()
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    assert torch.equal(Normalize(mean, std)(X), torch.stack([pipeline(image) for image in images]))


def test_a_session_restores_the_thread_count_and_the_random_state():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with torch_session(1):
        assert torch.get_num_threads() == 1
        torch.rand(100)
    assert torch.equal(torch.rand(3), expected) and torch.get_num_threads() == threads
