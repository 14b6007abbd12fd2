"""Shared fixtures: real servers on 127.0.0.1 with OS-picked ports."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    ExtraService,
    GreeterClient,
    GreeterServer,
    GreeterService,
    ServerConfig,
)

#: Throwaway certificates (fixture ``certificates``) for the TLS, auth and README tests.
pytest_plugins = ["tests.certs"]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1:0"

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


@pytest.fixture
def server() -> Iterator[GreeterServer]:
    """A stock GreeterService serving on 127.0.0.1 (port picked by the OS)."""
    with GreeterService().start(LOOPBACK) as running:
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
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-async-server", daemon=True)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(
            service.start(address, config=config, services=services), loop
        ).result(timeout=10)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=10)
        asyncio.run_coroutine_threadsafe(_wind_down(), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _wind_down() -> None:
    """What ``asyncio.run`` does before closing its loop: let handler threads (grpc.aio
    runs plain ``def`` handlers in the default executor) and tasks finish, so no
    coroutine is left suspended on a closed loop."""
    loop = asyncio.get_running_loop()
    await loop.shutdown_default_executor()
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()


@contextmanager
def serving(
    kind: str,
    service: GreeterService | None = None,
    async_service: AsyncGreeterService | None = None,
    config: ServerConfig | None = None,
) -> Iterator[str]:
    """Serve on the threaded (``"sync"``) or asyncio (``"async"``) server; yield the target."""
    if kind == "sync":
        with (service or GreeterService()).start(LOOPBACK, config=config) as server:
            yield server.target
    else:
        with serving_async(async_service or AsyncGreeterService(), config) as async_server:
            yield async_server.target


@pytest.fixture(params=["sync", "async"])
def server_kind(request: pytest.FixtureRequest) -> str:
    """Run a test against both the threaded and the asyncio server."""
    kind: str = request.param
    return kind


class ServerProcess:
    """A server running in a child process, stopped by its own pid when the test ends."""

    def __init__(self, command: list[str], port_pattern: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
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

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, sent: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sent`` once; return the exit status and keep what the process printed."""
        if self.process.poll() is None:
            self.process.send_signal(sent)
        remaining, _ = self.process.communicate(timeout=timeout)
        self.output.append(remaining or "")
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.fixture
def greeter_serve() -> Iterator[ServerProcess]:
    """``greeter serve`` running in a child process on 127.0.0.1."""
    process = ServerProcess(
        [sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        yield process
    finally:
        process.kill()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``greeter ARGS...`` (the installed console script) and capture its output."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "greeter"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
