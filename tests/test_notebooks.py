"""The chapters as plain Jupyter notebooks (tools/plain_notebooks.py).

A small MyST sample shows each construct's plain form; every chapter converts to a valid
notebook with no MyST left outside code, and with all its code cells. Where the site is built,
the converter's equation and exercise numbers are the site's, and each chapter's download menu
offers its plain notebook. One converted Part I notebook is executed (marked ``chapters``, run
with ``-m chapters``, as the other tests that execute a chapter).
"""

import re
import sys
import textwrap

import jupytext
import nbformat
import pytest

from conftest import BOOK, ROOT, SITE

sys.path.insert(0, str(ROOT / "tools"))
import plain_notebooks as plain  # noqa: E402 - tools/ is a folder of scripts, not a package

BOOK_INDEX, NOTEBOOK_PAGES = plain.notebook_pages()
MYST = ["```{", ":::{", "{eq}`", "{doc}`", "{cite", ":label:", "{ref}`", "{term}`", "{index}`", "{glue", "{math}`", "solution-start"]

SAMPLE = '''\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# The sample

The rule of {doc}`other` {cite}`doe2020`, and as {cite:t}`doe2020` say, with a {term}`leaf <leaf node>`
and an {index}`adjoint`. Inline $x$ and {math}`\\bar y`. Roles in code stay: ``{eq}`sample-x` ``.

```{math}
:label: sample-x
\\bar X = \\bar S
```

```{math}
\\bar Z = 0
```

Equation {eq}`sample-x` here, {eq}`other-y` in the other page; {ref}`sample-ex-1` and
{ref}`sample-section`. The accuracy is {glue:text}`sample-acc:.1%`.

```{literalinclude} ../code/ops.py
:pyobject: Twice.backward
```

```{code-cell} ipython3
from myst_nb import glue

glue("sample-acc", 0.9123, display=False)
```

(sample-section)=
## A section

```{exercise}
:label: sample-ex-1

Derive {eq}`sample-x`.
```

```{solution} sample-ex-1
:class: dropdown

It is $\\bar S$.
```

```{exercise}
:label: sample-ex-2

Compute it.
```

```{solution-start} sample-ex-2
:class: dropdown
```

With a cell:

```{code-cell} ipython3
print(2 * 3)
```

```{solution-end}
```

```{note}
A note.
```

```{figure} ../code/dot.png
:alt: a dot

The dot.
```
'''

OTHER = '''\
# Other page

```{math}
:label: other-y
\\bar Y = -\\bar S
```
'''

OPS = '''\
class Twice:
    @staticmethod
    def backward(ctx, S_bar):
        """The adjoint of X."""
        return 2 * S_bar  # eq. sample-x
'''

BIB = '''\
@book{doe2020,
  author = {Doe, Jane and R{\\"o}e, Richard},
  title = {A Book},
  publisher = {Press},
  year = {2020}
}
'''


