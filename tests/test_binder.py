"""Binder's launch, simulated here: binder/ configures JupyterLab, and a chapter opens as a notebook.

Binder (repo2docker) builds an image from binder/: Python from runtime.txt, the packages of
requirements.txt (the book's pins with CPU-only torch), then runs postBuild. The test runs the
same postBuild into a temporary prefix, starts JupyterLab on this machine's loopback address
with the settings it wrote, and opens the path of a chapter's Binder button in headless
Chromium: the chapter must open as a notebook (Jupytext's viewer, not the text editor) with a
running Python kernel.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from test_site import CHROMIUM, missing

BINDER = ROOT / "binder"


def test_binder_pins_python_and_takes_cpu_only_torch():
    assert (BINDER / "runtime.txt").read_text().strip() == f"python-{sys.version_info.major}.{sys.version_info.minor}"
    lines = [line.strip() for line in (BINDER / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "-r ../requirements.txt" in lines  # the book's own pins, written once
    pinned = {line.split("==")[0]: line.split("==")[1] for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line and not line.startswith("#")}
    for package in ("torch", "torchvision"):
        assert f"{package}=={pinned[package]}+cpu" in lines, f"binder/requirements.txt must pin the CPU build of {package}=={pinned[package]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as Binder's postBuild leaves it, serving the repository on a loopback port."""
    jupyter = Path(sys.executable).with_name("jupyter")
    if shutil.which("jupyter-lab", path=str(jupyter.parent)) is None:
        missing("JupyterLab is not installed (it is in requirements.txt)")
    prefix, home = tmp_path_factory.mktemp("prefix"), tmp_path_factory.mktemp("home")
    subprocess.run([str(BINDER / "postBuild")], cwd=ROOT, env={**os.environ, "NB_PYTHON_PREFIX": str(prefix)}, check=True)
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    command = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
               f"--LabApp.app_settings_dir={prefix / 'share' / 'jupyter' / 'lab' / 'settings'}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(240):  # a cold start on a busy machine takes a while
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(home / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def binder_path(site, chapter):
    """The path a chapter's Binder button asks for, read from the built page (or from the toc without one)."""
    page = site / f"{chapter}.html"
    if page.exists():
        match = re.search(r"mybinder\.org/v2/gh/[^\"?]+\?urlpath=([^\"&]+)", page.read_text())
        assert match, f"{chapter}.html has no Binder button"
        return match.group(1)
    return f"lab/tree/{chapter}.md"


def test_a_chapter_opens_from_its_binder_link_as_a_notebook_with_a_kernel(lab):
    if CHROMIUM is None:
        missing("Chromium is not installed (`apt-get install chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from conftest import SITE

    path = binder_path(SITE, "book/division")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{lab}/{path}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)  # a notebook, not the text editor
        assert page.locator(".jp-FileEditor").count() == 0
        status = ""
        for _ in range(240):
            status = " ".join(page.locator(".jp-StatusBar-Widget").all_inner_texts())
            if "Idle" in status:
                break
            time.sleep(0.5)
        browser.close()
    assert "Python 3" in status and "Idle" in status, f"no running Python kernel; the status bar says {status!r}"
