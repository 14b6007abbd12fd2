"""What the browser tests share: a page bundled from protos, served from its own origin,
opened in Chromium, and a function of the page called at a server.

A page is compiled at test time: grpcio-tools' protoc with ``@bufbuild/protoc-gen-es``
turns the protos into TypeScript, and esbuild bundles it with the page's script and
``@connectrpc/connect-web`` (examples/web's npm packages; nothing is downloaded).
"""

from __future__ import annotations

import functools
import http.server
import importlib.resources
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

__all__ = [
    "EXAMPLE",
    "PROTOCOLS",
    "browser",
    "bundle_page",
    "call_page",
    "opened_page",
    "serving_directory",
]

#: The web example, whose npm packages (connect-web, protoc-gen-es, esbuild) pages use.
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "web"

#: The protocols a page calls with: Connect and gRPC-Web.
PROTOCOLS = ["connect", "grpc-web"]
_CHROMIUM_NAMES = ("chromium", "chromium-headless-shell", "chromium-browser")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><script type="module" src="page.js"></script></body></html>
"""


def bundle_page(site: Path, proto_root: Path, protos: Sequence[str], script: Path) -> Path:
    """``site/index.html`` running ``script`` (TypeScript) with the code of ``protos``
    (paths under ``proto_root``); returns ``site``."""
    tools = EXAMPLE / "node_modules" / ".bin"
    if not (tools / "esbuild").exists() or not (tools / "protoc-gen-es").exists():
        pytest.fail("examples/web's npm packages are missing: run bash .ci/install-tools")
    (site / "gen").mkdir()
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}", f"-I{well_known}",
            f"--plugin=protoc-gen-es={tools / 'protoc-gen-es'}",
            f"--es_out={site / 'gen'}", "--es_opt=target=ts", *protos,
        ],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    shutil.copy(script, site / "page.ts")
    subprocess.run(
        [
            str(tools / "esbuild"), "page.ts", "--bundle", "--format=esm", "--target=es2022",
            "--outfile=page.js",
        ],
        cwd=site, check=True, timeout=120, capture_output=True,
        # The bundle's packages are examples/web's: nothing is installed for the test.
        env={**os.environ, "NODE_PATH": str(EXAMPLE / "node_modules")},
    )  # fmt: skip
    (site / "index.html").write_text(_PAGE)
    return site


def _chromium() -> str:
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    pytest.skip("no Chromium here (Debian's chromium package): bash .ci/install-tools installs it")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yield its origin (another than the web
    port's, so every call from the page is a CORS call)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as files:
        thread = threading.Thread(target=files.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{files.server_address[1]}"
        finally:
            files.shutdown()
            thread.join(timeout=5)


@contextmanager
def opened_page(browser: Browser, url: str, ready: str) -> Iterator[Page]:
    """``url`` open in a fresh browser context, once the page's ``window.READY`` is set."""
    context = browser.new_context()
    opened = context.new_page()
    try:
        opened.goto(url)
        opened.wait_for_function(f"window.{ready} !== undefined", timeout=10_000)
        opened.set_default_timeout(10_000)
        yield opened
    finally:
        context.close()


def call_page(
    page: Page, api: str, function: str, protocol: str, *arguments: object
) -> dict[str, Any]:
    """Call ``window.API.FUNCTION(protocol, server, *arguments)`` on the page, at the
    server named by its ``?server=`` parameter; the page reports what happened."""
    outcome: dict[str, Any] = page.evaluate(
        f"""([protocol, ...rest]) => {{
            const server = new URLSearchParams(location.search).get("server");
            return window.{api}.{function}(protocol, server, ...rest);
        }}""",
        [protocol, *arguments],
    )
    return outcome
