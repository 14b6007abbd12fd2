"""The benchmark suite runs: ``python -m benchmarks --quick`` prints its table and JSON.

A smoke test only: no figure is checked against a goal here, since timings on a shared
CI machine prove nothing (``benchmarks/README.md`` has the measured figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(240)


def test_quick_benchmark_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(results)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
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
    ]
    assert all(pair["greeter_ms"] > 0 for pair in report["import_time"])
    for case in report["cases"]:
        assert case["goals"], case["case"]
        for side in case["sides"]:
            assert side["rate_median"] > 0, (case["case"], side["side"])
