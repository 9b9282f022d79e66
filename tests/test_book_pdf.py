"""tools/book_pdf.py and the PDF it leaves in the built site (``make book`` writes it)."""

import re
import sys

import pytest
from pypdf import PdfReader

from conftest import ROOT, SITE
from test_site import PAGES, missing, soup

sys.path.insert(0, str(ROOT / "tools"))
import book_pdf  # noqa: E402 - tools/ is a folder of scripts, not a package


def test_the_pdf_follows_the_table_of_contents():
    assert [name for _, name in book_pdf.table_of_contents()] == PAGES


def test_the_contents_page_lists_parts_once_and_each_chapter_with_its_page():
    html = book_pdf.front_matter_html("B", [(None, "Intro", 3), ("Part I", "1. A", 5), ("Part I", "2. B", 9), ("Part II", "3. C", 12)])
    assert html.count(">Part I<") == 1 and html.count(">Part II<") == 1
    assert re.search(r"2\. B</td><td class='n'>9<", html)


@pytest.fixture(scope="module")
def pdf():
    path = SITE / book_pdf.PDF_NAME
    if not path.exists():
        missing(f"no {path}: `make book` prints it after building the site")
    return PdfReader(path)


def test_the_pdf_has_a_bookmark_for_every_chapter_in_order(pdf):
    def titles(outline):
        for item in outline:
            yield from titles(item) if isinstance(item, list) else [(item.title, pdf.get_destination_page_number(item))]

    marks = list(titles(pdf.outline))
    chapters = [(t, p) for t, p in marks if not t.startswith(("Before", "Part ", "Back matter"))]
    assert len(chapters) == len(PAGES)
    assert [p for _, p in chapters] == sorted(p for _, p in chapters)  # in reading order
    assert "Element-wise division" in " ".join(t for t, _ in chapters)
    assert len(pdf.pages) > 3 * len(PAGES)


def test_the_pdf_shows_typeset_math_and_the_landing_page_links_to_it(pdf):
    text = pdf.pages[[p for p in range(len(pdf.pages)) if "Element-wise division" in pdf.pages[p].extract_text()][1]].extract_text()
    assert "\\frac" not in text and "\\bar" not in text  # typeset, not raw LaTeX
    links = [a["href"] for a in soup(SITE, "book/intro").find_all("a", href=True)]
    assert f"../{book_pdf.PDF_NAME}" in links
