"""Errors a person can act on: the command line's usage, metadata and deadline checks,
grpc core's own log lines kept out of the way, and errors that print under a public name.

The command line runs as a real subprocess; the Python API is checked to refuse bad
metadata with ``ValueError`` before anything reaches the network.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from types import FunctionType, GenericAlias
from typing import Any

import pytest
from google.rpc import error_details_pb2

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    StatusCode,
    testing,
)
from greeter.errors import error_for_status
from tests.certs import Certificates
from tests.conftest import LOOPBACK, ServerProcess, run_cli

#: A line logged by grpc core itself: ``E1121 10:00:00.123456  1234 file.cc:12] ...``
#: (before grpcio 1.80 the time reads ``00:00:<seconds since the epoch>.123456``).
GRPC_CORE_LINE = re.compile(r"^[DIWEF]\d{4} \d\d:\d\d:\d+\.\d+ ", re.MULTILINE)
#: Such a line below ERROR.
GRPC_CORE_CHATTER = re.compile(r"^[DIW]\d{4} \d\d:\d\d:\d+\.\d+ ", re.MULTILINE)
SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"


#: The environment of a user who has not set GRPC_VERBOSITY (empty counts as unset).
VERBOSITY_UNSET = {"GRPC_VERBOSITY": ""}


def greeter_command(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``greeter ARGS...`` with GRPC_VERBOSITY unset (unless ``env`` sets it)."""
    return run_cli(*args, timeout=timeout, env={**os.environ, **VERBOSITY_UNSET, **(env or {})})


def assert_one_line_failure(result: subprocess.CompletedProcess[str], status: str) -> None:
    """Exit status 1 and a single ``greeter: STATUS: ...`` line: no traceback, no core log."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"greeter: {status}"), result.stderr


def assert_usage_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """Exit status 2 with ``command``'s own usage; returns the error line."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"usage: greeter {command} "), result.stderr
    assert "Traceback" not in result.stderr
    assert not GRPC_CORE_LINE.search(result.stderr), result.stderr
    error_line = result.stderr.splitlines()[-1]
    assert error_line.startswith(f"greeter {command}: error: "), result.stderr
    return error_line


