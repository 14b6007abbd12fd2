"""Load drivers: long-lived client processes that run one bounded block per command.

``python -m benchmarks.clients DRIVER STUBS_DIR`` reads one JSON command per line on
stdin and answers each with one JSON line on stdout::

    {"target": "127.0.0.1:PORT", "shape": "unary", "in_flight": 1, "channels": 1,
     "seconds": 2.0, "max_calls": 100000}
    -> {"calls": 8123, "messages": 8123, "seconds": 2.0, "latencies_ms": [...]}

Channels are opened and warmed with one call before the clock starts, and closed after
the block. A block stops after ``seconds`` or ``max_calls`` calls, whichever is first.
``latencies_ms`` is a sample of at most ``LATENCY_SAMPLE`` per block.

DRIVER is one of:

- ``raw-sync`` / ``raw-async``: grpc's generated stubs (``greeter._proto``'s, so the
  process can import greeter too), as a user of plain grpcio would call them: a
  ``HelloRequest`` made from the name for each call, and each reply's ``message`` read
  (what greeter's clients do for their callers);
  ``raw-sync-single-thread`` with grpcio's ``SingleThreadedUnaryStream`` channel option.
- ``greeter-sync`` / ``greeter-async``: ``GreeterClient`` / ``AsyncGreeterClient``.
- ``grpclib``: grpclib's client and generated stub (never imports greeter).
- ``generated-sync`` / ``generated-async``: the ``EchoClient`` / ``AsyncEchoClient`` that
  ``greeter generate`` wrote for ``bench.v1.Echo`` (``benchmarks/protos``), unary
  calls only, with an ``EchoRequest`` made for each call and each reply's ``text`` read.
- ``generated-raw-sync`` / ``generated-raw-async``: the same calls through the
  ``EchoStub`` of ``bench.v1``'s ``echo_pb2_grpc``, as a user of plain grpcio writes them.

Shapes: ``unary`` (SayHello), ``stream`` (one SayHelloStreamReply at a time, counting
every reply as a message) and ``bidi`` (ping-pong: one name, wait for its reply, the
next name, on one SayHelloBidiStream call). Sync drivers keep one call in flight.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stubs import generated

#: At most this many latencies are sent back per block.
LATENCY_SAMPLE = 2000
NAME = "you"
#: One call that takes longer than this fails the block (nothing should come close).
CALL_TIMEOUT_SECONDS = 30.0


@dataclass
class Block:
    """What one block of calls did."""

    calls: int = 0
    messages: int = 0
    failed: int = 0  # refused (RESOURCE_EXHAUSTED, UNAVAILABLE): on the clock, no message
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def record(self, started: float, messages: int) -> None:
        self.calls += 1
        self.messages += messages
        latency = time.perf_counter() - started
        if len(self.latencies) < LATENCY_SAMPLE:
            self.latencies.append(latency)
        elif random.random() < LATENCY_SAMPLE / self.calls:  # a uniform sample (reservoir)
            self.latencies[random.randrange(LATENCY_SAMPLE)] = latency

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "messages": self.messages,
            "failed": self.failed,
            "seconds": self.seconds,
            "latencies_ms": [round(latency * 1000, 4) for latency in self.latencies],
        }


@dataclass
class Command:
    target: str
    shape: str
    in_flight: int
    channels: int
    seconds: float
    max_calls: int


# ------------------------------------------------------------------- sync drivers

#: One step of a sync driver: makes one call (or one ping) and returns its messages.
SyncStep = Callable[[], int]


def _run_sync(step: SyncStep, command: Command) -> Block:
    step()  # warm: the connection is up and the first call's costs are paid
    block = Block()
    started = time.perf_counter()
    deadline = started + command.seconds
    while block.calls < command.max_calls and time.perf_counter() < deadline:
        call_started = time.perf_counter()
        block.record(call_started, step())
    block.seconds = time.perf_counter() - started
    return block


class _PingPong:
    """Feeds names to a bidi call one at a time, so each reply answers the last name."""

    def __init__(self) -> None:
        self._names: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def names(self) -> Iterator[str]:
        while (name := self._names.get()) is not None:
            yield name

    def send(self, name: str | None) -> None:
        self._names.put(name)


def raw_sync(command: Command, single_threaded_streams: bool = False) -> Block:
    import grpc
    import grpc.experimental

    from greeter._proto import helloworld_pb2, helloworld_pb2_grpc

    hello = helloworld_pb2.HelloRequest
    # grpcio's experimental option: a server stream is read on the calling thread
    # (no hand-off to the channel's thread per reply).
    single = grpc.experimental.ChannelOptions.SingleThreadedUnaryStream
    options = [(single, 1)] if single_threaded_streams else []
    with grpc.insecure_channel(command.target, options=options) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        if command.shape == "unary":
            return _run_sync(
                lambda: bool(stub.SayHello(hello(name=NAME), timeout=CALL_TIMEOUT_SECONDS).message),
                command,
            )
        if command.shape == "stream":
            return _run_sync(
                lambda: sum(
                    1
                    for reply in stub.SayHelloStreamReply(
                        hello(name=NAME), timeout=CALL_TIMEOUT_SECONDS
                    )
                    if reply.message
                ),
                command,
            )
        feeder = _PingPong()
        replies = stub.SayHelloBidiStream(
            (hello(name=name) for name in feeder.names()),
            timeout=CALL_TIMEOUT_SECONDS + command.seconds,
        )

        def ping() -> int:
            feeder.send(NAME)
            return int(bool(next(replies).message))

        try:
            return _run_sync(ping, command)
        finally:
            feeder.send(None)
            for _ in replies:  # the server ends the call once the names end
                pass


def greeter_sync(command: Command) -> Block:
    from greeter import GreeterClient

    with GreeterClient(command.target, timeout=CALL_TIMEOUT_SECONDS) as client:
        if command.shape == "unary":
            return _run_sync(lambda: bool(client.greet(NAME)), command)
        if command.shape == "stream":

            def stream() -> int:
                with client.greet_stream(NAME) as replies:
                    return sum(1 for message in replies if message)

            return _run_sync(stream, command)
        feeder = _PingPong()
        with client.chat(feeder.names(), timeout=CALL_TIMEOUT_SECONDS + command.seconds) as chat:
            replies = iter(chat)

            def ping() -> int:
                feeder.send(NAME)
                return int(bool(next(replies)))

            try:
                return _run_sync(ping, command)
            finally:
                feeder.send(None)
                for _ in replies:
                    pass


# ------------------------------------------------------------------ async drivers

#: Makes one call (or ping) on the channel numbered by its argument; returns messages.
AsyncStep = Callable[[int], Awaitable[int]]


async def _run_async(step: AsyncStep, command: Command) -> Block:
    for channel in range(command.channels):
        await step(channel)  # warm every connection
    block = Block()
    started = time.perf_counter()
    deadline = started + command.seconds

    async def worker(channel: int) -> None:
        while block.calls < command.max_calls and time.perf_counter() < deadline:
            call_started = time.perf_counter()
            try:
                messages = await step(channel)
            except Exception as error:
                if not _is_refused(error) or block.failed >= command.max_calls:
                    raise
                # A refused call counts against its side: its time stays on the clock,
                # it serves no message, and it is not tried again.
                block.failed += 1
                continue
            block.record(call_started, messages)

    await asyncio.gather(
        *(worker(number % command.channels) for number in range(command.in_flight))
    )
    block.seconds = time.perf_counter() - started
    return block


def _is_refused(error: Exception) -> bool:
    """A call the server refused (RESOURCE_EXHAUSTED) or could not take (UNAVAILABLE)."""
    code = getattr(error, "code", None)
    if code is None:
        return False
    status = code() if callable(code) else code  # grpcio's method; greeter's attribute
    return getattr(status, "name", "") in {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}


def _separate_connections(number: int) -> list[tuple[str, int]]:
    # Channels with equal arguments share one connection (a global subchannel pool);
    # each channel here must open its own, so that server processes sharing a port
    # (SO_REUSEPORT) get their share of them.
    return [("grpc.use_local_subchannel_pool", 1), ("benchmarks.channel", number)]


async def raw_async(command: Command) -> Block:
    import grpc.aio

    from greeter._proto import helloworld_pb2, helloworld_pb2_grpc

    hello = helloworld_pb2.HelloRequest
    channels = [
        grpc.aio.insecure_channel(command.target, options=_separate_connections(number))
        for number in range(command.channels)
    ]
    stubs = [helloworld_pb2_grpc.GreeterStub(channel) for channel in channels]

    async def unary(channel: int) -> int:
        reply = await stubs[channel].SayHello(hello(name=NAME), timeout=CALL_TIMEOUT_SECONDS)
        return int(bool(reply.message))

    async def stream(channel: int) -> int:
        call = stubs[channel].SayHelloStreamReply(hello(name=NAME), timeout=CALL_TIMEOUT_SECONDS)
        return sum([1 async for reply in call if reply.message])

    try:
        return await _run_async(unary if command.shape == "unary" else stream, command)
    finally:
        for channel in channels:
            await channel.close()


async def greeter_async(command: Command) -> Block:
    from greeter import AsyncGreeterClient

    clients = [
        AsyncGreeterClient(
            command.target, timeout=CALL_TIMEOUT_SECONDS, options=_separate_connections(number)
        )
        for number in range(command.channels)
    ]

    async def unary(channel: int) -> int:
        return int(bool(await clients[channel].greet(NAME)))

    async def stream(channel: int) -> int:
        return sum([1 async for message in clients[channel].greet_stream(NAME) if message])

    try:
        return await _run_async(unary if command.shape == "unary" else stream, command)
    finally:
        for client in clients:
            await client.close()


async def grpclib_async(command: Command) -> Block:
    import helloworld_grpc  # type: ignore[import-not-found]
    import helloworld_pb2  # type: ignore[import-not-found]
    from grpclib.client import Channel

    host, port = command.target.rsplit(":", 1)
    channels = [Channel(host, int(port)) for _ in range(command.channels)]
    stubs = [helloworld_grpc.GreeterStub(channel) for channel in channels]
    request = helloworld_pb2.HelloRequest(name=NAME)

    async def unary(channel: int) -> int:
        await stubs[channel].SayHello(request, timeout=CALL_TIMEOUT_SECONDS)
        return 1

    async def stream(channel: int) -> int:
        count = 0
        async with stubs[channel].SayHelloStreamReply.open(timeout=CALL_TIMEOUT_SECONDS) as call:
            await call.send_message(request, end=True)
            async for _ in _replies(call):
                count += 1
        return count

    try:
        return await _run_async(unary if command.shape == "unary" else stream, command)
    finally:
        for channel in channels:
            channel.close()


# ------------------------------------------------- a generated service: bench.v1.Echo


def generated_sync(command: Command) -> Block:
    from bench.v1 import echo_greeter, echo_pb2  # type: ignore[import-not-found]

    echo = echo_pb2.EchoRequest
    with echo_greeter.EchoClient(command.target, timeout=CALL_TIMEOUT_SECONDS) as client:
        return _run_sync(lambda: bool(client.echo(echo(text=NAME)).text), command)


def generated_raw_sync(command: Command) -> Block:
    import grpc
    from bench.v1 import echo_pb2, echo_pb2_grpc

    echo = echo_pb2.EchoRequest
    with grpc.insecure_channel(command.target) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        return _run_sync(
            lambda: bool(stub.Echo(echo(text=NAME), timeout=CALL_TIMEOUT_SECONDS).text), command
        )


async def generated_async(command: Command) -> Block:
    from bench.v1 import echo_greeter, echo_pb2

    echo = echo_pb2.EchoRequest
    clients = [
        echo_greeter.AsyncEchoClient(
            command.target, timeout=CALL_TIMEOUT_SECONDS, options=_separate_connections(number)
        )
        for number in range(command.channels)
    ]

    async def unary(channel: int) -> int:
        return int(bool((await clients[channel].echo(echo(text=NAME))).text))

    try:
        return await _run_async(unary, command)
    finally:
        for client in clients:
            await client.close()


async def generated_raw_async(command: Command) -> Block:
    import grpc.aio
    from bench.v1 import echo_pb2, echo_pb2_grpc

    echo = echo_pb2.EchoRequest
    channels = [
        grpc.aio.insecure_channel(command.target, options=_separate_connections(number))
        for number in range(command.channels)
    ]
    stubs = [echo_pb2_grpc.EchoStub(channel) for channel in channels]

    async def unary(channel: int) -> int:
        reply = await stubs[channel].Echo(echo(text=NAME), timeout=CALL_TIMEOUT_SECONDS)
        return int(bool(reply.text))

    try:
        return await _run_async(unary, command)
    finally:
        for channel in channels:
            await channel.close()


async def _replies(call: Any) -> AsyncIterator[Any]:
    async for reply in call:
        yield reply


DRIVERS: dict[str, Callable[[Command], Block]] = {
    "raw-sync": raw_sync,
    "raw-sync-single-thread": lambda command: raw_sync(command, single_threaded_streams=True),
    "greeter-sync": greeter_sync,
    "raw-async": lambda command: asyncio.run(raw_async(command)),
    "greeter-async": lambda command: asyncio.run(greeter_async(command)),
    "grpclib": lambda command: asyncio.run(grpclib_async(command)),
    "generated-sync": generated_sync,
    "generated-raw-sync": generated_raw_sync,
    "generated-async": lambda command: asyncio.run(generated_async(command)),
    "generated-raw-async": lambda command: asyncio.run(generated_raw_async(command)),
}


def main(argv: list[str]) -> None:
    driver, stubs = DRIVERS[argv[0]], argv[1]
    if argv[0] == "grpclib":
        sys.path.insert(0, stubs)  # the generated modules; never greeter's in this process
    if argv[0].startswith("generated"):
        sys.path.insert(0, str(generated(Path(stubs))))  # bench.v1's modules
    for line in sys.stdin:
        command = Command(**json.loads(line))
        print(json.dumps(driver(command).as_json()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
