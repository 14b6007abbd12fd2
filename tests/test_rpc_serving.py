"""A generated service serves itself, as the Greeter does: ``start()``, ``serve()``, drain.

``shop.v1.Inventory`` (tests/protos) is the service a server is made for here, not an
extra beside the Greeter: its own ``start()`` returns the running server, its
``serve()`` runs until SIGTERM, a graceful stop names its calls still running when the
grace period ends, and the threaded server cuts its response streams that a client
never reads. (The classes subclass a generated one loaded at run time, so mypy sees
``Any`` there: hence the ``type: ignore[misc]``.)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

import greeter
import greeter.testing
from greeter import ServerConfig
from tests.conftest import LOOPBACK, ServerProcess
from tests.raw_h2 import unread_stream
from tests.test_codegen_build import generated_tree, load

TIMEOUT = 10.0
SERVING_LINE = r"Serving shop\.v1\.Inventory on 127\.0\.0\.1:(\d+)"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The user code (``shop_services``), with the generated modules it imports."""
    return load(tmp_path_factory, "shop_services")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.inventory_greeter")


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.inventory_pb2")


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.types_pb2")


# -- start() -------------------------------------------------------------------------------


def test_a_generated_service_starts_itself_and_answers_its_generated_client(
    shop: Any, generated: Any, pb: Any
) -> None:
    with shop.Inventory().start(LOOPBACK) as server:
        with generated.InventoryClient(server.target, timeout=TIMEOUT) as client:
            item = client.get_item(pb.GetItemRequest(sku="A1"))
            assert (item.sku, item.name) == ("A1", "Item A1")
            listed = [each.sku for each in client.list_items(pb.ListItemsRequest(count=3))]
            assert listed == ["sku-0", "sku-1", "sku-2"]
        with greeter.GreeterClient(server.target, timeout=TIMEOUT) as greeter_client:
            # The server carries the service it was made for, and no Greeter.
            with pytest.raises(greeter.Unimplemented):
                greeter_client.greet("you")


@pytest.mark.asyncio
async def test_an_asyncio_generated_service_starts_itself_with_extras_beside_it(
    shop: Any, generated: Any, pb: Any
) -> None:
    extra = greeter.AsyncGreeterService()
    async with await shop.AsyncInventory().start(LOOPBACK, services=[extra]) as server:
        async with generated.AsyncInventoryClient(server.target, timeout=TIMEOUT) as client:
            item = await client.get_item(pb.GetItemRequest(sku="B2"))
            assert item.name == "Item B2"
        async with greeter.AsyncGreeterClient(server.target, timeout=TIMEOUT) as greeter_client:
            assert await greeter_client.greet("you") == "Hello, you!"


def test_a_generated_service_on_the_other_kind_of_server_is_a_type_error(shop: Any) -> None:
    with pytest.raises(TypeError, match="is an asyncio service"):
        greeter.GreeterServer(shop.AsyncInventory(), LOOPBACK)


# -- serve() -------------------------------------------------------------------------------

SERVE_UNTIL_SIGTERM = """
    import logging
    import sys

    import shop_services
    from greeter import ServerConfig

    logging.basicConfig(level="INFO", format="%(name)s: %(message)s")
    service = getattr(shop_services, sys.argv[1])()
    service.serve("127.0.0.1:0", config=ServerConfig(grace_seconds=2))
    print("serve() returned", flush=True)
"""


@pytest.mark.parametrize("service", ["Inventory", "AsyncInventory"])
def test_a_generated_services_serve_runs_until_sigterm_then_stops_gracefully(
    service: str, tmp_path_factory: pytest.TempPathFactory, generated: Any, pb: Any
) -> None:
    tree = generated_tree(tmp_path_factory)
    script = tree / "serve_until_sigterm.py"
    script.write_text(textwrap.dedent(SERVE_UNTIL_SIGTERM))
    process = ServerProcess(
        [sys.executable, str(script), service], SERVING_LINE, env={"PYTHONPATH": str(tree)}
    )
    try:
        with generated.InventoryClient(process.target, timeout=TIMEOUT) as client:
            assert client.get_item(pb.GetItemRequest(sku="C3")).name == "Item C3"
        assert process.stop(signal.SIGTERM, timeout=TIMEOUT) == 0
    finally:
        process.kill()
    output = process.log()
    assert "Received SIGTERM" in output
    assert "serve() returned" in output
    assert "Traceback" not in output


# -- the drain names a generated service's calls ------------------------------------------


