r"""The course's own width sweep, re-run in torch in float32 and in float64 (chapter 15, book/width.md).

book/width.md trains its widths with nabla in float64, and finds width 32 on the edge of
interpolation: it interpolates in some seeds and misses by an image or so in others. The course
(HW2) found width 128 the smallest that interpolates, in one torch run in float32 (torch's
default). This experiment re-runs the course's setting to tell chance, precision and setting apart:

* the course's data: the 12 % of FashionMNIST's training images that ``np.random.seed(1)``,
  ``np.random.choice(60000, 7200, replace=False)`` draws (:func:`course_subset`), standardised
  per pixel with the subset's mean and standard deviation + 1e-6
  (:func:`nabla.data.flatten_and_standardize`), the test set mapped the same way;
* the course's network and training: 784 -> H -> 10 with ReLU, weights $10^{-6} z$ with
  $z \sim N(0, 1)$ and biases 0, mean cross-entropy, SGD at lr 5e-3 (the course's
  $\eta^*/2$), one example per step drawn with replacement, 7200 steps a pass, 120 passes. The
  step is torch autograd with ``torch.optim.SGD`` (``step="autograd"``) or the same step derived
  by hand in torch ops (``step="hand"``, :func:`hand_step`, the full run's: autograd's overhead
  per update is several times the arithmetic at B = 1, book/width.md);
* each run's draws come from one ``torch.Generator`` seeded with its torch seed (the course's
  ``torch.manual_seed(0)`` is seed 0): first the initial weights, in float64, then the examples.
  So a run in float32 and a run in float64 of the same width and seed start from the same
  weights (rounded to float32) and step on the same examples in the same order: they differ in
  precision only, and two seeds of one precision differ by chance only.

After every pass the whole training subset and the test set are measured. With
``stop_at_interpolation`` a run stops after its first pass with training accuracy exactly 1 (its
*interpolation pass*, the only number the chapter reads from a run that gets there); a run that
never gets there trains all ``epochs`` passes.

``seed`` is the numpy seed of the subset (the course's ``np.random.seed(1)``), ``seeds`` the
torch seeds of the runs, ``dtypes`` the precisions. ``full`` runs width 32 only, the edge, for
torch seeds 0-3 (a run of 120 passes took minutes of a shared machine's time); more commands
(:data:`MORE_RUNS`: ``--set seeds=[4,5,6,7]``, ``--set widths=[128]``, ``[16]``) run the same settings for
more seeds or another width, each into its own file; the chapter reads them all with
:func:`full_results_all`.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from nabla import data
from nabla.experiments import _results
from nabla.experiments._results import Result
from nabla.experiments._settings import CLASSES, settings_for
from nabla.experiments._torch import epoch_batches, evaluate, torch_session
from nabla.train import RECORD_KEYS

CHAPTER = "width"  # the chapter that shows this experiment (nabla.experiments.chapter)
DTYPES = {"float32": torch.float32, "float64": torch.float64}

COMMON = {"dataset": "fashion_mnist", "seed": 1, "batch_size": 1, "lr": 0.005, "init_scale": 1e-6,
          "dtypes": ["float32", "float64"], "stop_at_interpolation": True, "step": "hand", "threads": 1}

SCALES = {
    "full": {**COMMON, "widths": [32], "seeds": [0, 1, 2, 3], "fraction": 0.12, "test_size": None, "epochs": 120},
    "budget": {**COMMON, "widths": [32], "seeds": [0, 1], "fraction": 0.02, "test_size": 2000, "epochs": 20},
    "smoke": {**COMMON, "widths": [8], "seeds": [0], "fraction": 0.004, "test_size": 200, "epochs": 2},
}


def course_subset(n, fraction, seed):
    """The rows the course trains on: ``np.random.seed(seed); np.random.choice(n, round(fraction * n), replace=False)``, in its order.

    (The legacy ``np.random`` functions draw from one ``RandomState``; this one is seeded alike
    and leaves the global state alone.)
    """
    return np.random.RandomState(seed).choice(n, round(fraction * n), replace=False)


def load(settings, root=None):
    """The course's split: its subset of FashionMNIST, standardised per pixel, and the test set (or a seeded ``test_size`` of it)."""
    images, labels = data.load_fashion_mnist(train=True, root=root)
    rows = course_subset(len(images), settings["fraction"], settings["seed"])
    test_images, test_labels = data.load_fashion_mnist(train=False, root=root)
    if settings["test_size"] is not None:
        keep = np.sort(np.random.default_rng(settings["seed"]).choice(len(test_images), settings["test_size"], replace=False))
        test_images, test_labels = test_images[keep], test_labels[keep]
    X_train, X_test = data.flatten_and_standardize(images[rows], test_images)
    return data.Split(X_train, labels[rows], X_test, test_labels, "test")


