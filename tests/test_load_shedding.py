"""Load shedding: a full server says RESOURCE_EXHAUSTED at once instead of queueing.

The threaded server runs each call on one of ``max_workers`` threads. By default it
accepts at most that many calls at once (``maximum_concurrent_rpcs=None`` means
``max_workers``), so a call never waits, unseen, for a free thread until its deadline:
the excess fails at once with ``greeter.ResourceExhausted``, and the client can back
off or go elsewhere. The asyncio server has no limit unless one is set.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeAlias

import grpc
import pytest

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    ServerConfig,
)
from tests.conftest import LOOPBACK, ServerProcess

#: Before grpcio 1.84 the asyncio server's maximum_concurrent_rpcs refuses the first calls
#: beyond the limit and then lets every later call through (grpc/grpc#41531; the README
#: says so): its refusing is tested from 1.84 on.
ASYNCIO_LIMIT_WORKS = tuple(map(int, grpc.__version__.split(".")[:2])) >= (1, 84)
ASYNCIO_LIMIT_BUG = "grpcio before 1.84 stops enforcing the asyncio limit (grpc/grpc#41531)"

TIMEOUT = 10.0
#: A refusal must come "at once": far sooner than the calls' deadline (``TIMEOUT``).
AT_ONCE = 1.0
DEFAULT_MAX_WORKERS = 32

#: How one call ended (its reply, or the class of its error) and how long it took.
Outcome: TypeAlias = tuple[object, float]


class Held(GreeterService):
    """SayHello and SayHelloStreamReply wait for ``release``; ``started`` counts them."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def _hold(self) -> None:
        self.started.release()
        self.release.wait(TIMEOUT)

    def say_hello(self, name: str) -> str:
        self._hold()
        return f"Hello, {name}!"

    def say_hello_stream_reply(self, name: str) -> Iterator[str]:
        self._hold()
        yield f"Hello, {name}!"


class AsyncHeld(AsyncGreeterService):
    """``Held`` for the asyncio server."""

    def __init__(self) -> None:
        self.started = asyncio.Semaphore(0)
        self.release = asyncio.Event()

    async def _hold(self) -> None:
        self.started.release()
        await asyncio.wait_for(self.release.wait(), TIMEOUT)

    async def say_hello(self, name: str) -> str:
        await self._hold()
        return f"Hello, {name}!"

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        await self._hold()
        yield f"Hello, {name}!"


def _timed(call: Callable[[], object]) -> Outcome:
    started = time.monotonic()
    try:
        result = call()
    except greeter.GreeterError as error:
        result = type(error)
    return result, time.monotonic() - started


def _overload(
    service: Held, call: Callable[[int], object], calls: int, capacity: int
) -> tuple[list[Outcome], list[Outcome]]:
    """Make ``calls`` held calls at once: (the first ``calls - capacity`` to end, the rest).

    Checks that exactly ``capacity`` calls are running, then releases them.
    """
    with ThreadPoolExecutor(calls) as pool:
        futures: list[Future[Outcome]] = [
            pool.submit(_timed, functools.partial(call, number)) for number in range(calls)
        ]
        try:
            first = list(itertools.islice(as_completed(futures, TIMEOUT), calls - capacity))
            for _ in range(capacity):
                assert service.started.acquire(timeout=TIMEOUT)
            assert not service.started.acquire(timeout=0.1), "more calls ran than allowed"
            rest = [future for future in futures if future not in first]
            assert not any(future.done() for future in rest)
        finally:
            service.release.set()
        return [future.result() for future in first], [future.result(TIMEOUT) for future in rest]


def _assert_refused_at_once(outcomes: list[Outcome]) -> None:
    assert [result for result, _ in outcomes] == [greeter.ResourceExhausted] * len(outcomes)
    assert max(took for _, took in outcomes) < AT_ONCE


def _greet(client: GreeterClient, shape: str, number: int) -> str:
    if shape == "unary":
        return client.greet(f"#{number}")
    (reply,) = client.greet_stream(f"#{number}")
    return reply


def test_the_default_limit_is_max_workers_on_the_threaded_server_and_none_on_asyncio() -> None:
    config = ServerConfig()
    assert (config.max_workers, config.maximum_concurrent_rpcs) == (DEFAULT_MAX_WORKERS, None)
    assert config.concurrency_limit(threaded=True) == DEFAULT_MAX_WORKERS
    assert config.concurrency_limit(threaded=False) is None
    assert ServerConfig(max_workers=4).concurrency_limit(threaded=True) == 4


def test_default_threaded_server_serves_32_slow_calls_and_refuses_32_more_at_once() -> None:
    service = Held()
    with (
        service.start(LOOPBACK) as server,
        GreeterClient(server.target, timeout=TIMEOUT) as client,
    ):
        refused, served = _overload(
            service,
            functools.partial(_greet, client, "unary"),
            calls=2 * DEFAULT_MAX_WORKERS,
            capacity=DEFAULT_MAX_WORKERS,
        )
        _assert_refused_at_once(refused)
        assert len(served) == DEFAULT_MAX_WORKERS
        assert all(str(result).startswith("Hello, #") for result, _ in served)
        # Once the slow calls are done, the server takes calls again.
        assert client.greet_again("after") == "Hello again, after!"


