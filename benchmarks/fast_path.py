r"""Time one per-example SGD step (B = 1) of a 784 -> H -> 10 ReLU MLP, four ways, for several widths H.

* **fast**: ``nabla.fastpath.per_example_stepper``, the backward pass derived in the book, fused by
  hand in numpy, parameters updated in place, $W_1$ and $W_2$ by rank-1 BLAS updates (dger,
  through ``scipy.linalg.blas``);
* **fast_numpy**: the same step with the rank-1 update written in plain numpy
  (``W += np.multiply.outer(alpha * x, g)``), for comparison: what dger saves;
* **torch**: torch autograd in float64: forward, ``cross_entropy``, ``backward()``, an in-place
  update under ``no_grad``;
* **nabla**: nabla's autograd: forward, ``cross_entropy``, ``backward()``, an in-place update
  (:func:`nabla_step`).

Each repeat times ``steps`` consecutive steps on examples drawn with replacement from 1000
dense standard-normal rows (like standardised pixels) and divides by ``steps``; the methods take
turns within each repeat, so a slow spell of the machine hits all of them. Reported: the median
and interquartile range (25th to 75th percentile) of the per-step time over the repeats, and
the ratios torch / fast and nabla / fast of the medians.

**The memory bound at width 512.** A step must read $W_1$ (784 x 512 float64, 3.2 MB) in the
forward pass and read and write it in the update: at least 3 x 3.2 MB moved. Divided by a
measured bandwidth that is a lower bound on the step's time. Two bandwidths are measured, each
as 2 x bytes / time of ``np.copyto`` (read + write): of a 256 MB array (main memory) and of an
array the size of $W_1$ (which fits in this CPU's caches, where $W_1$ lives during training).
The report gives bound / measured step time for both: the fraction of the bound the fast path reaches.

Run from the repository root (under a minute on an idle machine):

    python benchmarks/fast_path.py                # writes benchmarks/results/fast_path.json
    python benchmarks/fast_path.py --repeats 5    # quicker, noisier

Threads: one, for every method (``torch.set_num_threads(1)``, and every OpenBLAS, numpy's and
scipy's, through ``threadpoolctl.threadpool_limits``, as ``nabla.train.fit`` does for its steps): a step at B = 1 is
a few small operations, which two threads do not speed up, and which they slow down many times
over when another process holds a core. The bandwidths are measured with one thread too. Timings vary from machine to machine and from run to run; nothing asserts on them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import threadpoolctl
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import nabla as nb
from nabla import fastpath, nn
from nabla.experiments import cpu_name

RESULTS = Path(__file__).resolve().parent / "results" / "fast_path.json"
WIDTHS = (8, 16, 32, 64, 128, 512)
METHODS = ("fast", "fast_numpy", "torch", "nabla")
D, C, POOL = 784, 10, 1000


class TorchMLP:
    """The same network in torch, float64, trained by autograd."""

    def __init__(self, model):
        self.params = [torch.tensor(p.value, requires_grad=True) for p in model.parameters()]

    def step(self, x, y, lr):
        W1, b1, W2, b2 = self.params
        loss = torch.nn.functional.cross_entropy(torch.relu(x @ W1 + b1) @ W2 + b2, y)
        loss.backward()
        with torch.no_grad():
            for p in self.params:
                p -= lr * p.grad
                p.grad = None


def make_steppers(width, rng, lr):
    """{method: function(i) doing one step on example i} for one width, all from the same start."""
    X = rng.standard_normal((POOL, D))
    y = rng.integers(0, C, POOL)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    fast, fast_numpy, nabla_model = (nn.MLP([D, width, C], rng=np.random.default_rng(0)) for _ in range(3))
    torch_model = TorchMLP(fast)

    fast_step = fastpath.per_example_stepper(fast, X, y)
    fast_numpy_stepper = fastpath.per_example_stepper(fast_numpy, X, y)

    def fast_numpy_step(i):
        dger, fastpath.dger = fastpath.dger, numpy_dger  # the step looks dger up when it runs
        try:
            fast_numpy_stepper(i, lr)
        finally:
            fastpath.dger = dger

    return {
        "fast": lambda i: fast_step(i, lr),
        "fast_numpy": fast_numpy_step,
        "torch": lambda i: torch_model.step(X_t[i : i + 1], y_t[i : i + 1], lr),
        "nabla": lambda i: nabla_step(nabla_model, X[i : i + 1], y[i : i + 1], lr),
    }


def nabla_step(model, X, y, lr):
    """One SGD step of a nabla model by nabla's autograd: forward, loss, ``backward()``, an in-place update."""
    loss = nb.cross_entropy(model(nb.Tensor(X)), y)
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.value -= lr * p.grad


