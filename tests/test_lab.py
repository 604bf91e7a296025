"""JupyterLab as its users use it: a real Lab server on loopback, a chapter's MyST source opened as a
Jupytext notebook, every cell run on the smoke profile in headless Chromium (its runs loaded from the
store the smoke book filled), outputs present and no error, and the live beta slider redrawing through
the kernel when moved."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import copy_book

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHAPTER = "book/05_fig3_capacity.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, smoke_book):
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    root = copy_book(tmp_path_factory.mktemp("lab"))
    # the smoke runs the book build trained (the training path is the book test's), so the Lab
    # kernel loads them from its store, as a reader's kernel loads the shipped results
    shutil.copytree(smoke_book[0] / "results" / "smoke", root / "results" / "smoke")
    chapter = root / CHAPTER
    source = chapter.read_text()
    assert source.count('profile = "cpu"') == 1
    chapter.write_text(source.replace('profile = "cpu"', 'profile = "smoke"'))  # as a user would edit it
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "RDVAE_ROOT": str(root)}  # the kernel's store is the scratch copy's
    log = open(root / "lab.log", "w")  # the server writes it until the fixture ends
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True",
        f"--LabApp.workspaces_dir={root / '.workspaces'}",  # no layout restored from the user's sessions
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            assert server.poll() is None, (root / "lab.log").read_text()
            assert time.time() < deadline, "JupyterLab did not start in 120 s"
            time.sleep(0.5)
    yield url, token
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    url, token = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab?token={token}", timeout=120_000)
        page.wait_for_function("window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        page.evaluate("async () => await window.jupyterapp.started")
        page.evaluate(
            "async (path) => await window.jupyterapp.commands.execute('docmanager:open',"
            " {path, factory: 'Jupytext Notebook'})",
            CHAPTER,
        )
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_function(_KERNEL_IDLE, timeout=120_000)
        page.evaluate("async () => await window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(_ALL_EXECUTED, timeout=600_000, polling=1000)
        yield page
        browser.close()


_NOTEBOOK = "window.jupyterapp.shell.currentWidget"
_KERNEL_IDLE = f"""() => {{
    const kernel = {_NOTEBOOK}?.sessionContext?.session?.kernel;
    return kernel && kernel.status === 'idle';
}}"""
_ALL_EXECUTED = f"""() => {{
    const widget = {_NOTEBOOK};
    const cells = widget.content.model.cells;
    let waiting = false;
    for (let i = 0; i < cells.length; i++) {{
        const cell = cells.get(i);
        const source = cell.sharedModel.source.trim();
        if (cell.type === 'code' && source && cell.executionCount === null) waiting = true;
    }}
    return !waiting && widget.sessionContext.session.kernel.status === 'idle';
}}"""


def test_every_cell_ran_with_outputs_and_no_error(page):
    report = page.evaluate(
        f"""() => {{
        const cells = {_NOTEBOOK}.content.model.cells;
        const out = {{code: 0, withOutput: 0, errors: []}};
        for (let i = 0; i < cells.length; i++) {{
            const cell = cells.get(i);
            if (cell.type !== 'code') continue;
            out.code += 1;
            const outputs = cell.outputs.toJSON();
            if (outputs.length) out.withOutput += 1;
            for (const o of outputs) {{
                if (o.output_type === 'error') out.errors.push(o.ename + ': ' + o.evalue);
            }}
        }}
        return out;
    }}"""
    )
    assert report["errors"] == []
    assert report["code"] >= 6 and report["withOutput"] >= 4, report
    assert page.locator(".jp-RenderedImage img").count() >= 1  # Figure 3 drawn in the notebook


def test_the_live_beta_slider_redraws_when_moved(page):
    interact = page.locator(".widget-interact").first
    interact.scroll_into_view_if_needed()
    image = interact.locator("img").first
    image.wait_for(timeout=60_000)
    before = image.get_attribute("src")
    readout = interact.locator(".widget-readout").first.inner_text()
    interact.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([before]) => { const img = document.querySelector('.widget-interact img');"
        " return img && img.getAttribute('src') !== before; }",
        arg=[before],
        timeout=60_000,
    )
    assert interact.locator(".widget-readout").first.inner_text() != readout
