"""Each chapter as a plain Jupyter notebook: the MyST turned into what any Jupyter shows.

    python tools/plain_notebooks.py      # reads book/*.md, writes _build/html/_notebooks/<chapter>.ipynb

The chapters are MyST notebooks (book/*.md, read by jupytext). Their markdown is full of
Sphinx: ``{math}`` blocks with labels, ``{eq}``, ``{doc}``, ``{cite}`` and ``{ref}`` roles,
exercises and solutions, code included from the package with ``:pyobject:``. A notebook
downloaded as it is shows all of that as markup. Here each construct becomes what it reads as
on the site:

- a ``{math}`` block becomes ``$$ ... $$``, with ``\\tag{3.1}`` if it has a label, the
  number the site gives it (chapter number, then the order of the labelled equations);
- ``{eq}`label``` becomes "(3.1)"; ``{doc}`page``` the page's title; ``{ref}`target``` the
  section's title or "Exercise 3.1"; ``{cite}`key``` "(Griewank & Walther, 2008)" from
  book/references.bib, and the notebook ends with the list of the works it cites;
  ``{term}``, ``{index}`` their text; ``{math}`` inline ``$...$``;
- an exercise becomes a paragraph "**Exercise 3.1**"; a solution a ``<details>`` block
  ("Solution to Exercise 3.1", folded as on the site), or, when it runs across code cells
  (``solution-start`` ... ``solution-end``), a paragraph "**Solution to Exercise 3.1**" before
  its cells;
- ``literalinclude`` with ``:pyobject:`` becomes the function's source, read from code/nabla
  with ``ast``, in a fenced code block;
- a figure becomes a markdown image, embedded as the cell's attachment;
- ``{glue:text}`key:fmt``` becomes the value formatted as on the site when the chapter's
  executed notebook is there (the build's _build/jupyter_execute), else "(computed by the
  notebook)". With the executed notebook the code cells also keep their outputs (without
  glue's hidden records), so the notebook reads as the page does before it is run.

A construct not listed raises ``ValueError`` naming the chapter and the construct, so a new
one is handled here rather than left as markup. A first code cell makes the notebook run
outside the book's environment: it installs the package nabla from the repository if the
kernel lacks it, and stands in for myst-nb's ``glue`` if myst-nb is missing.
"""

from __future__ import annotations

import argparse
import ast
import base64
import codecs
import json
import mimetypes
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import latexcodec  # noqa: F401  (registers the "ulatex" codec that decodes the .bib's accents)
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
OUT_DIR = "_notebooks"
GLUE_PREFIX = "application/papermill.record/"
GLUE_PLACEHOLDER = "(computed by the notebook)"

# ```{name} argument  (or :::{name}); the fence's indentation, character run and the rest.
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
# A role, or an inline code span (which is left as it is: ``{eq}`x` `` in a code span is text).
INLINE = re.compile(
    r"(?P<role>\{(?P<name>[A-Za-z][\w:.-]*)\}(?P<tick>`+)(?P<content>.+?)(?<!`)(?P=tick)(?!`))"
    r"|(?P<code>(?P<ctick>`+).+?(?<!`)(?P=ctick)(?!`))",
    re.S,
)
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error", "seealso"}


@dataclass
class Page:
    """What other pages need to know about one page of the book."""

    name: str  # the file's stem, "division"
    title: str
    number: int | None  # the chapter number, None for unnumbered pages
    equations: dict = field(default_factory=dict)  # label -> "3.1"
    exercises: dict = field(default_factory=dict)  # label -> "3.1"
    sections: dict = field(default_factory=dict)  # (label)= target -> the heading's text
    figures: dict = field(default_factory=dict)  # a code cell's figure name -> "15.2"


def blocks_outside_fences(text):
    """The lines of ``text`` with a flag: True for a line inside a plain fenced code block."""
    flags, open_fences = [], []  # the fences open around the line: (fence, is a plain code block)
    for line in text.splitlines():
        stripped = line.strip()
        in_code = bool(open_fences) and open_fences[-1][1]
        if open_fences and stripped and set(stripped) == {open_fences[-1][0][0]} and len(stripped) >= len(open_fences[-1][0]):
            open_fences.pop()
            flags.append((line, in_code))
            continue
        if not in_code:
            if directive := DIRECTIVE.match(line):
                open_fences.append((directive["fence"], False))
            elif fence := FENCE.match(line):
                open_fences.append((fence["fence"], True))
                in_code = True
        flags.append((line, in_code))
    return flags


