"""``import greeter`` against ``import grpc``, each in a fresh interpreter, in turns.

Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, even where the environment
sets ``PYTHONDONTWRITEBYTECODE``) and warmed first, as after ``pip install``: what is
measured is importing, not compiling.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

__all__ = ["ImportTimes", "measure_import_times"]

#: Budget for what ``import greeter`` adds to ``import grpc`` (issue #10).
BUDGET_MS = 15.0

_TIMED = (
    "import time; started = time.perf_counter(); import {}; print(time.perf_counter() - started)"
)


@dataclass
class ImportTimes:
    grpc_ms: list[float]
    greeter_ms: list[float]

    @property
    def added_ms(self) -> list[float]:
        """Round by round: ``import greeter`` minus ``import grpc``."""
        return [ours - theirs for ours, theirs in zip(self.greeter_ms, self.grpc_ms, strict=True)]

    def summary(self) -> dict[str, float]:
        return {
            "grpc_ms": statistics.median(self.grpc_ms),
            "greeter_ms": statistics.median(self.greeter_ms),
            "added_ms": statistics.median(self.added_ms),
            "added_min_ms": min(self.added_ms),
            "added_max_ms": max(self.added_ms),
            # The least disturbed run of each: what the imports cost on a quiet machine.
            "added_best_ms": min(self.greeter_ms) - min(self.grpc_ms),
            "budget_ms": BUDGET_MS,
        }


def _once(module: str, env: dict[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _TIMED.format(module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return 1000 * float(result.stdout)


def measure_import_times(rounds: int) -> ImportTimes:
    """``rounds`` rounds of one ``import grpc`` and one ``import greeter``, after a warm-up."""
    with tempfile.TemporaryDirectory(prefix="greeter-bench-pycache-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for module in ("grpc", "greeter", "grpc", "greeter"):  # write bytecode, warm caches
            _once(module, env)
        times = ImportTimes([], [])
        for _ in range(rounds):
            times.grpc_ms.append(_once("grpc", env))
            times.greeter_ms.append(_once("greeter", env))
    return times
