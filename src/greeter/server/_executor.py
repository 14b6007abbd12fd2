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

Work that finds every thread busy waits in a queue, which admission bounds
(``greeter.server._admission``): a thread that finishes takes the oldest waiting work, and an
admission thread refuses the calls that have waited too long or find the queue full.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from greeter._logging import REPEAT_WINDOW_SECONDS
from greeter.errors import ResourceExhausted
from greeter.server._admission import call_deadline, refusing

if TYPE_CHECKING:
    from greeter.server._config import ServerConfig

__all__ = ["CallHandle", "CallThreads", "HandlerThreads", "handler_threads"]

logger = logging.getLogger("greeter.server")

#: Bounds on how long one refusal is taken to last, when planning when to start them.
_MIN_REFUSAL_SECONDS, _MAX_REFUSAL_SECONDS = 0.0002, 0.005

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Threads = TypeVar("_Threads", bound="HandlerThreads")


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


class _Waiting:
    """A call (or a step of one) waiting for a thread: since when, and until when."""

    __slots__ = ("expires", "handle", "since", "work")

    def __init__(
        self, handle: futures.Future[Any] | CallHandle, work: Callable[[], Any], expires: float
    ) -> None:
        self.handle = handle
        self.work = work
        self.since = time.monotonic()
        self.expires = expires


