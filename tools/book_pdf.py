"""The whole book as one PDF, printed from the built site by headless Chromium.

    python tools/book_pdf.py                  # reads _build/html, writes _build/html/backprop-derived.pdf

Every page of the table of contents is opened in Chromium (through Playwright, the browser the
site tests use) with the print stylesheet (book/_static/book.css hides the navigation and lets
long lines wrap), MathJax is let finish, and the page is printed to A4. The pages are then
joined in the table of contents' order behind a title page and a contents page that gives each
chapter's first page, and the PDF's outline (its bookmarks) lists the parts and chapters. The
site's executed outputs are printed as they are: no cell runs again.
"""

from __future__ import annotations

import argparse
import html
import io
import shutil
import sys
from pathlib import Path

import yaml
from pypdf import PdfReader, PdfWriter

ROOT = Path(__file__).resolve().parent.parent
PDF_NAME = "backprop-derived.pdf"
MARGIN = {"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}
FOOTER = '<div style="font-size:8px;width:100%;text-align:center;color:#555"><span class="title"></span></div>'


def table_of_contents(root=ROOT):
    """``[(part caption or None, page path without .md), ...]`` in reading order, from _toc.yml."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [(None, toc["root"])]
    for part in toc.get("parts", []):
        pages += [(part.get("caption"), chapter["file"]) for chapter in part["chapters"]]
    return pages


def print_page(browser, url):
    """One page of the site as PDF bytes, and its title, once MathJax has typeset it."""
    page = browser.new_page()
    page.goto(url)
    page.wait_for_load_state("load")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.emulate_media(media="print")
    # The page's title carries the chapter's number ("3. Element-wise division — Backprop, Derived").
    title = page.title().rsplit(" \u2014 ", 1)[0].strip()
    pdf = page.pdf(format="A4", margin=MARGIN, print_background=True, display_header_footer=True,
                   header_template="<span></span>", footer_template=FOOTER)
    page.close()
    return pdf, title


def front_matter_html(book_title, entries):
    """The title page and the contents page: ``entries`` are (part, title, first page)."""
    rows, part = [], object()
    for caption, title, first in entries:
        if caption != part and caption:
            rows.append(f'<tr><td colspan="2" class="part">{html.escape(caption)}</td></tr>')
        part = caption
        rows.append(f"<tr><td>{html.escape(title)}</td><td class='n'>{first}</td></tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
      body {{ font-family: sans-serif; }}
      .title {{ height: 240mm; display: flex; flex-direction: column; justify-content: center; text-align: center; break-after: page; }}
      .title h1 {{ font-size: 34pt; margin: 0; }}
      table {{ width: 100%; border-collapse: collapse; font-size: 11pt; }}
      td {{ padding: 3px 0; }} td.n {{ text-align: right; }}
      td.part {{ font-weight: bold; padding-top: 12px; }}
    </style></head><body>
      <div class="title"><h1>{html.escape(book_title)}</h1><p>An executable textbook of backpropagation</p></div>
      <h2>Contents</h2><table>{''.join(rows)}</table></body></html>"""


def build_pdf(site, out, root=ROOT):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("book_pdf: Chromium is not installed (apt-get install chromium); the PDF is printed by it")
    book_title = yaml.safe_load((root / "_config.yml").read_text())["title"]
    pages = table_of_contents(root)
    missing = [name for _, name in pages if not (site / f"{name}.html").exists()]
    if missing:
        sys.exit(f"book_pdf: {site} has no page for {', '.join(missing)}; run `make book` first")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        printed = [(caption, *print_page(browser, (site / f"{name}.html").as_uri())) for caption, name in pages]
        readers = [(caption, PdfReader(io.BytesIO(pdf)), title) for caption, pdf, title in printed]
        front_pages = 2
        for _ in range(3):  # the contents may take more than one page; number until it settles
            first, entries = front_pages + 1, []
            for caption, reader, title in readers:
                entries.append((caption, title, first))
                first += len(reader.pages)
            page = browser.new_page()
            page.set_content(front_matter_html(book_title, entries))
            front = PdfReader(io.BytesIO(page.pdf(format="A4", margin=MARGIN)))
            page.close()
            if len(front.pages) == front_pages:
                break
            front_pages = len(front.pages)
        browser.close()

    writer = PdfWriter()
    writer.append(front)
    parts = {}
    for (caption, reader, title), (_, _, first) in zip(readers, entries):
        start = len(writer.pages)
        writer.append(reader)
        parent = None
        if caption:
            if caption not in parts:
                parts[caption] = writer.add_outline_item(title=caption, page_number=start)
            parent = parts[caption]
        writer.add_outline_item(title=title, page_number=start, parent=parent)
        assert start + 1 == first, f"contents says page {first} for {title!r}, but it starts on page {start + 1}"
    writer.add_metadata({"/Title": book_title})
    tmp = out.with_suffix(".pdf.tmp")
    with open(tmp, "wb") as file:
        writer.write(file)
    tmp.replace(out)  # never a half-written PDF in the site
    return len(writer.pages)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built site (default: _build/html)")
    parser.add_argument("--out", type=Path, default=None, help=f"the PDF to write (default: SITE/{PDF_NAME})")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        parser.error(f"no built site at {args.site}: run `make book` first")
    out = args.out or args.site / PDF_NAME
    if not out.parent.is_dir():
        parser.error(f"--out: the folder {out.parent} does not exist")
    pages = build_pdf(args.site, out)
    print(f"wrote {out} ({pages} pages)")


if __name__ == "__main__":
    main()
