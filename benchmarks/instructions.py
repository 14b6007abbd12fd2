"""Instructions per call, counted by valgrind: a call's cost without the machine's noise.

On a shared 2-core machine a timed ratio moves by 0.1-0.3 from one run to the next,
more than the 1 % a thin wrapper may cost. valgrind's cachegrind (``--cache-sim=no``)
counts the instructions a process executes, the same on a busy machine as on a quiet
one. Both processes of a call, server and client, run under it. Each side is counted
twice, after ``low`` and after ``high`` calls; the difference over ``high - low`` is
what one call costs, start-up and shutdown cancelling out. Repeated counts agree within
about 0.5 %.

Cases (every call on 127.0.0.1, one in flight unless said otherwise):

- server: ``greeter serve --workers 1`` against the tutorial server, called by grpc's
  generated stub. The goal is on the server's count: CPU per call at most the
  tutorial's.
- clients: ``GreeterClient`` / ``AsyncGreeterClient`` against grpc's generated stubs,
  calling one greeter server: sync unary, async unary (16 in flight), a 1,000-reply
  server stream (per reply) and bidi ping-pong (per round trip). The goal is on the
  whole call (client + server): at least 0.99 of the raw stub's rate means at most
  1/0.99 of its instructions. The client's own count is shown beside it.
- generated code (issue #18), for a service of a user's own, ``bench.v1.Echo``: the
  ``EchoClient`` / ``AsyncEchoClient`` ``greeter generate`` wrote against the raw
  ``EchoStub`` (sync unary, async unary with 16 in flight), calling one greeter server;
  goal on the client's own count, at most 1.01 of the stub's. And greeter's threaded
  server with the generated ``EchoService`` against the raw servicer on a plain
  ``grpc.server``, both called by the raw stub; goal on the server's count, at most the
  raw servicer's.

What the count leaves out: time in the kernel (sockets, wake-ups), and cache and branch
effects; valgrind runs one thread at a time, so a hand-off between threads costs its
instructions, not its wake-up. It measures the work each side adds, which is what a
wrapper can add; the timed cases measure everything else.
"""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import (
    GENERATED,
    GENERATED_CLIENT,
    GENERATED_RAW,
    GENERATED_SERVICE,
    RAW_SERVICER,
    RAW_STUB,
)
from benchmarks.runner import ClientProcess, Server, ServerProcess

__all__ = ["COUNTED_CASES", "CountedCase", "has_valgrind", "measure_instructions"]

_COUNTED = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")
#: Under valgrind a process runs 20-50 times slower: room for start-up and a calm stop.
_STOP_SECONDS = 120.0
#: grpc's verbosity as ``greeter serve`` sets it: set here, the command does not run
#: itself again to set it (valgrind would not follow it).
_SERVE_ENV = {"GRPC_VERBOSITY": "ERROR"}


@dataclass(frozen=True)
class CountedCase:
    """Two sides counted alike; ``greeter`` / ``other`` should be at most ``maximum``."""

    name: str
    goal_on: str  # "server" or "client": that process's count; "call": server + client
    greeter: tuple[str, Server, str]  # label, server, client driver
    other: tuple[str, Server, str]
    shape: str = "unary"
    in_flight: int = 1
    per_call_messages: int = 1  # messages one call counts (a server stream: 1,000)
    calls: tuple[int, int] = (200, 1200)  # low, high
    quick_calls: tuple[int, int] = (10, 60)
    maximum: float = 1 / 0.99


_GREETER = Server("greeter", workers=1)
_SERVE = Server("greeter serve", workers=1)
_TUTORIAL = Server("tutorial")


def _client_case(name: str, mode: str, **counts: Any) -> CountedCase:
    """greeter's client against the raw stub (drivers ``greeter-MODE``, ``raw-MODE``)."""
    return CountedCase(
        name,
        "call",
        ("greeter client", _GREETER, f"greeter-{mode}"),
        ("raw grpc stub", _GREETER, f"raw-{mode}"),
        **counts,
    )


