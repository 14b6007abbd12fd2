"""Draining: what a graceful stop waits for, what it ends at once, and who was cut.

A graceful stop is grpc's own ``stop(grace)``: it refuses new calls at once and waits
for every call grpc has accepted, including those whose handler has not started yet
(grpc counts them from acceptance; nothing here guesses when a call is "about to"
start). Two kinds of stream never end on their own, though: a load balancer's health
``Watch`` and a tool's reflection stream. Waiting for them would hold every stop for
its whole grace period, so ``EndlessStreams`` ends them the moment the stop begins.
``InFlight`` names the working calls still running when the grace period is over,
for the log line that reports them cut: ``track`` counts every call of every service
the server installs (the Greeter's as any other), and times the sends of a threaded
response stream (``server._writes``).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import grpc.aio

from greeter.pipeline._handlers import rewrap_handler
from greeter.server._writes import StalledWrites

__all__ = [
    "AHEAD_OF_GRPC_SECONDS",
    "EndlessStreams",
    "InFlight",
    "RewrappedHandler",
    "track",
]

#: How long before the end of the grace period a stop names the calls still running,
#: so they are reported before grpc cancels them.
AHEAD_OF_GRPC_SECONDS = 0.05


class InFlight:
    """The working calls a server is running: which method, for which peer, since when."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[str, Callable[[], str], float]] = {}

    def add(self, method: str, peer: Callable[[], str]) -> int:
        """Record a call that starts now; returns the key to ``remove`` it with."""
        key = id(peer)
        self._calls[key] = (method, peer, time.monotonic())
        return key

    def remove(self, key: int) -> None:
        """Forget a call that has ended."""
        self._calls.pop(key, None)

    def __len__(self) -> int:
        return len(self._calls)

    def describe(self) -> list[str]:
        """One line per call still running: ``/helloworld.Greeter/SayHello from ... (3.2 s)``."""
        now = time.monotonic()
        return [
            f"{method} from {peer()} (running {now - started:.1f} s)"
            for method, peer, started in list(self._calls.values())
        ]


class EndlessStreams:
    """The open streams that never end on their own (health ``Watch``, reflection).

    ``wrap`` wraps their handlers so each open stream is known; ``end_all()``, at the
    start of a stop, ends every one of them, and any that starts later ends once it has
    started. A health ``Watch`` ends with OK after its last status (NOT_SERVING). On the
    threaded server a reflection stream, blocked reading its next request, is cancelled
    (``context.cancel()``); on the asyncio server the handler's task is cancelled and
    the stream ends with OK, or, if grpc.aio is sending one of its replies just then,
    it ends with OK once that reply is out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, Callable[[], object]] = {}
        self._ended = False

    def end_all(self) -> None:
        """End every open stream, and from now on every new one as it starts."""
        with self._lock:
            self._ended = True
            ends = list(self._open.values())
            self._open.clear()
        for end in ends:
            end()

    def _opened(self, key: int, end: Callable[[], object]) -> bool:
        """Record a stream that started; False if the stop has begun (end it now)."""
        with self._lock:
            if not self._ended:
                self._open[key] = end
                return True
        end()
        return False

    def _closed(self, key: int) -> None:
        with self._lock:
            self._open.pop(key, None)

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler``, its streams ended by ``end_all()`` (unary handlers are left alone)."""
        if not handler.response_streaming:
            return handler
        return rewrap_handler(handler, self._wrap_behavior, self._wrap_behavior)

    def _wrap_behavior(self, inner: Callable[..., Any]) -> Any:
        if inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner):
            return self._wrap_async(inner)

        def behavior(request: Any, context: grpc.ServicerContext, *callback: Any) -> Any:
            key = id(context)
            # A stream served by callbacks (the threaded health Watch, which grpc passes
            # its ``send_response_callback``) ends with OK after the replies it has
            # queued (NOT_SERVING); any other is cancelled.
            end = (lambda: callback[0](None)) if callback else context.cancel
            # Started first: a Watch that starts after the stop began still sends its
            # status before it ends.
            replies = inner(request, context, *callback)
            if self._opened(key, end) and not context.add_callback(lambda: self._closed(key)):
                self._closed(key)  # the call had ended already
            return replies

        # grpc serves the threaded health Watch by callbacks, without holding a thread,
        # when its behavior says so: keep saying it.
        for name in ("experimental_non_blocking", "experimental_thread_pool"):
            if hasattr(inner, name):
                setattr(behavior, name, getattr(inner, name))
        return behavior

    def _wrap_async(self, inner: Callable[..., Any]) -> Any:
        # Cancelling the task alone would leave the call open (grpc.aio sends no status
        # for a cancelled handler) until the grace period is over: the handler ends
        # with OK instead.
        if inspect.isasyncgenfunction(inner):

            async def replies(request: Any, context: Any) -> AsyncIterator[Any]:
                stream = _AsyncStream()
                key = self._opened_async(stream)
                responses = inner(request, context)
                try:
                    async for reply in responses:
                        stream.sending = True
                        yield reply
                        stream.sending = False
                        if stream.ended:
                            return
                except asyncio.CancelledError:
                    if not self._taken_back():
                        raise
                finally:
                    self._closed(key)
                    await responses.aclose()

            return replies

        async def behavior(request: Any, context: Any) -> Any:
            key = self._opened_async()
            try:
                return await inner(request, context)
            except asyncio.CancelledError:
                if not self._taken_back():
                    raise
                return None
            finally:
                self._closed(key)

        return behavior

    def _opened_async(self, stream: _AsyncStream | None = None) -> int:
        task = asyncio.current_task()
        assert task is not None, "grpc.aio runs each call in a task"
        loop = task.get_loop()

        def end() -> None:
            if stream is not None and stream.sending:
                # grpc.aio is sending a reply: cancelled now, its call would be left
                # open until the grace period is over. It ends once that reply is out.
                stream.ended = True
            else:
                task.cancel()

        # Ended after the steps already scheduled (on the loop, where ``sending``
        # changes): a health Watch woken to send NOT_SERVING sends it first.
        self._opened(id(task), lambda: loop.call_soon_threadsafe(end))
        return id(task)

    def _taken_back(self) -> bool:
        """Whether a stream's cancellation came from the stop; if so, it is withdrawn."""
        if not self._ended:
            return False
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):  # Python 3.11 on
            task.uncancel()
        return True


