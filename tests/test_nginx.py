"""A real L7 load balancer: nginx (``grpc_pass``) in front of three Greeter backends.

nginx runs the shipped ``deploy/nginx.conf``, with only its addresses and file paths
swapped for 127.0.0.1 and the test's temporary directory. The backends are either
``greeter serve --access-log`` (each counts the calls it served in its log) or
``tests/pid_server.py``, whose replies name the process that served them.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from greeter import GreeterClient
from tests.conftest import LOOPBACK, REPO_ROOT, ServerProcess, greet, refused, wait_for

DEPLOYED_CONFIG = REPO_ROOT / "deploy" / "nginx.conf"
SERVING = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"
PID_SERVER = str(REPO_ROOT / "tests" / "pid_server.py")
BACKEND_GRACE_SECONDS = 15


def render_config(template: str, port: int, backends: list[str], directory: Path) -> str:
    """``template`` (deploy/nginx.conf) listening on 127.0.0.1:``port``, files in ``directory``.

    Every substitution must match exactly once, so a change to the shipped file that
    this function does not understand fails the test instead of testing something else.
    """

    def upstream_servers(match: re.Match[str]) -> str:
        return "".join(f"{match[1]}server {backend} {match[2]};\n" for backend in backends)

    # nginx's compiled-in temporary directories may not be writable by the test.
    temporary_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    substitutions: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"^(\s*)listen \S+ http2;", lambda m: f"{m[1]}listen 127.0.0.1:{port} http2;"),
        (r"^pid \S+;", lambda m: f"pid {directory / 'nginx.pid'};"),
        (r"^error_log \S+ \w+;", lambda m: f"error_log {directory / 'error.log'} info;"),
        (
            r"^(\s*)access_log \S+ grpc;",
            lambda m: f"{m[1]}access_log {directory / 'access.log'} grpc;",
        ),
        (r"(?:^([ \t]*)server [\w.-]+:\d+ (.*);\n)+", upstream_servers),
        (r"^http \{\n", lambda m: m[0] + temporary_paths),
    ]
    config = template
    for pattern, replacement in substitutions:
        config, count = re.subn(pattern, replacement, config, flags=re.MULTILINE)
        assert count == 1, f"deploy/nginx.conf: expected one match of {pattern!r}"
    return config


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def _apt_get(*arguments: str) -> bool:
    result = subprocess.run(
        ["apt-get", *arguments],
        capture_output=True,
        timeout=600,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return result.returncode == 0


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """Debian's nginx; installed with apt-get when missing and running as root."""
    if _nginx_binary() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_get("install", "-y", "nginx") or (
            _apt_get("update") and _apt_get("install", "-y", "nginx")
        )
    found = _nginx_binary()
    if found is None:
        pytest.skip("nginx is not installed and could not be (apt-get install -y nginx)")
    return found


class PidBackend(ServerProcess):
    """A Greeter backend (``tests/pid_server.py``) whose replies are its process id."""

    def __init__(self) -> None:
        super().__init__(
            [
                *(sys.executable, PID_SERVER, "--address", LOOPBACK),
                *("--grace", str(BACKEND_GRACE_SECONDS)),
            ],
            SERVING,
        )
        self.pid = self.process.pid


class CliBackend(ServerProcess):
    """``greeter serve --access-log``: a stock backend that logs one line per call."""

    def __init__(self) -> None:
        greeter = str(Path(sys.executable).parent / "greeter")
        super().__init__([greeter, "serve", "--address", LOOPBACK, "--access-log"], SERVING)

    def calls_served(self) -> int:
        """SayHello calls it answered OK (once stopped: its whole log is read then)."""
        return len(re.findall(r"greeter\.access: /helloworld\.Greeter/SayHello \S+ OK", self.log()))


@pytest.fixture
def pid_backends() -> Iterator[list[PidBackend]]:
    started: list[PidBackend] = []
    try:
        for _ in range(3):
            started.append(PidBackend())
        yield started
    finally:
        for backend in started:
            backend.kill()


@pytest.fixture
def cli_backends() -> Iterator[list[CliBackend]]:
    started: list[CliBackend] = []
    try:
        for _ in range(3):
            started.append(CliBackend())
        yield started
    finally:
        for backend in started:
            backend.kill()


