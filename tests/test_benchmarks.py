"""The benchmark suite runs: ``python -m benchmarks --quick`` prints its table and JSON.

A smoke test only: no figure is checked against a goal here, since timings on a shared
CI machine prove nothing (``benchmarks/README.md`` has the measured figures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(660)


def _benchmarks(*flags: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks FLAGS``, from the repository; fails the test if it fails."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", *flags],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_quick_benchmark_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = _benchmarks("--quick", "--json", str(results), timeout=200)
    for heading in [
        "## client: sync unary",
        "## server: unary, 64 in flight",
        "## server stream, server + client",
        "## import time",
    ]:
        assert heading in run.stdout
    assert "ratio greeter serve (default workers) / tutorial server:" in run.stdout
    report = json.loads(results.read_text())
    assert [pair["greeter"] for pair in report["import_time"]] == [
        "import greeter",
        "from greeter import GreeterClient",
        "from greeter import GreeterService",
        "import bench.v1.echo_greeter",
    ]
    assert all(pair["greeter_ms"] > 0 for pair in report["import_time"])
    for case in report["cases"]:
        assert case["goals"], case["case"]
        for side in case["sides"]:
            assert side["rate_median"] > 0, (case["case"], side["side"])


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (.ci/install-tools)")
def test_instruction_counts_run_under_valgrind_and_print_their_ratios(tmp_path: Path) -> None:
    """One counted case, with few calls: both processes of a call run under valgrind."""
    results = tmp_path / "results.json"
    only = "server: unary, instructions"
    run = _benchmarks(
        "--quick", "--instructions", "--case", only, "--json", str(results), timeout=600
    )
    assert "## instructions per message" in run.stdout
    assert "ratios greeter serve --workers 1 / tutorial server: server" in run.stdout
    (case,) = json.loads(results.read_text())["instructions"]
    for side in ("greeter", "other"):
        assert case[f"{side}_server"] > 0, case
        assert case[f"{side}_client"] > 0, case
