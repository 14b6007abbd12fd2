"""GreeterServer and AsyncGreeterServer agree on what happens around start and stop.

Both check their addresses on construction. ``GreeterServer`` binds then too (its port
is known before it starts); ``AsyncGreeterServer`` binds in ``start()``, because grpc.aio
needs the running loop. Waiting for a server that never started raises on both; a server
stopped before it started has terminated, holds no port and never starts.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from greeter import AsyncGreeterServer, AsyncGreeterService, GreeterServer, GreeterService
from tests.conftest import LOOPBACK


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_waiting_for_a_threaded_server_that_never_started_raises() -> None:
    server = GreeterServer(GreeterService(), LOOPBACK)
    try:
        with pytest.raises(RuntimeError, match="not started yet"):
            server.wait_for_termination(timeout=10)
    finally:
        server.stop(0)


def test_waiting_for_an_asyncio_server_that_never_started_raises() -> None:
    async def scenario() -> None:
        server = AsyncGreeterServer(AsyncGreeterService(), LOOPBACK)
        with pytest.raises(RuntimeError, match="not started yet"):
            await server.wait_for_termination(timeout=10)

    asyncio.run(scenario())


def test_a_threaded_server_stopped_before_it_started_is_over_and_frees_its_port() -> None:
    server = GreeterServer(GreeterService(), LOOPBACK)
    port = server.port
    server.stop(0)
    assert server.wait_for_termination(timeout=0) is True
    assert _port_is_free(port)
    with pytest.raises(RuntimeError, match="cannot be started again"):
        server.start()


def test_an_asyncio_server_stopped_before_it_started_is_over_and_never_starts() -> None:
    async def scenario() -> None:
        server = AsyncGreeterServer(AsyncGreeterService(), LOOPBACK)
        await server.stop(0)
        assert await server.wait_for_termination(timeout=0) is True
        with pytest.raises(RuntimeError, match="cannot be started again"):
            await server.start()

    asyncio.run(scenario())


def test_waiting_for_a_running_threaded_server_times_out_then_sees_it_stop() -> None:
    with GreeterService().start(LOOPBACK) as server:
        assert server.wait_for_termination(timeout=0.1) is False
    assert server.wait_for_termination(timeout=10) is True


def test_waiting_for_a_running_asyncio_server_times_out_then_sees_it_stop() -> None:
    async def scenario() -> None:
        async with await AsyncGreeterService().start(LOOPBACK) as server:
            assert await server.wait_for_termination(timeout=0.1) is False
        assert await server.wait_for_termination(timeout=10) is True

    asyncio.run(scenario())


def test_only_the_threaded_server_knows_its_port_before_it_starts() -> None:
    server = GreeterServer(GreeterService(), LOOPBACK)
    try:
        assert server.port > 0
    finally:
        server.stop(0)

    async def scenario() -> None:
        server = AsyncGreeterServer(AsyncGreeterService(), LOOPBACK)
        with pytest.raises(RuntimeError, match="not started yet"):
            server.port  # noqa: B018
        async with server:
            assert server.port > 0

    asyncio.run(scenario())


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:99999", "nowhere:x"])
def test_both_constructors_refuse_a_malformed_address(address: str) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        GreeterServer(GreeterService(), address)
    with pytest.raises(ValueError, match="invalid address"):
        AsyncGreeterServer(AsyncGreeterService(), address)
