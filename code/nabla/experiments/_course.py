r"""The course's run and ours: the two tables of that section of each training chapter.

The course's settings and printed results live in one data file, ``course/course.yaml`` at the
repository root (its schema: ``course/README.md``), transcribed from the fact sheet
``course/COURSE.md``. The book's side is never typed there: a setting's ``key`` names its
counterpart in ``SCALES["full"]`` of the chapter's experiment module, which
:func:`settings_table` reads, and a chapter passes its own full-scale results to
:func:`results_table`, which only sets them next to the course's.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

# code/nabla/experiments/_course.py -> the repository root
COURSE_FILE = Path(__file__).resolve().parents[3] / "course" / "course.yaml"

# What each entry of a chapter must and may hold.
SETTING_FIELDS = ({"name", "value"}, {"unit", "key", "inferred"})
RESULT_FIELDS = ({"name", "value", "what"}, {"unit", "note", "inferred"})
DEVIATION_FIELDS = ({"setting", "reason"}, {"book"})


def _load():
    import yaml  # here: only the chapters' course sections need it

    with open(COURSE_FILE, encoding="utf-8") as file:
        return yaml.safe_load(file)


def course(chapter):
    """The course's entry for ``chapter`` (``"width"``, ``"gradient-descent"``, ...): a dict of
    ``source``, ``settings``, ``results`` and ``deviations``, checked against the schema of
    ``course/README.md``; a ValueError naming the chapters for an unknown one."""
    chapters = _load()["chapters"]
    if chapter not in chapters:
        raise ValueError(f"course: no chapter {chapter!r} in course/course.yaml; the chapters are {', '.join(chapters)}")
    entry = chapters[chapter]
    for kind, fields in (("settings", SETTING_FIELDS), ("results", RESULT_FIELDS), ("deviations", DEVIATION_FIELDS)):
        for item in entry[kind]:
            _check_fields(chapter, kind, item, *fields)
    names = [s["name"] for s in entry["settings"]]
    for kind, items, key in (("settings", entry["settings"], "name"), ("results", entry["results"], "name"),
                             ("deviations", entry["deviations"], "setting")):
        repeated = {item[key] for item in items if [i[key] for i in items].count(item[key]) > 1}
        if repeated:
            raise ValueError(f"course: chapter {chapter!r} names {sorted(repeated)} more than once in its {kind}")
    for deviation in entry["deviations"]:
        if deviation["setting"] not in names:
            raise ValueError(f"course: chapter {chapter!r} has a deviation for {deviation['setting']!r}, "
                             f"which is not one of its settings: {', '.join(names)}")
        keyed = "key" in entry["settings"][names.index(deviation["setting"])]
        if keyed == ("book" in deviation):
            raise ValueError(f"course: chapter {chapter!r}, deviation {deviation['setting']!r}: the book's value comes either "
                             f"from SCALES (the setting's key) or from the deviation's `book`, exactly one of them")
    return entry


def _check_fields(chapter, kind, item, required, optional):
    missing, unknown = required - set(item), set(item) - required - optional
    if missing or unknown:
        raise ValueError(f"course: chapter {chapter!r}, {kind} entry {item!r}: "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}")
    for field, value in item.items():
        # PyYAML reads 1e-2 (no dot) as a string: a number must not hide as one.
        if isinstance(value, str) and _is_number(value):
            raise ValueError(f"course: chapter {chapter!r}, {kind} entry {item['name' if 'name' in item else 'setting']!r}: "
                             f"{field} is the string {value!r}; write the number with a dot (1.0e-2), or say what it is")


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _in_unit(value, unit):
    """A value of SCALES in the unit of the course's setting: a fraction as a percentage for ``%``."""
    if unit and unit.startswith("%") and not isinstance(value, list):
        value = round(value * 100, 10)
        return int(value) if value == int(value) else value
    return value


def _label(item):
    label = item["name"] + (f" ({item['unit']})" if "unit" in item else "")
    return label + (" (inferred)" if item.get("inferred") else "")


def settings_table(chapter):
    """The settings table of ``chapter``'s section: setting | course | book | why they differ.

    The book's value is ``SCALES["full"][key]`` of the chapter's experiment module where the
    setting names a ``key`` (in the setting's unit), else the deviation's ``book``, else the
    course's own value: the book follows the course there. A keyed setting must agree with
    SCALES exactly when it has no deviation, so the table cannot go stale when SCALES changes.
    """
    import pandas as pd

    entry = course(chapter)
    deviations = {d["setting"]: d for d in entry["deviations"]}
    scales = None
    rows = []
    for setting in entry["settings"]:
        deviation = deviations.get(setting["name"], {})
        if "key" in setting:
            scales = scales or _full_scale(chapter)
            if setting["key"] not in scales:
                raise ValueError(f"course: chapter {chapter!r}, setting {setting['name']!r}: no key {setting['key']!r} "
                                 f"in SCALES['full']; its keys are {', '.join(scales)}")
            book = _in_unit(scales[setting["key"]], setting.get("unit"))
            if (book == setting["value"]) != (not deviation):
                raise ValueError(f"course: chapter {chapter!r}, setting {setting['name']!r}: the course has {setting['value']!r} "
                                 f"and SCALES['full'][{setting['key']!r}] {book!r}, but course/course.yaml "
                                 f"{'lists a deviation' if deviation else 'lists no deviation'}")
        else:
            book = deviation.get("book", setting["value"])
        rows.append({"setting": _label(setting), "course": setting["value"], "book": book,
                     "why they differ": deviation.get("reason", "")})
    return pd.DataFrame(rows, columns=["setting", "course", "book", "why they differ"], dtype=object)


def _full_scale(chapter):
    """``SCALES["full"]`` of the experiment module named as ``chapter``."""
    name = chapter.replace("-", "_")
    try:
        module = importlib.import_module(f"nabla.experiments.{name}")
    except ModuleNotFoundError:
        raise ValueError(f"course: chapter {chapter!r} has no experiment module nabla.experiments.{name}, "
                         f"so its settings cannot name a key") from None
    return module.SCALES["full"]


def _shown(value, exact=False):
    """A number as the table shows it: pandas prints a float in an object column to 6 decimals, so
    1.14e-07 showed as 0.0. The course's numbers keep every digit as transcribed, ours 6 significant ones."""
    if isinstance(value, bool) or not isinstance(value, (float, np.floating)):
        return value
    return str(float(value)) if exact else f"{float(value):.6g}"


def results_table(chapter, ours):
    """The results table of ``chapter``'s section: result | course | ours | note.

    ``ours``: a dict from a result's name (as course/course.yaml names it) to the chapter's own
    number, computed from its full-scale results; a result it leaves out shows None. A name the
    yaml does not have is a ValueError that lists the names.
    """
    import pandas as pd

    if not isinstance(ours, dict):
        raise TypeError(f"results_table: ours must be a dict from result names to numbers, got {type(ours).__name__}")
    results = course(chapter)["results"]
    names = [r["name"] for r in results]
    unknown = [name for name in ours if name not in names]
    if unknown:
        raise ValueError(f"results_table: chapter {chapter!r} has no course result {unknown}; its results are {names}")
    rows = [{"result": _label(r), "course": _shown(r["value"], exact=True), "ours": _shown(ours.get(r["name"])),
             "note": r.get("note", "")} for r in results]
    return pd.DataFrame(rows, columns=["result", "course", "ours", "note"], dtype=object)
