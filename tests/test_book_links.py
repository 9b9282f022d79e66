"""The links between the package and the book: equation labels, chapter names, included code.

A comment ``# eq. matmul-x`` in code/nabla says which labelled equation a line implements, a
docstring says "Derived in book/matmul.md", and a chapter includes code with
``{literalinclude}`` and ``:pyobject:``. Each is a name that could drift when the other side is
renamed; these tests fail the moment one does, without building the book.
"""

import ast
import inspect
import re

import pytest

import nabla as nb
from conftest import BOOK, ROOT

PACKAGE = ROOT / "code" / "nabla"
SOURCES = sorted(PACKAGE.rglob("*.py"))
CHAPTERS = sorted(BOOK.glob("*.md"))

# "eq. matmul-x" cites one label; "eqs. conv-col2im, conv-x" several.
ONE_EQUATION = re.compile(r"\beq\. ([a-z0-9]+(?:-[a-z0-9]+)*)")
SEVERAL_EQUATIONS = re.compile(r"\beqs\. ([a-z0-9]+(?:-[a-z0-9]+)*(?:, [a-z0-9]+(?:-[a-z0-9]+)*)*)")


def book_labels():
    return {label for chapter in CHAPTERS for label in re.findall(r"^:label: (\S+)", chapter.read_text(), re.MULTILINE)}


def cited_equations():
    """(file:line, label) for every equation the package's comments and docstrings cite."""
    citations = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}"
            citations += [(where, label) for label in ONE_EQUATION.findall(line)]
            for labels in SEVERAL_EQUATIONS.findall(line):
                citations += [(where, label) for label in labels.split(", ")]
    return citations


def test_the_package_cites_equations():
    assert len(cited_equations()) > 50  # the pattern still finds the comments


def test_every_cited_equation_is_labelled_in_the_book():
    labels = book_labels()
    missing = [f"{where}: eq. {label}" for where, label in cited_equations() if label not in labels]
    assert not missing, "these equations are labelled in no chapter:\n" + "\n".join(missing)


def test_every_chapter_the_package_names_exists():
    named = {
        (path.relative_to(ROOT), name)
        for path in SOURCES
        for name in re.findall(r"\bbook/([a-z0-9-]+)\.md\b", path.read_text())
    }
    missing = [f"{where}: book/{name}.md" for where, name in sorted(named) if not (BOOK / f"{name}.md").exists()]
    assert not missing, "no such chapter:\n" + "\n".join(missing)


def defined_names(tree):
    """Every class and function in a module, by dotted name (``MatMul``, ``MatMul.backward``)."""
    names = set()

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(prefix + child.name)
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return names


def literal_includes():
    """(chapter, included path, pyobject or None) for every {literalinclude} in the book."""
    includes = []
    for chapter in CHAPTERS:
        for block in re.findall(r"```\{literalinclude\} (\S+)\n((?:\s*:[a-z-]+:.*\n)*)", chapter.read_text()):
            path, options = block
            pyobject = re.search(r":pyobject: (\S+)", options)
            includes.append((chapter.name, path, pyobject.group(1) if pyobject else None))
    return includes


def test_every_literalinclude_names_a_file_and_an_object_in_it():
    includes = literal_includes()
    assert len(includes) > 50
    broken = []
    for chapter, path, pyobject in includes:
        source = (BOOK / path).resolve()
        if not source.exists():
            broken.append(f"{chapter}: {path} does not exist")
        elif pyobject and pyobject not in defined_names(ast.parse(source.read_text())):
            broken.append(f"{chapter}: {path} defines no {pyobject}")
    assert not broken, "\n".join(broken)


OP_CLASSES = sorted(
    {cls for cls in vars(nb.ops).values() if inspect.isclass(cls) and issubclass(cls, nb.ops.Op) and cls is not nb.ops.Op},
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("op", OP_CLASSES, ids=lambda op: op.__name__)
def test_every_op_says_its_math_its_shapes_and_where_the_book_derives_it(op):
    doc = inspect.getdoc(op)
    assert doc and doc.startswith("$"), f"{op.__name__}: the docstring should open with the math"
    derived = re.search(r"Derived in book/([a-z0-9-]+)\.md", doc)
    assert derived, f"{op.__name__}: the docstring should say 'Derived in book/<chapter>.md'"
    assert "shape" in doc, f"{op.__name__}: the docstring should give the shapes"
    assert doc.index("shape") < derived.start(), f"{op.__name__}: the shapes come before where it is derived"
