"""Execute one chapter on its own, outside the book build, and name the failing cell.

The book build already executes every chapter, so these tests are not part of the default
run (CI would execute every chapter twice). Run them by hand while writing a chapter:

    .venv/bin/pytest -m chapters -k division       # one chapter
    .venv/bin/pytest -m chapters                   # all of them

No cell may raise, and none may be tagged ``raises-exception``: a wrong derivation is shown
by ``nabla.failures.show_failure`` (or ``show_error``), which prints the report a reader should
see and asserts which inputs fail, so that a cell broken in some other way (a NameError, say)
fails the build instead of passing as the expected exception. No output may show a traceback
or a path of the machine that ran it.
"""

import re

import jupytext
import nbclient
import pytest

from conftest import BOOK, ROOT

CHAPTERS = sorted(p.stem for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")


def test_no_cell_is_tagged_raises_exception():
    # Checked on the sources, so it runs in the default test run, without executing anything.
    tagged = [
        f"book/{path.name}:{number}"
        for path in sorted(BOOK.glob("*.md"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "raises-exception" in line
    ]
    assert not tagged, f"cells tagged raises-exception (show a wrong derivation with show_failure instead): {tagged}"


def output_text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return "\n".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))


@pytest.mark.chapters
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_executes(chapter):
    notebook = jupytext.read(BOOK / f"{chapter}.md")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        source = next(
            (c.source for c in notebook.cells if c.get("outputs") and any(o.get("output_type") == "error" for o in c.outputs)),
            "",
        )
        pytest.fail(f"book/{chapter}.md: a cell failed:\n{source}\n\n{error}", pytrace=False)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert "raises-exception" not in cell.get("metadata", {}).get("tags", []), f"book/{chapter}.md, cell {index} is tagged raises-exception"
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        # e.g. a figure that failed to render in a display hook after the cell ran
        assert not errors, f"book/{chapter}.md, cell {index} shows an error:\n{cell.source}\n{errors[0].get('evalue')}"
        for output in cell.outputs:
            text = output_text(output)
            assert not TRACEBACK.search(text), f"book/{chapter}.md, cell {index} prints a traceback:\n{text[-600:]}"
            assert str(ROOT) not in text, f"book/{chapter}.md, cell {index} prints a path of this machine ({ROOT}):\n{text[-600:]}"
        stderr = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not stderr, f"book/{chapter}.md, cell {index} printed to stderr:\n{stderr[0].get('text')}"
