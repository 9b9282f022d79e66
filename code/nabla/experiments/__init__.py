r"""The experiments of Part III, each at two scales, and their results files.

Each experiment is a module with a ``SCALES`` table and a ``run(scale, progress=False, ...)``
that returns a dict: ``records`` (a list of per-pass dicts, one row each, ready for
``pandas.DataFrame`` or a plot), ``summary`` (the numbers the chapter quotes: $\eta^*$, the
interpolation pass of each run) and ``settings``.

* ``budget``: runs inside a chapter of the book (under 120 s on two cores, under 2 GB);
* ``full``: the course material's exact settings where it gives them (larger runs where it does
  not), run from the command line:

      python -m nabla.experiments width --scale full

  which shows a progress bar and writes ``results/width-full.csv`` at the repository root, with a
  provenance header (command, versions, seed, date, CPU, wall time). That command is the only
  writer of full-scale results; a chapter reads them back with :func:`load_results`.

======================  ===============================================  ===========================================
experiment              what it trains                                   chapter
======================  ===============================================  ===========================================
mlp                     nabla MLPs on MNIST: activations, depth,         13 (book/mlp.md)
                        a residual connection, initialisation, momentum
divergent_lr            eta* by search, per batch size; curves at        14 (book/divergent-lr.md)
                        eta*/2, eta* and 2 eta*
width                   widths 8-512 at eta*/2 of width 16, tiny init    15 (book/width.md)
minibatch               B = 1..16, each at its own eta*_B / 2            16 (book/minibatch.md)
optimizers              six optimizers, one MLP, several seeds           17 (book/optimizers.md)
normalization           deep MLPs with and without batch/layer norm      18 (book/normalisation-practice.md)
regularization          dropout keep probabilities, L2 weight decay      19 (book/regularisation.md)
augmentation            a CNN with and without augmentation (torch)      20 (book/augmentation.md)
hyperparameters         a grid of batch size, epochs, learning rate      21 (book/pytorch-apis.md)
                        (torch)
======================  ===============================================  ===========================================
"""

from __future__ import annotations

import csv
import datetime
import importlib
import json
import os
import pkgutil
import platform
from importlib import metadata
from pathlib import Path

import numpy as np

from nabla import data, train

CLASSES = 10  # FashionMNIST and MNIST both have ten classes
# Every module of this package is an experiment: adding one is adding its file.
NAMES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_")))
SCALE_NAMES = ("budget", "full", "smoke")  # "smoke": seconds, for the tests; not advertised

# code/nabla/experiments/__init__.py -> the repository root
RESULTS_DIR = Path(__file__).resolve().parents[3] / "results"


def experiment(name):
    """The module of experiment ``name``, or a ValueError listing the experiments."""
    if name not in NAMES:
        raise ValueError(f"no experiment {name!r}; the experiments are {', '.join(NAMES)}")
    return importlib.import_module(f"nabla.experiments.{name}")


def run(name, scale="budget", progress=False, **overrides):
    """Run experiment ``name`` at ``scale``; the dict its module's ``run`` returns."""
    return experiment(name).run(scale=scale, progress=progress, **overrides)


def settings_for(scales, scale, overrides):
    """The settings of ``scale`` from a module's ``SCALES``, with ``overrides`` (None ones ignored)."""
    if scale not in scales:
        raise ValueError(f"no scale {scale!r}; the scales are {', '.join(s for s in scales if s != 'smoke')}")
    settings = dict(scales[scale])
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in settings:
            raise ValueError(f"unknown setting {key!r}; the settings are {', '.join(settings)}")
        settings[key] = value
    return settings


def load_data(settings, root=None):
    """``X_train, y_train, X_test, y_test`` for an experiment's settings.

    ``dataset``, ``fraction`` and ``seed`` go to :func:`nabla.data.prepare`; ``test_size``, if not
    None, keeps a seeded random subset of the test set (budget scales evaluate on fewer images).
    """
    X_train, y_train, X_test, y_test = data.prepare(settings["dataset"], settings["fraction"], settings["seed"], root)
    if settings.get("test_size"):
        rows = np.sort(np.random.default_rng(settings["seed"]).choice(len(X_test), settings["test_size"], replace=False))
        X_test, y_test = X_test[rows], y_test[rows]
    return X_train, y_train, X_test, y_test


def split_validation(images, labels, settings, standardize):
    """``X_train, y_train, X_val, y_val``: a seeded fraction of the images, a seeded validation part held out.

    ``settings["fraction"]`` of the images are kept (:func:`nabla.data.subsample`, seeded by
    ``settings["seed"]``), then ``settings["validation"]`` of those are held out at random (the
    same seed), and both parts are flattened and standardised with the *training part's*
    statistics, per pixel or globally (``standardize``, as in :func:`nabla.data.prepare`): the
    validation images are mapped as a test set would be. The test set is not touched.
    """
    if standardize not in data.STANDARDIZE:
        raise ValueError(f"split_validation: standardize must be one of {sorted(data.STANDARDIZE)}, got {standardize!r}")
    images, labels = data.subsample(images, labels, settings["fraction"], settings["seed"])
    if not 0 < settings["validation"] < len(images):
        raise ValueError(
            f"split_validation: holding out {settings['validation']} of {len(images)} images leaves "
            f"{len(images) - settings['validation']} to train on; both parts must be non-empty"
        )
    order = np.random.default_rng(settings["seed"]).permutation(len(images))
    val, fit_rows = np.sort(order[: settings["validation"]]), np.sort(order[settings["validation"] :])
    X_train, X_val = data.STANDARDIZE[standardize](images[fit_rows], images[val])
    return X_train, labels[fit_rows], X_val, labels[val]