class CourseMLP(torch.nn.Module):
    r"""$\mathrm{relu}(X W_1 + b_1) W_2 + b_2$ with $W_1$ (D, H) and $W_2$ (H, C), as the course writes its network."""

    def __init__(self, W1, W2):
        super().__init__()
        self.W1, self.W2 = torch.nn.Parameter(W1), torch.nn.Parameter(W2)
        self.b1 = torch.nn.Parameter(torch.zeros(W1.shape[1], dtype=W1.dtype))
        self.b2 = torch.nn.Parameter(torch.zeros(W2.shape[1], dtype=W2.dtype))

    def forward(self, X):
        return torch.relu(X @ self.W1 + self.b1) @ self.W2 + self.b2


def course_mlp(D, H, seed, dtype, scale=1e-6):
    """A fresh :class:`CourseMLP` D -> H -> 10 in ``dtype`` and the generator its run goes on drawing examples from.

    The weights are ``scale`` times standard normal draws made in float64 from a generator seeded
    with ``seed``, then rounded to ``dtype``: both precisions start from the same network.
    """
    generator = torch.Generator().manual_seed(seed)
    W1, W2 = (scale * torch.randn(shape, generator=generator, dtype=torch.float64) for shape in ((D, H), (H, CLASSES)))
    return CourseMLP(W1.to(DTYPES[dtype]), W2.to(DTYPES[dtype])), generator


def hand_step(model, x, label, lr):
    r"""One SGD step of ``model`` (a :class:`CourseMLP`) on one example x (D,) of class ``label``, in place, derived by hand.

    The step autograd and ``torch.optim.SGD`` take, written out as in nabla's fast path
    (:func:`nabla.fastpath.per_example_stepper`, book/width.md): three to six times cheaper
    than autograd at B = 1, which is what makes the full run affordable.
    """
    W1, b1, W2, b2 = model.W1, model.b1, model.W2, model.b2
    z = x @ W1 + b1
    a = torch.relu(z)
    l_bar = torch.softmax(a @ W2 + b2, 0)
    l_bar[label] -= 1  # eq. cross-entropy-backward, N = 1: p - e_y
    z_bar = (W2 @ l_bar) * (z > 0)  # eq. matmul-x and eq. relu-backward, from W2 before it changes
    W2.addr_(a, l_bar, alpha=-lr)  # eq. matmul-w: a l_bar^T
    b2.add_(l_bar, alpha=-lr)  # eq. matmul-bias
    W1.addr_(x, z_bar, alpha=-lr)
    b1.add_(z_bar, alpha=-lr)


