"""Headless Chromium with the network closed to every host but 127.0.0.1, and a local server."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, Response, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium calls home at start; those calls are not
# the page's, and this machine's closed network refuses them.
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

# How JupyterLab renders an HTML output: markup first (its scripts inert), then each script
# re-created so that it runs.
INSERT_LIKE_JUPYTERLAB = """html => {
    const host = document.createElement("div");
    host.innerHTML = html;
    for (const old of host.querySelectorAll("script")) {
        const fresh = document.createElement("script");
        for (const attr of old.attributes) fresh.setAttribute(attr.name, attr.value);
        fresh.textContent = old.textContent;
        old.replaceWith(fresh);
    }
    document.body.appendChild(host);
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of access logs."""


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class PageLog:
    """What went wrong while pages loaded: blocked requests, HTTP errors, script errors."""

    aborted: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return (
            [f"request to another host: {u}" for u in self.aborted]
            + [f"HTTP error: {e}" for e in self.http_errors]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"console {e}" for e in self.console]
        )


@contextmanager
def offline_page(width: int = 1280, height: int = 900) -> Iterator[tuple[Page, PageLog]]:
    """A page whose every request to a host other than 127.0.0.1 is aborted and logged, and
    whose HTTP errors, page errors and console errors or warnings are logged."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)")
    log = PageLog()

    def route(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith("data:"):
            route.continue_()
        else:
            log.aborted.append(request.url)
            route.abort()

    def on_response(response: Response) -> None:
        if response.status >= 400:
            log.http_errors.append(f"{response.status} {response.url}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", route)
            page.on("response", on_response)
            page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: log.console.append(f"{msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None,
            )
            yield page, log
        finally:
            browser.close()
