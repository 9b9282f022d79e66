"""The settings every experiment shares: the scales, overrides checked by name and type, the networks of chapters 14-16."""

from __future__ import annotations

import numpy as np

from nabla import nn

CLASSES = 10  # FashionMNIST and MNIST both have ten classes
SCALE_NAMES = ("budget", "full", "smoke")  # "smoke": seconds, for the tests; not advertised

# What an override's value must be, by the setting's name (each element of a list setting):
# checked before the run starts, so a typo costs a second, not the hour of a full run.
COUNTS = {  # integers >= 1
    "T", "batch_epochs", "batch_size", "batch_sizes", "curve_epochs", "depth", "epochs", "eval_batch", "grid_epochs",
    "hidden", "last", "repeats", "search_epochs", "search_width", "sweep_epochs", "sweep_train_size", "test_size",
    "threads", "tta_every", "validation", "width", "widths",
}
POSITIVE = {"lr", "lrs", "curve_lrs", "reference_lr", "sweep_lr", "search_start", "init_scales", "factors"}  # finite, > 0
DOMAINS = {
    **{name: (lambda v: v >= 1, ">= 1") for name in COUNTS},
    **{name: (lambda v: 0 < v < float("inf"), "a finite number > 0") for name in POSITIVE},
    "seed": (lambda v: v >= 0, ">= 0"),
    "seeds": (lambda v: v >= 0, ">= 0"),
    "fraction": (lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    "hold_out": (lambda v: v >= 1 if isinstance(v, int) else 0 < v < 1, "a count >= 1 or a fraction in (0, 1)"),
    "keeps": (lambda v: 0 < v <= 1, "a keep probability in (0, 1]"),
    "crop_scale": (lambda v: 0 < v <= 1, "a fraction of the image in (0, 1]"),
    "momentum": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "mu": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "weight_decays": (lambda v: 0 <= v < float("inf"), "a finite number >= 0"),
    "degrees": (lambda v: 0 <= v < float("inf"), "a finite number >= 0"),
    "dataset": (lambda v: v in ("fashion_mnist", "mnist"), "'fashion_mnist' or 'mnist'"),
    "init": (lambda v: v in nn.SCHEMES, f"one of {', '.join(map(repr, nn.SCHEMES))}"),
}


def check_domain(name, value):
    """A ValueError naming ``name`` if ``value`` (each element of a list) is outside the setting's domain (:data:`DOMAINS`)."""
    if isinstance(value, list) and not value:
        raise ValueError(f"setting {name!r} is an empty list: the run would have nothing to do")
    if name not in DOMAINS or value is None:
        return
    ok, what = DOMAINS[name]
    for v in value if isinstance(value, list) else [value]:
        if not ok(v):  # NaN fails every comparison, so it is refused too
            raise ValueError(f"setting {name!r} must be {what}{' in each element' if isinstance(value, list) else ''}, got {value!r}")


def check_override(name, value, default):
    """``value`` if it can replace the setting ``name`` whose value at this scale is ``default``, else a TypeError/ValueError.

    The type must be the default's: an int for an int (not a bool), a number for a float, a list
    for a list (of the same kind of elements), a string for a string; a setting whose default
    is None (e.g. ``test_size``, the whole test set) takes None or an int.
    """
    number = (int, float, np.integer, np.floating)
    if default is None:
        ok = value is None or (isinstance(value, (int, np.integer)) and not isinstance(value, bool))
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, np.integer)):
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    elif isinstance(default, (float, np.floating)):
        ok = isinstance(value, number) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
        # Each element as the list's elements: floats if any of them is one (0.0 in [0.0, 1e-4]).
        element = next((d for d in default if isinstance(d, float)), default[0] if default else None)
        for k, v in enumerate(value if ok and default else []):
            check_override(f"{name}[{k}]", v, element)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TypeError(f"setting {name!r} is {default!r} at this scale; {value!r} ({type(value).__name__}) cannot replace it")
    return value


def settings_for(scales, scale, overrides):
    """The settings of ``scale`` from a module's ``SCALES``, with ``overrides`` (None ones ignored), each checked by name and type."""
    if scale not in scales:
        raise ValueError(f"no scale {scale!r}; the scales are {', '.join(s for s in scales if s != 'smoke')}")
    settings = dict(scales[scale])
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in settings:
            raise ValueError(f"unknown setting {key!r}; the settings are {', '.join(settings)}")
        settings[key] = check_override(key, value, settings[key])
        check_domain(key, value)
    return settings


def seeded_mlp(sizes, init="glorot", seed=0, **options):
    """A fresh ``nn.MLP(sizes, **options)`` initialised by ``init`` (:func:`nabla.nn.init`), every draw from ``seed``.

    ``"glorot"`` is the MLP's own initialisation; any other scheme re-draws the weights after
    it, from the same generator. The same arguments give the same network.
    """
    rng = np.random.default_rng(seed)
    model = nn.MLP(sizes, rng=rng, **options)
    return model if init == "glorot" else nn.init(model, init, rng)