def index_page(name, text, number):
    """A ``Page``: the title, and the numbers of its labelled equations and its exercises."""
    page = Page(name=name, title=name, number=number)
    prefix = f"{number}." if number is not None else ""
    equations = exercises = figures = 0
    lines = blocks_outside_fences(text)
    title_found, pending_target = False, None
    for i, (line, in_code) in enumerate(lines):
        if in_code:
            continue
        if (heading := HEADING.match(line)) and not line.startswith("#!"):
            if not title_found and heading["hashes"] == "#":
                page.title, title_found = heading["title"], True
            if pending_target:
                page.sections[pending_target] = heading["title"]
                pending_target = None
            continue
        if target := TARGET.match(line.strip()):
            pending_target = target["label"]
            continue
        directive = DIRECTIVE.match(line)
        if not directive:
            if line.rstrip().startswith("$$") and (label := re.search(r"\$\$\s*\((?P<label>[^)]+)\)\s*$", line)):
                equations += 1
                page.equations[label["label"]] = f"{prefix}{equations}"
            continue
        options = directive_options([l for l, _ in lines[i + 1:]])
        if directive["name"] == "math" and "label" in options:
            equations += 1
            page.equations[options["label"]] = f"{prefix}{equations}"
        elif directive["name"] == "code-cell":
            # A cell's figure (myst-nb's `:mystnb: {"figure": {"name": ...}}`, or the same under
            # `mystnb:` in a `---` block), numbered per chapter in the order of the page, as
            # Sphinx numbers it ("Figure 15.2").
            figure = (cell_metadata([l for l, _ in lines[i + 1:]], options).get("mystnb") or {}).get("figure") or {}
            if "name" in figure:
                figures += 1
                page.figures[figure["name"]] = f"{prefix}{figures}"
        elif directive["name"] == "exercise" and "nonumber" not in options:
            exercises += 1
            if "label" in options:
                page.exercises[options["label"]] = f"{prefix}{exercises}"
    return page


def cell_metadata(following_lines, options):
    """A code cell's metadata: its ``---`` YAML block if it opens with one, else its ``:key:`` options."""
    if following_lines and following_lines[0].strip() == "---":
        end = next(k for k in range(1, len(following_lines)) if following_lines[k].strip() == "---")
        return yaml.safe_load("\n".join(following_lines[1:end])) or {}
    return {key: yaml.safe_load(value) for key, value in options.items()}


def directive_options(following_lines):
    """The ``:key: value`` lines that open a directive's body, as a dict."""
    options = {}
    for line in following_lines:
        match = OPTION.match(line.strip())
        if not match:
            break
        options[match["key"]] = match["value"].strip()
    return options


class Book:
    """Every page's title, numbers and labels, and the bibliography: what a role refers to."""

    def __init__(self, root=ROOT):
        self.root = Path(root)
        toc = yaml.safe_load((self.root / "_toc.yml").read_text())
        self.pages = {}
        number = 0
        entries = [(toc["root"], False)]
        for part in toc.get("parts", []):
            entries += [(chapter["file"], bool(part.get("numbered"))) for chapter in part["chapters"]]
        self.order = []
        for file, numbered in entries:
            # Jupyter Book numbers the chapters of all numbered parts in one sequence
            # (use_multitoc_numbering), as the site's titles show ("3. Element-wise division").
            if numbered:
                number += 1
            name = Path(file).name
            path = self.root / f"{file}.md"
            self.pages[name] = index_page(name, path.read_text(), number if numbered else None)
            self.order.append(name)
        self.labels = {}
        for page in self.pages.values():
            for label, eq in page.equations.items():
                self.labels.setdefault(("eq", label), eq)
            for label, ex in page.exercises.items():
                self.labels[("ref", label)] = f"Exercise {ex}"
            for label, title in page.sections.items():
                self.labels[("ref", label)] = title
            for label, number in page.figures.items():
                self.labels[("numref", label)] = f"Figure {number}"
        self.bibliography = read_bibliography(self.root / "book" / "references.bib")

    def equation(self, label, where):
        if ("eq", label) not in self.labels:
            raise ValueError(f"{where}: {{eq}}`{label}` names no labelled equation of the book")
        return self.labels[("eq", label)]

    def reference(self, label, where):
        if ("ref", label) in self.labels:
            return self.labels[("ref", label)]
        raise ValueError(f"{where}: {{ref}}`{label}` names no section target or exercise of the book")

    def doc_title(self, target, where):
        name = Path(target.lstrip("/")).name.removesuffix(".md")
        if name not in self.pages:
            raise ValueError(f"{where}: {{doc}}`{target}` names no page of the table of contents")
        return self.pages[name].title