COUNTED_CASES = (
    CountedCase(
        "server: unary, instructions per call",
        "server",
        ("greeter serve --workers 1", _SERVE, "raw-sync"),
        ("tutorial server", _TUTORIAL, "raw-sync"),
        maximum=1.0,
    ),
    _client_case("client: sync unary, instructions per call", "sync"),
    _client_case(
        "client: async unary (16 in flight), instructions per call",
        "async",
        in_flight=16,
        calls=(400, 2000),
        quick_calls=(32, 160),
    ),
    _client_case(
        "client: server stream, instructions per reply",
        "sync",
        shape="stream",
        per_call_messages=1000,
        calls=(3, 13),
        quick_calls=(1, 3),
    ),
    _client_case("client: bidi ping-pong, instructions per round trip", "sync", shape="bidi"),
    # A service of a user's own (bench.v1.Echo), generated: issue #18's goals.
    CountedCase(
        "generated client: sync unary, instructions per call",
        "client",
        (GENERATED_CLIENT, GENERATED, "generated-sync"),
        (RAW_STUB, GENERATED, "generated-raw-sync"),
        maximum=1.01,
    ),
    CountedCase(
        "generated client: async unary (16 in flight), instructions per call",
        "client",
        (GENERATED_CLIENT, GENERATED, "generated-async"),
        (RAW_STUB, GENERATED, "generated-raw-async"),
        in_flight=16,
        calls=(400, 2000),
        quick_calls=(32, 160),
        maximum=1.01,
    ),
    CountedCase(
        "generated service: unary, instructions per call",
        "server",
        (GENERATED_SERVICE, GENERATED, "generated-raw-sync"),
        (RAW_SERVICER, GENERATED_RAW, "generated-raw-sync"),
        maximum=1.0,
    ),
)


def has_valgrind() -> bool:
    return shutil.which("valgrind") is not None


def _instructions(log: Path) -> int:
    match = _TOTAL.search(log.read_text())
    if match is None:
        raise RuntimeError(f"valgrind reported no instruction count:\n{log.read_text()}")
    return int(match.group(1).replace(",", ""))


def _command(case: CountedCase, target: str, calls: int) -> dict[str, Any]:
    return {
        "target": target,
        "shape": case.shape,
        "in_flight": case.in_flight,
        "channels": 1,
        "seconds": 3600.0,  # the block ends after ``calls`` calls
        "max_calls": calls,
    }


def _run(
    case: CountedCase, side: tuple[str, Server, str], calls: int, stubs: Path
) -> tuple[int, int]:
    """Instructions of the server and of the client over one run of ``calls`` calls."""
    _, server_kind, driver = side
    with tempfile.TemporaryDirectory(prefix="greeter-bench-valgrind-") as work:
        server_log, client_log = Path(work) / "server.log", Path(work) / "client.log"
        server = ServerProcess(
            server_kind, stubs, wrapper=(*_COUNTED, f"--log-file={server_log}"), env=_SERVE_ENV
        )
        try:
            client = ClientProcess(driver, stubs, wrapper=(*_COUNTED, f"--log-file={client_log}"))
            try:
                client.send(_command(case, server.target, calls))
                done = client.receive()
            finally:
                client.stop(_STOP_SECONDS)
        finally:
            server.stop(_STOP_SECONDS)
        if done["calls"] < calls:
            raise RuntimeError(f"{side[0]}: {done['calls']} of {calls} calls completed")
        return _instructions(server_log), _instructions(client_log)


def _per_message(
    case: CountedCase, side: tuple[str, Server, str], calls: tuple[int, int], stubs: Path
) -> tuple[float, float]:
    """Server and client instructions per message of one side."""
    low, high = calls
    few, many = _run(case, side, low, stubs), _run(case, side, high, stubs)
    messages = (high - low) * case.per_call_messages
    return (many[0] - few[0]) / messages, (many[1] - few[1]) / messages


def measure_instructions(
    stubs: Path, quick: bool, repeats: int = 1, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Each counted case (or those whose name has a text of ``only``): instructions per
    message of each side, and their ratio.

    With ``repeats`` > 1 each side is counted that many times, in turns, and the
    median is kept (the counts barely move; a repeat shows by how much).
    """
    results = []
    for case in COUNTED_CASES:
        if only and not any(text in case.name for text in only):
            continue
        calls = case.quick_calls if quick else case.calls
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for _ in range(repeats):
            ours.append(_per_message(case, case.greeter, calls, stubs))
            theirs.append(_per_message(case, case.other, calls, stubs))
        sides = {"greeter": ours, "other": theirs}
        result: dict[str, Any] = {
            "case": case.name,
            "goal_on": case.goal_on,
            "greeter": case.greeter[0],
            "other": case.other[0],
            "calls": list(calls),
            "maximum": case.maximum,
        }
        for key, counts in sides.items():
            result[f"{key}_server"] = statistics.median(server for server, _ in counts)
            result[f"{key}_client"] = statistics.median(client for _, client in counts)
            result[f"{key}_call"] = statistics.median(server + client for server, client in counts)
            result[f"{key}_counts"] = counts
        result["server_ratio"] = result["greeter_server"] / result["other_server"]
        result["client_ratio"] = result["greeter_client"] / result["other_client"]
        result["call_ratio"] = result["greeter_call"] / result["other_call"]
        result["ratio"] = result[f"{case.goal_on}_ratio"]
        result["met"] = result["ratio"] <= case.maximum
        results.append(result)
    return results
