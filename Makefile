# One command builds the book, one runs the tests; each installs what it needs first.
#   make book    install into .venv, execute every chapter, build the site into _build/html
#                (--all: Sphinx would otherwise skip re-reading chapters it thinks unchanged,
#                and their outputs would go stale after an edit to code/nabla), then write each
#                chapter as a plain Jupyter notebook, _build/html/_notebooks/<chapter>.ipynb, which
#                the page's download menu offers (tools/plain_notebooks.py), and print the PDF
#   make pdf     print the built site as one PDF, _build/html/backprop-derived.pdf (make book does it too)
#   make test    install into .venv, run the tests (the site tests read _build/html)
#   make chapter NAME=division   execute one chapter on its own and name a failing cell

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install book pdf test chapter clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt code/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

book: install
	$(BIN)/jupyter-book build . --builder html --all -n -W --keep-going
	$(BIN)/python tools/plain_notebooks.py
	$(BIN)/python tools/book_pdf.py

pdf: install
	$(BIN)/python tools/book_pdf.py

test: install
	$(BIN)/python -m pytest

chapter: install
	@test -n "$(NAME)" || { echo "make chapter: say which chapter, e.g. make chapter NAME=division"; exit 2; }
	@test -f "book/$(NAME).md" || { echo "make chapter: there is no chapter book/$(NAME).md; the chapters are: $$(cd book && ls *.md | sed 's/\.md$$//' | tr '\n' ' ')"; exit 2; }
	$(BIN)/python -m pytest -m chapters -k "$(NAME)"

clean:
	rm -rf _build