def train_run(split, width, seed, dtype, settings):
    """One run of the course's training: its records, one per pass (pass 0: untrained).

    ``split`` holds torch tensors in ``dtype``. Each record has the keys of
    :data:`nabla.train.RECORD_KEYS` and ``distinct``, the number of different examples the pass
    stepped on (None for pass 0): with replacement, about $1 - 1/e$ of them.
    """
    X, y, X_eval, y_eval = split
    n = len(X)
    model, generator = course_mlp(X.shape[1], width, seed, dtype, settings["init_scale"])
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"])
    records, steps, start = [], 0, time.perf_counter()

    def record(epoch, distinct):
        train = evaluate(model, X, y)
        test = evaluate(model, X_eval, y_eval)
        records.append({**dict(zip(RECORD_KEYS, (epoch, steps, steps * settings["batch_size"], *train, *test,
                                                 time.perf_counter() - start))), "distinct": distinct})
        return math.isfinite(train[0]) and not (settings["stop_at_interpolation"] and train[1] == 1.0)

    going, epoch = record(0, None), 0
    labels = y.tolist()
    while going and epoch < settings["epochs"]:
        epoch += 1
        order = torch.cat(epoch_batches(n, 1, "replacement", generator)).tolist()
        model.train()
        if settings["step"] == "autograd":
            for i in order:
                loss = F.cross_entropy(model(X[i : i + 1]), y[i : i + 1])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        else:
            with torch.no_grad():
                for i in order:
                    hand_step(model, X[i], labels[i], settings["lr"])
        steps += len(order)
        going = record(epoch, len(set(order)))
    return records


def interpolation_pass(records):
    """The first pass with training accuracy exactly 1, or None."""
    return next((r["epoch"] for r in records if r["train_accuracy"] == 1.0), None)


def run(scale="budget", progress=False, root=None, split=None, **overrides):
    r"""Train every width, torch seed and precision of the scale; a :class:`~nabla.experiments.Result`.

    ``records``: one dict per run and pass, ``width``, ``seed`` (torch), ``dtype`` and ``lr``,
    then the keys of :data:`nabla.train.RECORD_KEYS` and ``distinct``. ``summary``:
    ``interpolation`` {dtype: {width: {seed: pass or None}}}. ``split`` (a
    :class:`nabla.data.Split` of float64 arrays) skips loading the course's data.
    """
    from tqdm import tqdm

    settings = settings_for(SCALES, scale, overrides)
    for dtype in settings["dtypes"]:
        if dtype not in DTYPES:
            raise ValueError(f"width_course: each of dtypes must be 'float32' or 'float64', got {dtype!r} in {settings['dtypes']!r}")
    if settings["step"] not in ("hand", "autograd"):
        raise ValueError(f"width_course: step must be 'hand' or 'autograd', got {settings['step']!r}")
    if not 0 < settings["init_scale"] < math.inf:
        raise ValueError(f"width_course: init_scale must be a finite number > 0, got {settings['init_scale']!r}")
    if settings["batch_size"] != 1:
        raise ValueError(f"width_course: the course steps on one example at a time; batch_size must be 1, got {settings['batch_size']!r}")
    start = time.perf_counter()
    split = split if split is not None else load(settings, root)
    records, interpolation = [], {dtype: {str(H): {} for H in settings["widths"]} for dtype in settings["dtypes"]}
    grid = [(H, seed, dtype) for H in settings["widths"] for seed in settings["seeds"] for dtype in settings["dtypes"]]
    with torch_session(settings["threads"]):
        tensors = {dtype: (torch.as_tensor(split.X_train, dtype=DTYPES[dtype]), torch.as_tensor(split.y_train),
                           torch.as_tensor(split.X_eval, dtype=DTYPES[dtype]), torch.as_tensor(split.y_eval))
                   for dtype in settings["dtypes"]}
        for H, seed, dtype in tqdm(grid, desc="width_course", unit="run", disable=not progress):
            run_records = train_run(tensors[dtype], H, seed, dtype, settings)
            records += [{"width": H, "seed": seed, "dtype": dtype, "lr": settings["lr"], **r} for r in run_records]
            interpolation[dtype][str(H)][str(seed)] = interpolation_pass(run_records)
    summary = {"interpolation": interpolation}
    return Result("width_course", scale, settings, summary, records, time.perf_counter() - start, split.eval_set)