@contextmanager
def nothing_listening() -> Iterator[str]:
    """A target on 127.0.0.1 where nothing listens: its port is held, bound but not
    listening, so no other process can start listening there while the test runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


class MetadataEcho(GreeterService):
    """Replies with the repr of the value the client sent under ``x-trace-bin``."""

    def say_hello(self, name: str) -> str:
        return repr(dict(self.context.invocation_metadata).get("x-trace-bin"))


class DeadlineEcho(GreeterService):
    """Replies, on every RPC, with "deadline" if the call has one, else "None"."""

    def _remaining(self) -> str:
        return "None" if self.context.time_remaining() is None else "deadline"

    def say_hello(self, name: str) -> str:
        return self._remaining()

    def say_hello_again(self, name: str) -> str:
        return self._remaining()

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        yield self._remaining()

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        list(names)
        return self._remaining()

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        for _ in names:
            yield self._remaining()


# -- usage: --version, and errors with the usage of their own command -------------------


def test_version_prints_the_distribution_version() -> None:
    result = greeter_command("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"greeter {version('grpc-greeter')}\n",
        "",
    )


def test_several_names_without_many_or_chat_show_the_greet_usage() -> None:
    line = assert_usage_error(greeter_command("greet", "Ann", "Bob"), "greet")
    assert line == "greeter greet: error: several names need --many or --chat"


def test_names_after_the_options_are_reported_with_the_greet_usage() -> None:
    line = assert_usage_error(greeter_command("greet", "Ann", "--chat", "Bob"), "greet")
    assert line == "greeter greet: error: unrecognized arguments: Bob"


def test_serve_usage_errors_show_the_serve_usage() -> None:
    result = greeter_command(
        "serve", "--workers", "2", "--address", LOOPBACK, "--address", "[::1]:0"
    )
    assert assert_usage_error(result, "serve").endswith("--workers N serves one --address")


# -- addresses and targets: what grpc would misread is a usage error ------------------


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("localhost:99999", "invalid target 'localhost:99999': expected HOST:PORT with a port"),
        ("localhost:0", "invalid target 'localhost:0': expected HOST:PORT with a port"),
        ("", "the target is empty: expected HOST:PORT"),
        ("localhost", "target 'localhost' has no port"),
        ("::1", "write an IPv6 address in brackets, as in [::1]:50051"),
    ],
    ids=["port-above-65535", "port-0", "empty", "no-port", "bare-ipv6"],
)
def test_a_target_grpc_would_misread_is_a_usage_error(target: str, complaint: str) -> None:
    # Unchecked, grpc dials port 99999 as 34463, localhost as localhost:443, and reports
    # an empty target in a core log line.
    line = assert_usage_error(greeter_command("greet", "you", "--target", target), "greet")
    assert line.startswith("greeter greet: error: argument --target: "), line
    assert complaint in line


@pytest.mark.parametrize(
    ("flag", "address"),
    [
        ("--address", "localhost:99999"),
        ("--address", "localhost"),
        ("--metrics", "unix:/tmp/metrics.sock"),
        ("--web", "127.0.0.1:99999"),
    ],
)
def test_an_invalid_listening_address_is_a_usage_error(flag: str, address: str) -> None:
    line = assert_usage_error(greeter_command("serve", flag, address), "serve")
    assert line.startswith(f"greeter serve: error: argument {flag}: "), line
    assert repr(address) in line


def test_tls_server_name_without_tls_is_a_usage_error() -> None:
    # It used to turn TLS on unasked: a plaintext server then failed the handshake.
    result = greeter_command("greet", "you", "--tls-server-name", "greeter.example")
    line = assert_usage_error(result, "greet")
    assert line == "greeter greet: error: --tls-server-name needs TLS: add --tls or --tls-ca FILE"


# -- serve: a listening address that cannot be used is one line naming it -------------


def test_a_unix_socket_in_a_missing_directory_is_an_os_error_naming_it(
    server_kind: str, tmp_path: Path
) -> None:
    address = f"unix:{tmp_path}/missing/greeter.sock"
    service = GreeterService() if server_kind == "sync" else AsyncGreeterService()
    with pytest.raises(OSError, match=f"^cannot listen on {address}: directory '.*/missing' "):
        with testing.serving(service, address=address):
            pass


def test_a_unix_socket_path_too_long_is_an_os_error_saying_so(tmp_path: Path) -> None:
    address = f"unix:{tmp_path}/{'x' * 120}.sock"
    with pytest.raises(OSError, match="the path is too long for a unix socket"):
        GreeterService().start(address)


def test_greeter_serve_reports_a_unix_socket_in_a_missing_directory_in_one_line(
    tmp_path: Path,
) -> None:
    # Unchecked: a grpc core line, then "cannot resolve host".
    address = f"unix:{tmp_path}/missing/greeter.sock"
    result = greeter_command("serve", "--address", address)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"greeter: cannot listen on {address}: directory '{tmp_path}/missing' does not exist\n",
    )


def test_greeter_serve_reports_a_taken_metrics_port_in_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = f"127.0.0.1:{taken.getsockname()[1]}"
        result = greeter_command("serve", "--address", LOOPBACK, "--metrics", metrics)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == f"greeter: cannot serve metrics on {metrics}: address already in use\n"


# -- --metadata: checked before anything is sent ----------------------------------------


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ("x-bin=abc", "'x-bin' ends in -bin, so its value must be base64"),
        ("x-trace-bin=AAEC!", "'x-trace-bin' ends in -bin, so its value must be base64"),
        ("Bad Key=1", "'bad key' is not allowed"),
        ("x:a=1", "'x:a' is not allowed"),
        ("clé=1", "'clé' is not allowed"),
        ("grpc-timeout=1S", "'grpc-timeout' is reserved"),
        ("x-name=Zoë", "the value of metadata key 'x-name' must be printable ASCII"),
        ("x-name=a\tb", "the value of metadata key 'x-name' must be printable ASCII"),
        ("=1", "expected KEY=VALUE"),
    ],
)
def test_metadata_grpc_would_refuse_is_one_usage_line_naming_the_key(
    metadata: str, named: str
) -> None:
    # Nothing listens on the target: a check that let the pair through would fail later,
    # with UNAVAILABLE and exit status 1, not 2.
    with nothing_listening() as target:
        result = greeter_command("greet", "you", "--metadata", metadata, "--target", target)
    line = assert_usage_error(result, "greet")
    assert line.startswith("greeter greet: error: argument --metadata: ")
    assert named in line


def test_a_bin_key_takes_base64_on_the_command_line() -> None:
    with testing.serving(MetadataEcho()) as server:
        result = greeter_command(
            "greet", "you", "--metadata", "X-Trace-Bin=AAEC", "--target", server.target
        )
    assert (result.returncode, result.stdout, result.stderr) == (0, "b'\\x00\\x01\\x02'\n", "")


def test_greet_help_explains_metadata_keys_values_and_timeouts() -> None:
    help_text = " ".join(greeter_command("greet", "--help").stdout.split())
    assert "base64 if KEY ends in -bin" in help_text
    assert "not start with 'grpc-'" in help_text
    assert "'inf' for none" in help_text
    assert "GRPC_VERBOSITY" in help_text


# -- --timeout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "complaint"),
    [
        ("0", "must be positive, not 0"),
        ("-1", "must be positive, not -1"),
        ("nan", "must be positive, not nan"),
        ("soon", "expected a number, not 'soon'"),
    ],
)
def test_a_timeout_that_is_not_positive_is_a_usage_error(timeout: str, complaint: str) -> None:
    line = assert_usage_error(greeter_command("greet", "you", "--timeout", timeout), "greet")
    assert line == f"greeter greet: error: argument --timeout: {complaint}"


@pytest.mark.parametrize(("timeout", "seen"), [("inf", "None"), ("5", "deadline")])
def test_timeout_inf_calls_with_no_deadline(timeout: str, seen: str) -> None:
    with testing.serving(DeadlineEcho()) as server:
        result = greeter_command("greet", "you", "--timeout", timeout, "--target", server.target)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{seen}\n", "")


# -- ordinary failures: one line, nothing from grpc core before it ----------------------


def test_greet_to_a_port_where_nothing_listens_is_one_line_with_no_tls_hint() -> None:
    with nothing_listening() as target:
        result = greeter_command("greet", "you", "--target", target)
    assert_one_line_failure(result, "UNAVAILABLE")
    assert "TLS" not in result.stderr  # refused: nothing suggests a TLS server


def test_greet_to_a_host_that_does_not_resolve_is_one_line() -> None:
    result = greeter_command("greet", "you", "--target", "nosuchhost.invalid:50051")
    assert_one_line_failure(result, "UNAVAILABLE")


def test_greet_with_a_missing_ca_file_is_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing-ca.pem")
    result = greeter_command("greet", "you", "--tls-ca", missing)
    assert_one_line_failure(result, "cannot read the CA certificate")
    assert "missing-ca.pem" in result.stderr


def test_a_failed_tls_handshake_is_one_line(greeter_serve: ServerProcess) -> None:
    # Unquieted, grpc core logs "I1121 ... Handshake failed ..." before the error.
    result = greeter_command("greet", "you", "--tls", "--target", greeter_serve.target)
    assert_one_line_failure(result, "UNAVAILABLE")
    assert "handshake" in result.stderr.lower()


def test_grpc_verbosity_set_by_the_user_is_respected(greeter_serve: ServerProcess) -> None:
    result = greeter_command(
        "greet", "you", "--tls", "--target", greeter_serve.target, env={"GRPC_VERBOSITY": "INFO"}
    )
    assert result.returncode == 1
    assert GRPC_CORE_LINE.search(result.stderr), result.stderr
    assert result.stderr.splitlines()[-1].startswith("greeter: UNAVAILABLE")


@pytest.mark.parametrize(("log_level", "grpc_logs"), [("INFO", False), ("DEBUG", True)])
def test_serve_lets_grpc_core_log_its_chatter_only_with_log_level_debug(
    certificates: Certificates, log_level: str, grpc_logs: bool
) -> None:
    server = certificates.trusted.server
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--tls-cert", str(server.certificate.path)),
            *("--tls-key", str(server.private_key.path)),
            *("--log-level", log_level),
        ],
        SERVING_LINE,
        env=VERBOSITY_UNSET,
    )
    try:
        plaintext = greeter_command("greet", "you", "--target", process.target, "--timeout", "5")
        assert plaintext.returncode == 1
        assert process.stop() == 0
    finally:
        process.kill()
    # A plaintext client's failed handshake: an INFO line from grpc core on the server
    # (an ERROR line in older grpcio, such as 1.66, which serve's default ERROR shows).
    if grpc_logs:
        assert GRPC_CORE_LINE.search(process.log()), process.log()
    else:
        assert not GRPC_CORE_CHATTER.search(process.log()), process.log()


def test_the_command_runs_in_the_process_it_was_started_in() -> None:
    """GRPC_VERBOSITY is set before grpc is imported, not by starting a second
    interpreter: what ran before ``main()`` runs once, and grpc core stays quiet."""
    code = (
        "import sys\n"
        "print('started', flush=True)\n"
        "from greeter.cli import main\n"
        "sys.argv = ['greeter', 'greet', 'you', '--target', '127.0.0.1:1', '--timeout', '5']\n"
        "sys.exit(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **VERBOSITY_UNSET},
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["started"]
    assert not GRPC_CORE_LINE.search(result.stderr), result.stderr
    assert result.stderr.splitlines() == [result.stderr.splitlines()[-1]]


def test_reading_the_command_line_imports_no_grpc() -> None:
    code = (
        "import sys\n"
        "from greeter.cli import _parser\n"
        "_parser().parse_args(['serve', '--compression', 'gzip', '--address', '[::1]:0'])\n"
        "_parser().parse_args(['greet', 'you', '--metadata', 'x-a=b'])\n"
        "print(sorted(name for name in sys.modules if name.partition('.')[0] == 'grpc'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == ["[]"]


def test_serve_defaults_are_server_configs() -> None:
    from greeter.cli import _parser

    args = _parser().parse_args(["serve"])
    defaults = greeter.ServerConfig()
    assert (args.grace, args.max_workers) == (defaults.grace_seconds, defaults.max_workers)
    help_text = " ".join(greeter_command("serve", "--help").stdout.split())
    assert f"(default: {defaults.grace_seconds:g})" in help_text
    assert f"(threaded server; default: {defaults.max_workers})" in help_text


class HeldService(GreeterService):
    """Holds each call until released, saying when one has arrived."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def say_hello(self, name: str) -> str:
        self.arrived.set()
        self.release.wait(timeout=60)
        return super().say_hello(name)


