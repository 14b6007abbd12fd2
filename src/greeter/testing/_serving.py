"""``serving()``: a service (the Greeter or a generated one) running in-process for the
length of a test (see ``greeter.testing``)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, overload

from greeter.server._assembly import ExtraService
from greeter.server._async_server import AsyncGreeterServer
from greeter.server._config import ServerConfig
from greeter.server._runtime import AsyncService, Service
from greeter.server._threaded_server import GreeterServer

__all__ = ["serving"]

#: Where ``serving()`` listens unless told otherwise: a port of 127.0.0.1 that the OS
#: picks, free at the time, so tests running in parallel never collide.
_LOOPBACK = "127.0.0.1:0"

#: How long winding down the background event loop may take once the server has
#: stopped (handler threads of plain ``def`` methods finishing, tasks cancelled).
_WIND_DOWN_SECONDS = 10.0

_T = TypeVar("_T")


@overload
def serving(
    service: Service,
    *,
    unix: bool = False,
    address: str | Sequence[str] | None = None,
    config: ServerConfig | None = None,
    services: Sequence[ExtraService] = (),
) -> AbstractContextManager[GreeterServer]: ...


@overload
def serving(
    service: AsyncService,
    *,
    unix: bool = False,
    address: str | Sequence[str] | None = None,
    config: ServerConfig | None = None,
    services: Sequence[ExtraService] = (),
) -> AbstractContextManager[AsyncGreeterServer]: ...


def serving(
    service: Service | AsyncService,
    *,
    unix: bool = False,
    address: str | Sequence[str] | None = None,
    config: ServerConfig | None = None,
    services: Sequence[ExtraService] = (),
) -> AbstractContextManager[GreeterServer | AsyncGreeterServer]:
    """Serve ``service`` in this process until the ``with`` block ends; yield the server.

    The server listens on a free port of 127.0.0.1 (the OS picks it); read where to
    connect from ``server.target`` (and ``server.port``). ``unix=True`` listens on a
    unix socket in a fresh temporary directory instead (``server.target`` is then
    ``"unix:/tmp/.../greeter.sock"``), removed afterwards. ``address`` listens exactly
    where ``start()`` would (one address or a list). ``config`` and ``services`` are
    those of ``start()``: a ``ServerConfig``, and services to serve beside this one.

    A ``GreeterService`` (or any threaded service, such as a generated
    ``InventoryService``) runs on the threaded server; an ``AsyncGreeterService`` (or
    any asyncio service) on the asyncio server, on an event loop in a background
    thread, so clients of any kind, on any thread or loop, can call it::

        async def test_polite_from_asyncio() -> None:
            with serving(AsyncPolite()) as server:
                async with AsyncGreeterClient(server.target) as client:
                    assert await client.greet("Ada") == "Good day, Ada."

    The block owns the server: leaving it stops the server as ``server.stop()`` does
    (in-flight calls get the grace period), however the block ends, and releases all
    it held: its port or socket, its threads and its event loop. (Do not stop an
    ``AsyncGreeterServer`` from here yourself: its coroutines belong to its own loop.)

    Raises ``TypeError`` for anything but a service (``GreeterService``, a generated
    service, or their asyncio twins), and ``ValueError`` if given both ``unix`` and ``address``.
    """
    if unix and address is not None:
        raise ValueError("give serving() unix=True or an address, not both")
    if not isinstance(service, (Service, AsyncService)):
        raise TypeError(
            "serving() takes a service: a GreeterService, a generated service, or their "
            f"asyncio twins (or an instance of a subclass), not {service!r}"
        )
    return _serving(service, address, unix, config, services)


@contextmanager
def _serving(
    service: Service | AsyncService,
    address: str | Sequence[str] | None,
    unix: bool,
    config: ServerConfig | None,
    services: Sequence[ExtraService],
) -> Iterator[GreeterServer | AsyncGreeterServer]:
    with _listening_address(address, unix=unix) as where:
        if isinstance(service, AsyncService):
            with _serving_on_loop_thread(service, where, config, services) as async_server:
                yield async_server
        else:
            with service.start(where, config=config, services=services) as server:
                yield server


@contextmanager
def _listening_address(
    address: str | Sequence[str] | None, *, unix: bool
) -> Iterator[str | Sequence[str]]:
    """The address to serve on; a unix socket's directory lives as long as the block."""
    if not unix:
        yield _LOOPBACK if address is None else address
        return
    # A short directory of its own: socket paths are limited to about 100 bytes, and
    # removing the directory removes the socket file too, however the server ended.
    with tempfile.TemporaryDirectory(prefix="greeter-") as directory:
        yield f"unix:{directory}/greeter.sock"


@contextmanager
def _serving_on_loop_thread(
    service: AsyncService,
    address: str | Sequence[str],
    config: ServerConfig | None,
    services: Sequence[ExtraService],
) -> Iterator[AsyncGreeterServer]:
    """Run the asyncio server on a new event loop in a background thread.

    A server started on the test's own loop could only be called from that loop, and
    only while the test awaits: a blocking client in the test would deadlock it, and
    pytest-asyncio's loop (one per test, by default) may not be the one it was started
    on. A loop of its own serves calls whatever the test does.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="greeter-testing-loop", daemon=True)
    thread.start()
    try:
        server = _run_on(loop, service.start(address, config=config, services=services))
        try:
            yield server
        finally:
            # stop() returns within the grace period plus half a second.
            _run_on(loop, server.stop(), timeout=server.config.grace_seconds + _WIND_DOWN_SECONDS)
            _run_on(loop, _wind_down())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_WIND_DOWN_SECONDS)
        loop.close()


def _run_on(
    loop: asyncio.AbstractEventLoop,
    coroutine: Coroutine[Any, Any, _T],
    timeout: float = _WIND_DOWN_SECONDS,
) -> _T:
    """Run ``coroutine`` on ``loop`` (running in another thread) and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


async def _wind_down() -> None:
    """What ``asyncio.run`` does before closing its loop: let handler threads (grpc.aio
    runs plain ``def`` handlers in the default executor) and tasks finish, so no thread
    is leaked and no coroutine is left suspended on a closed loop."""
    loop = asyncio.get_running_loop()
    await loop.shutdown_default_executor()
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()
