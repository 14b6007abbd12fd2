"""The supervisor behind ``serve_in_workers``: forks the workers and keeps them serving.

The parent process serves nothing: it supervises. It forwards SIGINT and SIGTERM to
every worker and waits for them all to drain. A worker that dies is replaced, as
gunicorn and systemd do, while the others keep serving; one that keeps dying as it
starts is restarted after a growing back-off, and after a few such failures in a row
the supervisor gives up: it stops the others and exits 1. A worker whose parent died
stops by itself.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from greeter.server._signals import SHUTDOWN_SIGNALS, ShutdownSignals

__all__ = ["supervise"]

logger = logging.getLogger("greeter.server")

#: How often a worker checks that its parent is still there.
_ORPHAN_CHECK_SECONDS = 1.0
#: A worker that ends sooner than this after it was started failed to start (as
#: supervisord's ``startsecs``); one that ran longer is replaced at once.
_START_SECONDS = 1.0
#: The wait before restarting a worker that failed to start, doubled at each failure.
_FIRST_BACKOFF_SECONDS = 0.25
#: Failed starts in a row after which the supervisor gives up (systemd's default burst).
_MAX_FAILED_STARTS = 5


def supervise(run_worker: Callable[[str], object], address: str, workers: int) -> int:
    """Fork ``workers`` processes that each call ``run_worker(address)`` and keep them
    serving until a shutdown signal; returns the exit status (see ``serve_in_workers``)."""
    with _SignalRecorder() as signals:
        supervisor = _Supervisor(run_worker, address, signals)
        slots = [_Slot(number) for number in range(1, workers + 1)]
        try:
            for slot in slots:
                supervisor.start(slot)
            pids = ", ".join(str(slot.pid) for slot in slots)
            logger.info("Started %d workers on %s (pids %s)", workers, address, pids)
            return supervisor.run(slots)
        finally:
            _stop_leftovers(slots)


class _SignalRecorder(ShutdownSignals):
    """``ShutdownSignals`` for the supervisor: ``wait_for()`` also wakes when a worker
    process ends, and a forked worker can drop the parent's handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = 0

    def wait_for(self, sentinels: list[int], timeout: float | None) -> None:
        """Block until a new signal arrives, one of ``sentinels`` (processes) is ready,
        or ``timeout`` seconds (None: no limit) have passed.

        A signal that arrived since the last call returns at once: its handler has run
        by now (at the latest on entering this method), or the wakeup byte it wrote
        ends the wait.
        """
        if len(self.received) == self._seen and self._reader in wait(
            [self._reader, *sentinels], timeout
        ):
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


@dataclass
class _Slot:
    """Worker number ``number``: its process now, and how its last starts went."""

    number: int
    process: BaseProcess | None = None
    pid: int = 0
    started_at: float = 0.0
    failed_starts: int = 0
    #: When to start it again (``time.monotonic()``); None: not waiting to restart.
    restart_at: float | None = None


class _Supervisor:
    """Starts workers into slots, restarts those that end, stops them all on a signal."""

    def __init__(
        self, run_worker: Callable[[str], object], address: str, signals: _SignalRecorder
    ) -> None:
        self._run_worker = run_worker
        self._address = address
        self._signals = signals
        self._fork = multiprocessing.get_context("fork")
        self._stopping = False
        self._failed = False

    def start(self, slot: _Slot) -> None:
        """Fork a worker with shutdown signals blocked, so none is lost or misrouted.

        A signal that arrives meanwhile waits until the parent has recorded handlers for
        it in place (and is then forwarded), or until the worker has its own.
        """
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
        try:
            process = self._fork.Process(
                target=_worker_main,
                args=(self._run_worker, self._address, self._signals, blocked),
                name=f"greeter-worker-{slot.number}",
            )
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        assert process.pid is not None  # started
        slot.process, slot.pid, slot.restart_at = process, process.pid, None
        slot.started_at = time.monotonic()

    def run(self, slots: list[_Slot]) -> int:
        """Supervise until every worker has stopped; the exit status."""
        while any(slot.process is not None or slot.restart_at is not None for slot in slots):
            sentinels = [slot.process.sentinel for slot in slots if slot.process is not None]
            self._signals.wait_for(sentinels, _seconds_to_next_restart(slots))
            if self._signals.received and not self._stopping:
                received = self._signals.received[0]
                running = sum(slot.process is not None for slot in slots)
                logger.info("Received %s; stopping %d workers", received.name, running)
                self._stop(slots, received)
            for slot in slots:
                if slot.process is not None and not slot.process.is_alive():
                    self._ended(slot, slots)
            now = time.monotonic()
            for slot in slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    replaced = slot.pid
                    self.start(slot)
                    logger.info(
                        "Started worker %d (pid %d) in place of pid %d",
                        slot.number,
                        slot.pid,
                        replaced,
                    )
        logger.info("All workers stopped")
        return 1 if self._failed else 0

    def _ended(self, slot: _Slot, slots: list[_Slot]) -> None:
        """Slot ``slot``'s worker has exited: reap it; restart it, or give up."""
        assert slot.process is not None
        code, how = slot.process.exitcode, _describe_exit(slot.process)
        slot.process.close()
        slot.process = None
        if self._stopping:  # a worker ending during a stop is never restarted
            if code != 0:
                self._failed = True
                logger.error("Worker %d (pid %d) %s", slot.number, slot.pid, how)
            return
        if time.monotonic() - slot.started_at >= _START_SECONDS:
            slot.failed_starts = 0
        else:
            slot.failed_starts += 1
        if slot.failed_starts >= _MAX_FAILED_STARTS:
            self._failed = True
            logger.error(
                "Worker %d (pid %d) %s: it failed to start %d times in a row; "
                "giving up and stopping the other workers",
                slot.number,
                slot.pid,
                how,
                slot.failed_starts,
            )
            self._stop(slots, signal.SIGTERM)
            return
        backoff = (
            _FIRST_BACKOFF_SECONDS * 2 ** (slot.failed_starts - 1) if slot.failed_starts else 0
        )
        logger.error(
            "Worker %d (pid %d) %s unexpectedly; restarting it%s",
            slot.number,
            slot.pid,
            how,
            f" in {backoff:g} s" if backoff else "",
        )
        slot.restart_at = time.monotonic() + backoff

    def _stop(self, slots: list[_Slot], sent: signal.Signals) -> None:
        """Send ``sent`` to every running worker; restart none from now on."""
        self._stopping = True
        for slot in slots:
            slot.restart_at = None
        _send(slots, sent)


def _seconds_to_next_restart(slots: list[_Slot]) -> float | None:
    due = [slot.restart_at for slot in slots if slot.restart_at is not None]
    return max(0.0, min(due) - time.monotonic()) if due else None


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
    except OSError as exc:  # say, the port was taken while no worker held it
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


def _send(slots: list[_Slot], sent: signal.Signals) -> None:
    for slot in slots:
        if slot.process is not None:
            with contextlib.suppress(ProcessLookupError):  # gone: the supervisor sees it next
                os.kill(slot.pid, sent)


def _describe_exit(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _stop_leftovers(slots: list[_Slot]) -> None:
    """If supervising failed (a bug), do not leave workers behind: stop and reap them."""
    leftovers = [slot for slot in slots if slot.process is not None and slot.process.is_alive()]
    _send(leftovers, signal.SIGTERM)
    for slot in leftovers:
        assert slot.process is not None
        slot.process.join(timeout=30)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()
