"""``python -m nabla.experiments NAME --scale full|budget``: run an experiment, write its CSV.

The results go to ``results/NAME-SCALE.csv`` at the repository root (``--out DIR`` to write
elsewhere), with a provenance header; see :mod:`nabla.experiments`.
"""

from __future__ import annotations

import argparse
import sys

from nabla.experiments import NAMES, SCALE_NAMES, default_path, experiment, save_results


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m nabla.experiments",
        description="Run an experiment of Part III and write its results (CSV with a provenance header).",
    )
    parser.add_argument("name", help=f"the experiment: {', '.join(NAMES)}")
    parser.add_argument("--scale", default="budget", help="full (the course's settings) or budget (default: budget)")
    parser.add_argument("--out", default=None, help="the folder to write NAME-SCALE.csv into (default: results/)")
    parser.add_argument("--passes", type=int, default=None, help="override the number of passes of every run")
    parser.add_argument("--seed", type=int, default=None, help="override the seed (data subset, initialisation, sampling)")
    parser.add_argument("--data-root", default=None, help="the data root (default: NABLA_DATA or data/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: a bar when stderr is a terminal)")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    if args.name not in NAMES:
        sys.exit(f"error: no experiment {args.name!r}; the experiments are {', '.join(NAMES)}")
    if args.scale not in SCALE_NAMES:
        sys.exit(f"error: no scale {args.scale!r}; the scales are full and budget")
    if args.passes is not None and args.passes < 1:
        sys.exit(f"error: --passes must be >= 1, got {args.passes}")
    progress = not args.no_progress and sys.stderr.isatty()
    result = experiment(args.name).run(
        scale=args.scale, progress=progress, root=args.data_root, passes=args.passes, seed=args.seed
    )
    path = default_path(args.name, args.scale)
    if args.out is not None:
        path = type(path)(args.out) / path.name
    command = " ".join(["python -m nabla.experiments", *argv])
    save_results(result, path, command)
    print(f"{args.name} ({args.scale}): {result['seconds']:.1f} s; summary: {result['summary']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
