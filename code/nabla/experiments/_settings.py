"""The settings every experiment shares: the scales, overrides checked by name and type, the networks of chapters 14-16."""

from __future__ import annotations

import numpy as np

from nabla import nn

CLASSES = 10  # FashionMNIST and MNIST both have ten classes
SCALE_NAMES = ("budget", "full", "smoke")  # "smoke": seconds, for the tests; not advertised

# Settings that must be at least this large, whatever their scale says.
LEAST = {"epochs": 1, "seed": 0}


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
    if name in LEAST and value < LEAST[name]:
        raise ValueError(f"setting {name!r} must be >= {LEAST[name]}, got {value!r}")
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
    return settings


def seeded_mlp(sizes, init="glorot", seed=0, **options):
    """A fresh ``nn.MLP(sizes, **options)`` initialised by ``init`` (:func:`nabla.nn.init`), every draw from ``seed``.

    ``"glorot"`` is the MLP's own initialisation; any other scheme re-draws the weights after
    it, from the same generator. The same arguments give the same network.
    """
    rng = np.random.default_rng(seed)
    model = nn.MLP(sizes, rng=rng, **options)
    return model if init == "glorot" else nn.init(model, init, rng)
