"""A real browser for the page tests (the gallery Mini App, the playground's chat): Debian's
Chromium driven by Playwright's async API, on the test's own event loop, so the servers under
test keep serving while the browser waits. Playwright's own browser download is not used.

`browser` is a fixture (import it into a test module to use it): without Chromium or Playwright
the test is skipped, saying how to install them (CI's .ci/run installs both).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

INSTALL = (
    "the browser tests need Debian's Chromium (apt-get install chromium) and "
    "Playwright (pip install -e '.[test]'); CI's .ci/run installs both"
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, headless."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # --no-sandbox: the suite runs as root, where Chromium's sandbox refuses to start.
        browser = await playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which("chromium") is None:
        pytest.skip(f"chromium is not on PATH: {INSTALL}")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.skip(f"playwright is not installed: {INSTALL}")
    async with chromium() as launched:
        yield launched


def collect_errors(page: Any, errors: list[str]) -> None:
    """Add to `errors` every script error of `page` and every Content Security Policy refusal
    (a console message: the page would silently miss what was refused)."""
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
