"""The benchmarks' generated-code cases run (issue #18): a service of a user's own,
``bench.v1.Echo``, generated at run time, its generated client against the raw stub,
its generated service on greeter's server against a raw servicer, and its imports.

Smoke tests, as in tests/test_benchmarks.py: no figure is checked against a goal here
(timings on a shared machine prove nothing; ``benchmarks/README.md`` has the figures).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.import_time import measure_import_times
from benchmarks.stubs import compile_generated, compile_stubs
from tests.test_benchmarks import _benchmarks

pytestmark = pytest.mark.timeout(660)


def test_generated_modules_are_written_to_the_run_directory_only(tmp_path: Path) -> None:
    out = compile_generated(tmp_path)
    assert out.is_relative_to(tmp_path)
    written = sorted(path.name for path in (out / "bench" / "v1").iterdir())
    assert written == ["echo_greeter.py", "echo_pb2.py", "echo_pb2.pyi", "echo_pb2_grpc.py"]


def test_generated_cases_compare_each_side_in_one_run(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = _benchmarks("--quick", "--case", "generated", "--json", str(results), timeout=300)
    report = json.loads(results.read_text())
    assert [case["case"] for case in report["cases"]] == [
        "generated client: sync unary",
        "generated client: async unary, 16 in flight",
        "generated service: unary, 1 in flight",
    ]
    for case in report["cases"]:
        (goal,) = case["goals"]
        assert goal["median"] > 0, case["case"]
        for side in case["sides"]:
            # A failed call would count against its side: none may fail here.
            assert (side["rate_median"] > 0, side["failed"]) == (True, 0), side
    assert "ratio generated EchoClient / raw EchoStub:" in run.stdout
    assert "ratio greeter server + EchoService / grpc.server + raw EchoServicer:" in run.stdout


def test_import_of_a_generated_module_is_timed_against_its_pb2_pair(tmp_path: Path) -> None:
    compile_stubs(tmp_path)
    compile_generated(tmp_path)
    pairs = {pair["greeter"]: pair for pair in measure_import_times(1, tmp_path)}
    generated = pairs["import bench.v1.echo_greeter"]
    assert generated["other"] == "import grpc; from bench.v1 import echo_pb2, echo_pb2_grpc"
    assert generated["greeter_ms"] > 0
    assert generated["other_ms"] > 0


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (.ci/install-tools)")
def test_generated_client_instructions_are_counted_against_the_raw_stub(tmp_path: Path) -> None:
    """Few calls, both processes under valgrind; the goal is on the client's count."""
    results = tmp_path / "results.json"
    only = "generated client: sync unary, instructions"
    run = _benchmarks(
        "--quick", "--instructions", "--case", only, "--json", str(results), timeout=600
    )
    assert "ratios generated EchoClient / raw EchoStub: server" in run.stdout
    assert "goal: client ratio <= 1.010" in run.stdout
    (case,) = json.loads(results.read_text())["instructions"]
    assert case["ratio"] == case["client_ratio"]
    for side in ("greeter", "other"):
        assert case[f"{side}_server"] > 0, case
        assert case[f"{side}_client"] > 0, case