class _AsyncStream:
    """Where an asyncio stream's replies stand, for ``EndlessStreams`` to end it."""

    __slots__ = ("ended", "sending")

    def __init__(self) -> None:
        self.sending = False  # a reply is with grpc.aio, being sent
        self.ended = False  # the stop has begun: end after that reply


class RewrappedHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are wrapped as they are found.

    ``rewrap(handler, method)`` gives the handler to serve: ``track`` counts a service's
    calls as in flight; ``EndlessStreams.wrap`` ends health and reflection
    streams when a stop begins. Threaded and asyncio handlers alike.
    """

    def __init__(
        self,
        handler: grpc.GenericRpcHandler,
        rewrap: Callable[[grpc.RpcMethodHandler[Any, Any], str], grpc.RpcMethodHandler[Any, Any]],
    ) -> None:
        self._handler = handler
        self._rewrap = rewrap

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._handler.service(handler_call_details)
        if handler is None:
            return None
        return self._rewrap(handler, handler_call_details.method)


def track(
    handler: grpc.RpcMethodHandler[Any, Any],
    method: str,
    in_flight: InFlight,
    writes: StalledWrites | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler, counting each of its calls in ``in_flight`` while it runs.

    With ``writes``, each response a native stream sends is timed, and a stream whose
    client takes none for too long is cancelled (a web call's sends are its port's).
    """

    def unary_response(inner: Callable[..., Any]) -> Any:
        if inspect.iscoroutinefunction(inner):

            async def behavior_async(request: Any, context: Any) -> Any:
                key = in_flight.add(method, context.peer)
                try:
                    return await inner(request, context)
                finally:
                    in_flight.remove(key)

            return behavior_async

        def behavior(request: Any, context: Any) -> Any:
            key = in_flight.add(method, context.peer)
            try:
                return inner(request, context)
            finally:
                in_flight.remove(key)

        return behavior

    def stream_response(inner: Callable[..., Any]) -> Any:
        if inspect.isasyncgenfunction(inner):

            async def replies_async(request: Any, context: Any) -> AsyncIterator[Any]:
                key = in_flight.add(method, context.peer)
                replies = inner(request, context)
                try:
                    if writes is None:
                        async for reply in replies:
                            yield reply
                        return
                    # Timed here, not in a generator of its own (one layer less per
                    # reply): grpc.aio sends each between this ``yield`` and the resume.
                    cancel = writes.task_canceller()
                    async for reply in replies:
                        ticket = writes.begin(cancel)
                        try:
                            yield reply
                        finally:
                            writes.end(ticket)
                finally:
                    in_flight.remove(key)
                    # The stream's own finally blocks run now, not when it is collected
                    # (``async for`` leaves it open; the threaded ``yield from`` closes it).
                    await replies.aclose()

            return replies_async
        if inspect.iscoroutinefunction(inner):
            # It sends its replies with ``await context.write()``: that call is timed.
            if writes is None:
                return unary_response(inner)
            timed_writes = writes

            async def written_timed(request: Any, context: Any) -> Any:
                return await inner(request, timed_writes.timed_context(context))

            return unary_response(written_timed)

        def replies(request: Any, context: Any) -> Iterator[Any]:
            key = in_flight.add(method, context.peer)
            try:
                # A native call's sends are timed; a web call's (no cancel) are its port's.
                cancel = getattr(context, "cancel", None)
                if writes is None or cancel is None:
                    yield from inner(request, context)
                else:
                    yield from writes.timed(inner(request, context), cancel)
            finally:
                in_flight.remove(key)

        return replies

    return rewrap_handler(handler, unary_response, stream_response)