def latex_text(value):
    """A .bib field as plain text: accents decoded, braces dropped."""
    return codecs.decode(value, "ulatex").replace("{", "").replace("}", "").strip()


def read_bibliography(path):
    """``{key: entry}`` of the .bib file (pybtex's entries)."""
    from pybtex.database import parse_file

    return dict(parse_file(str(path)).entries) if path.exists() else {}


def author_year(entry):
    """("Griewank & Walther", "2008"), ("Baydin et al.", "2018")."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [latex_text(" ".join(person.last_names)) for person in people]
    if len(last) >= 3:
        names = f"{last[0]} et al."
    elif last:
        names = " & ".join(last)
    else:
        names = latex_text(entry.fields.get("title", entry.key))
    return names, latex_text(entry.fields.get("year", "n.d."))


def reference_entry(entry):
    """One line of the notebook's reference list."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    full = [latex_text(" ".join(p.first_names + p.middle_names + p.prelast_names + p.last_names)) for p in people]
    names = ", ".join(full[:-1]) + " and " + full[-1] if len(full) > 1 else "".join(full)
    fields = entry.fields
    venue = fields.get("journal") or fields.get("booktitle") or fields.get("publisher") or fields.get("howpublished") or ""
    parts = [f"{names} ({latex_text(fields.get('year', 'n.d.'))}). *{latex_text(fields.get('title', entry.key))}*."]
    if venue:
        parts.append(f"{latex_text(venue)}.")
    if fields.get("url"):
        parts.append(f"<{fields['url']}>")
    elif fields.get("doi"):
        parts.append(f"<https://doi.org/{fields['doi']}>")
    return " ".join(parts)


def python_object_source(path, qualname):
    """The source of ``qualname`` ("MatMul.backward") in the Python file ``path``, decorators
    included and dedented: what ``literalinclude`` with ``:pyobject:`` shows."""
    source = Path(path).read_text()
    nodes = ast.parse(source).body
    found = None
    for part in qualname.split("."):
        found = next((node for node in nodes if getattr(node, "name", None) == part
                      and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), None)
        if found is None:
            raise ValueError(f"literalinclude: {path} defines no {qualname!r}")
        nodes = found.body
    first = min([found.lineno] + [d.lineno for d in found.decorator_list])
    lines = source.splitlines()[first - 1:found.end_lineno]
    return textwrap.dedent("\n".join(lines)).rstrip()


def code_block(code, language="python"):
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", code)), default=0) + 1)
    return f"{fence}{language}\n{code}\n{fence}"


