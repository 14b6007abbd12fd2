"""Losing a server, planned or not, loses no call.

Planned: ``SIGTERM`` to a server with 64 calls in flight (a quarter of each RPC shape,
each taking half a second). All 64 finish with their replies; a call started once the
stop has begun is refused with ``greeter.Unavailable`` at once (free to go to another
server); the process exits 0 within its grace period.

Unplanned: ``kill -9`` of one of three ``greeter serve`` processes behind one client
with ``load_balancing="round_robin"`` and ``retries=RetryPolicy()``, in the middle of a
run of calls: not one call fails. That takes nothing more than those two options, on
both clients: round robin stops picking the dead server as soon as its connection
drops, and grpc's retry policy sends every call the dead server had taken (it never
answered, so nothing of the call had come back) to another server. No
``wait_for_ready``, no hedging, the default five attempts. What no retry can do is
replay a stream whose first replies have arrived: grpc commits a call to its server
once anything of the response comes back, so such a stream fails with
``greeter.Unavailable`` (without repeating what it had delivered), and only the
application can decide to call again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest

import greeter
from greeter import AsyncGreeterClient, GreeterClient, RetryPolicy
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess

#: Upper bound of every wait in this file; a healthy run needs a fraction of it.
TIMEOUT = 10.0
SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"

# -- SIGTERM with 64 calls in flight -------------------------------------------------------

IN_FLIGHT = 64
#: How long each of the 64 calls works, once all of them have started.
WORK_SECONDS = 0.5
GRACE_SECONDS = 5.0
#: How long a refused call may take: "at once", not "when its deadline passes".
FAST = 1.0
#: Deadline of the calls made after SIGTERM; see ``_first_refusal``.
LATE_CALL_TIMEOUT = 2.0
#: Late calls checked after the first refusal, on each of two connections.
LATE_CALLS = 5

SLOW_SERVER = """
    import asyncio
    import logging
    import sys
    import threading
    import time
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from greeter import AsyncGreeterService, GreeterService, ServerConfig

    kind = sys.argv[1]
    in_flight = int(sys.argv[2])
    work_seconds = float(sys.argv[3])
    grace = float(sys.argv[4])
    all_started = Path(sys.argv[5])


    class Slow(GreeterService):
        \"\"\"Every RPC but SayHelloAgain works for a while, from when all calls have started.

        Streams send a first reply before they start to work.
        \"\"\"

        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._started = 0
            self._everyone_in = threading.Event()

        def _work(self) -> None:
            with self._lock:
                self._started += 1
                if self._started == in_flight:
                    all_started.touch()
                    self._everyone_in.set()
            self._everyone_in.wait(10)
            time.sleep(work_seconds)

        def say_hello(self, name: str) -> str:
            self._work()
            return f"Hello, {name}!"

        def say_hello_stream_reply(self, name: str) -> Iterator[str]:
            yield f"Hello, {name}! (1 of 2)"
            self._work()
            yield f"Hello, {name}! (2 of 2)"

        def say_hello_stream_request(self, names: Iterator[str]) -> str:
            everyone = list(names)
            self._work()
            return f"Hello, {' and '.join(everyone)}!"

        def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterator[str]:
            for number, name in enumerate(names):
                if number == 1:
                    self._work()
                yield f"Hello, {name}!"


    class AsyncSlow(AsyncGreeterService):
        \"\"\"``Slow`` for the asyncio server.\"\"\"

        def __init__(self) -> None:
            self._started = 0
            self._everyone_in = asyncio.Event()

        async def _work(self) -> None:
            self._started += 1
            if self._started == in_flight:
                all_started.touch()
                self._everyone_in.set()
            await asyncio.wait_for(self._everyone_in.wait(), 10)
            await asyncio.sleep(work_seconds)

        async def say_hello(self, name: str) -> str:
            await self._work()
            return f"Hello, {name}!"

        async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
            yield f"Hello, {name}! (1 of 2)"
            await self._work()
            yield f"Hello, {name}! (2 of 2)"

        async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
            everyone = [name async for name in names]
            await self._work()
            return f"Hello, {' and '.join(everyone)}!"

        async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
            number = 0
            async for name in names:
                if number == 1:
                    await self._work()
                number += 1
                yield f"Hello, {name}!"


    logging.basicConfig(level="INFO", format="%(name)s: %(message)s")
    # A handler thread for every call in flight, and room for the late ones.
    config = ServerConfig(grace_seconds=grace, max_workers=2 * in_flight)
    (Slow() if kind == "threaded" else AsyncSlow()).serve("127.0.0.1:0", config=config)
