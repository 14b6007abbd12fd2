"""A real browser calls a generated service on the web port, over Connect and gRPC-Web.

At test time, grpcio-tools' protoc with ``@bufbuild/protoc-gen-es`` (examples/web's npm
packages) compiles tests/protos/shop/v1 into TypeScript, and esbuild bundles it with
tests/web/inventory_page.ts and ``@connectrpc/connect-web``; nothing is downloaded. The
page is served from one origin and calls the web port on another (CORS on every call),
of the threaded and the asyncio server serving ``shop.v1.Inventory`` beside the Greeter.

Needs Debian's Chromium and examples/web's npm packages (``bash .ci/install-tools``).
"""

from __future__ import annotations

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
from tests.browser_pages import (
    PROTOCOLS,
    browser,
    bundle_page,
    call_page,
    opened_page,
    serving_directory,
)
from tests.conftest import LOOPBACK
from tests.test_codegen_build import load

__all__ = ["browser"]  # the fixture, shared with test_web_browser.py

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def page_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its script, compiled from the proto and bundled for this test run."""
    site = tmp_path_factory.mktemp("inventory-page")
    protos = ["shop/v1/inventory.proto", "shop/v1/types.proto"]
    return bundle_page(site, HERE / "protos", protos, HERE / "web" / "inventory_page.ts")


@pytest.fixture(scope="module")
def page_origin(page_files: Path) -> Iterator[str]:
    """Where the page is served from: an origin other than the web port's."""
    with serving_directory(page_files) as origin:
        yield origin


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
        url = f"{page_origin}/index.html?server=http://{server.web_address}"
        with opened_page(browser, url, "inventory") as opened:
            yield opened, request.param


def call(page: Page, function: str, protocol: str, *arguments: object) -> dict[str, Any]:
    """Call ``window.inventory.FUNCTION`` on the page, at the server it was opened for."""
    return call_page(page, "inventory", function, protocol, *arguments)


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