class Converter:
    """Turns one chapter's MyST markdown into plain markdown, cell by cell."""

    def __init__(self, book, page, source_dir, glue=None):
        self.book, self.page, self.source_dir = book, page, Path(source_dir)
        self.glue = glue  # {key: value} from the executed notebook, or None
        self.cited = []  # the .bib keys the chapter cites, in order
        self.attachments = {}

    def where(self, construct):
        return f"{self.page.name}.md: {construct}"

    # Blocks -----------------------------------------------------------------------------------

    def markdown(self, text):
        """The markdown of one cell, converted; the cell's attachments are in self.attachments."""
        lines, out, i = text.splitlines(), [], 0
        while i < len(lines):
            line = lines[i]
            fence = FENCE.match(line)
            directive = DIRECTIVE.match(line)
            if fence and not directive:
                # A plain code block: copied as it is, MyST inside it included (it is shown as code).
                end = self.closing(lines, i, fence["fence"])
                out += lines[i:end + 1]
                i = end + 1
                continue
            if directive:
                end = self.closing(lines, i, directive["fence"])
                indent = directive["indent"]
                body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:end]]
                options = directive_options(body)
                body = body[len(options):]
                if directive["name"] == "solution-start":
                    end, body = self.solution_span(lines, i, end, indent, body)
                block = self.directive(directive["name"], directive["arg"].strip(), options, "\n".join(body))
                out += [indent + l if l else l for l in block.splitlines()]
                i = end + 1
                continue
            stripped = line.strip()
            if TARGET.match(stripped) or (stripped.startswith("%") and not stripped.startswith("%%")):
                i += 1  # a MyST target or comment: nothing to show
                continue
            if stripped.startswith("$$") and re.search(r"\$\$\s*\([^)]+\)\s*$", line):
                label = re.search(r"\$\$\s*\((?P<label>[^)]+)\)\s*$", line)["label"]
                out.append(line[:line.rindex("$$")] + f"\\tag{{{self.book.equation(label, self.where('$$'))}}}")
                out.append(line[:len(line) - len(line.lstrip())] + "$$")
                i += 1
                continue
            out.append(line)
            i += 1
        return self.inline("\n".join(out))

    @staticmethod
    def closing(lines, start, fence):
        """The index of the line that closes the fence opened at ``start``."""
        for j in range(start + 1, len(lines)):
            stripped = lines[j].strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                return j
        return len(lines) - 1

    def solution_span(self, lines, start, end, indent, body):
        """A ``solution-start`` whose ``solution-end`` is in the same cell: its content becomes
        the body (and the span ends at the end directive); otherwise the body stays empty."""
        for j in range(end + 1, len(lines)):
            match = DIRECTIVE.match(lines[j])
            if match and match["name"] == "solution-end":
                close = self.closing(lines, j, match["fence"])
                return close, body + ["", *lines[end + 1:j]]
        return end, body

    def directive(self, name, arg, options, body):
        where = self.where(f"{{{name}}}")
        if name == "math":
            return self.display_math(body, options.get("label"))
        if name == "exercise":
            number = self.page.exercises.get(options.get("label"))
            title = f"**Exercise {number}**" if number else "**Exercise**"
            if arg:
                title += f" ({self.inline(arg)})"
            return f"{title}\n\n{self.markdown(body)}"
        if name in ("solution", "solution-start"):
            label = arg.split()[0] if arg else ""
            exercise = self.page.exercises.get(label)
            if exercise is None:
                raise ValueError(f"{where}: the solution's exercise {label!r} is not an exercise of this chapter")
            title = f"Solution to Exercise {exercise}"
            if name == "solution-start" and not body.strip():
                return f"**{title}**"  # its content runs on through the next code cells
            return f"<details>\n<summary>{title}</summary>\n\n{self.markdown(body)}\n\n</details>"
        if name in ("solution-end", "index"):
            return ""  # an index entry is for the site's index page: nothing to read in a notebook
        if name == "literalinclude":
            path = (self.source_dir / arg).resolve()
            if "pyobject" in options:
                code = python_object_source(path, options["pyobject"])
            elif set(options) & {"lines", "start-after", "end-before", "start-at", "end-at"}:
                raise ValueError(f"{where}: only :pyobject: includes are converted (the book includes no line ranges)")
            else:
                code = path.read_text().rstrip()
            block = code_block(code, options.get("language", "python"))
            if options.get("caption"):
                block = f"*{self.inline(options['caption'])}*\n\n{block}"
            return block
        if name in ("figure", "image"):
            return self.figure(arg, options, body if name == "figure" else "")
        if name in ADMONITIONS or name == "admonition":
            title = arg if name == "admonition" else name.capitalize()
            if name == "seealso":
                title = "See also"
            content = self.markdown(body)
            if "dropdown" in options.get("class", ""):
                return f"<details>\n<summary>{self.inline(title)}</summary>\n\n{content}\n\n</details>"
            return f"**{self.inline(title)}.** {content}"
        raise ValueError(f"{where}: no plain-notebook form for this directive; add one to tools/plain_notebooks.py")

    def display_math(self, body, label):
        # As Sphinx's MathJax output: equations separated by blank lines are aligned rows (here
        # without Sphinx's outer align, which would not take the \tag), and one that breaks
        # lines with \\ is a split.
        parts = [part.strip() for part in body.split("\n\n") if part.strip()]
        parts = [rf"\begin{{split}}{part}\end{{split}}" if r"\\" in part else part for part in parts]
        math = "\n".join(parts) if len(parts) == 1 else (
            r"\begin{aligned}" + "\\\\\n".join(parts) + r"\end{aligned}")
        if label:
            math += rf" \tag{{{self.book.equation(label, self.where('{math}'))}}}"
        return f"\n$$\n{math}\n$$\n"

    def figure(self, path, options, caption):
        file = (self.source_dir / path).resolve()
        alt = options.get("alt", "")
        if file.exists():
            mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self.attachments[file.name] = {mime: base64.b64encode(file.read_bytes()).decode()}
            image = f"![{alt}](attachment:{file.name})"
        else:
            image = f"![{alt}]({path})"
        return image + (f"\n\n*{self.markdown(caption)}*" if caption.strip() else "")

    # Roles ------------------------------------------------------------------------------------

    def inline(self, text):
        return INLINE.sub(self.role, text)

    def role(self, match):
        if match["code"]:
            return match["code"]
        name, content = match["name"], match["content"].strip()
        where = self.where(f"{{{name}}}`{content}`")
        explicit = EXPLICIT.match(content)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, content)
        if name == "eq":
            return f"({self.book.equation(target, where)})"
        if name == "doc":
            return text or f"*{self.book.doc_title(target, where)}*"
        if name == "numref" and ("numref", target) in self.book.labels:
            return text or self.book.labels[("numref", target)]
        if name in ("ref", "numref"):
            return text or self.book.reference(target, where)
        if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts", "cite:alp", "cite:year"):
            return self.citation(name, target, where)
        if name in ("term", "index", "abbr"):
            return text or target
        if name == "math":
            return f"${content}$"
        if name in ("glue:text", "glue", "glue:", "glue:any"):
            return self.glued(content, where)
        if name in ("sub", "sup"):
            return f"<{name}>{content}</{name}>"
        raise ValueError(f"{where}: no plain-notebook form for this role; add one to tools/plain_notebooks.py")

    def citation(self, name, keys, where):
        cites = []
        for key in (k.strip() for k in keys.split(",")):
            if key not in self.book.bibliography:
                raise ValueError(f"{where}: {key!r} is not in book/references.bib")
            if key not in self.cited:
                self.cited.append(key)
            cites.append(author_year(self.book.bibliography[key]))
        if name in ("cite:t", "cite:ts"):
            return "; ".join(f"{names} ({year})" for names, year in cites)
        if name == "cite:year":
            return "; ".join(year for _, year in cites)
        return "(" + "; ".join(f"{names}, {year}" for names, year in cites) + ")"

    def glued(self, content, where):
        key, _, spec = content.partition(":")
        if self.glue is None:
            return GLUE_PLACEHOLDER
        if key not in self.glue:
            raise ValueError(f"{where}: the executed notebook glues no {key!r}")
        value = self.glue[key]
        return format(value, spec) if spec else str(value)


