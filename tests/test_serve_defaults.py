"""``greeter serve``'s defaults: one worker process per CPU, one port, busy ports refused.

The command line's service holds no state, so by default it serves from every core
(``serve()`` from Python keeps one process unless asked: a user's service may hold
state). Where the processes cannot share one TCP port, it serves from one.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pytest

from greeter import GreeterClient
from greeter.server import _workers
from greeter.server._workers import _cgroup_cpu_limit, default_worker_count
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, run_cli

SERVING = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux"
)


def test_help_says_the_default_number_of_workers() -> None:
    help_text = " ".join(run_cli("serve", "--help").stdout.split())
    assert "(default on Linux: one per CPU, for one TCP --address" in help_text


@linux_only
def test_default_workers_are_the_cpus_this_process_may_run_on() -> None:
    limit = _cgroup_cpu_limit()
    cpus = len(os.sched_getaffinity(0))
    assert default_worker_count() == (cpus if limit is None else min(cpus, limit))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("100000 100000\n", 1), ("", None)],
)
def test_a_containers_cpu_limit_caps_the_default_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int | None
) -> None:
    """A pod limited to 1.5 CPUs on a 64-core node gets 2 workers, not 64."""
    (tmp_path / "cpu.max").write_text(cpu_max)
    monkeypatch.setattr(_workers, "_CGROUP_V2_CPU_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(_workers, "_CGROUP_V1_CPU", tmp_path / "no-v1")
    assert _cgroup_cpu_limit() == expected


def test_a_cgroup_v1_cpu_quota_caps_the_default_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    monkeypatch.setattr(_workers, "_CGROUP_V2_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr(_workers, "_CGROUP_V1_CPU", tmp_path)
    assert _cgroup_cpu_limit() == 3


@linux_only
@pytest.mark.skipif(default_worker_count() < 2, reason="one CPU: one process")
def test_greeter_serve_by_default_serves_from_one_process_per_cpu_on_one_port() -> None:
    workers = default_worker_count()
    process = ServerProcess([*GREETER_SERVE, "--address", LOOPBACK], SERVING)
    try:
        process.wait_for_log("Serving helloworld.Greeter on", count=workers)
        with GreeterClient(process.target, timeout=10) as client:
            assert client.greet("you") == "Hello, you!"
        assert process.stop() == 0, process.log()
    finally:
        process.kill()
    log = process.log()
    assert f"Started {workers} workers on 127.0.0.1:{process.port}" in log
    assert re.findall(SERVING, log) == [str(process.port)] * workers, log


def test_greeter_serve_by_default_on_a_busy_port_is_a_one_line_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        result = run_cli("serve", "--address", address, timeout=30)

    assert result.returncode == 1
    assert result.stderr == f"greeter: cannot listen on {address}: address already in use\n"


def test_greeter_serve_on_several_addresses_serves_from_one_process(tmp_path: Path) -> None:
    socket_path = tmp_path / "greeter.sock"
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve"),
            *("--address", LOOPBACK, "--address", f"unix:{socket_path}"),
        ],
        SERVING,
    )
    try:
        with GreeterClient(process.target, timeout=10) as client:
            assert client.greet("you") == "Hello, you!"
        assert process.stop() == 0, process.log()
    finally:
        process.kill()
    assert "workers" not in process.log()