@pytest.fixture(scope="module")
def sample_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    (root / "book").mkdir()
    (root / "code").mkdir()
    (root / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: book/sample
        parts:
          - caption: Part
            numbered: true
            chapters:
              - file: book/other
        """))
    (root / "_config.yml").write_text("repository:\n  url: https://github.com/x/y\n  branch: main\n")
    (root / "book" / "sample.md").write_text(SAMPLE)
    (root / "book" / "other.md").write_text(OTHER)
    (root / "book" / "references.bib").write_text(BIB)
    (root / "code" / "ops.py").write_text(OPS)
    (root / "code" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root


def markdown(notebook):
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def without_code(text):
    """Markdown with its fenced code blocks and inline code spans removed."""
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+).+?\1", "", text, flags=re.S)


def test_a_sample_of_every_construct_converts_to_plain_markdown(sample_book):
    book = plain.Book(sample_book)
    notebook = plain.convert(sample_book / "book" / "sample.md", book)
    nbformat.validate(notebook)
    text = markdown(notebook)
    assert not [s for s in MYST if s in without_code(text)], text
    # Math: a labelled block gets the number the site gives it, an unlabelled one none.
    assert "$$\n\\bar X = \\bar S \\tag{1}\n$$" in text  # an unnumbered root page: numbers without a chapter
    assert "$$\n\\bar Z = 0\n$$" in text
    assert "Equation (1) here, (1.1) in the other page" in text  # other.md is chapter 1
    assert "$\\bar y$" in text
    # References: page titles, author-year citations (accents decoded), terms as their text.
    assert "The rule of *Other page* (Doe & Röe, 2020), and as Doe & Röe (2020) say" in text
    assert "with a leaf\nand an adjoint" in text
    assert "``{eq}`sample-x` ``" in text  # a role inside code is shown, not converted
    assert "Exercise 1 and\nA section" in text
    assert "The accuracy is (computed by the notebook)." in text
    assert notebook.cells[-1].source.startswith("## References\n\n- Jane Doe and Richard Röe (2020). *A Book*. Press.")
    # The included method, from its decorator to its last line, dedented.
    assert "```python\n@staticmethod\ndef backward(ctx, S_bar):\n" in text
    assert "    return 2 * S_bar  # eq. sample-x\n```" in text
    # Exercises and solutions.
    assert "**Exercise 1**\n\nDerive (1)." in text
    assert "<details>\n<summary>Solution to Exercise 1</summary>\n\nIt is $\\bar S$.\n\n</details>" in text
    assert "**Solution to Exercise 2**\n\nWith a cell:" in text
    assert "**Note.** A note." in text
    figure = next(cell for cell in notebook.cells if "![a dot]" in cell.source)
    assert "![a dot](attachment:dot.png)" in figure.source and "image/png" in figure.attachments["dot.png"]
    # The code cells, after the setup cell that installs nabla and stands in for myst-nb's glue.
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert "%pip install \"nabla @ git+https://github.com/x/y@main#subdirectory=code\"" in code[0]
    assert 'sys.modules["myst_nb"]' in code[0]
    assert code[1:] == ['from myst_nb import glue\n\nglue("sample-acc", 0.9123, display=False)', "print(2 * 3)"]


def test_glued_values_and_outputs_come_from_the_executed_notebook(sample_book):
    book = plain.Book(sample_book)
    executed = jupytext.read(sample_book / "book" / "sample.md")
    glue_cell, print_cell = [cell for cell in executed.cells if cell.cell_type == "code"]
    glue_cell.outputs = [nbformat.v4.new_output(
        "display_data", data={plain.GLUE_PREFIX + "text/plain": "0.9123"},
        metadata={"scrapbook": {"name": "sample-acc", "mime_prefix": plain.GLUE_PREFIX}})]
    print_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="6\n")]
    notebook = plain.convert(sample_book / "book" / "sample.md", book, executed)
    assert "The accuracy is 91.2%." in markdown(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code[1].outputs == []  # glue's hidden record is not an output a reader should see
    assert code[2].outputs[0]["text"] == "6\n"
    executed.cells[-1].source += "\n"  # stale outputs are refused, not attached to other cells
    print_cell.source = "print(7)"
    with pytest.raises(ValueError, match="differ from the chapter's"):
        plain.convert(sample_book / "book" / "sample.md", book, executed)


def test_glued_values_are_read_from_myst_nbs_sidecar_file(sample_book):
    # myst-nb 1.x moves glued outputs out of the executed notebook into <chapter>.glue.json.
    executed = jupytext.read(sample_book / "book" / "sample.md")
    sidecar = {"sample-acc": {"output_type": "display_data", "data": {"text/plain": "0.9123"},
                              "metadata": {"scrapbook": {"name": "sample-acc", "mime_prefix": plain.GLUE_PREFIX}}}}
    notebook = plain.convert(sample_book / "book" / "sample.md", plain.Book(sample_book), executed, sidecar)
    assert "The accuracy is 91.2%." in markdown(notebook)


@pytest.mark.parametrize("construct", ["```{epigraph}\nQuoted.\n```", "See {numref2}`x`.", "{eq}`no-such-label`"])
def test_an_unknown_construct_or_label_is_an_error_that_names_it(sample_book, construct):
    path = sample_book / "book" / "broken.md"
    path.write_text(SAMPLE.split("# The sample")[0] + "# Broken\n\n" + construct + "\n")
    with pytest.raises(ValueError, match=r"broken\.md: .*(epigraph|numref2|no-such-label)"):
        plain.convert(path, plain.Book(sample_book))


@pytest.mark.parametrize("chapter", NOTEBOOK_PAGES)
def test_every_chapter_converts_to_a_valid_plain_notebook_with_all_its_code(chapter):
    notebook = plain.convert(BOOK / f"{chapter}.md", BOOK_INDEX)
    nbformat.validate(notebook)
    left = [s for s in MYST if s in without_code(markdown(notebook))]
    assert not left, f"{chapter}: MyST left in the plain notebook: {left}"
    source = [c.source for c in jupytext.read(BOOK / f"{chapter}.md").cells if c.cell_type == "code"]
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert code[0].startswith("# This chapter of") and code[1:] == source
    # Every labelled block became a numbered display: as many \tag as the page has labels.
    assert markdown(notebook).count("\\tag{") >= len(BOOK_INDEX.pages[chapter].equations)


def test_the_numbers_are_the_sites(site_pages):
    """Equation, exercise, figure and chapter numbers as the built site shows them."""
    for chapter in NOTEBOOK_PAGES:
        html = (SITE / "book" / f"{chapter}.html").read_text()
        page = BOOK_INDEX.pages[chapter]
        equations = {label: number for number, label in re.findall(
            r'<span class="eqno">\(([^)]*)\)<a class="headerlink" href="#equation-([^"]+)"', html)}
        assert equations == page.equations, chapter
        exercises = dict(re.findall(r'id="([^"]+)">\s*<p class="admonition-title"><span class="caption-number">Exercise ([\d.]+)', html))
        assert exercises == page.exercises, chapter
        figures = dict(re.findall(r'<figure class="[^"]*" id="([^"]+)">(?:(?!</figure>).)*?<span class="caption-number">Figure ([\d.]+) </span>', html, flags=re.S))
        assert figures == page.figures, chapter  # what {numref} of a figure becomes
        title = re.search(r"<title>(.*?) &#8212;", html)[1].replace("&#8217;", "'").replace("\u2019", "'")
        assert title == (f"{page.number}. " if page.number else "") + page.title


def test_each_chapters_download_menu_offers_its_plain_notebook(site_pages):
    if not (SITE / plain.OUT_DIR).exists():
        pytest.skip(f"the site at {SITE} was built before plain notebooks: run `make book`")
    for chapter in NOTEBOOK_PAGES:
        html = (SITE / "book" / f"{chapter}.html").read_text()
        links = re.findall(r'<a href="([^"]+)"[^>]*\n\s*class="btn btn-sm btn-download-notebook-button', html)
        assert links == [f"../{plain.OUT_DIR}/{chapter}.ipynb"], f"{chapter}: the .ipynb entry links to {links}"
        nbformat.validate(nbformat.read(SITE / plain.OUT_DIR / f"{chapter}.ipynb", as_version=4))


@pytest.fixture
def site_pages():
    if not (SITE / "book" / "division.html").exists():
        pytest.skip(f"no built site at {SITE}: run `make book` first")


@pytest.mark.chapters
def test_a_converted_part_one_chapter_runs_as_a_plain_notebook(tmp_path):
    """Outside book/, in a kernel that imports nabla as any installed package."""
    import nbclient

    notebook = plain.convert(BOOK / "division.md", BOOK_INDEX)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []


DISPLAY_MATH = re.compile(r"^[ \t]*\$\$\n(.*?)\n[ \t]*\$\$[ \t]*$", re.M | re.S)


def test_every_display_equation_typesets_in_mathjax(site_pages, tmp_path):
    """Each $$ block of every plain notebook, typeset by MathJax 3 (which JupyterLab uses; the
    site's own copy), with no error: the \\tag, split and aligned forms included."""
    from test_site import CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by requirements.txt")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (`apt-get install chromium`)")
    blocks = [(chapter, tex) for chapter in NOTEBOOK_PAGES
              for tex in DISPLAY_MATH.findall(without_code_blocks(markdown(plain.convert(BOOK / f"{chapter}.md", BOOK_INDEX))))]
    assert len(blocks) >= sum(len(BOOK_INDEX.pages[c].equations) for c in NOTEBOOK_PAGES)
    mathjax = (SITE / "_static" / "mathjax" / "tex-chtml.js").as_uri()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        (tmp_path / "math.html").write_text(f'<html><body><script src="{mathjax}"></script></body></html>')
        page.goto((tmp_path / "math.html").as_uri())
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        errors = page.evaluate("""async (blocks) => {
            const errors = [];
            for (const [chapter, tex] of blocks) {
                const node = await MathJax.tex2chtmlPromise(tex, {display: true});
                const error = node.querySelector('mjx-merror');
                if (error) errors.push(chapter + ': ' + error.getAttribute('data-mjx-error') + ' in ' + tex.slice(0, 120));
            }
            return errors;
        }""", blocks)
        browser.close()
    assert errors == []


def without_code_blocks(text):
    return re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)
