"""The built site, used as a reader uses it: pages opened, buttons pressed, in headless Chromium.

test_site.py reads the HTML and the DOM that Chromium typesets; these tests drive the page
through Playwright (the system's Chromium, no browser download): what the console reports, and
whether the sidebars open on a phone. Like test_site.py they read ``_build/html`` (run
``make book`` first) and skip without a built site or Chromium, except in CI, where that fails.
"""

import re

import pytest

from conftest import ROOT
from test_site import CHROMIUM, PAGES, missing, site  # noqa: F401 - site is the built-site fixture

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by requirements.txt")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
CHAPTER = "book/division"  # any chapter with a table of contents on both sides


@pytest.fixture(scope="module")
def browser(site):
    if CHROMIUM is None:
        missing("Chromium is not installed (`apt-get install chromium`), so the pages were not opened")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def open_page(browser, site, file, viewport):
    """A page of the built site, and the list its console errors, script errors and failed loads go to."""
    page = browser.new_page(viewport=viewport)
    problems = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed to load {request.url}"))
    page.goto((site / f"{file}.html").as_uri())
    page.wait_for_load_state("load")
    return page, problems


@pytest.mark.parametrize("file", PAGES)
def test_a_page_logs_no_error_and_loads_everything_it_asks_for(browser, site, file):
    page, problems = open_page(browser, site, file, DESKTOP)
    page.wait_for_timeout(300)  # scripts that run after load (the theme's, MathJax's start)
    page.close()
    assert problems == [], f"{file}: {problems}"


def visible(page, selector):
    return [element for element in page.locator(selector).all() if element.is_visible()]


@pytest.mark.parametrize(
    "toggle, dialog, content",
    [
        (".primary-toggle", "#pst-primary-sidebar-modal", "Element-wise division"),  # the chapters
        (".secondary-toggle", "#pst-secondary-sidebar-modal", "Exercises"),  # on this page
    ],
)
def test_on_a_phone_the_visible_toggles_open_their_sidebars(browser, site, toggle, dialog, content):
    page, problems = open_page(browser, site, CHAPTER, PHONE)
    buttons = visible(page, toggle)
    assert len(buttons) == 1, f"{len(buttons)} visible {toggle} buttons at {PHONE['width']} px; expected one"
    assert not page.evaluate(f"document.querySelector('{dialog}').open")
    buttons[0].click()
    page.wait_for_timeout(300)
    opened = page.locator(dialog)
    assert page.evaluate(f"document.querySelector('{dialog}').open"), f"{toggle}: pressed, but {dialog} did not open"
    box = opened.bounding_box()
    assert box and box["width"] >= 0.5 * PHONE["width"], f"{dialog} opened with the box {box}"
    assert content in opened.inner_text()
    page.close()
    assert problems == []


@pytest.fixture(scope="module")
def axe():
    module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python is installed by requirements.txt")
    return module.Axe()


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("file", PAGES)
def test_axe_core_finds_no_serious_or_critical_violation(browser, site, axe, file, mode):
    """axe-core, the accessibility checker browsers' own tools use, in the reader's light or dark mode."""
    page = browser.new_page(viewport=DESKTOP, color_scheme=mode)
    page.goto((site / f"{file}.html").as_uri())
    page.wait_for_load_state("load")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    # The theme fades colours in when it applies the mode; axe must measure the colours the
    # reader ends with, not a frame of the fade (a contrast failure came and went that way).
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
    page.wait_for_timeout(100)
    violations = axe.run(page).response["violations"]
    page.close()
    serious = [f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:3]}" for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{file} in {mode} mode: {serious}"


@pytest.mark.parametrize("file", ["book/batchnorm", "book/width"])  # pages with equations wider than a phone
def test_axe_core_finds_no_serious_or_critical_violation_on_a_phone(browser, site, axe, file):
    """On a phone the wide equations scroll and become tab stops (book.js): that must stay accessible too."""
    page = browser.new_page(viewport=PHONE)
    page.goto((site / f"{file}.html").as_uri())
    page.wait_for_load_state("load")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
    page.wait_for_timeout(200)
    stops = page.locator('mjx-container[display="true"][tabindex="0"]').count()
    violations = axe.run(page).response["violations"]
    page.close()
    assert stops > 0, f"{file}: no equation is wide enough on a phone to test"
    serious = [f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:3]}" for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{file} on a phone: {serious}"


def test_math_is_reachable_but_not_a_tab_stop(browser, site):
    page, problems = open_page(browser, site, CHAPTER, DESKTOP)
    page.evaluate("() => MathJax.startup.promise")
    assert page.locator("mjx-container").count() > 50
    assert page.locator("mjx-container[tabindex]").count() == 0  # no tab stop each
    assert page.locator("mjx-container mjx-assistive-mml").count() > 50  # what a screen reader reads
    page.close()


