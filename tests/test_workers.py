"""Several server processes on one port (SO_REUSEPORT): ``serve(workers=N)``.

Workers are forked, so they run in a child process (``tests/pid_server.py``, whose
SayHello answers with the serving process's id), never inside the test process, which
already holds gRPC objects. Each call uses a fresh channel, hence a fresh connection
for the kernel to hand to one of the workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from greeter import GreeterClient, GreeterError, GreeterService, Unavailable, testing
from greeter.server._workers import CannotFork, serve_in_workers
from tests.conftest import (
    GREETER_SERVE,
    LOOPBACK,
    REPO_ROOT,
    ServerProcess,
    greet,
    refused,
    run_cli,
    wait_for,
)

PID_SERVER = str(REPO_ROOT / "tests" / "pid_server.py")
STARTED = r"Started \d+ workers on 127\.0\.0\.1:(\d+)"
#: ``python -c THIS script args...``: runs ``python script args...`` in a new session
#: (so in a new process group), in the same process.
NEW_SESSION_THEN_EXEC = (
    "import os, sys; os.setsid(); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


class Workers(ServerProcess):
    """``tests/pid_server.py --workers N`` in a child process; knows its workers' pids.

    ``server`` runs another command instead (``GREETER_SERVE``: ``greeter serve``).
    """

    def __init__(
        self,
        workers: int,
        *extra: str,
        own_session: bool = False,
        server: Sequence[str] = (sys.executable, PID_SERVER),
    ) -> None:
        command = [*server, "--address", LOOPBACK, "--workers", str(workers)]
        if own_session:  # as a terminal's foreground job: its own process group
            command[1:1] = ["-c", NEW_SESSION_THEN_EXEC]
        self.pids: set[int] = set()
        super().__init__([*command, *extra], STARTED)
        pids = re.search(r"\(pids ([\d, ]+)\)", self.log())
        if pids is None:
            self.kill()
            pytest.fail(f"no worker pids in: {self.log()}")
        self.pids = {int(pid) for pid in pids.group(1).split(", ")}

    def replacement(self, killed: int) -> int | None:
        """The pid of the worker started in place of ``killed``, once it is logged."""
        started = re.search(
            rf"Started worker \d+ \(pid (\d+)\) in place of pid {killed}\b", self.log()
        )
        return None if started is None else int(started.group(1))

    def kill(self) -> None:
        """SIGKILL the workers, first and restarted (grandchildren this test started, by
        pid), then the parent."""
        if self.process.poll() is None:
            restarted = re.findall(r"Started worker \d+ \(pid (\d+)\)", self.log())
            for pid in self.pids | {int(pid) for pid in restarted}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        super().kill()


@pytest.fixture
def two_workers(server_kind: str) -> Iterator[Workers]:
    """Two workers of the threaded or the asyncio server (``server_kind``)."""
    workers = Workers(2, *(["--async"] if server_kind == "async" else []))
    try:
        yield workers
    finally:
        workers.kill()


def served_by(target: str) -> int:
    """Call SayHello on a new channel (a new connection); the pid of the process that answered."""
    with GreeterClient(target, timeout=5, wait_for_ready=True) as client:
        return int(client.greet("who are you"))


def pids_serving(target: str, expected: set[int], max_calls: int = 200) -> set[int]:
    """Call until every expected pid has answered (at most ``max_calls`` or 15 s)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 15
    for _ in range(max_calls):
        seen.add(served_by(target))
        if seen >= expected or time.monotonic() > deadline:
            break
    return seen


def test_two_workers_answer_from_two_different_processes(two_workers: Workers) -> None:
    assert len(two_workers.pids) == 2
    assert two_workers.process.pid not in two_workers.pids

    assert pids_serving(two_workers.target, two_workers.pids) == two_workers.pids

    assert two_workers.stop() == 0, two_workers.log()


