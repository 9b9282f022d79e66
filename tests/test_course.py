"""course/course.yaml, the course's settings and results, and nabla.experiments._course, which builds the chapters' tables from it."""

import re
from pathlib import Path

import pytest
import yaml

from nabla.experiments import _course
from nabla.experiments._course import course, results_table, settings_table

ROOT = Path(__file__).resolve().parents[1]
FACT_SHEET = (ROOT / "course" / "COURSE.md").read_text(encoding="utf-8")
CHAPTERS = ("gradient-descent", "mlp", "divergent-lr", "width", "minibatch", "optimizers",
            "normalisation-practice", "regularisation", "augmentation", "pytorch-apis")

# A number as COURSE.md prints it: 7200, 0.671, .113, 1e-2, 1.07333843309325e-12; not the 2 of
# "HW2" or the 11 of "Q11" (a digit right after a letter is part of a name).
NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?")


def numbers(value):
    """Every number in a yaml value: the value itself, the elements of a list, the numbers written in a string."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [abs(float(value))]
    if isinstance(value, list):
        return [n for v in value for n in numbers(v)]
    return [float(n) for n in NUMBER.findall(value)]


def section(assignment, part):
    """The text COURSE.md gives one part of one assignment: the assignment's preamble and the part's own section."""
    assignments = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", FACT_SHEET, flags=re.M | re.S))
    assert assignment in assignments, f"no assignment {assignment!r} in COURSE.md: {list(assignments)}"
    preamble, *parts = re.split(r"^### ", assignments[assignment], flags=re.M)
    found = {p.split("\n", 1)[0]: p for p in parts}
    assert part in found, f"no part {part!r} of {assignment!r} in COURSE.md: {list(found)}"
    return preamble + found[part]


def test_the_yaml_holds_the_ten_training_chapters_and_each_is_valid():
    data = yaml.safe_load((ROOT / "course" / "course.yaml").read_text(encoding="utf-8"))
    assert "COURSE.md" in data["source"]
    assert set(data["chapters"]) == set(CHAPTERS)
    for chapter in CHAPTERS:
        assert (ROOT / "book" / f"{chapter}.md").exists()
        entry = course(chapter)
        assert entry["source"] and entry["settings"] and entry["results"], chapter
        for source in entry["source"]:
            section(source["assignment"], source["part"])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_course_number_is_printed_in_its_sources(chapter):
    """A typo in the transcription gives a number that the chapter's sources in COURSE.md do not print."""
    entry = course(chapter)
    printed = {float(n) for source in entry["source"] for n in NUMBER.findall(section(source["assignment"], source["part"]))}
    course_side = [(item["name"], field, item[field])
                   for item in entry["settings"] + entry["results"]
                   for field in ("name", "value", "what", "note") if field in item]
    missing = [(name, field, n) for name, field, value in course_side for n in numbers(value) if n not in printed]
    assert not missing, f"{chapter}: numbers not in COURSE.md's sections {[s['part'] for s in entry['source']]}: {missing}"


def test_the_number_check_catches_a_typo():
    part = section("HW3 (differentiable programming)", "Part 2: data augmentation (CNN)")
    printed = {float(n) for n in NUMBER.findall(part)}
    assert numbers("0.8301 and .877") == [0.8301, 0.877] and {0.8301, 0.877} <= printed
    assert 0.8031 not in printed and 0.08301 not in printed  # two slips of the pen
    assert numbers("HW2: Q11 at 1e-2") == [0.01]


def test_a_few_values_read_as_transcribed():
    """Spot checks, one per kind of entry, against the words of COURSE.md."""
    results = {r["name"]: r for r in course("augmentation")["results"]}
    assert results["printed final test accuracy, test aug"]["value"] == 0.8301
    assert "test loss" in results["printed final test accuracy, test aug"]["note"]
    assert "0.8767, 0.8613, 0.8301, 0.6932" in FACT_SHEET
    width = {s["name"]: s for s in course("width")["settings"]}
    assert width["passes"]["value"] == 120 and "120 passes" in FACT_SHEET
    assert {d["setting"] for d in course("width")["deviations"]} >= {"pass numbering"}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_book_column_is_scales_full_where_a_key_is_named(chapter):
    entry, table = course(chapter), settings_table(chapter).set_index("setting")
    deviations = {d["setting"]: d for d in entry["deviations"]}
    assert list(table.columns) == ["course", "book", "why they differ"]
    for setting, (_, row) in zip(entry["settings"], table.iterrows()):
        if "key" in setting:
            value = _course._full_scale(chapter)[setting["key"]]
            if setting.get("unit", "").startswith("%"):
                assert row["book"] == pytest.approx(100 * value)
            else:
                assert row["book"] == value
        elif setting["name"] in deviations:
            assert row["book"] == deviations[setting["name"]]["book"]
        else:  # the book follows the course
            assert row["book"] == setting["value"]
        assert row["why they differ"] == deviations.get(setting["name"], {}).get("reason", "")