def search_eta_star(settings, width, batch_size, init, X, y):
    """:func:`nabla.train.find_divergent_lr` for one network and batch size, on (X, y)."""
    sizes = [X.shape[1], width, CLASSES]

    def diverges(lr):
        make_model = lambda: train.init_mlp(sizes, init=init, seed=settings["seed"])  # noqa: E731
        return train.sgd_diverges(make_model, X, y, lr, settings["search_passes"], batch_size, settings["seed"])

    return train.find_divergent_lr(diverges, start=settings["search_start"])


def sweep_batch_sizes(settings, data, factors, progress):
    r"""For each batch size B of ``settings["batch_sizes"]``: search $\eta^*_B$ on the training set,
    then train a fresh MLP at each ``factor`` x $\eta^*_B$; yields ``(B, search, factor, lr, run)``.

    The shared loop of the divergent learning rate (factors 1/2, 1, 2) and minibatching (1/2).
    """
    X_train, y_train = data[:2]
    for B in settings["batch_sizes"]:
        search = search_eta_star(settings, settings["width"], B, settings["init"], X_train, y_train)
        for factor in factors:
            lr = factor * search.eta_star
            yield B, search, factor, lr, train_mlp(settings, settings["width"], B, lr, data, progress, f"B = {B}, {factor} eta*")


def train_mlp(settings, width, batch_size, lr, data, progress, description):
    """Train a fresh one-hidden-layer MLP of ``width`` with the experiment's init, passes and seed."""
    X_train, y_train, X_test, y_test = data
    model = train.init_mlp([X_train.shape[1], width, CLASSES], init=settings["init"], seed=settings["seed"])
    return train.train(
        model, X_train, y_train, X_test, y_test, lr=lr, passes=settings["passes"], batch_size=batch_size,
        seed=settings["seed"], progress=progress, description=description,
    )


def evaluate_torch(model, X, y, chunk):
    """``(mean cross-entropy, accuracy)`` of a torch ``model`` on tensors X (n, ...), y (n,), in eval mode.

    ``chunk`` images at a time, without building a graph; for the torch experiments (chapters 20
    and 21), the counterpart of :func:`nabla.train.evaluate`. Leaves the model in eval mode.
    """
    import torch  # here: the nabla experiments never need torch
    from torch.nn import functional as F

    model.eval()
    loss, right = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(X), chunk):
            L = model(X[start : start + chunk])
            loss += F.cross_entropy(L, y[start : start + chunk], reduction="sum").item()
            right += (L.argmax(dim=1) == y[start : start + chunk]).sum().item()
    return loss / len(X), right / len(X)


# ---- provenance and results files ------------------------------------------------------


def cpu_name():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions():
    found = {"python": platform.python_version()}
    for package in ("numpy", "nabla", "torch", "torchvision", "tqdm"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def provenance(command, seed, seconds):
    """The header of a results file: how, where and when it was made."""
    return {
        "command": command,
        "seed": seed,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(seconds, 2),
        "versions": versions(),
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores)",
        "blas_rank1_update": train.BLAS_ROUTE,
    }


def save_results(result, path, command):
    """Write ``result['records']`` as CSV to ``path``, under a ``# key: json`` header.

    The header holds the provenance (:func:`provenance`), the experiment, scale, settings and
    summary. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"experiment": result["experiment"], "scale": result["scale"]}
    header.update(provenance(command, result["settings"]["seed"], result["seconds"]))
    header["settings"] = result["settings"]
    header["summary"] = result["summary"]
    columns = list(dict.fromkeys(key for record in result["records"] for key in record))
    with open(path, "w", newline="") as file:
        for key, value in header.items():
            file.write(f"# {key}: {json.dumps(value)}\n")
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for record in result["records"]:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in record.items()})
    return path


def _number(text):
    if text == "" or text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def load_results(path):
    """``(header, records)`` of a results file written by :func:`save_results`.

    ``header``: a dict of the ``# key: value`` lines, values decoded from JSON (``summary``,
    ``settings`` and ``versions`` are dicts). ``records``: a list of dicts, numbers as int or float,
    empty cells as None. ``pandas.read_csv(path, comment="#")`` reads the same rows.
    """
    path = Path(path)
    header, lines = {}, []
    with open(path, newline="") as file:
        for line in file:
            if line.startswith("# ") and not lines:
                key, _, value = line[2:].rstrip("\n").partition(": ")
                header[key] = json.loads(value)
            else:
                lines.append(line)
    records = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(lines)]
    return header, records


def default_path(name, scale):
    """Where the command line writes an experiment's results: ``results/NAME-SCALE.csv``."""
    return RESULTS_DIR / f"{name}-{scale}.csv"


def interpolation_by(records, key):
    """``{value of key: first pass with 100 % training accuracy, or None}`` for records of several runs."""
    runs = {}
    for record in records:
        runs.setdefault(record[key], []).append(record)
    return {value: train.interpolation_pass(rows) for value, rows in runs.items()}