def glue_values(executed, sidecar=None):
    """``{key: value}`` of what the executed notebook's cells glued (their text/plain, read as
    Python literals, as myst-nb reads them). myst-nb 1.x moves the glued outputs out of the
    notebook it writes, into ``<chapter>.glue.json`` beside it: ``sidecar``, that file's
    ``{key: output}``, is read the same way."""
    outputs = [o for cell in executed.cells for o in cell.get("outputs", [])] + list((sidecar or {}).values())
    values = {}
    for output in outputs:
        record = output.get("metadata", {}).get("scrapbook")
        if not record:
            continue
        data = output["data"]
        text = data.get(record.get("mime_prefix", "") + "text/plain", data.get("text/plain"))
        try:
            values[record["name"]] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[record["name"]] = text.strip("'\"")
    return values


def setup_cell(book, page, uses_glue):
    """The first code cell: what a kernel outside the book's environment needs."""
    repo = book_repository(book.root)
    lines = [
        "# This chapter of \"Backprop, Derived\" imports the book's package, nabla. In the book's own",
        "# environment it is installed; in a fresh Jupyter or in Colab this installs it.",
        "import importlib.util",
        "",
        'if importlib.util.find_spec("nabla") is None:',
        f'    %pip install "nabla @ git+{repo}#subdirectory=code"',
    ]
    if uses_glue:
        lines += [
            "",
            "# The chapter's cells hand numbers to the book's text with myst-nb's glue; in this",
            "# notebook the text already has them, so without myst-nb glue only shows them.",
            'if importlib.util.find_spec("myst_nb") is None:',
            "    import sys, types",
            "    from IPython.display import display as _display",
            "",
            '    sys.modules["myst_nb"] = types.ModuleType("myst_nb")',
            '    sys.modules["myst_nb"].glue = lambda name, value, display=True: _display(value) if display else None',
        ]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["setup"]
    return cell