def test_the_results_table_puts_ours_next_to_the_course():
    table = results_table("width", {"η* (width 16)": 0.01, "smallest interpolating width": 32})
    assert list(table.columns) == ["result", "course", "ours", "note"]
    row = table.set_index("result").loc["smallest interpolating width"]
    assert (row["course"], row["ours"]) == (128, 32)
    assert table["ours"].isna().sum() == len(table) - 2  # what the chapter did not pass is left empty


def test_errors_name_the_known_chapters_and_results():
    with pytest.raises(ValueError, match="no chapter 'widths'.*gradient-descent.*pytorch-apis"):
        course("widths")
    with pytest.raises(ValueError, match="no chapter"):
        settings_table("widths")
    with pytest.raises(ValueError, match="no chapter"):
        results_table("widths", {})
    with pytest.raises(ValueError, match=r"no course result \['eta'\].*smallest interpolating width"):
        results_table("width", {"eta": 0.01})
    with pytest.raises(TypeError, match="ours must be a dict"):
        results_table("width", [0.01])


def yaml_with(tmp_path, monkeypatch, chapter):
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump({"source": "COURSE.md", "chapters": {"width": chapter}}), encoding="utf-8")
    monkeypatch.setattr(_course, "COURSE_FILE", path)


def entry(settings, deviations=(), results=()):
    return {"source": [], "settings": list(settings), "results": list(results), "deviations": list(deviations)}


def test_a_stale_yaml_is_an_error(tmp_path, monkeypatch):
    # SCALES["full"]["epochs"] of width is 120: a deviation there would be stale, and so would a
    # setting that claims the book follows the course with another value.
    yaml_with(tmp_path, monkeypatch, entry([{"name": "passes", "value": 120, "key": "epochs"}],
                                           [{"setting": "passes", "reason": "budget"}]))
    with pytest.raises(ValueError, match="lists a deviation"):
        settings_table("width")
    yaml_with(tmp_path, monkeypatch, entry([{"name": "passes", "value": 100, "key": "epochs"}]))
    with pytest.raises(ValueError, match="lists no deviation"):
        settings_table("width")
    yaml_with(tmp_path, monkeypatch, entry([{"name": "passes", "value": 100, "key": "passes"}]))
    with pytest.raises(ValueError, match="no key 'passes'"):
        settings_table("width")


def test_a_malformed_entry_is_an_error(tmp_path, monkeypatch):
    yaml_with(tmp_path, monkeypatch, entry([{"name": "learning rate", "value": "1e-2"}]))
    with pytest.raises(ValueError, match="string '1e-2'"):
        course("width")
    yaml_with(tmp_path, monkeypatch, entry([{"name": "learning rate", "valeu": 0.01}]))
    with pytest.raises(ValueError, match=r"missing \['value'\], unknown \['valeu'\]"):
        course("width")
    yaml_with(tmp_path, monkeypatch, entry([{"name": "passes", "value": 120}], [{"setting": "epochs", "reason": "budget"}]))
    with pytest.raises(ValueError, match="not one of its settings"):
        course("width")
    yaml_with(tmp_path, monkeypatch, entry([{"name": "passes", "value": 100, "key": "epochs"}],
                                           [{"setting": "passes", "book": 120, "reason": "budget"}]))
    with pytest.raises(ValueError, match="exactly one of them"):
        course("width")


def test_a_tiny_course_number_shows_with_its_digits_not_as_zero():
    table = results_table("optimizers", {})
    shown = [value for value in table["course"] if isinstance(value, str) and "e-" in value]
    assert "1.14e-07" in shown  # pandas showed a float in an object column as 0.0