def test_every_page_declares_its_icon(site):
    from test_site import soup

    for file in PAGES:
        icons = soup(site, file).select('link[rel="icon"]')
        assert icons and (site / file).parent.joinpath(icons[0]["href"]).resolve().exists(), f"{file}: no favicon"


# Point 6 of issue 14: no bar across the top that holds nothing but a second search box, and
# tables a cell prints that a reader can read (cells padded, captions legible in both modes).
WIDTHS = [PHONE["width"], 800, 1000, DESKTOP["width"]]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_empty_header_bar_and_one_search_control(browser, site, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto((site / f"{CHAPTER}.html").as_uri())
    page.wait_for_load_state("load")
    # pydata-sphinx-theme's site-wide header (4rem, 64 px, when it has anything in it) takes no room.
    header = page.locator("header.bd-header").bounding_box()
    assert header is None or header["height"] == 0, f"at {width} px the site header bar is {header}"
    # The article's bar (the sidebar toggle and the page's buttons) is the only bar above the title.
    title = page.locator("article h1").first.bounding_box()
    assert title["y"] < 100, f"at {width} px the title starts {title['y']} px down"
    searches = [e for e in page.locator(".search-button, .search-button-field, form.bd-search").all() if e.is_visible()]
    page.close()
    assert len(searches) == 1, f"at {width} px {len(searches)} search controls are visible"


CONTRAST = """(element) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let background = element;
  while (background && rgb(getComputedStyle(background).backgroundColor).length === 4
         && rgb(getComputedStyle(background).backgroundColor)[3] === 0) background = background.parentElement;
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)),
                  luminance(rgb(getComputedStyle(background || document.body).backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("file", ["book/batchnorm", "book/performance"])  # a hand-built table, pandas' tables
def test_printed_tables_are_padded_and_their_captions_legible(browser, site, file, mode):
    if (site / "_static" / "book.css").read_text() != (ROOT / "book" / "_static" / "book.css").read_text():
        pytest.skip("the site was built with an older book/_static/book.css: run `make book`")
    page = browser.new_page(viewport=DESKTOP, color_scheme=mode)
    page.goto((site / f"{file}.html").as_uri())
    page.wait_for_load_state("load")
    cells = page.locator("div.cell_output table td")
    assert cells.count() > 0, f"{file}: no table in a cell's output"
    paddings = page.evaluate("""() => [...document.querySelectorAll('div.cell_output table td')]
        .map(td => [parseFloat(getComputedStyle(td).paddingLeft), parseFloat(getComputedStyle(td).paddingTop)])""")
    captions = [page.locator("div.cell_output table caption").nth(i) for i in range(page.locator("div.cell_output table caption").count())]
    contrasts = [caption.evaluate(CONTRAST) for caption in captions]
    page.close()
    assert min(left for left, _ in paddings) >= 8 and min(top for _, top in paddings) >= 3, f"{file}: cell padding {min(paddings)} px"
    assert all(contrast >= 4.5 for contrast in contrasts), f"{file} in {mode} mode: caption contrasts {contrasts}"


# Point 2 of issue 14: nothing is cut off. An element wider than its box must be reachable: it
# scrolls sideways in a box of its own (code, a wide equation on a phone), and a scrolling
# equation is a keyboard tab stop (book.js). On a desktop every display equation fits its
# column outright; printed (A4 less the PDF's margins, tools/book_pdf.py) nothing runs past the page.
def typeset(browser, site, file, viewport, media=None):
    page = browser.new_page(viewport=viewport)
    page.goto((site / f"{file}.html").as_uri())
    page.wait_for_load_state("load")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    if media:
        page.emulate_media(media=media)
    page.wait_for_timeout(100)  # book.js marks wide equations once MathJax is done
    return page


CUT_OFF = """() => {
  const scrolls = (el) => { for (let a = el; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (a.scrollWidth > a.clientWidth + 1 && (s.overflowX === 'auto' || s.overflowX === 'scroll')) return true; }
    return false; };
  const name = (el) => `${el.tagName.toLowerCase()} in #${(el.closest('[id]') || {}).id}`;
  const right = document.querySelector('main').getBoundingClientRect().right;
  const wide = [], cut = [], unreachable = [];
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    if (eq.scrollWidth > eq.clientWidth + 1) { wide.push(name(eq)); if (eq.getAttribute('tabindex') !== '0') unreachable.push(name(eq)); }
  }
  for (const el of document.querySelectorAll('mjx-container[display="true"], pre, table, img, figure, .admonition')) {
    const past = el.getBoundingClientRect().left + el.scrollWidth > right + 1;
    if ((el.scrollWidth > el.clientWidth + 1 || past) && !scrolls(el)) cut.push(name(el));
  }
  return {wide, cut, unreachable, sideways: document.documentElement.scrollWidth > document.documentElement.clientWidth};
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_nothing_is_cut_off(browser, site, viewport):
    found = {}
    for file in PAGES:
        page = typeset(browser, site, file, viewport)
        result = page.evaluate(CUT_OFF)
        page.close()
        if viewport is DESKTOP:
            result["unreachable"] = []  # nothing may be wide at all: "wide" must be empty
        else:
            result["wide"] = []  # a phone column is narrower than many equations: they must scroll, reachably
        found.update({f"{file}: {key}": value for key, value in result.items() if value})
    assert found == {}, f"at {viewport['width']} px: {found}"


def test_a_printed_page_loses_nothing_past_its_edge(browser, site):
    a4_text_width = round((210 - 2 * 16) / 25.4 * 96)  # A4 less tools/book_pdf.py's 16 mm margins, in CSS px
    past = {}
    for file in PAGES:
        page = typeset(browser, site, file, {"width": a4_text_width, "height": 1100}, media="print")
        edge = page.evaluate("""() => { const right = document.querySelector('main').getBoundingClientRect().right;
            return [...document.querySelectorAll('mjx-container[display="true"], pre, table, img')]
              .filter(el => Math.max(el.getBoundingClientRect().right, el.getBoundingClientRect().left + el.scrollWidth) > right + 1)
              .map(el => `${el.tagName.toLowerCase()} in #${(el.closest('[id]') || {}).id}`); }""")
        page.close()
        if edge:
            past[file] = edge
    assert past == {}, f"printed at {a4_text_width} px wide, these run past the page: {past}"


# Point 5 of issue 14: figures are numbered, captioned, referred to from the prose, open at full
# size, and their text reads at nabla._figure.MIN_TEXT_PX on the column it was sized for.
def test_figures_are_numbered_captioned_referred_to_and_open_at_full_size(browser, site):
    problems = {}
    for file in PAGES:
        page = typeset(browser, site, file, DESKTOP)
        figures = page.evaluate("""() => [...document.querySelectorAll('div.cell_output img')].map(img => {
            const figure = img.closest('figure'), link = img.closest('a.figure-enlarge');
            const number = figure && figure.querySelector('figcaption .caption-number');
            return {src: img.getAttribute('src'), id: figure && figure.id,
                    number: number ? number.textContent.trim() : null,
                    caption: figure ? (figure.querySelector('figcaption .caption-text') || {}).textContent || '' : '',
                    cited: figure ? document.querySelectorAll(`a[href="#${figure.id}"]:not(.headerlink)`).length : 0,
                    link: link ? link.getAttribute('href') : null, alt: img.getAttribute('alt') || ''}; })""")
        page.close()
        for figure in figures:
            wrong = [what for what, bad in [
                ("not numbered 'Figure N.k'", not re.match(r"Figure \d+\.\d+", figure["number"] or "")),
                ("no caption", len(figure["caption"].strip()) < 20),
                ("not referred to from the text", figure["cited"] == 0),
                ("no alt text", len(figure["alt"]) < 20),
                ("does not open at full size", figure["link"] != figure["src"] or not (site / file).parent.joinpath(figure["src"]).exists()),
            ] if bad]
            if wrong:
                problems[f"{file}: {figure['id'] or figure['src']}"] = wrong
    assert problems == {}, problems


def test_the_column_figures_are_sized_for_is_the_column_a_desktop_reader_sees(browser, site):
    from nabla._figure import COLUMN_PX

    page = typeset(browser, site, "book/width", DESKTOP)
    column = page.evaluate("() => document.querySelector('article.bd-article section').getBoundingClientRect().width")
    page.close()
    assert abs(column - COLUMN_PX) <= 3, f"the text column is {column} px wide; nabla._figure.COLUMN_PX says {COLUMN_PX}"


# Point 9 of issue 14: the site's search puts the chapter that defines a concept first (the
# glossary's entry for the word may come before it: it links to the same chapter).
@pytest.mark.parametrize("query, chapter", [
    ("batch norm", "book/batchnorm"), ("layer norm", "book/batchnorm"), ("dropout", "book/dropout"),
    ("softmax", "book/softmax"), ("im2col", "book/convolution"), ("weight decay", "book/regularisation"),
])
def test_search_puts_the_defining_chapter_first(browser, site, query, chapter):
    page = browser.new_page(viewport=DESKTOP)
    page.goto((site / "search.html").as_uri() + "?q=" + query.replace(" ", "+"))
    page.wait_for_selector("#search-results ul.search li a", timeout=20000)
    results = [link.get_attribute("href").split("#")[0].split("?")[0] for link in page.locator("#search-results ul.search li a").all()]
    page.close()
    pages = [href for href in results if not href.endswith("glossary.html")]
    assert pages and pages[0].endswith(f"{chapter}.html"), f"{query!r}: the results are {results[:5]}"
