"""A Sphinx extension of the book's own: four fixes to what the themes and docutils put on the pages.

1. Each script once. sphinx-thebe (which Jupyter Book always loads) and sphinx-togglebutton
   add their inline scripts (``const THEBE_JS_URL = ...``) once per ``env-before-read-docs``,
   and Jupyter Book's build fires that event twice, so every page declared the constants
   twice and the browser's console showed a SyntaxError on every page. Exact duplicates are
   dropped, the first kept.
2. A light/dark mode to start from. pydata-sphinx-theme's page template reads ``default_mode``
   from the HTML context; Jupyter Book sets none, so every page started from an empty mode and
   logged "Got invalid theme mode" to the console. Setting ``html_context`` in ``_config.yml``
   would replace the whole context Jupyter Book builds, so the default is added here: follow the
   reader's system setting.
3. A bibliography list that is a list. docutils marks the citations' container
   ``role="list"`` but each citation ``role="doc-biblioentry"``, which is not a list item, so
   screen readers (and axe-core, as a critical error) found a list without items. The
   container's role is dropped: the entries keep their own.
4. A notebook that reads as a notebook. sphinx-book-theme's download menu offers ".ipynb":
   the executed notebook as myst-nb read it, its markdown still MyST (``{math}`` blocks as
   text, ``{eq}`` roles, exercises as markup, included code missing). The entry is pointed at
   the plain notebook that tools/plain_notebooks.py writes next to the site
   (``_notebooks/<chapter>.ipynb``, after the build: ``make book`` runs it), which opens in any
   Jupyter or in Colab.
"""


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts, seen, unique = context.get("script_files", []), set(), []
    for script in scripts:
        # A script is its file or its inline body, with its attributes; the priority that
        # only orders it is left out (and an inline script's filename is None or ""), so a
        # re-added copy counts as the same script.
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def unlist_citations(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = context["body"].replace('<div role="list" class="citation-list">', '<div class="citation-list">')


PLAIN_NOTEBOOKS = "_notebooks"  # tools/plain_notebooks.py's OUT_DIR


def offer_plain_notebook(app, pagename, templatename, context, doctree):
    """Point the download menu's ".ipynb" entry at the chapter's plain notebook."""
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if group.get("label") == "download-buttons" else []:
            if button.get("label") == "download-notebook-button":
                button["url"] = f"{context['pathto'](PLAIN_NOTEBOOKS, 1)}/{pagename.rsplit('/', 1)[-1]}.ipynb"
                button["tooltip"] = "Download as a plain Jupyter notebook (for any Jupyter, or Colab by upload)"


def default_to_system_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")


def setup(app):
    app.connect("config-inited", default_to_system_mode)
    # Early: Sphinx stops calling html-page-context handlers at the first that returns a
    # template name, and a theme's handler may; the duplicates are already in the list by then.
    app.connect("html-page-context", drop_duplicate_scripts, priority=100)
    app.connect("html-page-context", unlist_citations, priority=100)
    # After sphinx-book-theme fills the download menu (its handlers run at priority 501).
    app.connect("html-page-context", offer_plain_notebook, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
