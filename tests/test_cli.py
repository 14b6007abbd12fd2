"""The ``greeter`` command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from greeter import GreeterServer
from tests.conftest import LOOPBACK, ServerProcess, SlowService, run_cli


def test_greet_prints_the_servers_greeting(greeter_serve: ServerProcess) -> None:
    result = run_cli("greet", "you", "--target", greeter_serve.target)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Hello, you!\n", "")


def test_greet_again_calls_say_hello_again(greeter_serve: ServerProcess) -> None:
    result = run_cli("greet", "you", "--again", "--target", greeter_serve.target)
    assert (result.returncode, result.stdout) == (0, "Hello again, you!\n")


def test_python_dash_m_greeter_is_the_same_command(greeter_serve: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "greeter", "greet", "Zoë", "--target", greeter_serve.target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "Hello, Zoë!\n")


def test_greet_reports_an_unreachable_server_in_one_line(server: GreeterServer) -> None:
    target = server.target
    server.stop(grace_seconds=0)
    result = run_cli("greet", "you", "--target", target, "--timeout", "5")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("greeter: UNAVAILABLE")
    assert "Traceback" not in result.stderr


def test_greet_reports_a_deadline_as_deadline_exceeded() -> None:
    service = SlowService()
    with service.start(LOOPBACK) as server:
        result = run_cli("greet", "you", "--target", server.target, "--timeout", "0.3")
        service.release.set()
    assert result.returncode == 1
    assert result.stderr.startswith("greeter: DEADLINE_EXCEEDED")


def test_serve_stops_gracefully_on_sigterm(greeter_serve: ServerProcess) -> None:
    assert run_cli("greet", "you", "--target", greeter_serve.target).returncode == 0
    assert greeter_serve.stop() == 0
    output = "".join(greeter_serve.output)
    assert "Received SIGTERM" in output
    assert "Stopped serving" in output
    assert "Traceback" not in output


def test_serve_reports_a_taken_address_in_one_line(greeter_serve: ServerProcess) -> None:
    result = run_cli("serve", "--address", greeter_serve.target, timeout=30)
    assert result.returncode == 1
    assert "greeter: cannot listen on" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "options"),
    [
        ([], ["serve", "greet"]),
        (["serve"], ["--address", "--grace"]),
        (["greet"], ["NAME", "--target", "--again", "--timeout"]),
    ],
)
def test_help_documents_every_option(args: list[str], options: list[str]) -> None:
    result = run_cli(*args, "--help")
    assert result.returncode == 0
    for option in options:
        assert option in result.stdout


def test_a_missing_name_is_a_usage_error() -> None:
    result = run_cli("greet")
    assert result.returncode == 2
    assert "NAME" in result.stderr
