r"""Time batch normalisation's backward pass three ways, at N = 100 examples and D = 500 features.

* **graph**: ``nb.batchnorm_graph``, built from primitive ops; the engine runs one backward
  rule per op (mean, subtract, power, add, power, divide, multiply, add, and the broadcasts);
* **fused**: ``nb.batchnorm``, one op whose backward pass is the closed form derived in
  book/batchnorm.md;
* **torch**: ``torch.nn.functional.batch_norm`` with ``training=True``, float64, one thread.

Each repeat builds the forward pass afresh, then times ``backward`` with a random upstream
gradient (and, separately, forward plus backward); the three methods take turns within each
repeat, so a slow spell of the machine hits all of them. Reported: the median and the
interquartile range (25th to 75th percentile) of each time, and of the per-repeat ratios
graph / fused and torch / fused.

The garbage collector is left alone, as in a training loop. nabla's graphs are reference
cycles (a node points to its output, the output to its node) that only the collector frees,
so when it runs decides how fast freed memory is reused; collecting after every pass hands the
memory back to the system, and the graph's backward pass then runs several times slower still,
on fresh pages.

Run from the repository root:

    python benchmarks/batchnorm_backward.py               # writes benchmarks/results/batchnorm_backward.json
    python benchmarks/batchnorm_backward.py --repeats 100  # quicker, noisier

The results file starts with its provenance: the command, the date, the versions of Python,
numpy and torch, and the machine. Timings vary from machine to machine and from run to run;
nothing asserts on them.
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
import torch

import nabla as nb
from nabla.experiments import cpu_name
from nabla.gradcheck import relative_error

RESULTS = Path(__file__).resolve().parent / "results" / "batchnorm_backward.json"
METHODS = ("graph", "fused", "torch")
PHASES = ("backward", "forward + backward")


def nabla_run(f, X, gamma, beta, Y_bar):
    """(seconds for forward + backward, seconds for backward alone) of one nabla pass."""
    start = time.perf_counter()
    leaves = [nb.Tensor(a) for a in (X, gamma, beta)]
    Y = f(*leaves)
    middle = time.perf_counter()
    Y.backward(Y_bar)
    end = time.perf_counter()
    return end - start, end - middle


def torch_run(X, gamma, beta, Y_bar):
    """(seconds for forward + backward, seconds for backward alone) of one torch pass."""
    start = time.perf_counter()
    leaves = [torch.tensor(a, requires_grad=True) for a in (X, gamma, beta)]
    Y = torch.nn.functional.batch_norm(leaves[0], None, None, leaves[1], leaves[2], training=True, eps=1e-5)
    middle = time.perf_counter()
    Y.backward(Y_bar)
    end = time.perf_counter()
    return end - start, end - middle


def check_agreement(X, gamma, beta, Y_bar):
    """The graph and the fused op must give the same gradients (to 1e-10) before their times mean anything."""
    grads = {}
    for name, f in (("graph", nb.batchnorm_graph), ("fused", nb.batchnorm)):
        leaves = [nb.Tensor(a) for a in (X, gamma, beta)]
        f(*leaves).backward(Y_bar)
        grads[name] = [leaf.grad for leaf in leaves]
    worst = max(float(np.max(relative_error(a, b))) for a, b in zip(grads["graph"], grads["fused"]))
    if worst > 1e-10:
        raise AssertionError(f"graph and fused gradients differ: worst relative error {worst:.1e}")
    return worst


def summary(values):
    """Median and interquartile range of ``values``."""
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75)}


def measure(N=100, D=500, repeats=1000, warmup=20, seed=0):
    """Time the three methods; return the settings, the timings (ms) and the ratios, as a dict."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D)) * rng.uniform(0.5, 3.0, D) + rng.uniform(-3.0, 3.0, D)
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    Y_bar = rng.standard_normal((N, D))
    Y_bar_torch = torch.from_numpy(Y_bar)
    worst = check_agreement(X, gamma, beta, Y_bar)

    runs = {
        "graph": lambda: nabla_run(nb.batchnorm_graph, X, gamma, beta, Y_bar),
        "fused": lambda: nabla_run(nb.batchnorm, X, gamma, beta, Y_bar),
        "torch": lambda: torch_run(X, gamma, beta, Y_bar_torch),
    }
    times = {(m, p): [] for m in METHODS for p in PHASES}
    for repeat in range(warmup + repeats):
        order = METHODS[repeat % 3 :] + METHODS[: repeat % 3]  # take turns going first
        for method in order:
            total, backward = runs[method]()
            if repeat >= warmup:
                times[method, "backward"].append(backward * 1e3)
                times[method, "forward + backward"].append(total * 1e3)

    timings = [{"method": m, "phase": p, **summary(times[m, p])} for p in PHASES for m in METHODS]
    ratios = [
        {"ratio": f"{a} / fused", "phase": p, **summary(np.array(times[a, p]) / np.array(times["fused", p]))}
        for p in PHASES
        for a in ("graph", "torch")
    ]
    settings = {
        "N": N,
        "D": D,
        "dtype": "float64",
        "repeats": repeats,
        "warmup": warmup,
        "seed": seed,
        "graph_vs_fused_worst_relative_error": worst,
    }
    return {"settings": settings, "timings_ms": timings, "ratios": ratios}


def provenance(command):
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }


def markdown_table(results):
    """The timings and the ratios as one Markdown table: median [25th, 75th percentile]."""
    def cell(s, unit=""):
        return f"{s['median']:.3g}{unit} [{s['q25']:.3g}, {s['q75']:.3g}]"

    lines = ["| | " + " | ".join(PHASES) + " |", "| --- | " + " | ".join("---" for _ in PHASES) + " |"]
    for method in METHODS:
        row = {t["phase"]: t for t in results["timings_ms"] if t["method"] == method}
        lines.append(f"| {method} (ms) | " + " | ".join(cell(row[p]) for p in PHASES) + " |")
    for name in ("graph / fused", "torch / fused"):
        row = {r["phase"]: r for r in results["ratios"] if r["ratio"] == name}
        lines.append(f"| {name} | " + " | ".join(cell(row[p], "×") for p in PHASES) + " |")
    return "\n".join(lines)


def html_table(results, caption=""):
    """The table of :func:`markdown_table` as HTML, for a notebook (whose Markdown may have no tables)."""
    rows = [line.strip("|").split("|") for line in markdown_table(results).splitlines()]
    header, body = rows[0], rows[2:]
    html = ["<table>", f"<caption>{caption}</caption>" if caption else ""]
    html.append("<thead><tr>" + "".join(f"<th>{cell.strip()}</th>" for cell in header) + "</tr></thead><tbody>")
    for row in body:
        html.append("<tr>" + "".join(f"<td>{cell.strip()}</td>" for cell in row) + "</tr>")
    html.append("</tbody></table>")
    return "\n".join(html)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--N", type=int, default=100, help="examples in the batch (default 100)")
    parser.add_argument("--D", type=int, default=500, help="features (default 500)")
    parser.add_argument("--repeats", type=int, default=1000, help="timed repeats per method (default 1000)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch's intra-op threads (default 1, as numpy here)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.torch_threads)
    command = " ".join(["python", *sys.argv]) if argv is None else " ".join(["python", __file__, *argv])
    results = {"provenance": provenance(command), **measure(args.N, args.D, args.repeats)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
