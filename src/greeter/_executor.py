"""The threads that run a threaded server's handlers.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits,
so a single handler that ignores cancellation (a 20 s ``time.sleep``) would hold the
process long after the server's grace period ran out. These workers are daemon
threads: once the server has stopped and given up on a stuck handler, nothing waits
for it, and the process exits on time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any, ParamSpec, TypeVar

__all__ = ["HandlerThreads"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Work = tuple["futures.Future[Any]", Callable[[], Any]]


class HandlerThreads(futures.Executor):
    """A pool of up to ``max_workers`` daemon threads, started as work arrives."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._shut_down = False

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> futures.Future[_T]:
        future: futures.Future[_T] = futures.Future()
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((future, lambda: fn(*args, **kwargs)))
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._run,
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _run(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                return
            future, run = work
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(run())
                except BaseException as exc:
                    future.set_exception(exc)
            del work, future, run  # drop references before waiting for more
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``wait``, join the threads (handlers may be stuck)."""
        with self._lock:
            self._shut_down = True
            if cancel_futures:
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        work[0].cancel()
            for _ in self._threads:
                self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