"""

SHAPES = ("greet", "greet_stream", "greet_many", "chat")


def _slow_call(client: GreeterClient, shape: str, name: str) -> str | list[str]:
    if shape == "greet":
        return client.greet(name)
    if shape == "greet_stream":
        return list(client.greet_stream(name))
    if shape == "greet_many":
        return client.greet_many([f"{name}a", f"{name}b"])
    return list(client.chat([f"{name}a", f"{name}b"]))


def _slow_reply(shape: str, name: str) -> str | list[str]:
    if shape == "greet":
        return f"Hello, {name}!"
    if shape == "greet_stream":
        return [f"Hello, {name}! (1 of 2)", f"Hello, {name}! (2 of 2)"]
    if shape == "greet_many":
        return f"Hello, {name}a and {name}b!"
    return [f"Hello, {name}a!", f"Hello, {name}b!"]


def _first_refusal(client: GreeterClient, racing: tuple[type[greeter.GreeterError], ...]) -> float:
    """Make new calls until the stopping server refuses one; how long the refusal took.

    A call made before the stop has really begun is served. One that races the server's
    GOAWAY ends with one of ``racing`` (grpc core cuts it with CANCELLED; grpc.aio may
    also park it until the drain is over, hence the short deadline); once the client has
    heard the GOAWAY, every new call is UNAVAILABLE.
    """
    give_up = time.monotonic() + TIMEOUT
    refused = False
    while time.monotonic() < give_up:
        started = time.monotonic()
        try:
            client.greet_again("early", timeout=LATE_CALL_TIMEOUT)
        except greeter.Unavailable:
            return time.monotonic() - started
        except racing:
            refused = True
            continue
        assert not refused, "a new call was served after one had been refused"
        time.sleep(0.005)
    raise AssertionError(f"new calls were still served {TIMEOUT} s after SIGTERM")


def _refusal_times(client: GreeterClient) -> list[float]:
    """How long each of ``LATE_CALLS`` new calls took to be refused with Unavailable."""
    durations = []
    for number in range(LATE_CALLS):
        started = time.monotonic()
        with pytest.raises(greeter.Unavailable):
            client.greet_again(f"late {number}", timeout=LATE_CALL_TIMEOUT)
        durations.append(time.monotonic() - started)
    return durations


def _wait_for(path: Path, what: str) -> None:
    give_up = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < give_up, what
        time.sleep(0.005)


@pytest.mark.parametrize("server", ["threaded", "asyncio"])
def test_sigterm_with_64_calls_in_flight_finishes_them_all_refuses_new_ones_and_exits_0(
    server: str, tmp_path: Path
) -> None:
    script = tmp_path / "slow_server.py"
    script.write_text(textwrap.dedent(SLOW_SERVER))
    all_started = tmp_path / "all-started"
    process = ServerProcess(
        [
            sys.executable,
            str(script),
            server,
            str(IN_FLIGHT),
            str(WORK_SECONDS),
            str(GRACE_SECONDS),
            str(all_started),
        ],
        SERVING_LINE,
    )
    racing: tuple[type[greeter.GreeterError], ...] = (greeter.Cancelled,)
    if server == "asyncio":
        racing = (greeter.Cancelled, greeter.DeadlineExceeded)
    calls = [(SHAPES[number % 4], f"call{number}") for number in range(IN_FLIGHT)]
    try:
        with (
            GreeterClient(process.target, timeout=TIMEOUT) as client,
            ThreadPoolExecutor(IN_FLIGHT) as pool,
        ):
            in_flight = [pool.submit(_slow_call, client, shape, name) for shape, name in calls]
            _wait_for(all_started, "the 64 calls were never all in flight")
            signalled = time.monotonic()
            process.process.send_signal(signal.SIGTERM)
            first_refusal = _first_refusal(client, racing)
            refusing_after = time.monotonic() - signalled
            # The stop began while every one of the 64 was still working.
            unfinished_at_first_refusal = sum(not call.done() for call in in_flight)
            refusals = [first_refusal, *_refusal_times(client)]
            with GreeterClient(process.target, timeout=TIMEOUT) as newcomer:
                refusals += _refusal_times(newcomer)
            replies = [call.result(TIMEOUT) for call in in_flight]
        status = process.process.wait(GRACE_SECONDS)
        exited_after = time.monotonic() - signalled
        process.stop()  # collects the rest of the output
    finally:
        process.kill()
    output = "".join(process.output)
    print(
        f"\n{server}: {IN_FLIGHT} calls drained; new calls refused from "
        f"{refusing_after * 1000:.0f} ms after SIGTERM, each in at most "
        f"{max(refusals) * 1000:.0f} ms; exited {exited_after:.2f} s after SIGTERM"
    )
    assert unfinished_at_first_refusal == IN_FLIGHT
    assert replies == [_slow_reply(shape, name) for shape, name in calls]
    assert max(refusals) < FAST
    assert status == 0
    assert exited_after < GRACE_SECONDS
    assert "Received SIGTERM" in output
    assert "Grace period" not in output  # nothing had to be cancelled
    assert "Traceback" not in output


# -- kill -9 of one of three servers ----------------------------------------------------------

#: Client threads (or tasks) of the failover runs, and the calls each makes.
WORKERS = 4
CALLS_PER_WORKER = 500
#: grpc's own retry policy, with this library's defaults: five attempts, on UNAVAILABLE.
RETRIES = RetryPolicy()
#: Deadline of each call of a failover run: its retries' backoffs come to 1.5 s at most.
CALL_TIMEOUT = 5.0
#: Bound of a whole failover run (a healthy one takes a second or two).
RUN_TIMEOUT = 30.0


@contextlib.contextmanager
def _processes(commands: list[list[str]]) -> Iterator[list[ServerProcess]]:
    """Start a server process for each command, all at once; kill what is left at the end."""
    with ThreadPoolExecutor(len(commands)) as pool:
        starting = [pool.submit(ServerProcess, command, SERVING_LINE) for command in commands]
    started = [each.result() for each in starting if each.exception() is None]
    try:
        for each in starting:
            if each.exception() is not None:
                each.result()  # raises it
        yield started
    finally:
        for process in started:
            process.kill()


def _greeter_serve(*flags: str) -> list[str]:
    # One process each: a kill -9 here must take a whole server down at once (with
    # workers, it would kill only their supervisor; the workers then drain).
    command = [*GREETER_SERVE, "--address", LOOPBACK]
    return [*command, "--workers", "1", *flags]


class Run:
    """A bounded run of calls, each checked, that says when it is half done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0
        self.failures: list[str] = []
        self.slowest = 0.0
        self.half_done = threading.Event()

    def record(self, name: str, outcome: object, seconds: float) -> None:
        expected = f"Hello, {name}!" if name.startswith("one") else f"Hello, {name}a and {name}b!"
        with self._lock:
            self.done += 1
            self.slowest = max(self.slowest, seconds)
            if outcome != expected:
                self.failures.append(f"{name}: {outcome!r}")
            if self.done == WORKERS * CALLS_PER_WORKER // 2:
                self.half_done.set()


