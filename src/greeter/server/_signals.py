"""SIGINT and SIGTERM, caught for a graceful stop: one recorder for the server and the
worker supervisor (``_workers.py``)."""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["SHUTDOWN_SIGNALS", "ShutdownSignals"]

#: The signals that ask a server to stop gracefully.
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownSignals:
    """Catches SIGINT and SIGTERM while in use; ``wait()`` blocks until one arrives.

    The handler only records the signal: it takes no lock, so a second signal arriving
    at any moment cannot deadlock the main thread (``threading.Event.set()`` in a signal
    handler can). The main thread wakes through ``signal.set_wakeup_fd``; ``wake()``
    ends the wait from another thread. Signals that arrive after the first (say, during
    a graceful stop) are recorded and ignored. The previous handlers are restored on
    exit. Use from the main thread only.
    """

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self._woken = False

    def __enter__(self) -> Self:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {sig: signal.signal(sig, self._record) for sig in SHUTDOWN_SIGNALS}
        return self

    def _record(self, signum: int, frame: object) -> None:
        self.received.append(signal.Signals(signum))

    def wake(self) -> None:
        """End ``wait()`` from another thread, as if a signal had arrived."""
        self._woken = True
        with contextlib.suppress(OSError):  # already closed: nobody is waiting
            self._writer.send(b"\0")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if ``wake()`` is called (say, by ``stop()``)."""
        deadline = time.monotonic() + seconds
        while not self._woken and (left := deadline - time.monotonic()) > 0:
            if select.select([self._reader], [], [], left)[0]:
                self._reader.recv(1024)  # a signal (recorded, ignored) or a wake()

    def wait(self) -> signal.Signals | None:
        """Block until SIGINT or SIGTERM arrives (return it) or ``wake()`` (None)."""
        while not self.received and not self._woken:
            select.select([self._reader], [], [])
            self._reader.recv(1024)  # drain the wakeup bytes
        return self.received[0] if self.received else None

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._reader.close()
        self._writer.close()