@pytest.mark.parametrize("shape", ["unary", "stream"])
def test_a_small_explicit_limit_refuses_the_excess_at_once(shape: str) -> None:
    service = Held()
    config = ServerConfig(max_workers=2, maximum_concurrent_rpcs=2)
    with (
        service.start(LOOPBACK, config=config) as server,
        GreeterClient(server.target, timeout=TIMEOUT) as client,
    ):
        refused, served = _overload(
            service, functools.partial(_greet, client, shape), calls=6, capacity=2
        )
        _assert_refused_at_once(refused)
        assert len(served) == 2
        assert all(str(result).startswith("Hello, #") for result, _ in served)
        assert client.greet_again("after") == "Hello again, after!"


@pytest.mark.skipif(not ASYNCIO_LIMIT_WORKS, reason=ASYNCIO_LIMIT_BUG)
def test_the_asyncio_server_refuses_calls_beyond_maximum_concurrent_rpcs_at_once() -> None:
    async def timed(call: Callable[[], Awaitable[object]]) -> Outcome:
        started = time.monotonic()
        try:
            result = await call()
        except greeter.GreeterError as error:
            result = type(error)
        return result, time.monotonic() - started

    async def scenario() -> None:
        service = AsyncHeld()
        config = ServerConfig(maximum_concurrent_rpcs=2)
        async with (
            await service.start(LOOPBACK, config=config) as server,
            AsyncGreeterClient(server.target, timeout=TIMEOUT) as client,
        ):
            calls = [
                asyncio.create_task(timed(functools.partial(client.greet, f"#{number}")))
                for number in range(6)
            ]
            try:
                first: list[Outcome] = []
                for next_done in itertools.islice(asyncio.as_completed(calls, timeout=TIMEOUT), 4):
                    first.append(await next_done)
                _assert_refused_at_once(first)
                for _ in range(2):
                    await asyncio.wait_for(service.started.acquire(), TIMEOUT)
                assert sum(not call.done() for call in calls) == 2
            finally:
                service.release.set()
            served = await asyncio.wait_for(asyncio.gather(*calls), TIMEOUT)
            assert sum(str(result).startswith("Hello, #") for result, _ in served) == 2
            assert await client.greet_again("after") == "Hello again, after!"

    asyncio.run(scenario())


def test_the_asyncio_server_has_no_limit_by_default() -> None:
    async def scenario() -> None:
        service = AsyncHeld()
        async with (
            await service.start(LOOPBACK) as server,
            AsyncGreeterClient(server.target, timeout=TIMEOUT) as client,
        ):
            calls = [
                asyncio.create_task(client.greet(f"#{number}"))
                for number in range(2 * DEFAULT_MAX_WORKERS)
            ]
            try:
                for _ in calls:
                    await asyncio.wait_for(service.started.acquire(), TIMEOUT)
            finally:
                service.release.set()
            replies = await asyncio.wait_for(asyncio.gather(*calls), TIMEOUT)
            assert replies == [f"Hello, #{number}!" for number in range(2 * DEFAULT_MAX_WORKERS)]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "flags",
    [
        [],
        pytest.param(
            ["--async"], marks=pytest.mark.skipif(not ASYNCIO_LIMIT_WORKS, reason=ASYNCIO_LIMIT_BUG)
        ),
    ],
    ids=["threaded", "asyncio"],
)
def test_greeter_serve_max_concurrent_rpcs_refuses_the_excess_at_once(flags: list[str]) -> None:
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--max-concurrent-rpcs", "2", *flags),
        ],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    release = threading.Event()
    answered = threading.Semaphore(0)

    def names() -> Iterator[str]:
        yield "Ann"
        release.wait(TIMEOUT)
        yield "Bob"

    def chat(client: GreeterClient) -> list[str]:
        # The stock service answers each name as it comes: the call runs until the
        # client stops sending.
        with client.chat(names()) as replies:
            first = next(replies)
            answered.release()
            return [first, *replies]

    try:
        with (
            GreeterClient(process.target, timeout=TIMEOUT) as client,
            ThreadPoolExecutor(2) as pool,
        ):
            chats = [pool.submit(chat, client) for _ in range(2)]
            try:
                for _ in chats:
                    assert answered.acquire(timeout=TIMEOUT)
                outcome, took = _timed(lambda: client.greet("third"))
                assert (outcome, took < AT_ONCE) == (greeter.ResourceExhausted, True)
            finally:
                release.set()
            assert [chat.result(TIMEOUT) for chat in chats] == [["Hello, Ann!", "Hello, Bob!"]] * 2
            assert client.greet("after") == "Hello, after!"
        assert process.stop() == 0
    finally:
        release.set()
        process.kill()
