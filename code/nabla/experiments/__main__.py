"""``python -m nabla.experiments NAME --scale full|budget``: run an experiment, write its CSV.

The results go to ``results/NAME-SCALE.csv`` at the repository root (``--out DIR`` to write
elsewhere), with a provenance header; see :mod:`nabla.experiments`. A run that changes a setting
(``--epochs 1``, ``--seed 3``, ``--set widths=[8,16]``) writes ``NAME-SCALE-epochs=1.csv``
instead, so it never replaces the results of the scale itself. Every argument is checked before
the run starts: a typo should cost a second, not the hour of a full run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from nabla.experiments import NAMES, SCALE_NAMES, default_path, experiment, save_results, settings_for


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m nabla.experiments",
        description="Run an experiment of Part III and write its results (CSV with a provenance header).",
    )
    parser.add_argument("name", help=f"the experiment: {', '.join(NAMES)}")
    parser.add_argument("--scale", default="budget", help="full (the course's settings) or budget (default: budget)")
    parser.add_argument("--out", default=None, help="the folder to write the CSV into (default: results/)")
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs of every run")
    parser.add_argument("--seed", type=int, default=None, help="override the seed (data subset, initialisation, sampling)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=JSON",
                        help="override any setting, e.g. --set 'widths=[8, 16]' (repeatable)")
    parser.add_argument("--data-root", default=None, help="the data root (default: NABLA_DATA or data/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: a bar when stderr is a terminal)")
    return parser.parse_args(argv)


def overrides_of(args):
    """The settings the arguments change, ``{name: value}``, or a ValueError naming a malformed ``--set``."""
    overrides = {}
    for item in args.set:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. --set epochs=2")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--set {item!r}: the value {text!r} is not JSON ({error.msg})") from None
    for name in ("epochs", "seed"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return overrides


def writable_folder(folder):
    """``folder`` as a Path, created if missing, or a ValueError if a file cannot be written in it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"--out {str(folder)!r}: cannot write a file there ({error.strerror or error})") from None
    return folder


def check(args):
    """Everything about the arguments that can be wrong, checked before anything runs: ``(module, overrides, path)``."""
    if args.name not in NAMES:
        raise ValueError(f"no experiment {args.name!r}; the experiments are {', '.join(NAMES)}")
    if args.scale not in SCALE_NAMES:
        raise ValueError(f"no scale {args.scale!r}; the scales are full and budget")
    module = experiment(args.name)
    overrides = overrides_of(args)
    settings_for(module.SCALES, args.scale, overrides)  # every name known, every value of the right type
    path = default_path(args.name, args.scale, overrides)
    folder = writable_folder(args.out if args.out is not None else path.parent)
    if args.data_root is not None and not Path(args.data_root).is_dir():
        raise ValueError(f"--data-root {args.data_root!r} is not a folder")
    return module, overrides, folder / path.name


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    try:
        module, overrides, path = check(args)
    except (ValueError, TypeError) as error:
        sys.exit(f"error: {error}")
    progress = not args.no_progress and sys.stderr.isatty()
    result = module.run(scale=args.scale, progress=progress, root=args.data_root, **overrides)
    command = " ".join(["python -m nabla.experiments", *argv])
    save_results(result, path, command)
    seconds = result.seconds if hasattr(result, "seconds") else result["seconds"]
    print(f"{args.name} ({args.scale}): {seconds:.1f} s; wrote {path}")


if __name__ == "__main__":
    main()