def test_a_stop_names_a_generated_services_calls_still_running_at_the_end_of_grace(
    generated: Any, pb: Any, types: Any, caplog: pytest.LogCaptureFixture
) -> None:
    started, release = threading.Event(), threading.Event()

    class Holding(generated.InventoryService):  # type: ignore[misc]
        def get_item(self, request: Any) -> Any:
            started.set()
            release.wait(TIMEOUT)  # past the grace period: the stop cuts the call
            return types.Item(sku=request.sku)

    caplog.set_level(logging.WARNING, logger="greeter.server")
    server = Holding().start(LOOPBACK, config=ServerConfig(grace_seconds=1))
    try:
        with (
            generated.InventoryClient(server.target, timeout=TIMEOUT) as client,
            ThreadPoolExecutor(1) as pool,
        ):
            held = pool.submit(client.get_item, pb.GetItemRequest(sku="held"))
            assert started.wait(TIMEOUT)
            began = time.monotonic()
            server.stop()
            assert time.monotonic() - began < 1 + 1  # grace, plus its margin
            # The client learns at once that its call is gone, and may retry elsewhere.
            with pytest.raises(greeter.Unavailable):
                held.result(TIMEOUT)
    finally:
        release.set()
        server.stop()
    assert (
        "Grace period (1.0 s) over; cancelled 1 call(s) still running: "
        "/shop.v1.Inventory/GetItem from ipv4:127.0.0.1:"
    ) in caplog.text


@pytest.mark.asyncio
async def test_an_asyncio_stop_names_a_generated_services_calls_still_running(
    generated: Any, pb: Any, types: Any, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()

    class Holding(generated.AsyncInventoryService):  # type: ignore[misc]
        async def list_items(self, request: Any) -> AsyncIterator[Any]:
            started.set()
            await asyncio.sleep(TIMEOUT)  # cancelled when the grace period ends
            yield types.Item(sku="late")

    caplog.set_level(logging.WARNING, logger="greeter.server")
    server = await Holding().start(LOOPBACK, config=ServerConfig(grace_seconds=1))
    async with generated.AsyncInventoryClient(server.target, timeout=TIMEOUT) as client:
        stream = client.list_items(pb.ListItemsRequest(count=1))
        reading = asyncio.ensure_future(anext(stream))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await server.stop()
        with pytest.raises(greeter.GreeterError):
            await asyncio.wait_for(reading, TIMEOUT)
    assert (
        "Grace period (1.0 s) over; cancelled 1 call(s) still running: "
        "/shop.v1.Inventory/ListItems from ipv4:127.0.0.1:"
    ) in caplog.text


# -- the threaded server's write timeout cuts a generated service's streams ---------------


@pytest.mark.parametrize("write_timeout", [1.0, None], ids=["timed", "untimed"])
def test_a_generated_services_streams_a_client_never_reads_are_cut_after_the_write_timeout(
    write_timeout: float | None, generated: Any, pb: Any, types: Any
) -> None:
    started = threading.Semaphore(0)

    class Endless(generated.InventoryService):  # type: ignore[misc]
        """Streams 1 MiB items, up to 1,000 of them, as fast as they are taken."""

        def list_items(self, request: Any) -> Iterator[Any]:
            started.release()
            for _ in range(1000):
                yield types.Item(sku="x", name="x" * (1024 * 1024))

        def get_item(self, request: Any) -> Any:
            return types.Item(sku=request.sku)

    config = ServerConfig(max_workers=2, write_timeout_seconds=write_timeout)
    request = pb.ListItemsRequest(count=1000).SerializeToString()
    with Endless().start(LOOPBACK, config=config) as server:
        unread = [
            unread_stream(server.target, "/shop.v1.Inventory/ListItems", request) for _ in range(2)
        ]
        try:
            for _ in unread:
                assert started.acquire(timeout=TIMEOUT)
            with generated.InventoryClient(server.target) as client:
                # Both threads are held by the unread streams until their sends are cut.
                if write_timeout is None:
                    with pytest.raises(greeter.ResourceExhausted):
                        client.get_item(pb.GetItemRequest(sku="real"), timeout=3)
                else:
                    item = client.get_item(pb.GetItemRequest(sku="real"), timeout=TIMEOUT)
                    assert item.sku == "real"
        finally:
            for each in unread:
                each.close()


# -- greeter.testing.serving() -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_testing_serving_serves_a_generated_service_for_its_generated_client(
    shop: Any, generated: Any, pb: Any, kind: str
) -> None:
    service = shop.Inventory() if kind == "threaded" else shop.AsyncInventory()
    with greeter.testing.serving(service) as server:
        assert isinstance(
            server, greeter.AsyncGreeterServer if kind == "asyncio" else greeter.GreeterServer
        )
        with generated.InventoryClient(server.target, timeout=TIMEOUT) as client:
            item = client.get_item(pb.GetItemRequest(sku="B2"))
            assert (item.sku, item.name) == ("B2", "Item B2")
