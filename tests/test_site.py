"""The built site, read as a reader's browser reads it.

These tests read ``_build/html``: run ``make book`` first. Without a built site, or without
Chromium, they are skipped with the reason shown, except in CI (``CI`` set), where either
is a failure: CI builds the book and installs Chromium before it runs the tests.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from conftest import ROOT, SITE

IN_CI = bool(os.environ.get("CI"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def missing(reason):
    if IN_CI:
        pytest.fail(f"{reason} (in CI this is a failure, not a skip)")
    pytest.skip(reason)


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def is_notebook(file):
    path = ROOT / f"{file}.md"
    return path.exists() and path.read_text().startswith("---\njupytext:")


PAGES = toc_files()
NOTEBOOKS = [f for f in PAGES if is_notebook(f)]


def test_every_page_in_the_table_of_contents_exists():
    assert [f for f in PAGES if not (ROOT / f"{f}.md").exists()] == []


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        missing(f"no built site at {SITE}: run `make book` first")
    return SITE


def soup(site, file):
    return BeautifulSoup((site / f"{file}.html").read_text(), "html.parser")


def is_offsite(url):
    return bool(re.match(r"^(https?:)?//", url))


@pytest.mark.parametrize("file", PAGES)
def test_pages_load_no_script_or_stylesheet_from_another_host(site, file):
    page = soup(site, file)
    offsite = [s["src"] for s in page.find_all("script", src=True) if is_offsite(s["src"])]
    offsite += [
        link["href"]
        for link in page.find_all("link", href=True)
        if {"stylesheet", "preload", "modulepreload"} & set(link.get("rel", [])) and is_offsite(link["href"])
    ]
    assert not offsite, f"{file}.html loads from another host: {offsite}"


def test_mathjax_is_bundled(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()


@pytest.mark.parametrize("file", NOTEBOOKS)
def test_launch_links_are_well_formed(site, file):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner_repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    links = [a["href"] for a in soup(site, file).find_all("a", href=True)]
    binder = [link for link in links if "mybinder.org" in link]
    assert binder == [f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{file}.md"]
    assert (ROOT / f"{file}.md").exists()
    # Colab opens only .ipynb files; a Colab button on a .md chapter would lead nowhere.
    assert not [link for link in links if "colab" in link]


# Paths of the machine that built the site, which no output may show (a traceback's file names,
# a warning's source line); the home directory only if it is a real one, not "/".
MACHINE_PATHS = [str(ROOT), "site-packages"] + ([str(Path.home())] if len(Path.home().parts) > 1 else [])


@pytest.mark.parametrize("file", NOTEBOOKS)
def test_no_cell_is_tagged_raises_exception(site, file):
    tagged = soup(site, file).select("div.cell.tag_raises-exception")
    assert not tagged, f"{file}: a cell tagged raises-exception:\n{tagged[0].get_text()[:400]}"


@pytest.mark.parametrize("file", NOTEBOOKS)
def test_no_cell_shows_a_traceback_or_a_path_of_the_build_machine(site, file):
    # A wrong derivation is shown by show_failure, which prints the check's report alone; and a
    # figure that fails to render (a matplotlib mathtext error, say) raises in a display hook
    # after the cell ran: the build does not fail, but the page would show a traceback.
    for cell in soup(site, file).select("div.cell"):
        tracebacks = cell.select(".output.traceback")
        assert not tracebacks, f"{file}: a cell shows an error:\n{tracebacks[0].get_text()[-600:]}"
        for output in cell.select(".cell_output"):
            text = output.get_text()
            assert "Traceback (most recent call last)" not in text, f"{file}: an output shows a traceback:\n{text[-600:]}"
            shown = [path for path in MACHINE_PATHS if path in text]
            assert not shown, f"{file}: an output shows {shown}, a path of the machine that built it:\n{text[-600:]}"


@pytest.mark.parametrize("file", NOTEBOOKS)
def test_every_glued_number_shows_a_value(site, file):
    # myst-nb renders {glue:text}`key:fmt` as a span; a numpy scalar glued with a format spec
    # renders as an empty one without a warning, and an unformatted numpy integer as "np.int64(54)".
    for span in soup(site, file).select("span.pasted-text"):
        text = span.get_text().strip()
        assert text and not re.search(r"\bnp\.|numpy|\bnan\b", text), f"{file}: a glued value reads {text!r}"


@pytest.mark.parametrize("file", [f for f in NOTEBOOKS if "{exercise}" in (ROOT / f"{f}.md").read_text()])
def test_solutions_are_hidden_by_default(site, file):
    solutions = soup(site, file).select(".solution")
    assert solutions, f"{file}: exercises but no solutions"
    for solution in solutions:
        assert "dropdown" in solution.get("class", []), f"{file}: a solution is shown open"


def rendered_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium (MathJax included)."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--dump-dom",
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.parametrize("file", PAGES)
def test_math_is_typeset_in_a_browser(site, file, tmp_path):
    if CHROMIUM is None:
        missing("Chromium is not installed (`apt-get install chromium`), so math typesetting was not checked")
    source = soup(site, file)
    math = source.select(".math")
    dom = BeautifulSoup(rendered_dom(site / f"{file}.html", tmp_path), "html.parser")
    typeset = dom.find_all("mjx-container")
    assert len(typeset) >= len(math), f"{file}: {len(math)} math elements but {len(typeset)} typeset by MathJax"
    dom = dom.body  # the <title> is not typeset: it is not page text
    for hidden in dom(["script", "style", "mjx-container", "pre", "code", "textarea"]):
        hidden.decompose()
    text = dom.get_text()
    for delimiter in ("\\(", "\\[", "$$"):
        assert delimiter not in text, f"{file}: raw LaTeX delimiter {delimiter!r} left in the visible text"


# Point 9 of issue 14: a reader finds things. Every chapter links the glossary's words at their
# first use ({term}), every glossary word is linked from some chapter, and the index holds the
# chapters' concepts and ops ({index}), not only the glossary's words.
def glossary_terms(site):
    return {dt.get("id") for dt in soup(site, "book/glossary").select("dl.glossary dt[id]")}


def test_every_chapter_links_the_glossary_and_every_term_is_linked(site):
    terms = glossary_terms(site)
    assert len(terms) >= 15
    linked, silent = set(), []
    for file in NOTEBOOKS:
        targets = {a["href"].split("#")[1] for a in soup(site, file).select('a[href*="glossary.html#"]') if "#" in a["href"]}
        linked |= targets & terms
        if not targets & terms and file != "book/glossary":
            silent.append(file)
    assert silent == [], f"chapters that link no glossary term: {silent}"
    assert terms - linked == set(), f"glossary terms no chapter links: {sorted(terms - linked)}"


def test_the_index_lists_the_books_concepts_beyond_the_glossary(site):
    entries = [a.get_text(" ", strip=True) for a in soup(site, "genindex").select("table.indextable a")]
    assert len(entries) >= 3 * len(glossary_terms(site)), f"the index has {len(entries)} links"
    for concept in ("im2col", "reverse mode", "momentum", "Adam", "running average", "softmax"):
        assert any(concept.lower() in entry.lower() for entry in entries), f"the index has no entry for {concept!r}"
