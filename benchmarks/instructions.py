"""Instructions per call, counted by valgrind: a call's cost without the machine's noise.

On a shared 2-core machine a timed ratio moves by 0.1-0.3 from one run to the next,
more than the 1 % a thin wrapper may cost. valgrind's cachegrind (``--cache-sim=no``)
counts the instructions a process executes, the same on a busy machine as on a quiet
one. Each side is counted twice, after ``low`` and after ``high`` calls; the difference
over ``high - low`` is what one call costs, start-up and shutdown cancelling out.
Repeated counts agree within about 0.5 %.

Cases (every call on 127.0.0.1, one in flight unless said otherwise):

- server: ``greeter serve --workers 1`` against the tutorial server, each under
  valgrind, called by grpc's generated stub (not counted).
- clients: ``GreeterClient`` / ``AsyncGreeterClient`` against grpc's generated stubs,
  each under valgrind, calling one greeter server (not counted): sync unary, async unary
  (16 in flight), a 1,000-reply server stream (per reply) and bidi ping-pong (per
  round trip).

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
    counted: str  # "server" or "client": which process is under valgrind
    greeter: tuple[str, Server, str]  # label, server, client driver
    other: tuple[str, Server, str]
    shape: str = "unary"
    in_flight: int = 1
    per_call_messages: int = 1  # messages one call counts (a server stream: 1,000)
    calls: tuple[int, int] = (200, 1200)  # low, high
    quick_calls: tuple[int, int] = (10, 60)
    maximum: float = 1.0


_GREETER = Server("greeter", workers=1)
_SERVE = Server("greeter serve", workers=1)
_TUTORIAL = Server("tutorial")

COUNTED_CASES = (
    CountedCase(
        "server: unary, instructions per call",
        "server",
        ("greeter serve --workers 1", _SERVE, "raw-sync"),
        ("tutorial server", _TUTORIAL, "raw-sync"),
    ),
    CountedCase(
        "client: sync unary, instructions per call",
        "client",
        ("greeter client", _GREETER, "greeter-sync"),
        ("raw grpc stub", _GREETER, "raw-sync"),
    ),
    CountedCase(
        "client: async unary (16 in flight), instructions per call",
        "client",
        ("greeter client", _GREETER, "greeter-async"),
        ("raw grpc stub", _GREETER, "raw-async"),
        in_flight=16,
        calls=(400, 2000),
        quick_calls=(32, 160),
    ),
    CountedCase(
        "client: server stream, instructions per reply",
        "client",
        ("greeter client", _GREETER, "greeter-sync"),
        ("raw grpc stub", _GREETER, "raw-sync"),
        shape="stream",
        per_call_messages=1000,
        calls=(3, 13),
        quick_calls=(1, 3),
    ),
    CountedCase(
        "client: bidi ping-pong, instructions per round trip",
        "client",
        ("greeter client", _GREETER, "greeter-sync"),
        ("raw grpc stub", _GREETER, "raw-sync"),
        shape="bidi",
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


def _run(case: CountedCase, side: tuple[str, Server, str], calls: int, stubs: Path) -> int:
    """Instructions of the counted process over one run of ``calls`` calls."""
    _, server_kind, driver = side
    with tempfile.TemporaryDirectory(prefix="greeter-bench-valgrind-") as work:
        log = Path(work) / "valgrind.log"
        counted = (*_COUNTED, f"--log-file={log}")
        on_server = case.counted == "server"
        server = ServerProcess(
            server_kind, stubs, wrapper=counted if on_server else (), env=_SERVE_ENV
        )
        try:
            client = ClientProcess(driver, stubs, wrapper=() if on_server else counted)
            try:
                client.send(_command(case, server.target, calls))
                done = client.receive()
            finally:
                client.stop(_STOP_SECONDS)
        finally:
            server.stop(_STOP_SECONDS)
        if done["calls"] < calls:
            raise RuntimeError(f"{side[0]}: {done['calls']} of {calls} calls completed")
        return _instructions(log)


def _per_message(
    case: CountedCase, side: tuple[str, Server, str], calls: tuple[int, int], stubs: Path
) -> float:
    low, high = calls
    extra = _run(case, side, high, stubs) - _run(case, side, low, stubs)
    return extra / ((high - low) * case.per_call_messages)


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
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeats):
            ours.append(_per_message(case, case.greeter, calls, stubs))
            theirs.append(_per_message(case, case.other, calls, stubs))
        greeter, other = statistics.median(ours), statistics.median(theirs)
        results.append(
            {
                "case": case.name,
                "counted": case.counted,
                "greeter": case.greeter[0],
                "other": case.other[0],
                "greeter_instructions": greeter,
                "other_instructions": other,
                "greeter_counts": ours,
                "other_counts": theirs,
                "ratio": greeter / other,
                "maximum": case.maximum,
                "met": greeter / other <= case.maximum,
                "calls": list(calls),
            }
        )
    return results