def test_one_sigterm_to_the_parent_drains_every_worker_and_exits_0(
    server_kind: str, tmp_path: Path
) -> None:
    workers = Workers(2, "--grace", "15", *(["--async"] if server_kind == "async" else []))
    calls = ThreadPoolExecutor(max_workers=1)
    try:
        assert pids_serving(workers.target, workers.pids) == workers.pids
        held = calls.submit(greet, workers.target, f"hold {tmp_path}", wait_for_ready=True)
        wait_for(lambda: (tmp_path / "started").exists(), "the held call to start")

        workers.process.send_signal(signal.SIGTERM)
        # New calls are refused from then on ...
        wait_for(lambda: refused(workers.target), "the workers to refuse new calls")
        assert not held.done()
        # ... while the call in flight gets its grace period, and completes.
        (tmp_path / "release").touch()
        assert int(held.result(timeout=10)) in workers.pids
        assert workers.process.wait(timeout=10) == 0  # it exits on its own

        assert workers.output_ended(timeout=10)
    finally:
        (tmp_path / "release").touch()
        workers.kill()
        calls.shutdown(wait=False)
    log = workers.log()
    assert log.count("Received SIGTERM; stopping 2 workers") == 1
    assert log.count("Received SIGTERM; stopping (in-flight calls get 15.0 s)") == 2
    assert log.count("Stopped serving on") == 2
    assert "All workers stopped" in log


def test_sigint_to_the_parent_stops_every_worker_and_exits_0(two_workers: Workers) -> None:
    assert pids_serving(two_workers.target, two_workers.pids) == two_workers.pids

    assert two_workers.stop(signal.SIGINT) == 0, two_workers.log()
    assert two_workers.log().count("Received SIGINT; stopping (in-flight") == 2


