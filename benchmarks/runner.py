"""Running a case: its servers and client processes, and the interleaved blocks.

Every side of a case has its own server process (or shares one, where only the
client differs) and its own client processes, all started before the first block and
stopped by pid after the last. Blocks take turns: A B A B ..., so that whatever else
the machine does drifts over both sides alike. Before each block the server's CPU time
(the process and its worker processes, from ``/proc``) is read, and again after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["ClientProcess", "Measured", "Server", "ServerProcess", "Side", "run_sides"]

SERVING = re.compile(r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)")
#: Longest wait for a server to listen, or for a block's answer beyond its length.
STARTUP_SECONDS = 60.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    """How to start a server: ``python -m benchmarks.servers KIND`` or ``greeter serve``."""

    kind: str
    workers: int | None = None  # None: the kind's default
    flags: tuple[str, ...] = ()  # more ``greeter serve`` flags

    def command(self, stubs: Path) -> list[str]:
        if self.kind == "greeter serve":
            workers = [] if self.workers is None else ["--workers", str(self.workers)]
            address = ["--address", "127.0.0.1:0"]
            return [sys.executable, "-m", "greeter", "serve", *address, *workers, *self.flags]
        extra = [] if self.workers is None else [str(self.workers)]
        return [sys.executable, "-m", "benchmarks.servers", self.kind, str(stubs), *extra]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a server, a client driver and the load it applies."""

    label: str
    server: Server
    driver: str
    shape: str = "unary"
    in_flight: int = 1
    channels: int = 1
    clients: int = 1  # client processes, each with ``in_flight`` calls on ``channels``


@dataclass
class Measured:
    """Every block of one side."""

    side: Side
    rates: list[float] = field(default_factory=list)  # calls (or messages) per second
    cpu_per_1000: list[float] = field(default_factory=list)  # server CPU s per 1,000 msgs
    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0  # calls refused or failed (they count against the side), all blocks


def _stop_with_this_process() -> None:
    """In a child, before it runs: SIGTERM when the benchmark process dies (Linux).

    A run killed from outside (a CI timeout) then leaves no server or client behind.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
# Looked up once, here: the forked child, before it runs the command, only calls it.
try:
    _prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


class ServerProcess:
    """A server, started and listening; ``wrapper`` runs it under another command
    (``valgrind ...``), with ``env`` added to its environment."""

    def __init__(
        self,
        server: Server,
        stubs: Path,
        wrapper: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [*wrapper, *server.command(stubs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            preexec_fn=_stop_with_this_process,
        )
        assert self.process.stdout is not None
        self.output: list[str] = []
        deadline = time.monotonic() + STARTUP_SECONDS
        for line in self.process.stdout:
            self.output.append(line)
            match = SERVING.search(line)
            if match:
                self.target = f"127.0.0.1:{match.group(1)}"
                break
            if time.monotonic() > deadline:
                break
        else:
            self.stop()
            raise RuntimeError(f"{server.kind} did not start: {''.join(self.output)}")
        # Keep reading, so a chatty server never blocks on a full pipe.
        self._drain = ThreadPoolExecutor(1)
        self._drain.submit(self._read_to_the_end, self.process.stdout)

    def _read_to_the_end(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.output.append(line)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and its worker processes so far."""
        return sum(_cpu_seconds(pid) for pid in [self.process.pid, *_children(self.process.pid)])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, and SIGKILL if it has not exited ``timeout`` seconds later."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # Fields 14 and 15 of stat(5): utime and stime, in clock ticks; 3rd and 4th after ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    return children


class ClientProcess:
    """A client driver (``benchmarks.clients``), waiting for commands."""

    def __init__(self, driver: str, stubs: Path, wrapper: tuple[str, ...] = ()) -> None:
        self.process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "benchmarks.clients", driver, str(stubs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=_stop_with_this_process,
        )

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a client process ({self.process.args!r}) exited")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self, timeout: float = 15.0) -> None:
        """Close its stdin (it exits), and SIGKILL it if it has not ``timeout`` s later."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@contextlib.contextmanager
def _started(
    sides: list[Side], stubs: Path
) -> Iterator[tuple[dict[Server, ServerProcess], list[list[ClientProcess]]]]:
    servers: dict[Server, ServerProcess] = {}
    clients: list[list[ClientProcess]] = []
    try:
        for side in sides:
            if side.server not in servers:
                servers[side.server] = ServerProcess(side.server, stubs)
            clients.append([ClientProcess(side.driver, stubs) for _ in range(side.clients)])
        yield servers, clients
    finally:
        for processes in clients:
            for client in processes:
                client.stop()
        for server in servers.values():
            server.stop()


def _block(
    side: Side,
    server: ServerProcess,
    clients: list[ClientProcess],
    seconds: float,
    max_calls: int,
) -> tuple[float, float, list[float], int]:
    """Run one block: its rate, server CPU per 1,000 messages, latencies, calls failed."""
    command = {
        "target": server.target,
        "shape": side.shape,
        "in_flight": side.in_flight,
        "channels": side.channels,
        "seconds": seconds,
        "max_calls": max_calls,
    }
    cpu_before = server.cpu_seconds()
    for client in clients:
        client.send(command)
    results = [client.receive() for client in clients]
    cpu = server.cpu_seconds() - cpu_before
    elapsed = max(result["seconds"] for result in results)
    messages = sum(result["messages"] for result in results)
    latencies = [latency for result in results for latency in result["latencies_ms"]]
    failed = sum(result["failed"] for result in results)
    return messages / elapsed, 1000 * cpu / max(messages, 1), latencies, failed


def run_sides(
    sides: list[Side], stubs: Path, rounds: int, seconds: float, max_calls: int
) -> list[Measured]:
    """Run ``rounds`` rounds of one block per side, in turn, after one warm-up round."""
    measured = [Measured(side) for side in sides]
    with _started(sides, stubs) as (servers, clients):
        for side, processes in zip(sides, clients, strict=True):
            _block(side, servers[side.server], processes, min(seconds / 2, 0.5), max_calls)
        for _ in range(rounds):
            for side, processes, results in zip(sides, clients, measured, strict=True):
                rate, cpu, latencies, failed = _block(
                    side, servers[side.server], processes, seconds, max_calls
                )
                results.failed += failed
                results.rates.append(rate)
                results.cpu_per_1000.append(cpu)
                results.latencies_ms.extend(latencies)
    return measured