class Nginx:
    """nginx in the foreground (``daemon off``), its files in ``directory``."""

    def __init__(self, binary: str, backends: list[str], directory: Path) -> None:
        self.port = _free_port()
        config = render_config(DEPLOYED_CONFIG.read_text(), self.port, backends, directory)
        (directory / "nginx.conf").write_text(config)
        self.output = ""
        self.process = subprocess.Popen(
            [
                *(binary, "-c", str(directory / "nginx.conf"), "-p", str(directory)),
                *("-e", "stderr", "-g", "daemon off;"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 10
        while not _accepts_connections(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"nginx did not start: {self.output}")
            time.sleep(0.02)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            remaining, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            remaining, _ = self.process.communicate(timeout=10)
        self.output = remaining or ""


@pytest.fixture
def start_nginx(nginx_binary: str, tmp_path: Path) -> Iterator[Callable[[list[str]], Nginx]]:
    """Start nginx in front of the given backends (host:port); stopped when the test ends."""
    started: list[Nginx] = []

    def start(backends: list[str]) -> Nginx:
        directory = tmp_path / f"nginx-{len(started)}"
        directory.mkdir()
        started.append(Nginx(nginx_binary, backends, directory))
        return started[-1]

    try:
        yield start
    finally:
        for nginx in started:
            nginx.stop()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def served_by(client: GreeterClient, calls: int) -> collections.Counter[int]:
    """Make ``calls`` SayHello calls; how many each backend (pid) served. Any failure raises."""
    return collections.Counter(int(client.greet("who are you")) for _ in range(calls))


def test_the_shipped_config_is_valid_nginx(nginx_binary: str, tmp_path: Path) -> None:
    config = render_config(DEPLOYED_CONFIG.read_text(), 50051, ["127.0.0.1:50052"], tmp_path)
    (tmp_path / "nginx.conf").write_text(config)

    result = subprocess.run(
        [nginx_binary, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_spreads_the_calls_of_one_channel_over_every_greeter_serve(
    start_nginx: Callable[[list[str]], Nginx], cli_backends: list[CliBackend]
) -> None:
    nginx = start_nginx([backend.target for backend in cli_backends])
    with GreeterClient(nginx.target, timeout=5) as client:  # one channel, one connection
        for _ in range(30):
            assert client.greet("you") == "Hello, you!"

    for backend in cli_backends:
        assert backend.stop() == 0
    served = [backend.calls_served() for backend in cli_backends]
    assert sum(served) == 30
    assert min(served) >= 5, served


def test_a_client_stream_of_more_than_1_mb_passes_through_nginx(
    start_nginx: Callable[[list[str]], Nginx], cli_backends: list[CliBackend]
) -> None:
    nginx = start_nginx([backend.target for backend in cli_backends])
    names = [f"{number:04d}" + "x" * 996 for number in range(1100)]  # 1.1 MB in all

    with GreeterClient(nginx.target, timeout=10) as client:
        greeting = client.greet_many(names)

    assert greeting.startswith(f"Hello, {names[0]}, ")
    assert greeting.endswith(f" {names[-1]}!")


def test_a_draining_backend_gets_no_more_calls_and_every_call_succeeds(
    start_nginx: Callable[[list[str]], Nginx], pid_backends: list[PidBackend], tmp_path: Path
) -> None:
    nginx = start_nginx([backend.target for backend in pid_backends])
    draining, *others = pid_backends
    hold = tmp_path / "hold"
    hold.mkdir()
    direct_calls = ThreadPoolExecutor(max_workers=1)
    with GreeterClient(nginx.target, timeout=5) as client:
        assert set(served_by(client, 9)) == {backend.pid for backend in pid_backends}
        try:
            # A call in flight keeps the draining backend running for its grace period.
            held = direct_calls.submit(greet, draining.target, f"hold {hold}")
            wait_for(lambda: (hold / "started").exists(), "the held call to start")
            draining.process.send_signal(signal.SIGTERM)
            wait_for(lambda: refused(draining.target), "the backend to refuse new calls")

            during_drain = served_by(client, 30)

            (hold / "release").touch()
            assert int(held.result(timeout=10)) == draining.pid  # drained, not cut off
            assert draining.process.wait(timeout=10) == 0  # it exits on its own
            after_exit = served_by(client, 30)
        finally:
            (hold / "release").touch()
            direct_calls.shutdown(wait=False)

    assert set(during_drain) == {backend.pid for backend in others}
    assert set(after_exit) == {backend.pid for backend in others}