def test_ctrl_c_in_a_terminal_stops_every_worker_once_and_exits_0(server_kind: str) -> None:
    workers = Workers(2, *(["--async"] if server_kind == "async" else []), own_session=True)
    try:
        assert pids_serving(workers.target, workers.pids) == workers.pids

        os.killpg(workers.process.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
        assert workers.process.wait(timeout=15) == 0
        assert workers.output_ended(timeout=10)
    finally:
        workers.kill()
    log = workers.log()
    assert log.count("Received SIGINT; stopping (in-flight") == 2
    assert "Traceback" not in log


def test_a_signal_while_workers_start_stops_them_cleanly_and_exits_0(
    two_workers: Workers,
) -> None:
    # Sent as soon as the workers are forked: each is somewhere in its start-up.
    assert two_workers.stop(signal.SIGTERM) == 0, two_workers.log()
    assert "Traceback" not in two_workers.log()


def test_port_0_gives_every_worker_the_same_free_port() -> None:
    workers = Workers(3)
    try:
        assert workers.port != 0
        assert pids_serving(workers.target, workers.pids) == workers.pids
        assert workers.stop() == 0, workers.log()
    finally:
        workers.kill()
    ports = re.findall(r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)", workers.log())
    assert ports == [str(workers.port)] * 3, workers.log()


@pytest.fixture(params=["a plain socket", "greeter workers"])
def busy_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port something already listens on: a lone socket, or workers sharing it."""
    if request.param == "a plain socket":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            yield listener.getsockname()[1]
    else:
        workers = Workers(2)
        try:
            yield workers.port
            # Nobody joined them: the workers alone still answer, and they still stop cleanly.
            assert pids_serving(workers.target, workers.pids) == workers.pids
            assert workers.stop() == 0, workers.log()
        finally:
            workers.kill()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_greeter_serve_on_a_busy_port_is_a_one_line_error_with_any_workers(
    busy_port: int, workers: int
) -> None:
    address = f"127.0.0.1:{busy_port}"
    result = run_cli("serve", "--address", address, "--workers", str(workers), timeout=30)

    assert result.returncode == 1
    assert result.stderr == f"greeter: cannot listen on {address}: address already in use\n"


def test_a_busy_port_raises_before_any_worker_starts() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(OSError, match=f"^cannot listen on {address}: address already in use$"):
            serve_in_workers(_never_called, address, workers=2)


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(two_workers: Workers) -> None:
    assert pids_serving(two_workers.target, two_workers.pids) == two_workers.pids
    killed, survivor = sorted(two_workers.pids)
    os.kill(killed, signal.SIGKILL)  # a worker: a grandchild this test started
    two_workers.wait_for_log(f"(pid {killed}) was killed by SIGKILL unexpectedly; restarting it")

    # Reaped, so its listening socket is closed: every new connection is served, by the
    # survivor until the new worker listens, then by either of them.
    answered: set[int] = set()
    deadline = time.monotonic() + 20
    for _ in range(500):
        answered.add(served_by(two_workers.target))
        new = two_workers.replacement(killed)
        if (new is not None and new in answered) or time.monotonic() > deadline:
            break
    assert new is not None, two_workers.log()
    assert new in answered
    assert answered <= {survivor, new}
    assert pids_serving(two_workers.target, {survivor, new}) == {survivor, new}

    assert two_workers.stop() == 0, two_workers.log()
    log = two_workers.log()
    assert log.count("Stopped serving on") == 2  # the survivor and the new worker
    assert "Traceback" not in log


def test_a_worker_that_fails_at_every_start_makes_the_supervisor_give_up_with_status_1() -> None:
    workers = Workers(2, "--fail-at-start")
    try:
        assert workers.process.wait(timeout=60) == 1
        assert workers.output_ended(timeout=10)
    finally:
        workers.kill()
    log = workers.log()
    # Restarted after a growing back-off, then given up on, with one clear line.
    assert "exited with status 1 unexpectedly; restarting it in 0.25 s" in log
    assert "exited with status 1 unexpectedly; restarting it in 2 s" in log
    assert re.search(
        r"Worker \d \(pid \d+\) exited with status 1: it failed to start 5 times in a row; "
        r"giving up and stopping the other workers",
        log,
    ), log
    assert "All workers stopped" in log


def test_sigterm_during_a_restart_back_off_stops_everything_at_once() -> None:
    workers = Workers(2, "--fail-at-start")
    try:
        workers.wait_for_log("restarting it in 2 s", timeout=30)
        signalled = time.monotonic()
        workers.process.send_signal(signal.SIGTERM)
        workers.process.wait(timeout=10)
        stopped_after = time.monotonic() - signalled
        assert workers.output_ended(timeout=10)
    finally:
        workers.kill()
    log = workers.log()
    # Well before the 2 s back-off is over, and nothing restarted after the signal.
    assert stopped_after < 1.5, log
    assert "giving up" not in log
    after_the_signal = log[log.index("Received SIGTERM") :]
    assert "Started worker" not in after_the_signal, log
    assert log.rstrip().endswith("All workers stopped"), log


def test_a_worker_that_dies_during_a_graceful_stop_is_not_restarted(tmp_path: Path) -> None:
    workers = Workers(2, "--grace", "15")
    calls = ThreadPoolExecutor(max_workers=1)
    try:
        assert pids_serving(workers.target, workers.pids) == workers.pids
        held = calls.submit(greet, workers.target, f"hold {tmp_path}", wait_for_ready=True)
        wait_for(lambda: (tmp_path / "started").exists(), "the held call to start")
        workers.process.send_signal(signal.SIGTERM)
        # The idle worker stops; the one holding the call drains it: kill that one.
        workers.wait_for_log("greeter.server: Stopped serving on")
        stopped = re.search(r"(\d+) greeter\.server: Stopped serving on", workers.log())
        assert stopped is not None
        (draining,) = workers.pids - {int(stopped.group(1))}
        os.kill(draining, signal.SIGKILL)

        assert workers.process.wait(timeout=15) == 1
        assert workers.output_ended(timeout=10)
        with pytest.raises(GreeterError):  # its call in flight is lost with it
            held.result(timeout=10)
    finally:
        (tmp_path / "release").touch()
        workers.kill()
        calls.shutdown(wait=False)
    log = workers.log()
    assert f"(pid {draining}) was killed by SIGKILL" in log
    assert "restarting" not in log
    assert "Started worker" not in log


def test_greeter_serve_with_workers_prefixes_each_log_line_with_the_workers_pid() -> None:
    workers = Workers(2, server=GREETER_SERVE)
    try:
        workers.wait_for_log("Serving helloworld.Greeter on", count=2)
        assert workers.stop() == 0, workers.log()
    finally:
        workers.kill()
    log = workers.log()
    serving = re.findall(r"\[(\d+)\] greeter\.server: Serving helloworld\.Greeter on", log)
    stopped = re.findall(r"\[(\d+)\] greeter\.server: Stopped serving on", log)
    assert {int(pid) for pid in serving} == workers.pids, log
    assert {int(pid) for pid in stopped} == workers.pids, log
    assert f"[{workers.process.pid}] greeter.server: All workers stopped" in log


@pytest.fixture(params=["a server", "a client"])
def grpc_in_use(request: pytest.FixtureRequest) -> Iterator[None]:
    """gRPC running in this process: a server, or only a client's channel."""
    if request.param == "a server":
        with testing.serving(GreeterService()):
            yield
    else:
        with GreeterClient("127.0.0.1:1") as client:  # its channel starts gRPC's threads
            # A call (refused: nothing listens on port 1) has them at work; right after
            # an earlier test's gRPC wound down, a new channel alone may not have them yet.
            with pytest.raises(Unavailable):
                client.greet("you", timeout=10)
            yield


@pytest.mark.usefixtures("grpc_in_use")
def test_serving_in_workers_once_grpc_runs_in_this_process_is_refused() -> None:
    with pytest.raises(CannotFork, match=r"gRPC already runs in this process .*: fork the workers"):
        serve_in_workers(_never_called, LOOPBACK, workers=2)


def test_serving_in_workers_off_linux_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(CannotFork, match="needs Linux, not darwin"):
        serve_in_workers(_never_called, LOOPBACK, workers=2)


def test_greeter_serve_with_workers_off_linux_is_a_one_line_error() -> None:
    as_if_on_macos = "import sys; sys.platform = 'darwin'; from greeter.cli import main; "
    command = f"{as_if_on_macos}sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", command, "serve", "--address", LOOPBACK, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("greeter: serving in worker processes needs Linux, not darwin")
    assert result.stderr.count("\n") == 1


def test_workers_drain_and_exit_by_themselves_if_the_parent_is_killed(
    two_workers: Workers,
) -> None:
    assert pids_serving(two_workers.target, two_workers.pids) == two_workers.pids

    two_workers.process.kill()  # the parent only: SIGKILL cannot be forwarded

    # The workers hold the parent's output pipe: its end means they have all exited.
    assert two_workers.output_ended(timeout=15)
    assert two_workers.log().count("the supervisor is gone; stopping") == 2
    assert two_workers.log().count("Stopped serving on") == 2
    assert refused(two_workers.target)


@pytest.mark.parametrize(
    ("address", "workers", "message"),
    [
        ("127.0.0.1:0", 0, "workers must be at least 1"),
        ("unix:/tmp/greeter.sock", 2, "workers share a TCP port: expected host:port"),
        ("127.0.0.1", 2, "workers share a TCP port: expected host:port"),
    ],
)
def test_serve_in_workers_rejects_what_cannot_be_shared(
    address: str, workers: int, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        serve_in_workers(_never_called, address, workers)


def test_serve_in_workers_off_the_main_thread_is_an_error() -> None:
    with ThreadPoolExecutor(max_workers=1) as thread:
        attempt = thread.submit(serve_in_workers, _never_called, LOOPBACK, 2)
        with pytest.raises(RuntimeError, match="needs the main thread"):
            attempt.result(timeout=10)


def _never_called(address: str) -> None:
    raise AssertionError("no worker should start")
