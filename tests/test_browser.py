"""The rendered book in headless Chromium: no external request, math typeset, slider works offline."""

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"],
        )
        yield launched
        launched.close()


def _open(browser, path):
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="networkidle", timeout=90_000)  # generous: CI machines are busy
    return page, requests


def _external(requests):
    return [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


def test_pages_make_no_external_request(smoke_book, browser):
    root, _, _ = smoke_book
    pages = sorted((root / "_build" / "html" / "_executed").glob("*.html"))
    assert len(pages) >= 4
    for html in pages:
        page, requests = _open(browser, html)
        assert _external(requests) == [], html.name
        assert any("/_static/widgets/embed.js" in u for u in requests)  # the vendored copy
        page.close()


def test_math_is_typeset_offline(smoke_book, browser):
    root, _, _ = smoke_book
    page, _ = _open(browser, root / "_build" / "html" / "_executed" / "01_rate_distortion.html")
    page.wait_for_selector("mjx-container", timeout=15000)
    assert page.locator("mjx-container").count() > 5
    page.close()


@pytest.mark.parametrize("chapter,steps", [("02_tetrominoes", 3), ("05_fig3_capacity", 2)])
def test_static_slider_changes_the_image(smoke_book, browser, chapter, steps):
    root, _, _ = smoke_book
    page, requests = _open(browser, root / "_build" / "html" / "_executed" / f"{chapter}.html")
    page.wait_for_selector("img.widget-image", timeout=15000)
    handle = page.locator(".widget-hslider .noUi-handle").first

    def visible_image():
        return page.locator("img.widget-image").first.get_attribute("src")

    seen = [visible_image()]
    readouts = [page.locator(".widget-readout").first.inner_text()]
    handle.focus()
    for _ in range(steps):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(200)
        seen.append(visible_image())
        readouts.append(page.locator(".widget-readout").first.inner_text())
    assert len(set(seen)) == steps + 1, readouts
    assert readouts[0] != readouts[-1]
    assert _external(requests) == []
    page.close()
