"""The asyncio server's lifecycle: binding, graceful stop, cancellation."""

from __future__ import annotations

import asyncio

import pytest

import greeter
from greeter import AsyncGreeterClient, AsyncGreeterServer, AsyncGreeterService
from tests.conftest import LOOPBACK


def test_port_is_known_only_once_started() -> None:
    async def scenario() -> None:
        server = AsyncGreeterServer(AsyncGreeterService(), LOOPBACK)
        with pytest.raises(RuntimeError, match="not started"):
            _ = server.port
        async with server:
            assert server.port > 0
            assert server.target == f"127.0.0.1:{server.port}"
            async with AsyncGreeterClient(server.target) as client:
                assert await client.greet("you") == "Hello, you!"

    asyncio.run(scenario())


def test_leaving_the_block_stops_the_server() -> None:
    async def scenario() -> None:
        async with await AsyncGreeterService().start(LOOPBACK) as server:
            target = server.target
        async with AsyncGreeterClient(target) as client:
            with pytest.raises(greeter.Unavailable):
                await client.greet("you", timeout=5)

    asyncio.run(scenario())


def test_stop_lets_in_flight_calls_finish_within_the_grace_period() -> None:
    class Slow(AsyncGreeterService):
        def __init__(self) -> None:
            self.entered = asyncio.Event()

        async def say_hello(self, name: str) -> str:
            self.entered.set()
            await asyncio.sleep(0.5)
            return f"Finally, {name}"

    async def scenario() -> None:
        service = Slow()
        server = await service.start(LOOPBACK)
        async with AsyncGreeterClient(server.target) as client:
            call = asyncio.create_task(client.greet("you", timeout=10))
            await asyncio.wait_for(service.entered.wait(), 10)
            await server.stop(grace_seconds=5)
            assert await call == "Finally, you"
            with pytest.raises(greeter.Unavailable):
                await client.greet("late", timeout=2)

    asyncio.run(scenario())


def test_stop_cancels_calls_still_running_after_the_grace_period() -> None:
    class Stuck(AsyncGreeterService):
        def __init__(self) -> None:
            self.entered = asyncio.Event()
            self.cancelled = asyncio.Event()

        async def say_hello(self, name: str) -> str:
            self.entered.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return name

    async def scenario() -> None:
        service = Stuck()
        server = await service.start(LOOPBACK)
        async with AsyncGreeterClient(server.target) as client:
            call = asyncio.create_task(client.greet("you", timeout=10))
            await asyncio.wait_for(service.entered.wait(), 10)
            await asyncio.wait_for(server.stop(grace_seconds=0.2), 5)
            with pytest.raises(greeter.GreeterError):
                await call
            await asyncio.wait_for(service.cancelled.wait(), 5)

    asyncio.run(scenario())


def test_cancelling_serve_until_signal_stops_the_server() -> None:
    async def scenario() -> None:
        server = AsyncGreeterServer(AsyncGreeterService(), LOOPBACK)
        serving = asyncio.create_task(server.serve_until_signal())
        for _ in range(500):
            await asyncio.sleep(0.01)
            try:
                target = server.target
                break
            except RuntimeError:
                continue
        async with AsyncGreeterClient(target) as client:
            assert await client.greet("you", timeout=5) == "Hello, you!"
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
            with pytest.raises(greeter.Unavailable):
                await client.greet("you", timeout=5)

    asyncio.run(scenario())


def test_binding_a_taken_port_raises_oserror() -> None:
    async def scenario() -> None:
        async with AsyncGreeterServer(AsyncGreeterService(), LOOPBACK) as first:
            with pytest.raises(OSError, match="cannot listen"):
                await AsyncGreeterService().start(first.address)

    asyncio.run(scenario())
