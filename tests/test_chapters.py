"""Execute one chapter on its own, outside the book build, and name the failing cell.

The book build already executes every chapter, so these tests are not part of the default
run (CI would execute every chapter twice). Run them by hand while writing a chapter:

    .venv/bin/pytest -m chapters -k division       # one chapter
    .venv/bin/pytest -m chapters                   # all of them

A cell tagged ``raises-exception`` must raise (that is the point of a wrong derivation);
any other cell must not.
"""

import jupytext
import nbclient
import pytest

from conftest import BOOK, ROOT

CHAPTERS = sorted(p.stem for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


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
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            assert errors, f"book/{chapter}.md, cell {index}: tagged raises-exception but raised nothing:\n{cell.source}"
        else:  # e.g. a figure that failed to render in a display hook after the cell ran
            assert not errors, f"book/{chapter}.md, cell {index} shows an error:\n{cell.source}\n{errors[0].get('evalue')}"
        stderr = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not stderr, f"book/{chapter}.md, cell {index} printed to stderr:\n{stderr[0].get('text')}"
