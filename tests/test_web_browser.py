"""A real browser calls the service: headless Chromium runs ``examples/web``'s page.

The page is served from one origin (a static file server) and calls the web port on
another, as a real app would, so CORS is part of every call. It calls through
``@connectrpc/connect-web`` with the Connect and the gRPC-Web transports (the bundle
``npm run build`` makes with esbuild), against the threaded and the asyncio server, and
the test checks the replies, an error's status and rich details, and a trailer.

Needs Debian's Chromium (``.ci/install-tools`` installs it, and the page's npm
packages); Playwright drives it through ``executable_path``, never a browser download.
Skipped, saying why, only where Chromium is not installed.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("connectrpc", reason="the web extra (connectrpc) is not installed")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from google.rpc import error_details_pb2
from playwright.sync_api import Browser, Page

from greeter import AsyncGreeterService, GreeterService, ServerConfig, testing
from tests.browser_pages import (
    EXAMPLE,
    PROTOCOLS,
    browser,
    call_page,
    opened_page,
    serving_directory,
)
from tests.conftest import LOOPBACK
from tests.test_web import AsyncShowcase, Showcase

__all__ = ["browser"]  # the fixture, shared with the other browser tests


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The page's script, built from the proto and bundled (npm run build)."""
    if not (EXAMPLE / "node_modules" / "esbuild").is_dir():
        pytest.fail("examples/web's npm packages are missing: run bash .ci/install-tools")
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: bash .ci/install-tools needs it too"
    # Once per test run, not once per xdist worker: a second build would rewrite the
    # files under the first worker's page while its browser loads them.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    marker = Path(tempfile.gettempdir()) / f"greeter-web-example-{run}.built"
    with open(Path(tempfile.gettempdir()) / "greeter-web-example.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run(
                [npm, "run", "--silent", "build"], cwd=EXAMPLE, check=True, timeout=120,
                capture_output=True,
            )  # fmt: skip
            marker.touch()
    return EXAMPLE / "dist" / "app.js"


@pytest.fixture(scope="module")
def page_origin(bundle: Path) -> Iterator[str]:
    """Where the page is served from: an origin other than the web port's."""
    with serving_directory(EXAMPLE) as origin:
        yield origin


@pytest.fixture(scope="module", params=["sync", "async"])
def page(request: pytest.FixtureRequest, browser: Browser, page_origin: str) -> Iterator[Page]:
    """The example page, calling a server (threaded, then asyncio) on another origin.

    One page and one server per kind: the calls change neither.
    """
    service: GreeterService | AsyncGreeterService = (
        Showcase() if request.param == "sync" else AsyncShowcase()
    )
    config = ServerConfig(web=LOOPBACK, web_origins=[page_origin])
    with testing.serving(service, config=config) as server:
        url = f"{page_origin}/index.html?server=http://{server.web_address}"
        with opened_page(browser, url, "greeter") as opened:
            yield opened


def call(page: Page, function: str, protocol: str, *arguments: object) -> dict[str, Any]:
    """Call ``window.greeter.FUNCTION`` on the page, at the server it was opened for."""
    return call_page(page, "greeter", function, protocol, *arguments)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_on_another_origin_greets_with_metadata_and_reads_a_trailer(
    page: Page, protocol: str
) -> None:
    outcome = call(page, "sayHello", protocol, "browser", {"x-mood": "curious"})

    assert outcome.get("error") is None
    assert outcome["replies"] == ["Hello, browser! (curious)"]
    assert outcome["trailers"]["x-trailer"] == "late"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_a_server_stream(page: Page, protocol: str) -> None:
    outcome = call(page, "sayHelloStreamReply", protocol, "stream")

    assert outcome.get("error") is None
    assert outcome["replies"] == [f"Hello, stream! ({number} of 3)" for number in (1, 2, 3)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_page_receives_the_error_status_its_rich_details_and_trailers(
    page: Page, protocol: str
) -> None:
    outcome = call(page, "sayHello", protocol, "nobody")

    error = outcome["error"]
    assert error["code"] == "InvalidArgument"
    assert error["message"] == "no name given"
    assert error["details"][0]["type"] == "google.rpc.BadRequest"
    bad_request = error_details_pb2.BadRequest.FromString(
        base64.b64decode(error["details"][0]["value"])
    )
    assert bad_request.field_violations[0].field == "name"
    assert outcome["trailers"]["x-reason"] == "empty"
