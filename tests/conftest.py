"""Shared fixtures: real servers on 127.0.0.1 with OS-picked ports.

In-process servers come from ``greeter.testing.serving``, as a user's tests would get
them (the greeter pytest plugin's fixtures are built on it too).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    ExtraService,
    GreeterClient,
    GreeterError,
    GreeterServer,
    GreeterService,
    ServerConfig,
    testing,
)
from greeter._logging import forget_logged_errors

#: Throwaway certificates (fixture ``certificates``) for the TLS, auth and README tests;
#: pytest's own ``pytester``, to run a user's test file through the greeter plugin.
pytest_plugins = ["tests.certs", "pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1:0"
#: ``python -m greeter serve``, for a test to add its flags to (``[*GREETER_SERVE, "-h"]``).
GREETER_SERVE = (sys.executable, "-m", "greeter", "serve")

#: What any client gets from a server with the default greetings, keyed by RPC, when it
#: sends "you" to the single-name RPCs and Ann, Bob and Cy to the streaming ones.
EXPECTED_BY_RPC: dict[str, str | list[str]] = {
    "SayHello": "Hello, you!",
    "SayHelloAgain": "Hello again, you!",
    "SayHelloStreamReply": ["Hello, you! (1 of 3)", "Hello, you! (2 of 3)", "Hello, you! (3 of 3)"],
    "SayHelloStreamRequest": "Hello, Ann, Bob and Cy!",
    "SayHelloBidiStream": ["Hello, Ann!", "Hello, Bob!", "Hello, Cy!"],
}


class SlowService(GreeterService):
    """Answers only when released (or after 10 s), to exercise deadlines."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def say_hello(self, name: str) -> str:
        self.release.wait(timeout=10)
        return super().say_hello(name)


@pytest.fixture(autouse=True)
def _fresh_error_log() -> None:
    """Each test starts as a fresh process would: no error counts as logged already.

    (A server logs the same unexpected error from the same place once per window.)
    """
    forget_logged_errors()


@pytest.fixture
def server() -> Iterator[GreeterServer]:
    """A stock GreeterService serving on 127.0.0.1 (port picked by the OS)."""
    with testing.serving(GreeterService()) as running:
        yield running


@pytest.fixture
def client(server: GreeterServer) -> Iterator[GreeterClient]:
    """A client of the ``server`` fixture."""
    with GreeterClient(server.target) as greeter_client:
        yield greeter_client


@contextmanager
def serving_async(
    service: AsyncGreeterService,
    config: ServerConfig | None = None,
    *,
    address: str | Sequence[str] = LOOPBACK,
    services: Sequence[ExtraService] = (),
) -> Iterator[AsyncGreeterServer]:
    """Run an asyncio server on its own event loop thread, so any client can call it."""
    with testing.serving(service, address=address, config=config, services=services) as server:
        yield server


@contextmanager
def serving(
    kind: str,
    service: GreeterService | None = None,
    async_service: AsyncGreeterService | None = None,
    config: ServerConfig | None = None,
) -> Iterator[str]:
    """Serve on the threaded (``"sync"``) or asyncio (``"async"``) server; yield the target."""
    chosen: GreeterService | AsyncGreeterService
    if kind == "sync":
        chosen = service or GreeterService()
    else:
        chosen = async_service or AsyncGreeterService()
    with testing.serving(chosen, config=config) as running:
        yield running.target


@pytest.fixture(params=["sync", "async"])
def server_kind(request: pytest.FixtureRequest) -> str:
    """Run a test against both the threaded and the asyncio server."""
    kind: str = request.param
    return kind


class ServerProcess:
    """A server running in a child process, stopped by its own pid when the test ends.

    Its output is read to the end by a thread from the port line on, so no line is
    lost (a later read of the pipe would miss what was already buffered) and tests that
    count log lines (one per worker, one per call) see them all: ``log()``.
    """

    def __init__(self, command: list[str], port_pattern: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # A process that hangs is sent SIGABRT (stop()): its threads' stacks are
            # then in the log.
            env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
        )
        self.output: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.search(port_pattern, line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            self.process.wait(timeout=10)
            pytest.fail(f"server exited before listening: {''.join(self.output)}")
        self._reader = threading.Thread(target=self._read_to_the_end, daemon=True)
        self._reader.start()

    def _read_to_the_end(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with stdout:
            for line in stdout:
                self.output.append(line)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the process (and any child of it) has printed so far."""
        return "".join(self.output)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 10) -> None:
        """Wait until ``text`` has appeared ``count`` times in the output."""
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            assert time.monotonic() < deadline, f"no {count} x {text!r} in: {self.log()}"
            time.sleep(0.02)

    def output_ended(self, timeout: float) -> bool:
        """Wait until every writer of the output (workers too) has exited."""
        self._reader.join(timeout=timeout)
        return not self._reader.is_alive()

    def stop(self, sent: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sent`` once; wait for the exit and the output's end; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sent)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # prints every thread's stack
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            self.kill()
            pytest.fail(f"still running {timeout} s after {sent.name}: {self.log()}")
        assert self.output_ended(timeout), f"something still holds the output: {self.log()}"
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output_ended(timeout=10)


@pytest.fixture
def greeter_serve() -> Iterator[ServerProcess]:
    """``greeter serve`` running in a child process on 127.0.0.1."""
    process = ServerProcess(
        [*GREETER_SERVE, "--address", LOOPBACK, "--workers", "1"],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        yield process
    finally:
        process.kill()


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``greeter ARGS...`` (the installed console script) and capture its output;
    ``env`` replaces the environment."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "greeter"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def greet(target: str, name: str, *, wait_for_ready: bool = False) -> str:
    """One SayHello to ``target`` on a client of its own."""
    with GreeterClient(target, timeout=20, wait_for_ready=wait_for_ready) as client:
        return client.greet(name)


def refused(target: str) -> bool:
    """True if a new call is not served (refused, or cancelled by a stopping server)."""
    try:
        greet(target, "anyone there?")
    except GreeterError:
        return True
    return False


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
