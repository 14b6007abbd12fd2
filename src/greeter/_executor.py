"""The threads that run a threaded server's handlers.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits,
so a single handler that ignores cancellation (a 20 s ``time.sleep``) would hold the
process long after the server's grace period ran out. These workers are daemon
threads: once the server has stopped and given up on a stuck handler, nothing waits
for it, and the process exits on time.

grpc's threaded server submits one handler per call and only ever adds a done callback
to what ``submit`` returns (to count the calls in progress for
``maximum_concurrent_rpcs``). ``CallThreads`` gives it a ``CallHandle`` with just that,
at a fraction of a ``Future``'s cost per call (which builds a ``threading.Condition``
and notifies it); ``HandlerThreads`` returns real futures, for ``asyncio.wrap_future``.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any, ParamSpec, TypeVar

__all__ = ["CallHandle", "CallThreads", "HandlerThreads"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class CallHandle:
    """What grpc's server uses of a ``Future``: ``add_done_callback``, called once the
    handler has returned or raised (or at once, if it already has), and ``cancel``."""

    __slots__ = ("_callbacks", "_lock", "_state")

    _PENDING, _RUNNING, _DONE = 0, 1, 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[CallHandle], object]] = []
        self._state = self._PENDING

    def add_done_callback(self, callback: Callable[[CallHandle], object]) -> None:
        with self._lock:
            if self._state != self._DONE:
                self._callbacks.append(callback)
                return
        callback(self)

    def set_running_or_notify_cancel(self) -> bool:
        """Mark it running; False if it was cancelled first (then the work is skipped)."""
        with self._lock:
            if self._state == self._DONE:
                return False
            self._state = self._RUNNING
            return True

    def set_result(self, result: object) -> None:
        self._finish()

    def set_exception(self, exception: BaseException) -> None:
        self._finish()

    def cancel(self) -> bool:
        """Drop work that has not started (its done callbacks run); False once started."""
        with self._lock:
            if self._state != self._PENDING:
                return self._state == self._DONE
        self._finish()
        return True

    def _finish(self) -> None:
        with self._lock:
            self._state = self._DONE
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


_Work = tuple["futures.Future[Any] | CallHandle", Callable[[], Any]]


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
        self._put(future, functools.partial(fn, *args, **kwargs))
        return future

    def _put(self, handle: futures.Future[Any] | CallHandle, work: Callable[[], Any]) -> None:
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((handle, work))
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


class CallThreads(HandlerThreads):
    """``HandlerThreads`` for grpc's threaded server: ``submit`` returns a ``CallHandle``."""

    def submit(  # type: ignore[override]  # grpc needs only CallHandle's part of a Future
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> CallHandle:
        handle = CallHandle()
        self._put(handle, functools.partial(fn, *args, **kwargs))
        return handle