# More full-scale commands run the same settings with one changed, each into its own file
# (results/width_course-full-seeds=4,5,6,7.csv, ...): the first file stays valid, and the
# chapter reads them all with :func:`full_results_all`.
MORE_RUNS = ({"seeds": [4, 5, 6, 7]}, {"widths": [128]}, {"widths": [16]})


def more_command(overrides):
    """The command that writes the full-scale file of ``overrides``: ``... --scale full --set seeds=[4,5,6,7]``."""
    return _results.full_command("width_course") + "".join(
        f" --set {key}={json.dumps(value, separators=(',', ':'))}" for key, value in overrides.items())


def full_results_all():
    """The full run and the runs of :data:`MORE_RUNS` as one :class:`Result`: the records together, the
    interpolation passes merged, ``settings["widths"]`` and ``settings["seeds"]`` every width and seed run.

    Each file must have been written by its command with today's full settings (the first as
    :func:`nabla.experiments.full_results` checks); a file from another command or other
    settings is a ValueError. Without the first file: None, with a note saying how to make it;
    without another: the others, with a note.
    """
    result = _results.full_results("width_course", SCALES)
    if result is None:
        return None
    settings, summary = dict(result.settings), {"interpolation": result.summary["interpolation"]}
    records, seconds = list(result.records), result.seconds
    for overrides in MORE_RUNS:
        command, path = more_command(overrides), _results.default_path("width_course", "full", overrides)
        if not path.exists():
            print(f"results/{path.name} is not in this copy of the book, so its runs are left out.\nMake it with:  {command}")
            continue
        header, more = _results.load_results(path)
        expected = {"command": command, "settings": {**SCALES["full"], **overrides}}
        found = {**header, "command": _results._what_it_computes(header.get("command", ""))}
        wrong = {key: header.get(key) for key, value in expected.items() if found.get(key) != value}
        if wrong:
            raise ValueError(f"results/{path.name} was not written by `{command}` with today's settings: {wrong}; run it again")
        records, seconds = records + more, seconds + header["wall_time_s"]
        for key in ("widths", "seeds"):
            settings[key] = settings[key] + [v for v in header["settings"][key] if v not in settings[key]]
        for dtype, by_width in header["summary"]["interpolation"].items():
            for H, by_seed in by_width.items():
                summary["interpolation"][dtype][H] = {**summary["interpolation"][dtype].get(H, {}), **by_seed}
    return Result("width_course", "full", settings, summary, records, seconds, result.eval_set, result.header)


# ---- the chapter's figure ------------------------------------------------------------------

PRECISION_STYLES = {"float32": "-", "float64": ":"}


def precision_curves(frame, n):
    """Training images misclassified against passes, one panel per width, one colour per torch seed, a line style per
    precision (``frame``: the records of :func:`run`; ``n``: the training images); ``(fig, axes)``.

    The y axis is linear below 1 and logarithmic above (symlog), so that 0, interpolation, is on it.
    """
    from nabla.plotting import white_figure

    widths = sorted(frame["width"].unique())
    fig, axes = white_figure(ncols=len(widths), figsize=(11, 4.2), sharex=True, sharey=True, squeeze=False)
    for ax, H in zip(axes[0], widths):
        for k, (seed, runs) in enumerate(frame[frame["width"] == H].groupby("seed")):
            for dtype, style in PRECISION_STYLES.items():
                one = runs[runs["dtype"] == dtype]
                ax.plot(one["epoch"], (1 - one["train_accuracy"]) * n, style, color=f"C{k}", linewidth=1.4,
                        label=f"seed {seed}, {dtype}")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"width $H = {H}$")
        ax.set_xlabel("passes over the training set")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("training images misclassified")
    # One legend, of the panel with the most lines, below the panels: no panel has room for it.
    handles = max((ax.get_legend_handles_labels() for ax in axes[0]), key=lambda hl: len(hl[0]))
    fig.tight_layout(rect=(0, 0.24, 1, 1))
    fig.legend(*handles, fontsize=7, ncol=4, loc="lower center")
    return fig, axes[0]