def numpy_dger(alpha, x, y, a, overwrite_a):
    r"""scipy's ``dger(alpha, x, y, a=a, overwrite_a=True)`` in plain numpy: $a \leftarrow a + \alpha\, x y^\top$."""
    W = a.T  # C-ordered, like the model's W: adding a C-ordered outer product to it streams memory in order
    np.add(W, np.multiply.outer(alpha * y, x), out=W)
    return a


def time_steps(step, indices):
    start = time.perf_counter()
    for i in indices:
        step(i)
    return (time.perf_counter() - start) / len(indices)


def bandwidth(nbytes, repeats):
    """Bytes per second of ``np.copyto`` on an array of ``nbytes`` (read + write counted): the median over repeats."""
    source = np.ones(nbytes // 8)
    target = np.empty_like(source)
    np.copyto(target, source)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - start)
    return 2 * source.nbytes / float(np.median(times))


def summary(seconds):
    q25, median, q75 = np.percentile(np.asarray(seconds) * 1e6, [25, 50, 75])
    return {"median": median, "q25": q25, "q75": q75}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed blocks per method and width (default 21)")
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block (default 200)")
    parser.add_argument("--out", default=str(RESULTS), help="the results file (default benchmarks/results/fast_path.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    lr = 1e-3
    with threadpool_limits(limits=1, user_api="blas"):
        return measure(args, argv, rng, lr)


def measure(args, argv, rng, lr):
    rows = []
    for width in WIDTHS:
        steppers = make_steppers(width, rng, lr)
        per_method = {m: [] for m in METHODS}
        for m in METHODS:  # warm up: first calls allocate, fill caches, load kernels
            for i in range(20):  # noqa: B007
                steppers[m](i)
        for _ in range(args.repeats):
            for m in METHODS:
                steps = args.steps if m != "nabla" else max(20, args.steps // 4)
                per_method[m].append(time_steps(steppers[m], rng.integers(0, POOL, steps)))
        row = {"width": width}
        row.update({f"{m}_us": summary(per_method[m]) for m in METHODS})
        row["torch_over_fast"] = row["torch_us"]["median"] / row["fast_us"]["median"]
        row["nabla_over_fast"] = row["nabla_us"]["median"] / row["fast_us"]["median"]
        row["fast_numpy_over_fast"] = row["fast_numpy_us"]["median"] / row["fast_us"]["median"]
        rows.append(row)
        print(
            f"width {width:4d}: fast {row['fast_us']['median']:8.1f} us, fast_numpy {row['fast_numpy_us']['median']:8.1f} us, "
            f"torch {row['torch_us']['median']:8.1f} us, nabla {row['nabla_us']['median']:8.1f} us; "
            f"torch/fast {row['torch_over_fast']:5.1f}x, nabla/fast {row['nabla_over_fast']:5.1f}x",
            flush=True,
        )

    W1_bytes = D * 512 * 8
    moved = 3 * W1_bytes  # read in the forward pass, read and write in the update
    fast_512 = next(r for r in rows if r["width"] == 512)["fast_us"]["median"]
    memory = {"W1_bytes": W1_bytes, "bytes_moved_per_step": moved, "fast_step_us": fast_512}
    for name, nbytes in (("main_memory", 256 * 2**20), ("in_cache", W1_bytes)):
        bw = bandwidth(nbytes, repeats=21 if name == "main_memory" else 501)
        bound = moved / bw * 1e6
        memory[name] = {"copy_bytes": nbytes, "bandwidth_GB_per_s": bw / 1e9, "bound_us": bound, "fraction_of_bound": bound / fast_512}
        print(f"memory bound at width 512 ({name}, {bw / 1e9:.1f} GB/s): {bound:.1f} us; fast path {fast_512:.1f} us = {bound / fast_512:.2f} of the bound")

    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]  # inside the one-thread limit
    result = {
        "provenance": {
            "command": " ".join(["python benchmarks/fast_path.py", *(argv if argv is not None else sys.argv[1:])]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "threadpoolctl": threadpoolctl.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "openblas_threads": max(info["num_threads"] for info in blas),
            "blas_libraries": [f"{Path(info['filepath']).name} {info['version']}" for info in blas],
            "rank1_update": "OpenBLAS dger via scipy.linalg.blas (scipy's bundled OpenBLAS)",
            "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpu": cpu_name(),
            "cpu_count": os.cpu_count(),
        },
        "settings": {"B": 1, "D": D, "C": C, "dtype": "float64", "repeats": args.repeats, "steps_per_repeat": args.steps,
                     "nabla_steps_per_repeat": max(20, args.steps // 4), "lr": lr, "seed": 0},
        "per_step_us": rows,
        "memory_bound_width_512": memory,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
