"""A real browser calls the installed example project (``examples/inventory``) over the
web port, with connect-web: issue #18's proof that a user's own proto reaches browsers.

``pip install "./examples/inventory[web]"`` runs into one fresh environment for the
module (``install_example`` of test_example_inventory.py), and the example's own
``python -m shop.server --web`` runs as a process of it, threaded and asyncio. At test
time, grpcio-tools' protoc with ``@bufbuild/protoc-gen-es`` (examples/web's npm
packages) compiles examples/inventory/protos into TypeScript, and esbuild bundles it with
tests/web/example_inventory_page.ts and ``@connectrpc/connect-web``; nothing is
downloaded. The page is served from one origin and calls the web port on another, the
origin the server was given with ``--web-origin``.

Needs Debian's Chromium and examples/web's npm packages (``bash .ci/install-tools``).
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("grpc_tools", reason="the codegen extra (grpcio-tools) is not installed")

from playwright.sync_api import Browser, Page

from tests.conftest import ServerProcess
from tests.test_example_inventory import PROTOS, install_example
from tests.test_web_browser import EXAMPLE, PROTOCOLS, _QuietHandler, browser

__all__ = ["browser"]  # the fixture, shared with test_web_browser.py

# Real builds in a fresh environment take a while on a loaded machine.
pytestmark = pytest.mark.timeout(600)

HERE = Path(__file__).resolve().parent
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><script type="module" src="inventory.js"></script></body></html>
"""
#: The one item the example's ``shop.stock.Stock`` starts with, as the page reports it.
WIDGET = {"sku": "w-1", "name": "widget", "quantity": 3, "updated": False, "note": None}


@pytest.fixture(scope="module")
def installed_with_web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, installed as ``pip install "./examples/inventory[web]"`` does."""
    return install_example(tmp_path_factory, extras="web")


@pytest.fixture(scope="module")
def page_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its script, compiled from the example's protos for this test run."""
    tools = EXAMPLE / "node_modules" / ".bin"
    if not (tools / "esbuild").exists() or not (tools / "protoc-gen-es").exists():
        pytest.fail("examples/web's npm packages are missing: run bash .ci/install-tools")
    site = tmp_path_factory.mktemp("example-inventory-page")
    (site / "gen").mkdir()
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    protos = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"-I{well_known}",
            f"--plugin=protoc-gen-es={tools / 'protoc-gen-es'}",
            f"--es_out={site / 'gen'}", "--es_opt=target=ts", *protos,
        ],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    shutil.copy(HERE / "web" / "example_inventory_page.ts", site / "inventory_page.ts")
    subprocess.run(
        [
            str(tools / "esbuild"), "inventory_page.ts", "--bundle", "--format=esm",
            "--target=es2022", "--outfile=inventory.js",
        ],
        cwd=site, check=True, timeout=120, capture_output=True,
        # The bundle's packages are examples/web's: nothing is installed for the test.
        env={**os.environ, "NODE_PATH": str(EXAMPLE / "node_modules")},
    )  # fmt: skip
    (site / "index.html").write_text(PAGE)
    return site


@pytest.fixture(scope="module")
def page_origin(page_files: Path) -> Iterator[str]:
    """Where the page is served from: an origin other than the web port's."""
    handler = functools.partial(_QuietHandler, directory=str(page_files))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as files:
        thread = threading.Thread(target=files.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{files.server_address[1]}"
        finally:
            files.shutdown()
            thread.join(timeout=5)


@pytest.fixture(scope="module", params=["threaded", "asyncio"])
def web_port(
    request: pytest.FixtureRequest, installed_with_web: Path, page_origin: str
) -> Iterator[str]:
    """``python -m shop.server --web``, threaded or asyncio; the web port's base URL."""
    flags = ["--asyncio"] if request.param == "asyncio" else []
    command = [
        str(installed_with_web), "-m", "shop.server", "--address", "127.0.0.1:0",
        "--web", "127.0.0.1:0", "--web-origin", page_origin, *flags,
    ]  # fmt: skip
    process = ServerProcess(command, r"shop web port on 127\.0\.0\.1:(\d+)")
    try:
        assert "shop serving on 127.0.0.1:" in process.log()  # the native port, first
        yield f"http://127.0.0.1:{process.port}"
        assert process.stop() == 0, process.log()  # SIGTERM stops both ports gracefully
    finally:
        process.kill()


@pytest.fixture
def page(browser: Browser, page_origin: str, web_port: str) -> Iterator[Page]:
    """The page, opened on its own origin and told where the web port is."""
    context = browser.new_context()
    opened = context.new_page()
    try:
        opened.goto(f"{page_origin}/index.html?server={web_port}")
        opened.wait_for_function("window.inventory !== undefined", timeout=10_000)
        opened.set_default_timeout(10_000)
        yield opened
    finally:
        context.close()


def call(page: Page, function: str, protocol: str, *arguments: object) -> dict[str, Any]:
    """Call ``window.inventory.FUNCTION`` on the page, at the server it was opened for."""
    outcome: dict[str, Any] = page.evaluate(
        f"""([protocol, ...rest]) => {{
            const server = new URLSearchParams(location.search).get("server");
            return window.inventory.{function}(protocol, server, ...rest);
        }}""",
        [protocol, *arguments],
    )
    return outcome


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_gets_an_item_from_the_installed_example(page: Page, protocol: str) -> None:
    outcome = call(page, "getItem", protocol, "w-1")

    assert outcome == {"items": [WIDGET]}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_the_examples_not_found_for_an_unknown_sku(
    page: Page, protocol: str
) -> None:
    outcome = call(page, "getItem", protocol, "nope")

    assert outcome == {"items": [], "error": {"code": "NotFound", "message": "no item 'nope'"}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_the_examples_server_stream_of_items(page: Page, protocol: str) -> None:
    outcome = call(page, "listItems", protocol)

    assert outcome == {"items": [WIDGET]}
