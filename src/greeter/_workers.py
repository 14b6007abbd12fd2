"""Several server processes on one port: ``serve_in_workers``, a small supervisor.

Python runs one thread of Python code at a time, so a server with CPU-bound handlers
uses more than one core only with more than one process. grpc's documented pattern
(``examples/python/multiprocessing`` in grpc/grpc) is what this module does: fork the
workers before any gRPC object exists (gRPC's threads and polling state do not survive
a fork), then let each worker bind the same port with ``SO_REUSEPORT``; the kernel
spreads incoming *connections* among them. One client channel is one connection, so it
stays with one worker: the spreading shows with many clients, or behind a load balancer
that opens several connections. Linux only in practice: elsewhere ``SO_REUSEPORT``
either does not exist or does not balance.

The parent process serves nothing. It forwards SIGINT and SIGTERM to every worker,
waits for them all to drain, and stops the others if one of them dies; a worker whose
parent died stops by itself.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from greeter._addresses import check_port_is_free, split_tcp_address
from greeter._signals import SHUTDOWN_SIGNALS, ShutdownSignals

if TYPE_CHECKING:
    pass

__all__ = ["default_worker_count", "serve_in_workers", "shares_a_port"]

logger = logging.getLogger("greeter.server")

#: How often a worker checks that its parent is still there.
_ORPHAN_CHECK_SECONDS = 1.0


def default_worker_count() -> int:
    """One worker per CPU this process may use (1 where ports are not balanced).

    One process runs Python on about one core at a time, however many threads serve
    its calls; a second process on the same port is what uses a second core. "May use"
    is the CPUs it may run on, or fewer under a container's CPU limit (cgroup quota).
    """
    if not sys.platform.startswith("linux"):
        return 1  # elsewhere SO_REUSEPORT does not spread connections among processes
    cpus = len(os.sched_getaffinity(0))
    quota = _cgroup_cpu_limit()
    return max(1, cpus if quota is None else min(cpus, quota))


#: Where Linux states a CPU limit: cgroup v2 ("QUOTA PERIOD" or "max PERIOD"), then v1.
_CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


def _cgroup_cpu_limit() -> int | None:
    """The CPUs a cgroup quota allows, rounded up; None if there is no limit."""
    try:
        quota, period = _CGROUP_V2_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (_CGROUP_V1_CPU / "cpu.cfs_quota_us").read_text().strip()
            period = (_CGROUP_V1_CPU / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota == "max" or not quota.lstrip("-").isdigit() or int(quota) <= 0:
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def shares_a_port(addresses: list[str]) -> bool:
    """Whether ``addresses`` can be served by several workers: one TCP ``host:port``."""
    if len(addresses) != 1:
        return False
    try:
        split_tcp_address(addresses[0])
    except ValueError:
        return False
    return True


def serve_in_workers(run_worker: Callable[[str], object], address: str, workers: int) -> int:
    """Run ``workers`` processes that each call ``run_worker(address)``; return an exit status.

    ``address`` is ``host:port``; with port 0 the OS picks one free port, shared by all
    workers (each gets the real ``host:port``). ``run_worker`` must bind with
    ``SO_REUSEPORT`` (``ServerConfig(reuse_port=True)``), serve until SIGINT or SIGTERM
    and stop gracefully. Blocks until every worker has exited; returns 0 if all exited
    cleanly after a shutdown signal, else 1 (a worker that exits on its own, or dies,
    makes the others stop too). Call it from the main thread, before creating any gRPC
    object (client or server) in this process::

        def run_worker(address: str) -> None:
            GreeterService().serve(address, config=ServerConfig(reuse_port=True))

        sys.exit(serve_in_workers(run_worker, "[::]:50051", workers=4))

    Raises ``OSError`` (one line: ``cannot listen on ADDRESS: address already in use``)
    if anything already listens on the port, even servers that allow sharing it: an
    unrelated second server never joins the first one's workers silently.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("serving in worker processes needs the main thread (for signals)")
    host, _ = split_tcp_address(address)
    address = f"{host}:{check_port_is_free(address)}"
    with _SignalRecorder() as signals:
        processes = _start_workers(run_worker, address, workers, signals)
        pids = ", ".join(str(process.pid) for process in processes)
        logger.info("Started %d workers on %s (pids %s)", workers, address, pids)
        try:
            return _supervise(processes, signals)
        finally:
            _stop_leftovers(processes)


