"""What an experiment returns (:class:`Result`), and its results files: provenance, atomic saving, loading, the full-scale runs."""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# code/nabla/experiments/_results.py -> the repository root
RESULTS_DIR = Path(__file__).resolve().parents[3] / "results"


@dataclass
class Result:
    """What an experiment's ``run`` returns, and what a results file holds.

    ``records``: one dict per run and epoch, the keys of :data:`nabla.train.RECORD_KEYS` plus the
    experiment's own (width, batch_size, seed, variant, ...). ``summary``: the numbers the
    chapter quotes. ``eval_set``: what the records' ``eval_*`` columns measure, ``"validation"``
    or ``"test"``. ``header``: for a loaded file, its provenance (command, versions, date, CPU,
    wall time), else empty.
    """

    experiment: str
    scale: str
    settings: dict
    summary: dict
    records: list
    seconds: float
    eval_set: str | None = None
    header: dict = field(default_factory=dict)

    @property
    def frame(self):
        """The records as a ``pandas.DataFrame``."""
        import pandas as pd  # here: the package does not need pandas to run an experiment

        return pd.DataFrame(self.records)

    def provenance(self):
        """How a loaded results file was made, as a ``pandas.Series`` for a chapter to show."""
        import pandas as pd

        shown = {key: self.header[key] for key in ("command", "date", "wall_time_s", "cpu", "blas_rank1_update") if key in self.header}
        shown.update({f"{package} version": v for package, v in self.header.get("versions", {}).items()})
        seed = self.settings.get("seed")
        overrides = {"seed": seed} if "--seed" in self.header.get("command", "") else None
        return pd.Series(shown, name=f"results/{default_path(self.experiment, self.scale, overrides).name}").to_frame()


def as_result(result):
    """A :class:`Result` from a Result or a dict with its fields (as an experiment written before it returns)."""
    return result if isinstance(result, Result) else Result(**result)


# ---- provenance ---------------------------------------------------------------------------


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
    from nabla.fastpath import BLAS_ROUTE  # the route of the fast path's updates, for the timings

    return {
        "command": command,
        "seed": seed,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(seconds, 2),
        "versions": versions(),
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores)",
        "blas_rank1_update": BLAS_ROUTE,
    }


# ---- results files ------------------------------------------------------------------------


def full_command(name, seed=None):
    """The one command that writes ``results/NAME-full.csv`` (or, for another ``seed``, ``NAME-full-seed=K.csv``)."""
    return f"python -m nabla.experiments {name} --scale full" + (f" --seed {seed}" if seed is not None else "")


# Flags of the command line that change how a run is shown, not what it computes.
DISPLAY_FLAGS = ("--no-progress",)


def _what_it_computes(command):
    """``command`` without its display flags: two commands that differ only in those write the same results."""
    return " ".join(word for word in command.split() if word not in DISPLAY_FLAGS)


def default_path(name, scale, overrides=None):
    """Where the command line writes an experiment's results: ``results/NAME-SCALE.csv``.

    A run with ``overrides`` (settings other than the scale's) gets a name that says so,
    ``results/NAME-SCALE-epochs=1.csv``, so it can never replace the file of the scale itself.
    """
    suffix = "".join(f"-{key}={slug(value)}" for key, value in sorted((overrides or {}).items()) if value is not None)
    return RESULTS_DIR / f"{name}-{scale}{suffix}.csv"


def slug(value):
    """A value as a short piece of a file name: ``[1, 4]`` -> ``1,4``."""
    return re.sub(r"[^A-Za-z0-9.,_-]", "", json.dumps(value))


def save_results(result, path, command):
    """Write ``result.records`` as CSV to ``path`` under a ``# key: json`` header; the path.

    The header holds the experiment, scale, provenance (:func:`provenance`), evaluation set,
    settings and summary. The file is written next to ``path`` under another name and then
    renamed to it, in one step: ``path`` is either the old file or the whole new one, never a
    truncated mixture, even if the writing is interrupted.
    """
    result, path = as_result(result), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"experiment": result.experiment, "scale": result.scale}
    header.update(provenance(command, result.settings["seed"], result.seconds))
    header.update({"eval_set": result.eval_set, "settings": result.settings, "summary": result.summary})
    columns = list(dict.fromkeys(key for record in result.records for key in record))
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "w", newline="") as file:
            for key, value in header.items():
                file.write(f"# {key}: {json.dumps(value)}\n")
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            for record in result.records:
                writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in record.items()})
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file readable by its owner only; a results file is for everyone.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
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


def full_results(name, scales=None, seed=None):
    """The full-scale results of experiment ``name`` as a :class:`Result`, or None with a note saying how to make them.

    Reads ``results/NAME-full.csv`` (or, with ``seed``, the run of that seed,
    ``results/NAME-full-seed=K.csv``) and checks that its header is what :func:`full_command`
    writes for the settings of ``scales["full"]`` (the experiment's ``SCALES``, when given): a
    file written by another command, or before the settings changed, is refused. Where the file
    is missing (a copy of the book without results), prints the command that makes it and
    returns None, so a chapter can go on with its budget run.
    """
    command = full_command(name, seed)
    path = default_path(name, "full", {"seed": seed})
    if not path.exists():
        print(f"results/{path.name} is not in this copy of the book, so the full-scale results are skipped.\n"
              f"Make it with:  {command}")
        return None
    header, records = load_results(path)
    expected = {"command": command, "experiment": name, "scale": "full"}
    if scales is not None:
        expected["settings"] = scales["full"] if seed is None else {**scales["full"], "seed": seed}
    found = {**header, "command": _what_it_computes(header.get("command", ""))}
    wrong = {key: header.get(key) for key, value in expected.items() if found.get(key) != value}
    if wrong:
        raise ValueError(f"results/{path.name} was not written by `{command}` with today's settings: {wrong}; run it again")
    return Result(name, "full", header["settings"], header["summary"], records, header["wall_time_s"],
                  header.get("eval_set"), header)


def full_results_over_seeds(name, scales, seeds):
    """``{seed: Result}`` for every seed of ``seeds`` whose full-scale results are in ``results/``.

    The scale's own seed reads ``NAME-full.csv``, every other seed ``NAME-full-seed=K.csv``
    (:func:`full_results` says how to make a missing one).
    """
    runs = {seed: full_results(name, scales, None if seed == scales["full"]["seed"] else seed) for seed in seeds}
    return {seed: run for seed, run in runs.items() if run is not None}

