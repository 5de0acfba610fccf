"""Debian's Chromium for the page tests (Playwright drives it; no browser is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)


def watch(page, base_url: str):
    """Record on ``page`` its script errors and every request that leaves ``base_url``.

    Parameters
    ----------
    page
        A Playwright page, before it opens anything.
    base_url
        The server under test; ``data:`` and ``blob:`` addresses stay in the page too.

    Returns
    -------
    The page, with ``console_errors``, ``outside_requests`` and ``calls`` (method and path of
    every request to ``base_url``) lists that fill as it runs.
    """
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.outside_requests = []
    page.calls = []

    def seen(request) -> None:
        if request.url.startswith(base_url):
            page.calls.append((request.method, request.url[len(base_url) :]))
        elif not request.url.startswith(("data:", "blob:")):
            page.outside_requests.append(request.url)

    page.on("request", seen)
    return page
