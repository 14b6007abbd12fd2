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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("grpc_tools", reason="the codegen extra (grpcio-tools) is not installed")

from playwright.sync_api import Browser, Page

from tests.browser_pages import (
    PROTOCOLS,
    browser,
    bundle_page,
    call_page,
    opened_page,
    serving_directory,
)
from tests.conftest import ServerProcess
from tests.test_example_inventory import PROTOS, install_example

__all__ = ["browser"]  # the fixture, shared with test_web_browser.py

# Real builds in a fresh environment take a while on a loaded machine.
pytestmark = pytest.mark.timeout(600)

HERE = Path(__file__).resolve().parent
#: The one item the example's ``shop.stock.Stock`` starts with, as the page reports it.
WIDGET = {"sku": "w-1", "name": "widget", "quantity": 3, "updated": False, "note": None}


@pytest.fixture(scope="module")
def installed_with_web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, installed as ``pip install "./examples/inventory[web]"`` does."""
    return install_example(tmp_path_factory, extras="web")


@pytest.fixture(scope="module")
def page_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its script, compiled from the example's protos for this test run."""
    site = tmp_path_factory.mktemp("example-inventory-page")
    protos = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    return bundle_page(site, PROTOS, protos, HERE / "web" / "example_inventory_page.ts")


@pytest.fixture(scope="module")
def page_origin(page_files: Path) -> Iterator[str]:
    """Where the page is served from: an origin other than the web port's."""
    with serving_directory(page_files) as origin:
        yield origin


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
    with opened_page(browser, f"{page_origin}/index.html?server={web_port}", "inventory") as opened:
        yield opened


def call(page: Page, function: str, protocol: str, *arguments: object) -> dict[str, Any]:
    """Call ``window.inventory.FUNCTION`` on the page, at the server it was opened for."""
    return call_page(page, "inventory", function, protocol, *arguments)


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
