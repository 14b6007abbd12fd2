"""Sustained load: 64 concurrent clients, every RPC shape, every reply checked.

Each of 64 clients, with its own connection, makes 160 calls one after another, 40 of
each shape: 10,240 calls in all against ``greeter serve`` in a child process. Threads
with a ``GreeterClient`` each call the threaded server (64 handler threads, one per
client); asyncio tasks with an ``AsyncGreeterClient`` each call the asyncio server.
Every call carries names no other call uses and its reply is compared in full, so a
reply delivered to the wrong call, a lost or repeated stream message, or a single
failed call fails the test.

The rate (calls per second, all shapes together) is printed (``pytest -s``) and
recorded as the ``calls_per_second`` property (``--junitxml``). It is not asserted: it
depends on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import greeter
from greeter import AsyncGreeterClient, ChannelOption, GreeterClient
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess

CLIENTS = 64
#: Calls per client, cycling through the four shapes: 40 of each.
CALLS_PER_CLIENT = 160
CALLS = CLIENTS * CALLS_PER_CLIENT
#: Deadline of each call: far beyond a healthy call, short enough to end a stuck run.
CALL_TIMEOUT = 20.0
#: grpc shares one connection among all the channels of a process to the same target;
#: each client here is to be a client of its own, with its own connection.
OWN_CONNECTION: list[ChannelOption] = [("grpc.use_local_subchannel_pool", 1)]
SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"
SHAPES = ("greet", "greet_stream", "greet_many", "chat")
#: The client-streaming and bidirectional calls send three names made from the call's.
MANY_SUFFIXES = ("a", "b", "c")


def _names(name: str) -> list[str]:
    return [f"{name}{suffix}" for suffix in MANY_SUFFIXES]


def _expected(shape: str, name: str) -> str | list[str]:
    """Exactly what the stock service answers to the call named ``name``."""
    many = _names(name)
    if shape == "greet":
        return f"Hello, {name}!"
    if shape == "greet_stream":
        return [f"Hello, {name}! ({number} of 3)" for number in (1, 2, 3)]
    if shape == "greet_many":
        return f"Hello, {many[0]}, {many[1]} and {many[2]}!"
    return [f"Hello, {each}!" for each in many]


def _shape_and_name(client_number: int, call_number: int) -> tuple[str, str]:
    return SHAPES[call_number % len(SHAPES)], f"c{client_number}-n{call_number}"


class Tally:
    """How many calls came back right, and what came back wrong (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.succeeded = 0
        self.wrong: list[str] = []

    def record(self, shape: str, name: str, outcome: object) -> bool:
        expected = _expected(shape, name)
        with self._lock:
            if outcome == expected:
                self.succeeded += 1
                return True
            self.wrong.append(f"{shape}({name!r}): got {outcome!r}, expected {expected!r}")
            return False


def _serve(*flags: str) -> ServerProcess:
    return ServerProcess([*GREETER_SERVE, "--address", LOOPBACK, *flags], SERVING_LINE)


def _report(
    record_property: Callable[[str, object], None], server: str, tally: Tally, elapsed: float
) -> None:
    rate = tally.succeeded / elapsed
    print(f"\n{server} server: {tally.succeeded} calls in {elapsed:.1f} s = {rate:.0f} calls/s")
    record_property("calls", tally.succeeded)
    record_property("seconds", round(elapsed, 2))
    record_property("calls_per_second", round(rate))


def _check(tally: Tally, process: ServerProcess) -> None:
    assert not tally.wrong, f"{len(tally.wrong)} call(s) went wrong, first: {tally.wrong[:5]}"
    assert tally.succeeded == CALLS
    assert process.stop() == 0
    assert "Traceback" not in "".join(process.output)


# -- threads, each with its own GreeterClient, against the threaded server --------------


def _call(client: GreeterClient, shape: str, name: str) -> str | list[str]:
    if shape == "greet":
        return client.greet(name)
    if shape == "greet_stream":
        return list(client.greet_stream(name))
    if shape == "greet_many":
        return client.greet_many(_names(name))
    return list(client.chat(_names(name)))


def _run_threads(target: str, tally: Tally) -> float:
    """Every client in its own thread, all starting together; seconds until the last ends."""
    start = threading.Barrier(CLIENTS + 1, timeout=CALL_TIMEOUT)

    def client_thread(client_number: int) -> None:
        with GreeterClient(target, timeout=CALL_TIMEOUT, options=OWN_CONNECTION) as client:
            start.wait()
            for call_number in range(CALLS_PER_CLIENT):
                shape, name = _shape_and_name(client_number, call_number)
                try:
                    outcome: object = _call(client, shape, name)
                except greeter.GreeterError as error:
                    outcome = error
                if not tally.record(shape, name, outcome):
                    return  # one failure is enough; do not wait out more deadlines

    threads = [
        threading.Thread(target=client_thread, args=(number,), name=f"load-client-{number}")
        for number in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def test_64_threaded_clients_get_the_right_reply_to_10_000_calls_on_the_threaded_server(
    record_property: Callable[[str, object], None],
) -> None:
    # One handler thread per client. grpc counts a call out of the admission limit only
    # once its handler thread has returned, which may be after the client has its reply
    # and has sent its next call: with the default limit (max_workers) a busy machine
    # sees the odd call refused with RESOURCE_EXHAUSTED (2 in 10,240, once). Room for
    # two calls per client covers that lag.
    process = _serve("--max-workers", str(CLIENTS), "--max-concurrent-rpcs", str(2 * CLIENTS))
    try:
        tally = Tally()
        elapsed = _run_threads(process.target, tally)
        _report(record_property, "threaded", tally, elapsed)
        _check(tally, process)
    finally:
        process.kill()


# -- asyncio tasks, each with its own AsyncGreeterClient, against the asyncio server ----


async def _async_call(client: AsyncGreeterClient, shape: str, name: str) -> str | list[str]:
    if shape == "greet":
        return await client.greet(name)
    if shape == "greet_stream":
        return [reply async for reply in client.greet_stream(name)]
    if shape == "greet_many":
        return await client.greet_many(_names(name))
    return [reply async for reply in client.chat(_names(name))]


async def _run_tasks(target: str, tally: Tally) -> float:
    async def client_task(client_number: int) -> None:
        async with AsyncGreeterClient(
            target, timeout=CALL_TIMEOUT, options=OWN_CONNECTION
        ) as client:
            for call_number in range(CALLS_PER_CLIENT):
                shape, name = _shape_and_name(client_number, call_number)
                try:
                    outcome: object = await _async_call(client, shape, name)
                except greeter.GreeterError as error:
                    outcome = error
                if not tally.record(shape, name, outcome):
                    return

    started = time.monotonic()
    await asyncio.gather(*(client_task(number) for number in range(CLIENTS)))
    return time.monotonic() - started


def test_64_asyncio_clients_get_the_right_reply_to_10_000_calls_on_the_asyncio_server(
    record_property: Callable[[str, object], None],
) -> None:
    process = _serve("--async")
    try:
        tally = Tally()
        elapsed = asyncio.run(_run_tasks(process.target, tally))
        _report(record_property, "asyncio", tally, elapsed)
        _check(tally, process)
    finally:
        process.kill()
