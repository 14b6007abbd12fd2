"""A real browser calls a generated service on the web port, over Connect and gRPC-Web.

At test time, grpcio-tools' protoc with ``@bufbuild/protoc-gen-es`` (examples/web's npm
packages) compiles tests/protos/shop/v1 into TypeScript, and esbuild bundles it with
tests/web/inventory_page.ts and ``@connectrpc/connect-web``; nothing is downloaded. The
page is served from one origin and calls the web port on another (CORS on every call),
of the threaded and the asyncio server serving ``shop.v1.Inventory`` beside the Greeter.

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
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("connectrpc", reason="the web extra (connectrpc) is not installed")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("grpc_tools", reason="the codegen extra (grpcio-tools) is not installed")

from playwright.sync_api import Browser, Page

from greeter import AsyncGreeterService, GreeterService, ServerConfig, testing
from tests.conftest import LOOPBACK
from tests.test_codegen_build import load
from tests.test_web_browser import EXAMPLE, PROTOCOLS, _QuietHandler, browser

__all__ = ["browser"]  # the fixture, shared with test_web_browser.py

HERE = Path(__file__).resolve().parent
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><script type="module" src="inventory.js"></script></body></html>
"""


@pytest.fixture(scope="module")
def page_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its script, compiled from the proto and bundled for this test run."""
    tools = EXAMPLE / "node_modules" / ".bin"
    if not (tools / "esbuild").exists() or not (tools / "protoc-gen-es").exists():
        pytest.fail("examples/web's npm packages are missing: run bash .ci/install-tools")
    site = tmp_path_factory.mktemp("inventory-page")
    (site / "gen").mkdir()
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{HERE / 'protos'}", f"-I{well_known}",
            f"--plugin=protoc-gen-es={tools / 'protoc-gen-es'}",
            f"--es_out={site / 'gen'}", "--es_opt=target=ts",
            "shop/v1/inventory.proto", "shop/v1/types.proto",
        ],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    shutil.copy(HERE / "web" / "inventory_page.ts", site / "inventory_page.ts")
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


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The user code (``shop_services``), with the generated modules it imports."""
    return load(tmp_path_factory, "shop_services")


@pytest.fixture(scope="module", params=["threaded", "asyncio"])
def page(
    request: pytest.FixtureRequest, browser: Browser, page_origin: str, shop: ModuleType
) -> Iterator[tuple[Page, str]]:
    """The page, calling a server of each kind on another origin, and the kind."""
    config = ServerConfig(web=LOOPBACK, web_origins=[page_origin])
    serving = (
        testing.serving(GreeterService(), config=config, services=[shop.Inventory()])
        if request.param == "threaded"
        else testing.serving(AsyncGreeterService(), config=config, services=[shop.AsyncInventory()])
    )
    with serving as server:
        context = browser.new_context()
        opened = context.new_page()
        try:
            opened.goto(f"{page_origin}/index.html?server=http://{server.web_address}")
            opened.wait_for_function("window.inventory !== undefined", timeout=10_000)
            opened.set_default_timeout(10_000)
            yield opened, request.param
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
def test_a_page_calls_a_generated_service_with_metadata_and_reads_a_trailer(
    page: tuple[Page, str], protocol: str
) -> None:
    opened, kind = page
    outcome = call(opened, "getItem", protocol, "A1", {"x-caller": "browser"})

    assert outcome.get("error") is None
    assert outcome["items"] == [{"sku": "A1", "name": "Item A1", "labels": {"caller": "browser"}}]
    assert outcome["trailers"]["x-served-by"] == kind


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_a_generated_service_s_server_stream(
    page: tuple[Page, str], protocol: str
) -> None:
    outcome = call(page[0], "listItems", protocol, 3)

    assert outcome.get("error") is None
    assert [item["sku"] for item in outcome["items"]] == ["sku-0", "sku-1", "sku-2"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_a_generated_service_s_error_code_and_message(
    page: tuple[Page, str], protocol: str
) -> None:
    outcome = call(page[0], "getItem", protocol, "missing")

    assert outcome["error"] == {"code": "NotFound", "message": "no item missing"}
    assert outcome["items"] == []