class _SignalRecorder(ShutdownSignals):
    """``ShutdownSignals`` for the supervisor: ``wait_for()`` also wakes when a worker
    process ends, and a forked worker can drop the parent's handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = 0

    def wait_for(self, sentinels: list[int]) -> None:
        """Block until a new signal arrives or one of ``sentinels`` (processes) is ready.

        A signal that arrived since the last call returns at once: its handler has run
        by now (at the latest on entering this method), or the wakeup byte it wrote
        ends the wait.
        """
        if len(self.received) == self._seen and self._reader in wait([self._reader, *sentinels]):
            self._reader.recv(1024)  # drain the wakeup bytes
        self._seen = len(self.received)

    def forget_in_worker(self) -> None:
        """In a freshly forked worker: drop the parent's handlers and wakeup socket.

        Until ``run_worker`` installs its own handlers (and once it has restored these),
        SIGINT or SIGTERM make the worker exit at once with status 0: it has nothing to
        drain then.
        """
        signal.set_wakeup_fd(-1)
        for sig in SHUTDOWN_SIGNALS:
            signal.signal(sig, _exit_before_serving)
        self._reader.close()
        self._writer.close()


def _exit_before_serving(signum: int, frame: FrameType | None) -> None:
    # os._exit, not SystemExit: an exception raised in the middle of gRPC's set-up
    # (say, while grpc.aio starts its poller) can leave it to crash on the way out.
    os._exit(0)


def _start_workers(
    run_worker: Callable[[str], object], address: str, workers: int, signals: _SignalRecorder
) -> list[BaseProcess]:
    """Fork the workers with shutdown signals blocked, so none is lost or misrouted.

    A signal that arrives meanwhile waits until the parent has recorded handlers for it
    in place (and is then forwarded), or until the worker has its own.
    """
    context = multiprocessing.get_context("fork")
    processes: list[BaseProcess] = []
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    try:
        for number in range(1, workers + 1):
            process = context.Process(
                target=_worker_main,
                args=(run_worker, address, signals, blocked),
                name=f"greeter-worker-{number}",
            )
            process.start()
            processes.append(process)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return processes


def _worker_main(
    run_worker: Callable[[str], object],
    address: str,
    signals: _SignalRecorder,
    signal_mask: set[signal.Signals],
) -> None:
    # A process group of its own: Ctrl-C in a terminal signals the whole foreground
    # group, and the parent forwards it too; this way each worker gets it once.
    os.setpgid(0, 0)
    signals.forget_in_worker()
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), name="greeter-orphan-watch", daemon=True
    ).start()
    signal.pthread_sigmask(signal.SIG_SETMASK, signal_mask)
    try:
        run_worker(address)
    except OSError as exc:  # say, the port was taken between the check and the bind
        logger.error("Worker (pid %d) could not serve: %s", os.getpid(), exc)
        sys.exit(1)


def _stop_when_orphaned(parent_pid: int) -> None:
    """If the parent dies without stopping the workers (SIGKILL), stop as on SIGTERM.

    Without it, orphaned workers would keep serving the port, unsupervised, forever.
    """
    while os.getppid() == parent_pid:
        time.sleep(_ORPHAN_CHECK_SECONDS)
    logger.warning("Worker (pid %d): the supervisor is gone; stopping", os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)


def _supervise(processes: list[BaseProcess], signals: _SignalRecorder) -> int:
    """Wait for the workers; forward the first shutdown signal; stop all if one dies."""
    running = list(processes)
    stopping = False
    failed = False
    while running:
        signals.wait_for([process.sentinel for process in running])
        if signals.received and not stopping:
            stopping = True
            received = signals.received[0]
            logger.info("Received %s; stopping %d workers", received.name, len(running))
            _send(running, received)
        for process in [process for process in running if not process.is_alive()]:
            running.remove(process)
            if process.exitcode == 0 and stopping:
                continue
            failed = True
            if stopping:
                logger.error("Worker (pid %d) %s", process.pid, _describe_exit(process))
            else:
                stopping = True
                logger.error(
                    "Worker (pid %d) %s unexpectedly; stopping the other workers",
                    process.pid,
                    _describe_exit(process),
                )
                _send(running, signal.SIGTERM)
    logger.info("All workers stopped")
    return 1 if failed else 0


def _send(processes: list[BaseProcess], sent: signal.Signals) -> None:
    for process in processes:
        if process.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # gone: the supervisor sees it next
                os.kill(process.pid, sent)


def _describe_exit(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _stop_leftovers(processes: list[BaseProcess]) -> None:
    """If supervising failed (a bug), do not leave workers behind: stop and reap them."""
    leftovers = [process for process in processes if process.is_alive()]
    _send(leftovers, signal.SIGTERM)
    for process in leftovers:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