class HandlerThreads(futures.Executor):
    """A pool of up to ``max_workers`` daemon threads, started as work arrives.

    Work that finds every thread busy waits, first come first served. ``submit`` is for
    a step of a call already admitted, and always waits its turn; ``submit_call`` is for
    a new call, which admission may refuse (``greeter.server._admission`` says when): then its
    future fails with ``ResourceExhausted`` and its work never runs.
    """

    def __init__(
        self,
        max_workers: int,
        name: str,
        *,
        max_queued_calls: int | None = None,
        max_queue_wait_share: float = 1.0,
    ) -> None:
        self._max_workers = max_workers
        self._name = name
        self._max_queued_calls = max_queued_calls
        self._max_queue_wait_share = max_queue_wait_share
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._shut_down = False
        self._waiting: deque[_Waiting] = deque()
        self._refused: list[tuple[_Waiting, str]] = []
        self._watchdog: threading.Thread | None = None
        self._watchdog_wakes_at = math.inf
        self._wake_watchdog = threading.Event()
        self._refusals_unreported = 0
        self._reported_at = -math.inf
        self._refusal_seconds = _MIN_REFUSAL_SECONDS * 5

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> futures.Future[_T]:
        future: futures.Future[_T] = futures.Future()
        self._put(future, functools.partial(fn, *args, **kwargs))
        return future

    def submit_call(
        self, deadline: float | None, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> futures.Future[_T]:
        """Submit a new call's first step; ``deadline`` is ``time.monotonic()``-based."""
        future: futures.Future[_T] = futures.Future()
        self._put(future, functools.partial(fn, *args, **kwargs), lambda: deadline)
        return future

    def _put(
        self,
        handle: futures.Future[Any] | CallHandle,
        work: Callable[[], Any],
        deadline: Callable[[], float | None] | None = None,
    ) -> None:
        """Run ``work`` on a thread; ``deadline`` (for a new call) makes it subject to
        admission, and is asked only if the call has to wait."""
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new work after shutdown")
            if self._idle:
                self._idle -= 1
                self._work.put((handle, work))
                return
            if len(self._threads) < self._max_workers:
                self._work.put((handle, work))
                thread = threading.Thread(
                    target=self._run,
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
                return
            self._wait(handle, work, deadline)

    def _wait(
        self,
        handle: futures.Future[Any] | CallHandle,
        work: Callable[[], Any],
        deadline: Callable[[], float | None] | None,
    ) -> None:
        """Queue work that found every thread busy, or refuse it (holding ``_lock``)."""
        expires = math.inf
        if deadline is not None:
            if self._max_queued_calls is not None and len(self._waiting) >= self._max_queued_calls:
                waiting = _Waiting(handle, work, expires)
                self._refused.append((waiting, _queue_full(len(self._waiting))))
                self._wake_watchdog_now()
                return
            ends = deadline()
            if ends is not None:
                now = time.monotonic()
                expires = now + max(0.0, ends - now) * self._max_queue_wait_share
        self._waiting.append(_Waiting(handle, work, expires))
        # It may bring the start of refusals forward (see ``_due``).
        if expires - len(self._waiting) * self._refusal_seconds < self._watchdog_wakes_at:
            self._wake_watchdog_now()

    def _wake_watchdog_now(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name=f"{self._name}-admission", daemon=True
            )
            self._watchdog.start()
        self._watchdog_wakes_at = -math.inf
        self._wake_watchdog.set()

    def _watch(self) -> None:
        """Refuse the calls that waited their share of their deadline, or found it full.

        Refusing takes time (grpc's own code answers each call), and calls that came
        in a burst expire together: so each is refused early enough for all of them to
        be answered by their expiry, at the pace refusals have been going.
        """
        while True:
            self._wake_watchdog.clear()
            with self._lock:
                if self._shut_down:
                    return
                now = time.monotonic()
                refused, self._refused = self._refused, []
                due, wakes_at = self._due(now)
                if due:
                    self._waiting = deque(w for w in self._waiting if w not in due)
                    refused += [(waiting, self._too_long(waiting, now)) for waiting in due]
                self._watchdog_wakes_at = wakes_at
            started = time.monotonic()
            for waiting, details in refused:
                self._refuse(waiting, details)
            if refused:
                each = (time.monotonic() - started) / len(refused)
                self._refusal_seconds = min(_MAX_REFUSAL_SECONDS, max(_MIN_REFUSAL_SECONDS, each))
            self._report_refusals(len(refused), now)
            del refused
            timeout = None if wakes_at == math.inf else max(0.0, wakes_at - time.monotonic())
            self._wake_watchdog.wait(timeout)

    def _due(self, now: float) -> tuple[set[_Waiting], float]:
        """The waiting calls to refuse now, and when the next refusals must start.

        Refused in order of expiry, the k-th call is answered about k refusals after
        the first begins; so the refusals must begin by the earliest of "expiry minus
        k refusals" over the calls, and then the calls up to that one go together.
        """
        ordered = sorted(
            (w for w in self._waiting if w.expires != math.inf), key=lambda w: w.expires
        )
        starts_by, last = math.inf, 0
        for place, waiting in enumerate(ordered, start=1):
            latest_start = waiting.expires - place * self._refusal_seconds
            if latest_start <= starts_by:
                starts_by, last = latest_start, place
        if starts_by > now:
            return set(), starts_by
        due = set(ordered[:last])
        rest = ordered[last:]
        later = min(
            (w.expires - place * self._refusal_seconds for place, w in enumerate(rest, 1)),
            default=math.inf,
        )
        return due, later

    def _report_refusals(self, count: int, now: float) -> None:
        """Log how many calls were refused: once per window, however many there were."""
        self._refusals_unreported += count
        if not self._refusals_unreported or now - self._reported_at < REPEAT_WINDOW_SECONDS:
            return
        logger.warning(
            "Refused %d call(s) with RESOURCE_EXHAUSTED: all %d handler threads were busy "
            "and the calls could not wait (the queue was full, or the calls waited their "
            "share of their deadline)",
            self._refusals_unreported,
            self._max_workers,
        )
        self._refusals_unreported, self._reported_at = 0, now

    def _too_long(self, waiting: _Waiting, now: float) -> str:
        return (
            f"server busy: no handler thread was free within {now - waiting.since:.2f} s "
            f"({self._max_queue_wait_share:.0%} of the time the call's deadline left it)"
        )

    def _refuse(self, waiting: _Waiting, details: str) -> None:
        """End a refused call without running its work (here: fail its future)."""
        if waiting.handle.set_running_or_notify_cancel():
            waiting.handle.set_exception(ResourceExhausted(details))

    def _run(self) -> None:
        work = self._work.get()
        while work is not None:
            future, run = work
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(run())
                except BaseException as exc:
                    future.set_exception(exc)
            del work, future, run  # drop references before waiting for more
            with self._lock:
                if self._waiting:
                    waiting = self._waiting.popleft()
                    work = (waiting.handle, waiting.work)
                    continue
                self._idle += 1
            work = self._work.get()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``wait``, join the threads (handlers may be stuck)."""
        with self._lock:
            self._shut_down = True
            if cancel_futures:
                for waiting in self._waiting:
                    waiting.handle.cancel()
                self._waiting.clear()
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        work[0].cancel()
            for _ in self._threads:
                self._work.put(None)
            self._wake_watchdog.set()
        if wait:
            for thread in self._threads:
                thread.join()


def _queue_full(waiting: int) -> str:
    return f"server busy: {waiting} calls already wait for a handler thread"


class CallThreads(HandlerThreads):
    """``HandlerThreads`` for grpc's threaded server: ``submit`` returns a ``CallHandle``.

    grpc submits each new call once, so every ``submit`` here is subject to admission.
    A refused call still runs, on the admission thread, under ``refusing()``: grpc's own
    code around the handler then answers ``RESOURCE_EXHAUSTED`` through
    ``AdmissionInterceptor`` before the handler (or a hook) runs.
    """

    def submit(  # type: ignore[override]  # grpc needs only CallHandle's part of a Future
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> CallHandle:
        handle = CallHandle()
        self._put(handle, functools.partial(fn, *args, **kwargs), lambda: call_deadline(args))
        return handle

    def _refuse(self, waiting: _Waiting, details: str) -> None:
        handle = waiting.handle
        if handle.set_running_or_notify_cancel():
            with refusing(details):
                try:
                    waiting.work()
                finally:
                    handle.set_result(None)


def handler_threads(config: ServerConfig, name: str, kind: type[_Threads]) -> _Threads:
    """``max_workers`` threads of ``kind``, admitting calls as ``config`` says."""
    return kind(
        config.max_workers,
        name,
        max_queued_calls=config.max_queued_calls,
        max_queue_wait_share=config.max_queue_wait_share,
    )