def _name(worker: int, number: int) -> str:
    """Unary calls and client streams (both are retried whole) in turn."""
    return f"{'one' if number % 2 == 0 else 'many'}-{worker}-{number}"


def _check_failover(run: Run, servers: list[ServerProcess], client: str) -> None:
    print(
        f"\n{client} client: {run.done} calls, {len(run.failures)} failed; slowest call "
        f"{run.slowest * 1000:.0f} ms"
    )
    assert run.done == WORKERS * CALLS_PER_WORKER
    assert run.failures == []
    killed, *survivors = servers[1], servers[0], servers[2]
    assert killed.process.returncode == -signal.SIGKILL
    for survivor in survivors:
        assert survivor.stop() == 0


def test_killing_one_of_three_servers_mid_run_fails_no_call_of_a_round_robin_client() -> None:
    with _processes([_greeter_serve() for _ in range(3)]) as servers:
        run = Run()
        with GreeterClient(
            [server.target for server in servers],
            load_balancing="round_robin",
            retries=RETRIES,
            timeout=CALL_TIMEOUT,
        ) as client:

            def worker(number: int) -> None:
                for call in range(CALLS_PER_WORKER):
                    name = _name(number, call)
                    started = time.monotonic()
                    try:
                        outcome: object = (
                            client.greet(name)
                            if name.startswith("one")
                            else client.greet_many([f"{name}a", f"{name}b"])
                        )
                    except greeter.GreeterError as error:
                        outcome = error
                    run.record(name, outcome, time.monotonic() - started)

            with ThreadPoolExecutor(WORKERS) as pool:
                workers = [pool.submit(worker, number) for number in range(WORKERS)]
                assert run.half_done.wait(RUN_TIMEOUT)
                servers[1].kill()
                for each in workers:
                    each.result(RUN_TIMEOUT)
        _check_failover(run, servers, "sync")


