"""Admission: a busy server queues what it can serve and refuses only the rest.

The threaded server runs each call on one of ``max_workers`` threads; a call that finds
them all busy waits its turn in a bounded queue (``max_queued_calls``). A call with a
deadline waits at most 15 % of the time its deadline left it
(``max_queue_wait_share``): then it is refused with ``greeter.ResourceExhausted`` and
its client has the rest to go elsewhere, instead of waiting out its deadline unseen.
``maximum_concurrent_rpcs`` is a hard cap for those who want one, on both servers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, TypeAlias

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
from greeter._proto.helloworld_pb2 import HelloReply, HelloRequest
from greeter.server._workers import default_worker_count
from tests.conftest import LOOPBACK, REPO_ROOT, ServerProcess, wait_for

PID_SERVER = REPO_ROOT / "tests" / "pid_server.py"

#: helloworld.Greeter/SayHello on a bare grpc.aio channel, as a stock client calls it.
StockStub: TypeAlias = grpc.aio.UnaryUnaryMultiCallable[HelloRequest, HelloReply]


def _say_hello(channel: grpc.aio.Channel) -> StockStub:
    return channel.unary_unary(
        "/helloworld.Greeter/SayHello",
        request_serializer=HelloRequest.SerializeToString,
        response_deserializer=HelloReply.FromString,
    )


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


def test_by_default_nothing_is_capped_and_up_to_1024_calls_queue_for_a_thread() -> None:
    config = ServerConfig()
    assert (config.max_workers, config.maximum_concurrent_rpcs) == (DEFAULT_MAX_WORKERS, None)
    assert (config.max_queued_calls, config.max_queue_wait_share) == (1024, 0.15)
    assert config.max_concurrent_streams is None
    streams = ServerConfig(max_concurrent_streams=500).channel_options()
    assert ("grpc.max_concurrent_streams", 500) in streams


def test_calls_beyond_the_threads_wait_their_turn_and_are_all_served() -> None:
    service = Held()
    calls = 2 * DEFAULT_MAX_WORKERS
    with (
        service.start(LOOPBACK) as server,
        GreeterClient(server.target) as client,  # no deadline: they wait as long as it takes
        ThreadPoolExecutor(calls) as pool,
    ):
        replies = [pool.submit(client.greet, f"#{number}") for number in range(calls)]
        try:
            for _ in range(DEFAULT_MAX_WORKERS):
                assert service.started.acquire(timeout=TIMEOUT)
            assert not service.started.acquire(timeout=0.1), "more calls ran than threads"
            assert not any(reply.done() for reply in replies), "a queued call was refused"
        finally:
            service.release.set()
        assert [reply.result(TIMEOUT) for reply in replies] == [
            f"Hello, #{number}!" for number in range(calls)
        ]


def test_a_call_beyond_a_full_queue_is_refused_at_once_and_the_queued_ones_are_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = Held()
    config = ServerConfig(max_workers=1, max_queued_calls=2)
    with (
        service.start(LOOPBACK, config=config) as server,
        GreeterClient(server.target) as client,
        ThreadPoolExecutor(3) as pool,
    ):
        running = pool.submit(client.greet, "running")
        assert service.started.acquire(timeout=TIMEOUT)
        queued = [pool.submit(client.greet, f"queued {number}") for number in range(2)]
        try:
            wait_for(lambda: _queued(server) == 2, "both calls to queue")
            outcome, took = _timed(lambda: client.greet("one too many"))
            assert (outcome, took < AT_ONCE) == (greeter.ResourceExhausted, True)
        finally:
            service.release.set()
        assert running.result(TIMEOUT) == "Hello, running!"
        assert [call.result(TIMEOUT) for call in queued] == ["Hello, queued 0!", "Hello, queued 1!"]
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Refused")]
    assert refusals == [
        "Refused 1 call(s) with RESOURCE_EXHAUSTED: all 1 handler threads were busy and the "
        "calls could not wait (the queue was full, or the calls waited their share of their "
        "deadline)"
    ]


def _queued(server: greeter.GreeterServer) -> int:
    return len(server._executor._waiting)


#: Servers as ``greeter serve`` runs them with its defaults (a worker per CPU), in one
#: process as ``GreeterService().serve()`` does, and on the asyncio server.
SERVERS = {
    "workers": ["--workers", str(default_worker_count())],
    "one-process": [],
    "asyncio": ["--async"],
}


@contextlib.contextmanager
def pid_server(flags: list[str]) -> Iterator[str]:
    """``tests/pid_server.py`` (the stock settings) in a child process: its target."""
    process = ServerProcess(
        [sys.executable, str(PID_SERVER), "--address", LOOPBACK, *flags],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        yield process.target
        assert process.stop() == 0
    finally:
        process.kill()


def _channel(target: str) -> grpc.aio.Channel:
    # A subchannel pool of its own: a connection of its own, not one shared with
    # the other channels to the same target.
    return grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


@pytest.mark.parametrize("server", SERVERS)
def test_a_burst_of_1024_calls_over_4_connections_then_64_streams_is_served_without_error(
    server: str,
) -> None:
    async def scenario(target: str) -> None:
        channels = [_channel(target) for _ in range(4)]
        try:
            stubs = [_say_hello(channel) for channel in channels]
            for _ in range(4):
                replies = await asyncio.wait_for(
                    asyncio.gather(
                        *(stubs[number % 4](HelloRequest(name="burst")) for number in range(1024))
                    ),
                    60,
                )
                assert all(reply.message.isdigit() for reply in replies)
            streams = [
                channels[number % 4].unary_stream(
                    "/helloworld.Greeter/SayHelloStreamReply",
                    request_serializer=HelloRequest.SerializeToString,
                    response_deserializer=HelloReply.FromString,
                )(HelloRequest(name="stream"))
                for number in range(64)
            ]

            async def read(stream: grpc.aio.UnaryStreamCall[Any, HelloReply]) -> int:
                return len([reply async for reply in stream])

            counts = await asyncio.wait_for(asyncio.gather(*(read(s) for s in streams)), 60)
            assert counts == [3] * 64
        finally:
            for channel in channels:
                await channel.close()

    with pid_server(SERVERS[server]) as target:
        asyncio.run(scenario(target))


@pytest.mark.parametrize("server", SERVERS)
def test_600_calls_of_a_2_s_handler_with_4_s_deadlines_end_ok_or_are_refused_within_1_s(
    server: str,
) -> None:
    async def call(stub: StockStub) -> tuple[grpc.StatusCode, float]:
        started = time.monotonic()
        try:
            await stub(HelloRequest(name="sleep 2"), timeout=4)
        except grpc.aio.AioRpcError as error:
            return error.code(), time.monotonic() - started
        return grpc.StatusCode.OK, time.monotonic() - started

    async def scenario(target: str) -> list[tuple[grpc.StatusCode, float]]:
        channels = [_channel(target) for _ in range(4)]
        try:
            stubs = [_say_hello(channel) for channel in channels]
            return await asyncio.gather(*(call(stubs[number % 4]) for number in range(600)))
        finally:
            for channel in channels:
                await channel.close()

    with pid_server(SERVERS[server]) as target:
        outcomes = asyncio.run(scenario(target))
    codes = collections.Counter(code for code, _ in outcomes)
    assert set(codes) <= {
        grpc.StatusCode.OK,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
    }, codes
    assert codes[grpc.StatusCode.OK] >= DEFAULT_MAX_WORKERS
    refusals = sorted(took for code, took in outcomes if code != grpc.StatusCode.OK)
    print(f"\n{dict(codes)}; slowest refusals (s): {[round(t, 3) for t in refusals[-3:]]}")
    assert not refusals or refusals[-1] < AT_ONCE, (codes, refusals[-5:])


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
        ["--max-concurrent-rpcs", "2"],
        pytest.param(
            ["--max-concurrent-rpcs", "2", "--async"],
            marks=pytest.mark.skipif(not ASYNCIO_LIMIT_WORKS, reason=ASYNCIO_LIMIT_BUG),
        ),
        ["--max-workers", "2", "--max-queued-calls", "0"],
    ],
    ids=["threaded-cap", "asyncio-cap", "threaded-no-queue"],
)
def test_greeter_serve_admission_flags_refuse_the_excess_at_once(flags: list[str]) -> None:
    process = ServerProcess(
        [*(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK), *flags],
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
