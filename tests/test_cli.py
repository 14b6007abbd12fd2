"""The ``greeter`` command, run as a real subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import greeter
from greeter import GreeterClient, GreeterServer, GreeterService
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, SlowService, run_cli


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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["you", "--stream"],
            ["Hello, you! (1 of 3)", "Hello, you! (2 of 3)", "Hello, you! (3 of 3)"],
        ),
        (["Ann", "Bob", "Cy", "--many"], ["Hello, Ann, Bob and Cy!"]),
        (["Ann", "Bob", "--chat"], ["Hello, Ann!", "Hello, Bob!"]),
        (
            ["you", "--metadata", "x-a=1", "--compression", "gzip", "--wait-for-ready"],
            ["Hello, you!"],
        ),
    ],
)
def test_greet_modes_call_every_rpc_shape(
    greeter_serve: ServerProcess, args: list[str], expected: list[str]
) -> None:
    result = run_cli("greet", *args, "--target", greeter_serve.target)
    assert (result.returncode, result.stdout.splitlines(), result.stderr) == (0, expected, "")


def test_greet_sends_metadata_given_on_the_command_line() -> None:
    class Echo(GreeterService):
        def say_hello(self, name: str) -> str:
            return str(dict(self.context.invocation_metadata)["x-user"])

    with Echo().start(LOOPBACK) as server:
        result = run_cli(
            "greet", "you", "--metadata", "X-User=ada=lovelace", "--target", server.target
        )
    assert (result.returncode, result.stdout) == (0, "ada=lovelace\n")


def test_several_names_without_a_streaming_mode_is_a_usage_error() -> None:
    result = run_cli("greet", "Ann", "Bob")
    assert result.returncode == 2
    assert "several names need --many or --chat" in result.stderr


def test_serve_async_serves_every_shape_and_stops_on_sigterm() -> None:
    process = ServerProcess(
        [*GREETER_SERVE, "--async", "--address", LOOPBACK],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        stream = run_cli("greet", "you", "--stream", "--target", process.target)
        chat = run_cli("greet", "Ann", "Bob", "--chat", "--target", process.target)
        assert stream.stdout.count("Hello, you!") == 3
        assert chat.stdout.splitlines() == ["Hello, Ann!", "Hello, Bob!"]
        assert process.stop() == 0
    finally:
        process.kill()
    output = "".join(process.output)
    assert "Received SIGTERM" in output
    assert "Traceback" not in output


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


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_serve_stops_gracefully_on_sigterm_and_sigint(
    greeter_serve: ServerProcess, sent: signal.Signals
) -> None:
    assert run_cli("greet", "you", "--target", greeter_serve.target).returncode == 0
    assert greeter_serve.stop(sent) == 0
    output = "".join(greeter_serve.output)
    assert f"Received {sent.name}" in output
    assert "Stopped serving" in output
    assert "Traceback" not in output


def test_a_second_signal_during_the_graceful_stop_is_ignored() -> None:
    process = ServerProcess(
        [
            *GREETER_SERVE,
            "--address",
            LOOPBACK,
            "--grace",
            "1",
            "--workers",
            "1",
        ],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        process.process.send_signal(signal.SIGINT)
        process.process.send_signal(signal.SIGTERM)
        assert process.stop(signal.SIGINT) == 0
    finally:
        process.kill()
    output = "".join(process.output)
    assert "Received SIGINT" in output
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
        (["serve"], ["--async", "--compression"]),
        (
            ["greet"],
            ["NAME", "--target", "--again", "--stream", "--many", "--chat", "--timeout"],
        ),
        (["greet"], ["--metadata", "--compression", "--wait-for-ready"]),
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


@pytest.mark.parametrize(
    ("level", "shows_info"), [("WARNING", False), ("info", True), ("DEBUG", True)]
)
def test_log_level_sets_how_much_greeter_serve_logs(
    level: str, shows_info: bool, tmp_path: Path
) -> None:
    # A unix socket: at WARNING nothing says which port the OS picked, and choosing a
    # free port first could race another process for it.
    address = f"unix:{tmp_path}/greeter.sock"
    process = subprocess.Popen(
        [
            *GREETER_SERVE,
            "--address",
            address,
            "--log-level",
            level,
            "--access-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with GreeterClient(address, timeout=10, wait_for_ready=True) as client:
            assert client.greet("you") == "Hello, you!"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
    assert ("Serving helloworld.Greeter on" in output) is shows_info
    assert ("/helloworld.Greeter/SayHello unix:" in output) is shows_info


def _held_names(release: threading.Event) -> Iterator[str]:
    yield "Ann"
    release.wait(timeout=20)


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["threaded", "asyncio"])
def test_a_stream_cut_by_the_grace_period_is_one_warning_not_an_error(flags: list[str]) -> None:
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--grace", "0.5", "--workers", "1", *flags),
        ],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    release = threading.Event()
    try:
        with GreeterClient(process.target, timeout=20) as client:
            stream = client.chat(_held_names(release))
            assert next(stream) == "Hello, Ann!"
            assert process.stop(signal.SIGTERM) == 0
            with pytest.raises(greeter.GreeterError):
                list(stream)
    finally:
        release.set()
        process.kill()
    output = process.log()
    assert "Grace period (0.5 s) over; cancelled 1 call(s) still running: " in output
    assert "/helloworld.Greeter/SayHelloBidiStream from ipv4:127.0.0.1:" in output
    assert "ERROR" not in output
    assert "Traceback" not in output
