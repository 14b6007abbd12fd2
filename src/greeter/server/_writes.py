"""Replies a client does not take: a reply stream whose send makes no progress is cut.

grpc's threaded server sends a stream's replies from the handler's thread, and waits for
each send while the client's flow-control window is shut. A client that opens streams
and never reads them would hold one handler thread each (and the replies grpc buffers
for them) for as long as its connection stays open. ``StalledWrites`` times each reply's
send; one that has not gone out after ``ServerConfig.write_timeout_seconds`` gets its
call cancelled, which frees the thread and the buffers, and is logged once per window.

On the asyncio server the same timer cancels the call's task instead: the handler ends
(its ``finally`` blocks run) and holds nothing more. A handler that sends with ``await
context.write(reply)`` instead of ``yield`` gets a ``TimedWrites`` context, whose
``write()`` is timed alike. grpc.aio gives a handler no way to cancel its call, so grpc
keeps the replies it has buffered for that stream until the client's connection closes.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from greeter._logging import REPEAT_WINDOW_SECONDS

__all__ = ["StalledWrites", "TimedWrites"]

logger = logging.getLogger("greeter.server")

_Response = TypeVar("_Response")


class StalledWrites:
    """The reply sends under way, and a thread that cancels those that stall."""

    def __init__(self, timeout_seconds: float, name: str) -> None:
        self._timeout = timeout_seconds
        self._name = name
        self._tickets = itertools.count()
        # ticket -> (when the send began, how to cancel its call). Single dict operations
        # need no lock under the GIL; the watcher reads a copy.
        self._sending: dict[int, tuple[float, Callable[[], object]]] = {}
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._cut_unreported = 0
        self._reported_at = float("-inf")

    def begin(self, cancel: Callable[[], object]) -> int:
        """A reply's send begins; returns the ticket to ``end`` it with."""
        ticket = next(self._tickets)
        self._sending[ticket] = (time.monotonic(), cancel)
        if self._watcher is None:
            self._start_watching()
        return ticket

    def end(self, ticket: int) -> None:
        """The send is over (or the stream ended)."""
        self._sending.pop(ticket, None)

    def timed(
        self, responses: Iterator[_Response], cancel: Callable[[], object]
    ) -> Iterator[_Response]:
        """``responses``, each one's send timed: ``cancel`` ends the call if one stalls.

        grpc sends a response between this generator's ``yield`` and its next resume.
        """
        try:
            for response in responses:
                ticket = self.begin(cancel)
                try:
                    yield response
                finally:
                    self.end(ticket)
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                close()  # the stream's own finally blocks run now, not when collected

    def timed_context(self, context: Any) -> TimedWrites:
        """``context`` of an asyncio call, its ``write()`` timed: for a handler that
        sends its replies with ``await context.write()`` rather than ``yield``."""
        return TimedWrites(context, self, self.task_canceller())

    @staticmethod
    def task_canceller() -> Callable[[], object]:
        """How ``begin`` cancels an asyncio call: its task (the current one), from the
        watcher's thread. The call's stream times its sends itself (``server._drain``),
        with no generator between grpc and its replies."""
        task = asyncio.current_task()
        assert task is not None, "grpc.aio runs each call in a task"
        return functools.partial(task.get_loop().call_soon_threadsafe, task.cancel)

    def close(self) -> None:
        """Stop watching (the server has stopped)."""
        self._closed.set()

    def _start_watching(self) -> None:
        with self._start_lock:
            if self._watcher is None and not self._closed.is_set():
                self._watcher = threading.Thread(
                    target=self._watch, name=f"{self._name}-writes", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        while not self._closed.wait(self._timeout / 4):
            now = time.monotonic()
            for ticket, (since, cancel) in self._sending.copy().items():
                if now - since >= self._timeout:
                    self._sending.pop(ticket, None)
                    cancel()
                    self._cut_unreported += 1
            if self._cut_unreported and now - self._reported_at >= REPEAT_WINDOW_SECONDS:
                logger.warning(
                    "Cancelled %d stream(s) whose client took no reply for %.0f s",
                    self._cut_unreported,
                    self._timeout,
                )
                self._cut_unreported, self._reported_at = 0, now


class TimedWrites:
    """A grpc.aio servicer context whose ``write()`` is timed by ``StalledWrites``; every
    other attribute is the context's own. A raw servicer's stream that writes instead of
    yielding (``await context.write(reply)``) is cut when a send stalls, as a yielded
    one is."""

    __slots__ = ("_cancel", "_context", "_writes")

    def __init__(self, context: Any, writes: StalledWrites, cancel: Callable[[], object]) -> None:
        self._context = context
        self._writes = writes
        self._cancel = cancel

    async def write(self, message: Any) -> None:
        ticket = self._writes.begin(self._cancel)
        try:
            await self._context.write(message)
        finally:
            self._writes.end(ticket)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
