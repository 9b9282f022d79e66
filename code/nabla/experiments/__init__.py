r"""The experiments of Part III, each at two scales, and their results files.

Each experiment is a module named as its chapter (or naming it in ``CHAPTER``), with a ``SCALES`` table and a
``run(scale, progress=False, root=None, split=None, **overrides)`` that returns a
:class:`Result`: ``records`` (one dict per run and epoch, the keys of
:data:`nabla.train.RECORD_KEYS` plus the experiment's own, ready for ``pandas.DataFrame`` or a
plot), ``summary`` (the numbers the chapter quotes: $\eta^*$, the interpolation epoch of each
run), ``settings`` and ``eval_set`` (what the ``eval_*`` columns measure: ``"validation"`` or
``"test"``).

* ``budget``: runs inside a chapter of the book (under 120 s on two cores, under 2 GB); for
  ``optimizers`` it is the learning-rate sweep whose file the chapter reads;
* ``full``: the course material's exact settings where it gives them (larger runs where it does
  not), run from the command line:

      python -m nabla.experiments width --scale full

  which shows a progress bar and writes ``results/width-full.csv`` at the repository root, with a
  provenance header (command, versions, seed, date, CPU, wall time). That command is the only
  writer of full-scale results; a chapter reads them back with :func:`full_results`.

======================  ===============================================  ===========================================
experiment              what it trains                                   chapter
======================  ===============================================  ===========================================
mlp                     nabla MLPs on MNIST: activations, depth,         13 (book/mlp.md)
                        a residual connection, initialisation, momentum
divergent_lr            eta* by search, per batch size; curves at        14 (book/divergent-lr.md)
                        eta*/2, eta* and 2 eta*
width                   widths 8-512 at eta*/2 of width 16, tiny init    15 (book/width.md)
width_course            width 16-128 in the course's own setting, torch  15 (book/width.md)
                        float32 against float64
minibatch               B = 1..16, each at its own eta*_B / 2            16 (book/minibatch.md)
optimizers              six optimizers, one MLP, several seeds           17 (book/optimizers.md)
normalisation_practice  deep MLPs with and without batch/layer norm      18 (book/normalisation-practice.md)
regularisation          dropout keep probabilities, L2 weight decay      19 (book/regularisation.md)
augmentation            a CNN with and without augmentation (torch)      20 (book/augmentation.md)
pytorch_apis            a grid of batch size, epochs, learning rate      21 (book/pytorch-apis.md)
                        (torch)
======================  ===============================================  ===========================================

The shared pieces live in private modules: the settings and their checks in ``_settings``, the
results files in ``_results``; what a chapter or the command line uses is importable from here.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from nabla.experiments._results import (  # noqa: F401 - the results framework, for the chapters and the torch experiments
    RESULTS_DIR,
    Result,
    cpu_name,
    default_path,
    full_command,
    full_results,
    full_results_over_seeds,
    load_results,
    provenance,
    save_results,
)
from nabla.experiments._settings import CLASSES, SCALE_NAMES, settings_for  # noqa: F401

# Every public module of this package is an experiment: adding one is adding its file.
NAMES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_")))


def experiment(name):
    """The module of experiment ``name``, or a ValueError listing the experiments."""
    if name not in NAMES:
        raise ValueError(f"no experiment {name!r}; the experiments are {', '.join(NAMES)}")
    return importlib.import_module(f"nabla.experiments.{name}")


def run(name, scale="budget", progress=False, **overrides):
    """Run experiment ``name`` at ``scale``; the :class:`Result` its module's ``run`` returns."""
    return experiment(name).run(scale=scale, progress=progress, **overrides)


def chapter(name):
    """The chapter that shows experiment ``name``: ``book/NAME.md`` with hyphens, as each module is named
    after its chapter, unless the module names another in ``CHAPTER`` (``width_course`` is shown in ``width``)."""
    return f"book/{getattr(experiment(name), 'CHAPTER', name).replace('_', '-')}.md"


def glue_values(prefix, **values):
    """Glue each value for a chapter's prose as ``<prefix>-<name>`` (underscores in ``name`` as hyphens).

    myst-nb renders a numpy scalar with a format spec as empty text, and an ``np.int64`` as its
    repr, so each value is glued as a plain ``int``, ``float`` or ``str``; ``None`` (a full run
    that is not there) as the text "(not run)".
    """
    from myst_nb import glue

    for name, value in values.items():
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"glue_values: {prefix}-{name} is a bool ({value}); glue the words the prose needs")
        if value is None or isinstance(value, str):
            plain = "(not run)" if value is None else value
        elif isinstance(value, (int, np.integer)):
            plain = int(value)
        elif isinstance(value, (float, np.floating)):
            plain = float(value)
        else:
            raise TypeError(f"glue_values: {prefix}-{name} must be a number, a str or None, got {type(value).__name__}")
        glue(f"{prefix}-{name.replace('_', '-')}", plain, display=False)