def book_repository(root):
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    repository = config.get("repository", {})
    return f"{repository.get('url', '').rstrip('/')}@{repository.get('branch', 'main')}"


def convert(path, book=None, executed=None, sidecar=None):
    """The plain notebook of the chapter at ``path``; ``executed`` is the chapter's notebook as
    the build executed it (its outputs and glued values are kept), or None; ``sidecar``: the
    glued outputs myst-nb wrote beside it (:func:`glue_values`)."""
    path = Path(path)
    book = book or Book()
    page = book.pages.get(path.stem) or index_page(path.stem, path.read_text(), None)
    source = jupytext.read(path)
    glue = glue_values(executed, sidecar) if executed is not None else None
    if executed is not None and not outputs_match(source, executed):
        raise ValueError(f"{path.name}: its executed notebook's code cells differ from the chapter's; rebuild the book")
    converter = Converter(book, page, path.parent, glue)
    executed_code = iter([c for c in executed.cells if c.cell_type == "code"]) if executed is not None else None

    cells = []
    for cell in source.cells:
        if cell.cell_type == "markdown":
            converter.attachments = {}
            text = converter.markdown(cell.source).strip()
            text = re.sub(r"\n{3,}", "\n\n", text)
            if text:
                new = nbformat.v4.new_markdown_cell(text)
                if converter.attachments:
                    new.attachments = converter.attachments
                cells.append(new)
        elif cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source)
            if cell.metadata.get("tags"):
                new.metadata["tags"] = list(cell.metadata["tags"])
            if executed_code is not None:
                run = next(executed_code)
                new.outputs = [o for o in run.get("outputs", [])
                               if not o.get("metadata", {}).get("scrapbook", {}).get("mime_prefix")]
                new.execution_count = run.get("execution_count")
            cells.append(new)
        else:
            cells.append(nbformat.v4.new_raw_cell(cell.source))

    uses_glue = any("myst_nb" in c.source for c in cells if c.cell_type == "code")
    heading = cells.index(next(c for c in cells if c.cell_type == "markdown")) + 1 if cells else 0
    cells.insert(heading, setup_cell(book, page, uses_glue))
    if converter.cited:
        entries = "\n".join(f"- {reference_entry(book.bibliography[key])}" for key in converter.cited)
        cells.append(nbformat.v4.new_markdown_cell(f"## References\n\n{entries}"))

    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def outputs_match(source, executed):
    ours = [c.source.strip() for c in source.cells if c.cell_type == "code"]
    theirs = [c.source.strip() for c in executed.cells if c.cell_type == "code"]
    return ours == theirs


def notebook_pages(root=ROOT):
    """The pages of the table of contents that are notebooks (a jupytext header with a kernel)."""
    book = Book(root)
    return book, [name for name in book.order if "kernelspec:" in (Path(root) / "book" / f"{name}.md").read_text()[:1000]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built site (default _build/html)")
    parser.add_argument("--executed", type=Path, default=ROOT / "_build" / "jupyter_execute" / "book",
                        help="the build's executed notebooks, whose outputs and glued values are kept")
    args = parser.parse_args(argv)
    book, pages = notebook_pages()
    out = args.site / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name in pages:
        executed_path = args.executed / f"{name}.ipynb"
        executed = nbformat.read(executed_path, as_version=4) if executed_path.exists() else None
        glue_path = executed_path.with_suffix(".glue.json")
        sidecar = json.loads(glue_path.read_text()) if glue_path.exists() else None
        notebook = convert(BOOK / f"{name}.md", book, executed, sidecar)
        nbformat.write(notebook, out / f"{name}.ipynb")
    print(f"plain_notebooks: wrote {len(pages)} notebooks to {out}")


if __name__ == "__main__":
    main()
