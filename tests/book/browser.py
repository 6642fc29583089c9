"""Headless Chromium with the network closed to every host but 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium calls home at start; those calls are not
# the book's, and this machine's closed network refuses them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class PageLog:
    """What went wrong while pages loaded: blocked requests, HTTP errors, script errors."""

    aborted: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return (
            [f"request to another host: {u}" for u in self.aborted]
            + [f"HTTP error: {e}" for e in self.http_errors]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"console error: {e}" for e in self.console_errors]
        )


@contextmanager
def offline_page() -> Iterator[tuple[Page, PageLog]]:
    """A page whose every request to a host other than 127.0.0.1 is aborted and logged."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)")
    log = PageLog()

    def route(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith("data:"):
            route.continue_()
        else:
            log.aborted.append(request.url)
            route.abort()

    def on_response(response: object) -> None:
        status = getattr(response, "status", 0)
        if status >= 400:
            log.http_errors.append(f"{status} {getattr(response, 'url', '?')}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            page.on("response", on_response)
            page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None,
            )
            yield page, log
        finally:
            browser.close()
