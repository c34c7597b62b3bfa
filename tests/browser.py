"""Playwright driving Debian's Chromium (no browser download): shared by the browser tests."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.environment import Missing

# Playwright's sync API keeps an event loop running in this thread; the ORM calls a test
# makes between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
NEEDS_CHROMIUM = pytest.mark.skipif(
    not shutil.which("chromium"),
    reason="needs Debian's chromium: apt-get install chromium (./dev test does it)",
)


# One Chromium for the tests of a module (started at the first page, closed after the
# module's last test by tests/conftest.py): each page gets a fresh context — its own cookies
# and storage — so the tests stay apart, without a browser start each.
_shared: dict[tuple[str, ...], tuple] = {}


def _browser(args: tuple[str, ...]):
    from playwright.sync_api import Error, sync_playwright

    if args not in _shared:
        close_browsers()  # one Playwright per thread: a browser with other flags replaces it
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    *args,
                ],
            )
        except Error as e:
            playwright.stop()
            first = str(e).strip().splitlines()[0]
            raise Missing(
                f"Chromium ({CHROMIUM}) did not start: {first}; apt-get install chromium"
            ) from None
        _shared[args] = (playwright, browser)
    return _shared[args][1]


def close_browsers() -> None:
    while _shared:
        playwright, browser = _shared.popitem()[1]
        browser.close()
        playwright.stop()


@contextmanager
def chromium_page(viewport=(1280, 900), args: tuple[str, ...] = ()):
    context = _browser(args).new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# The elements that reach past the screen's right edge, outside a scroller of their own.
_WIDEST = """[...document.querySelectorAll("body *")]
  .filter(e => !e.closest(".scroll") && e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5)
  .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def overflowing(page) -> list[str]:
    """What on the page is wider than the screen (nothing, on a page that fits a phone)."""
    return page.evaluate(_WIDEST)