def test_killing_one_of_three_servers_mid_run_fails_no_call_of_the_async_client() -> None:
    async def scenario(servers: list[ServerProcess]) -> Run:
        run = Run()
        async with AsyncGreeterClient(
            [server.target for server in servers],
            load_balancing="round_robin",
            retries=RETRIES,
            timeout=CALL_TIMEOUT,
        ) as client:

            async def worker(number: int) -> None:
                for call in range(CALLS_PER_WORKER):
                    name = _name(number, call)
                    started = time.monotonic()
                    try:
                        outcome: object = await (
                            client.greet(name)
                            if name.startswith("one")
                            else client.greet_many([f"{name}a", f"{name}b"])
                        )
                    except greeter.GreeterError as error:
                        outcome = error
                    run.record(name, outcome, time.monotonic() - started)

            async def killer() -> None:
                while not run.half_done.is_set():
                    await asyncio.sleep(0.001)
                servers[1].process.kill()  # SIGKILL; reaped when the test ends

            await asyncio.wait_for(
                asyncio.gather(killer(), *(worker(number) for number in range(WORKERS))),
                RUN_TIMEOUT,
            )
        return run

    # The asyncio server this time: a kill -9 is the same on either.
    with _processes([_greeter_serve("--async") for _ in range(3)]) as servers:
        run = asyncio.run(scenario(servers))
        servers[1].kill()
        _check_failover(run, servers, "asyncio")


# -- what exactly is retried: calls the killed server had taken --------------------------------

FROZEN_SERVER = """
    import logging
    import sys
    import time
    from collections.abc import Iterator
    from pathlib import Path

    from greeter import GreeterService

    arrived = Path(sys.argv[1])


    class Frozen(GreeterService):
        \"\"\"Takes calls and never answers: a server that hangs with calls in flight.

        A stream named "partial..." sends its first reply before it hangs.
        \"\"\"

        def say_hello(self, name: str) -> str:
            (arrived / name).touch()
            time.sleep(60)
            return "too late"

        def say_hello_stream_reply(self, name: str) -> Iterator[str]:
            if name.startswith("partial"):
                yield f"Hello, {name}! (1 of 3)"
            (arrived / name).touch()
            time.sleep(60)
            yield "too late"


    logging.basicConfig(level="INFO", format="%(name)s: %(message)s")
    Frozen().serve("127.0.0.1:0")
"""

#: Calls of each kind that must be in flight on the frozen server when it is killed.
STUCK_OF_EACH = 2
#: The most calls sent to reach that (round robin sends every third to the frozen one).
MAX_CALLS = 60


def _unary(client: GreeterClient, name: str) -> object:
    """The reply, or the error the call ended with."""
    try:
        return client.greet(name)
    except greeter.GreeterError as error:
        return error