@contextmanager
def children_hear_sigint() -> Iterator[None]:
    """Processes started in this block act on SIGINT, as from a terminal.

    A test run started in the background (``pytest &``, as CI runners and scripts do)
    ignores SIGINT, and every child it starts inherits that: the Ctrl-C a test sends
    would never arrive. A handled signal is reset to the default in the child.
    """
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_during_a_call_exits_130_without_a_traceback() -> None:
    service = HeldService()
    with testing.serving(service) as server:
        command = [str(Path(sys.executable).parent / "greeter"), "greet", "you"]
        with children_hear_sigint():
            # No deadline: on a slow machine only the Ctrl-C may end the call.
            process = subprocess.Popen(
                [*command, "--target", server.target, "--timeout", "inf"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        try:
            assert service.arrived.wait(timeout=30)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=20)
        finally:
            service.release.set()
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)
    assert (process.returncode, stdout, stderr) == (130, "", "")


# -- the Python API: bad metadata is a ValueError before any network traffic ------------

BAD_METADATA = [
    pytest.param(("X-Request-Id", "1"), "'X-Request-Id' is not allowed", id="uppercase"),
    pytest.param(("x request", "1"), "'x request' is not allowed", id="space"),
    pytest.param(("x/request", "1"), "'x/request' is not allowed", id="slash"),
    pytest.param((":authority", "x"), "':authority' is not allowed", id="pseudo-header"),
    pytest.param(("", "1"), "a metadata key cannot be empty", id="empty"),
    pytest.param(("grpc-foo", "1"), "'grpc-foo' is reserved", id="grpc-prefix"),
    pytest.param(("x-name", "Zoë"), "metadata key 'x-name' must be printable ASCII", id="utf8"),
    pytest.param(("x-name", "a\nb"), "metadata key 'x-name' must be printable ASCII", id="nl"),
    pytest.param(("x-name", "\x7f"), "metadata key 'x-name' must be printable ASCII", id="del"),
    pytest.param(("x-trace-bin", "AAEC"), "'x-trace-bin' ends in -bin", id="bin-str"),
    pytest.param(("x-name", b"ada"), "'x-name' needs a str value", id="text-bytes"),
]

