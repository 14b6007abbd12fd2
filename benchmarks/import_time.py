"""What importing greeter costs beside what a program without it imports.

Each pair is timed in fresh interpreters, in turns (greeter's side, then the other):

- ``import greeter`` against ``import grpc`` (issue #10's budget). ``import greeter``
  loads no grpc or protobuf: its public names load their modules when first used.
- ``from greeter import GreeterClient`` against what grpc's tutorial client imports:
  ``grpc`` and the generated ``helloworld_pb2`` and ``helloworld_pb2_grpc``.
- ``from greeter import GreeterService`` against the tutorial server's imports: those,
  and ``concurrent.futures``.
- a module ``greeter generate`` wrote, ``bench.v1.echo_greeter`` (its clients and
  services), against the pair plain grpcio generates for the same proto, ``grpc`` and
  ``bench.v1``'s ``echo_pb2`` and ``echo_pb2_grpc`` (issue #18's budget).

The tutorial's and ``bench.v1``'s modules are the ones ``benchmarks/stubs.py``
generates. Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, even where the
environment sets ``PYTHONDONTWRITEBYTECODE``) and warmed first, as after ``pip
install``: what is measured is importing, not compiling.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stubs import generated

__all__ = ["BUDGET_MS", "IMPORT_PAIRS", "ImportPair", "measure_import_times"]

#: Budget for what greeter's side adds to the other side (issue #10).
BUDGET_MS = 15.0

_TUTORIAL_STUBS = "import grpc, helloworld_pb2, helloworld_pb2_grpc"


@dataclass(frozen=True)
class ImportPair:
    """greeter's statement against the one a program without greeter would run."""

    greeter: str
    other: str


IMPORT_PAIRS = (
    ImportPair("import greeter", "import grpc"),
    ImportPair("from greeter import GreeterClient", _TUTORIAL_STUBS),
    ImportPair(
        "from greeter import GreeterService", f"from concurrent import futures; {_TUTORIAL_STUBS}"
    ),
    ImportPair(
        "import bench.v1.echo_greeter", "import grpc; from bench.v1 import echo_pb2, echo_pb2_grpc"
    ),
)

_TIMED = (
    "import sys, time; sys.path[:0] = [{stubs!r}, {generated!r}]; "
    "started = time.perf_counter(); "
    "{statement}; print(time.perf_counter() - started)"
)


@dataclass
class _Times:
    greeter_ms: list[float] = field(default_factory=list)
    other_ms: list[float] = field(default_factory=list)

    def summary(self, pair: ImportPair) -> dict[str, Any]:
        added = [ours - theirs for ours, theirs in zip(self.greeter_ms, self.other_ms, strict=True)]
        return {
            "greeter": pair.greeter,
            "other": pair.other,
            "greeter_ms": statistics.median(self.greeter_ms),
            "other_ms": statistics.median(self.other_ms),
            # Round by round: greeter's side minus the other; the median is the result.
            "added_ms": statistics.median(added),
            "added_min_ms": min(added),
            "added_max_ms": max(added),
            # The least disturbed run of each: what the imports cost on a quiet machine.
            "added_best_ms": min(self.greeter_ms) - min(self.other_ms),
            "budget_ms": BUDGET_MS,
        }


def _once(statement: str, stubs: Path, env: dict[str, str]) -> float:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _TIMED.format(stubs=str(stubs), generated=str(generated(stubs)), statement=statement),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return 1000 * float(result.stdout)


def measure_import_times(rounds: int, stubs: Path) -> list[dict[str, Any]]:
    """Per pair, ``rounds`` rounds of greeter's side and the other's, after a warm-up.

    ``stubs`` holds the tutorial's generated modules (``benchmarks.stubs.compile_stubs``)
    and ``bench.v1``'s (``compile_generated``).
    """
    with tempfile.TemporaryDirectory(prefix="greeter-bench-pycache-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        results = []
        for pair in IMPORT_PAIRS:
            for statement in (pair.greeter, pair.other) * 2:  # write bytecode, warm caches
                _once(statement, stubs, env)
            times = _Times()
            for _ in range(rounds):
                times.greeter_ms.append(_once(pair.greeter, stubs, env))
                times.other_ms.append(_once(pair.other, stubs, env))
            results.append(times.summary(pair))
    return results