def _stream(client: GreeterClient, name: str) -> tuple[list[str], greeter.GreeterError | None]:
    """The replies a stream delivered, and the error it ended with (None if none)."""
    received: list[str] = []
    try:
        for reply in client.greet_stream(name):
            received.append(reply)
    except greeter.GreeterError as error:
        return received, error
    return received, None


def _kill_the_frozen_server(
    tmp_path: Path, retries: RetryPolicy | None
) -> tuple[dict[str, object], set[str]]:
    """Calls from a round-robin client to two stock servers and a frozen one, killed
    (``kill -9``) once ``STUCK_OF_EACH`` calls of each kind hang on it: how each call
    ended, and the names of those that hung."""
    script = tmp_path / "frozen_server.py"
    script.write_text(textwrap.dedent(FROZEN_SERVER))
    arrived = tmp_path / "arrived"
    arrived.mkdir()
    commands = [_greeter_serve(), [sys.executable, str(script), str(arrived)], _greeter_serve()]
    with (
        _processes(commands) as servers,
        GreeterClient(
            [server.target for server in servers],
            load_balancing="round_robin",
            retries=retries,
            timeout=TIMEOUT,
        ) as client,
        ThreadPoolExecutor(MAX_CALLS) as pool,
    ):
        calls: dict[str, Future[object]] = {}
        kinds: dict[str, Callable[[GreeterClient, str], object]] = {
            "unary": _unary,
            "stream": _stream,  # hangs before its first reply
            "partial": _stream,  # hangs after its first reply
        }

        def stuck(kind: str) -> int:
            return sum(1 for path in arrived.iterdir() if path.name.startswith(kind))

        give_up = time.monotonic() + TIMEOUT
        while any(stuck(kind) < STUCK_OF_EACH for kind in kinds):
            assert len(calls) < MAX_CALLS, "round robin never reached the frozen server"
            assert time.monotonic() < give_up, "the calls never reached the frozen server"
            # Three calls of a kind in a row: round robin gives one to each server.
            kind = list(kinds)[len(calls) // 3 % len(kinds)]
            name = f"{kind}-{len(calls)}"
            calls[name] = pool.submit(kinds[kind], client, name)
            time.sleep(0.01)
        stuck_names = {path.name for path in arrived.iterdir()}
        servers[1].kill()
        outcomes = {name: call.result(TIMEOUT) for name, call in calls.items()}
    assert servers[1].process.returncode == -signal.SIGKILL
    return outcomes, stuck_names


def _replies(name: str) -> list[str]:
    return [f"Hello, {name}! ({number} of 3)" for number in (1, 2, 3)]


def _is_unavailable(error: object) -> bool:
    return isinstance(error, greeter.Unavailable)


def test_calls_a_killed_server_had_taken_are_retried_on_another_unless_replies_had_begun(
    tmp_path: Path,
) -> None:
    outcomes, stuck = _kill_the_frozen_server(tmp_path, RETRIES)
    for name, outcome in outcomes.items():
        if name.startswith("unary"):
            assert outcome == f"Hello, {name}!"
        elif name.startswith("stream"):
            assert outcome == (_replies(name), None)
        elif name in stuck:
            # Committed to the killed server by its first reply: failed, and not replayed.
            received, error = cast(tuple[list[str], object], outcome)
            assert received == _replies(name)[:1]
            assert _is_unavailable(error)
        else:
            assert outcome == (_replies(name), None)


def test_without_a_retry_policy_calls_a_killed_server_had_taken_fail_with_unavailable(
    tmp_path: Path,
) -> None:
    outcomes, stuck = _kill_the_frozen_server(tmp_path, None)
    for name, outcome in outcomes.items():
        if name.startswith("unary"):
            assert _is_unavailable(outcome) if name in stuck else outcome == f"Hello, {name}!"
        else:
            received, error = cast(tuple[list[str], object], outcome)
            if name in stuck:
                assert received == _replies(name)[: 1 if name.startswith("partial") else 0]
                assert _is_unavailable(error)
            else:
                assert (received, error) == (_replies(name), None)