#: Every client method that takes metadata, with arguments that fit it.
SYNC_CALLS: dict[str, Callable[[GreeterClient, dict[str, Any]], object]] = {
    "greet": lambda client, options: client.greet("you", **options),
    "greet_with_call": lambda client, options: client.greet_with_call("you", **options),
    "greet_again": lambda client, options: client.greet_again("you", **options),
    "greet_again_with_call": lambda client, options: client.greet_again_with_call("you", **options),
    "greet_many": lambda client, options: client.greet_many(["Ann"], **options),
    "greet_many_with_call": lambda client, options: client.greet_many_with_call(["Ann"], **options),
    "greet_stream": lambda client, options: list(client.greet_stream("you", **options)),
    "chat": lambda client, options: list(client.chat(["Ann"], **options)),
}


async def _collect(replies: AsyncIterator[str]) -> list[str]:
    return [reply async for reply in replies]


ASYNC_CALLS: dict[str, Callable[[AsyncGreeterClient, dict[str, Any]], Any]] = {
    "greet": lambda client, options: client.greet("you", **options),
    "greet_with_call": lambda client, options: client.greet_with_call("you", **options),
    "greet_again": lambda client, options: client.greet_again("you", **options),
    "greet_again_with_call": lambda client, options: client.greet_again_with_call("you", **options),
    "greet_many": lambda client, options: client.greet_many(["Ann"], **options),
    "greet_many_with_call": lambda client, options: client.greet_many_with_call(["Ann"], **options),
    "greet_stream": lambda client, options: _collect(client.greet_stream("you", **options)),
    "chat": lambda client, options: _collect(client.chat(["Ann"], **options)),
}


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """A TCP port that listens but never answers: proof of whether anyone connected."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.3)
        yield listener


def assert_nobody_connected(listener: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        listener.accept()


def _target(listener: socket.socket) -> str:
    host, port = listener.getsockname()
    return f"{host}:{port}"


@pytest.mark.parametrize(("pair", "message"), BAD_METADATA)
def test_bad_metadata_is_a_value_error_naming_the_key_before_any_traffic(
    silent_listener: socket.socket, pair: tuple[str, str | bytes], message: str
) -> None:
    with GreeterClient(_target(silent_listener), timeout=5) as client:
        with pytest.raises(ValueError, match=re.escape(message)):
            client.greet("you", metadata=[pair])
        with pytest.raises(ValueError, match=re.escape(message)):
            GreeterClient(_target(silent_listener), metadata=[pair])
    assert_nobody_connected(silent_listener)


@pytest.mark.parametrize("target", ["", "localhost:99999", "dns:///localhost:65536", "::1"])
@pytest.mark.parametrize("client_class", [GreeterClient, AsyncGreeterClient])
def test_a_target_grpc_would_misread_is_a_value_error_in_both_clients(
    target: str, client_class: type[GreeterClient] | type[AsyncGreeterClient]
) -> None:
    with pytest.raises(ValueError, match="target"):
        client_class(target)


@pytest.mark.parametrize("method", SYNC_CALLS)
def test_every_sync_method_checks_metadata_before_sending(
    silent_listener: socket.socket, method: str
) -> None:
    with GreeterClient(_target(silent_listener), timeout=5) as client:
        with pytest.raises(ValueError, match="'Bad' is not allowed"):
            SYNC_CALLS[method](client, {"metadata": [("Bad", "1")]})
    assert_nobody_connected(silent_listener)


@pytest.mark.parametrize("method", ASYNC_CALLS)
def test_every_async_method_checks_metadata_before_sending(
    silent_listener: socket.socket, method: str
) -> None:
    async def call() -> None:
        async with AsyncGreeterClient(_target(silent_listener), timeout=5) as client:
            with pytest.raises(ValueError, match="'grpc-x' is reserved"):
                await ASYNC_CALLS[method](client, {"metadata": [("grpc-x", "1")]})

    asyncio.run(call())
    assert_nobody_connected(silent_listener)


@pytest.mark.parametrize(
    "pair",
    [
        ("x_request.id-2", "1"),
        ("x-name", " ~printable, spaces too "),
        ("x-name", ""),
        ("x-trace-bin", bytes(range(256))),
    ],
    ids=["key-characters", "printable", "empty-value", "any-bytes"],
)
def test_metadata_grpc_accepts_is_sent_as_is(pair: tuple[str, str | bytes]) -> None:
    class Echo(GreeterService):
        def say_hello(self, name: str) -> str:
            key, _ = pair
            return repr(dict(self.context.invocation_metadata)[key])

    with testing.serving(Echo()) as server, GreeterClient(server.target, timeout=5) as client:
        assert client.greet("you", metadata=[pair]) == repr(pair[1])


def test_the_server_context_refuses_bad_metadata_with_a_value_error() -> None:
    class Careless(GreeterService):
        def say_hello(self, name: str) -> str:
            try:
                self.context.set_trailing_metadata([("X-Trailer", "1")])
            except ValueError as error:
                return str(error)
            return "sent"

    with testing.serving(Careless()) as server, GreeterClient(server.target, timeout=5) as client:
        assert "'X-Trailer' is not allowed" in client.greet("you")


def test_errors_refuse_reserved_trailing_metadata_but_keep_what_a_peer_sent() -> None:
    with pytest.raises(ValueError, match="'grpc-status' is reserved"):
        greeter.NotFound("no", trailing_metadata=[("grpc-status", "0")])
    received = error_for_status(StatusCode.NOT_FOUND, "no", [("grpc-extra", "1")])
    assert isinstance(received, greeter.NotFound)
    assert received.trailing_metadata == (("grpc-extra", "1"),)


# -- the Python API: timeout=math.inf is "no deadline", per call too --------------------


def _seen(result: object) -> str:
    """What ``DeadlineEcho`` replied, from whatever a client method returned."""
    if isinstance(result, greeter.Reply):
        return result.message
    if isinstance(result, list):
        return " ".join(result)
    assert isinstance(result, str)
    return result


@pytest.mark.parametrize("method", SYNC_CALLS)
def test_timeout_inf_lifts_the_client_default_for_one_sync_call(method: str) -> None:
    with (
        testing.serving(DeadlineEcho()) as server,
        GreeterClient(server.target, timeout=30) as client,
    ):
        with_default = SYNC_CALLS[method](client, {})
        without = SYNC_CALLS[method](client, {"timeout": math.inf})
    assert (_seen(with_default), _seen(without)) == ("deadline", "None")


@pytest.mark.parametrize("method", ASYNC_CALLS)
def test_timeout_inf_lifts_the_client_default_for_one_async_call(method: str) -> None:
    async def calls() -> tuple[object, object]:
        async with AsyncGreeterClient(server.target, timeout=30) as client:
            return (
                await ASYNC_CALLS[method](client, {}),
                await ASYNC_CALLS[method](client, {"timeout": math.inf}),
            )

    with testing.serving(DeadlineEcho()) as server:
        with_default, without = asyncio.run(calls())
    assert (_seen(with_default), _seen(without)) == ("deadline", "None")


@pytest.mark.parametrize("timeout", [math.inf, 1e10], ids=["inf", "past-grpc-clock"])
def test_an_endless_client_timeout_means_no_deadline(timeout: float) -> None:
    # grpc alone fails such calls at once with DEADLINE_EXCEEDED (its clock overflows).
    with (
        testing.serving(DeadlineEcho()) as server,
        GreeterClient(server.target, timeout=timeout) as client,
    ):
        assert client.greet("you") == "None"
        assert client.greet("you", timeout=timeout) == "None"
        assert client.check_health(timeout=timeout) == "SERVING"


def test_a_nan_timeout_is_a_value_error() -> None:
    with nothing_listening() as target:
        with pytest.raises(ValueError, match="not nan"):
            GreeterClient(target, timeout=math.nan)
        with GreeterClient(target) as client:
            with pytest.raises(ValueError, match="not nan"):
                client.greet("you", timeout=math.nan)


async def _async_greeting(target: str) -> str:
    async with AsyncGreeterClient(target, timeout=math.inf) as client:
        return await client.greet("you")


def test_an_endless_async_client_timeout_means_no_deadline() -> None:
    with testing.serving(DeadlineEcho()) as server:
        assert asyncio.run(_async_greeting(server.target)) == "None"


# -- public names are found where they say; errors print as ``greeter.errors.X`` ---------

PUBLIC_CLASSES_AND_FUNCTIONS = [
    name
    for name in greeter.__all__
    if isinstance(getattr(greeter, name), type | FunctionType)
    and not isinstance(getattr(greeter, name), GenericAlias)
]
ERROR_CLASSES = [
    public
    for public in (getattr(greeter, name) for name in greeter.__all__)
    if isinstance(public, type) and issubclass(public, Exception)
]


@pytest.mark.parametrize("name", PUBLIC_CLASSES_AND_FUNCTIONS)
def test_public_classes_and_functions_are_found_where_their_module_says(name: str) -> None:
    public = getattr(greeter, name)
    assert getattr(sys.modules[public.__module__], public.__qualname__) is public


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_errors_belong_to_the_public_greeter_errors_module(
    error_class: type[greeter.GreeterError],
) -> None:
    assert error_class.__module__ == "greeter.errors"
    assert getattr(greeter.errors, error_class.__qualname__) is error_class


def test_an_error_prints_as_greeter_errors_dot_name_in_reprs_and_tracebacks() -> None:
    assert repr(greeter.Unavailable) == "<class 'greeter.errors.Unavailable'>"
    try:
        raise greeter.Unavailable("server down")
    except greeter.Unavailable as error:
        printed = "".join(traceback.format_exception(error))
    assert printed.splitlines()[-1] == "greeter.errors.Unavailable: UNAVAILABLE: server down"


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(
    "duplicate",
    [lambda error: pickle.loads(pickle.dumps(error)), copy.copy, copy.deepcopy],
    ids=["pickle", "copy", "deepcopy"],
)
def test_errors_survive_pickling_and_copying(
    error_class: type[greeter.GreeterError], duplicate: Callable[[Any], Any]
) -> None:
    bad_request = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="name")]
    )
    error = error_class(
        "why", trailing_metadata=[("x-why", "because")], error_details=[bad_request]
    )
    duplicated = duplicate(error)
    assert type(duplicated) is error_class
    assert (duplicated.code, duplicated.details, str(duplicated)) == (
        error.code,
        "why",
        str(error),
    )
    assert duplicated.trailing_metadata == (("x-why", "because"),)
    assert duplicated.details_of_type(error_details_pb2.BadRequest) == [bad_request]


def test_status_codes_and_settings_survive_pickling() -> None:
    assert pickle.loads(pickle.dumps(StatusCode.NOT_FOUND)) is StatusCode.NOT_FOUND
    policy = greeter.RetryPolicy(max_attempts=3)
    assert pickle.loads(pickle.dumps(policy)) == policy
