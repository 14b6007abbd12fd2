"""Admission: which calls a threaded server runs now, queues, or refuses.

grpc's tutorial server queues every call it cannot run at once, without bound, so a call
can wait out its whole deadline unseen behind stuck handlers. Capping calls in progress
at the thread count (grpc's ``maximum_concurrent_rpcs``) refuses ordinary bursts that
the server would have served within milliseconds. The rules here sit between the two,
as tower's load-shed layer and HAProxy's ``timeout queue`` do:

* A call runs at once on a free thread.
* Otherwise it queues, first come first served, while fewer than
  ``ServerConfig.max_queued_calls`` wait; beyond that it is refused at once.
* A queued call with a deadline waits for a thread at most
  ``ServerConfig.max_queue_wait_share`` of the time its deadline left it; then it is
  refused, with the rest of its time left to the client to retry elsewhere. A call
  without a deadline waits as long as it takes, as on grpc's own server.

A call whose metadata is over grpc's limit (16 KiB) is refused the same way on both
servers: grpc core skips that limit on a connection's first request.

A call to a method that takes one request must carry one. grpc reads that request itself
and does not answer well when there is none (an empty body, or a message cut short
before the client ended the stream): the threaded server says UNIMPLEMENTED, the
asyncio server never answers and keeps what the call held. So the outermost interceptor
of both servers serves such a method as a request stream and reads its one request
itself: none is INVALID_ARGUMENT, at once. The interceptors inside it, the hooks and the
service still see a unary method.

A refused call ends with ``RESOURCE_EXHAUSTED`` before any of the service's code runs.
The queue (``greeter.server._executor``) cannot end a call by itself: it runs the call's first
step under ``refusing()``, and ``AdmissionInterceptor`` (the outermost interceptor of
every threaded server) ends it there. Each handler thread, the port and the client see
the same refusal, logged by the access log and counted by the metrics like any status.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import grpc
import grpc.aio

from greeter.pipeline._handlers import (
    AsyncHandlerInterceptor,
    HandlerInterceptor,
    rewrap_handler,
)

__all__ = [
    "MAX_METADATA_BYTES",
    "NO_REQUEST_DETAILS",
    "AdmissionInterceptor",
    "AsyncAdmissionInterceptor",
    "call_deadline",
    "refusal",
    "refusing",
]

#: grpc's "no deadline": an infinite future, seen as a time far away.
_NO_DEADLINE_AFTER_SECONDS = 1e8
#: The most request metadata a call may carry, counted as HPACK does (name, value and 32
#: bytes per entry): grpc core's own hard limit, unless the server's options set one.
MAX_METADATA_BYTES = 16 * 1024
_METADATA_LIMIT_OPTIONS = ("grpc.absolute_max_metadata_size", "grpc.max_metadata_size")


#: What a client hears when its call to a one-request method carried no whole request.
NO_REQUEST_DETAILS = "the call carried no request message (an empty or truncated body)"

#: ``next()``'s default: the request stream ended with no request in it.
_NO_REQUEST = object()

# Generic only in grpc's type stubs, so a string here.
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class _Refusal(threading.local):
    details: str | None = None


_refusal = _Refusal()


@contextlib.contextmanager
def refusing(details: str) -> Iterator[None]:
    """Within the block, a call starting on this thread is refused with ``details``."""
    _refusal.details = details
    try:
        yield
    finally:
        _refusal.details = None


def refusal() -> str | None:
    """Why a call starting now on this thread is refused; ``None`` if it is not."""
    return _refusal.details


def call_deadline(work_arguments: tuple[Any, ...]) -> float | None:
    """The deadline (``time.monotonic()``) of the call grpc submits to its thread pool.

    grpc's threaded server submits each call with the event that announced it, whose
    ``call_details.deadline`` (wall-clock time) is what ``ServicerContext.time_remaining``
    reads. ``None`` for a call without a deadline, or if grpc passes no such event.
    """
    for argument in work_arguments:
        deadline = getattr(getattr(argument, "call_details", None), "deadline", None)
        if isinstance(deadline, float):
            remaining = deadline - time.time()
            if remaining > _NO_DEADLINE_AFTER_SECONDS:
                return None
            return time.monotonic() + remaining
    return None


def metadata_limit(options: Sequence[tuple[str, object]]) -> int:
    """The metadata limit the server's raw channel ``options`` set, or grpc's default."""
    for name, value in options:
        if name in _METADATA_LIMIT_OPTIONS and isinstance(value, int):
            return value
    return MAX_METADATA_BYTES


def _oversized(metadata: Sequence[tuple[str, str | bytes]], limit: int) -> str | None:
    size = 0
    for key, value in metadata:
        size += len(key) + len(value) + 32
    if size <= limit:
        return None
    return f"request metadata of {size} bytes is over the server's limit of {limit}"


def _refusing_with(details: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, details)

        return behavior

    return wrap


def _refusing_with_async(details: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, details)

        return behavior

    return wrap


def _refuse_if_told(context: grpc.ServicerContext) -> None:
    details = _refusal.details
    if details is not None:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, details)


def _admitted(inner: Callable[..., Any]) -> Callable[..., Any]:
    def behavior(request: Any, context: grpc.ServicerContext, *send: Any) -> Any:
        _refuse_if_told(context)
        return inner(request, context, *send)  # a stream's iterator is handed on, as it is

    # A reply stream fed through a ``send`` callback (health's Watch) stays one.
    if getattr(inner, "experimental_non_blocking", False):
        behavior.experimental_non_blocking = True  # type: ignore[attr-defined]
    return behavior


def _one_request_admitted(inner: Callable[..., Any]) -> Callable[..., Any]:
    """``_admitted``, for a one-request method served as a request stream."""

    def behavior(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        _refuse_if_told(context)
        request = next(requests, _NO_REQUEST)
        if request is _NO_REQUEST:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, NO_REQUEST_DETAILS)
        return inner(request, context)

    return behavior


def _reading_one_request(
    handler: _Handler, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> _Handler | None:
    """``handler`` served as a request stream whose one request ``wrap``'s behavior reads,
    or ``None`` if its method streams requests already (or sends through a callback)."""
    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.unary_unary), **serializers)
    stream = handler.unary_stream
    if stream is None or getattr(stream, "experimental_non_blocking", False):
        return None
    return grpc.stream_stream_rpc_method_handler(wrap(stream), **serializers)


def _admitting(handler: _Handler) -> _Handler:
    return _reading_one_request(handler, _one_request_admitted) or rewrap_handler(
        handler, _admitted, _admitted
    )


async def _one_request(context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    request = await context.read()
    if request is grpc.aio.EOF:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, NO_REQUEST_DETAILS)
    return request


def _one_request_async(inner: Callable[..., Any]) -> Callable[..., Any]:
    """``inner``, for a one-request method served as a request stream on the asyncio server.

    grpc.aio serves a reply stream from an async generator function, or from a coroutine
    function that writes its replies: the behavior is of the same kind as ``inner``.
    """
    if inspect.isasyncgenfunction(inner):

        async def replies(_requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async for reply in inner(await _one_request(context), context):
                yield reply

        return replies

    async def behavior(_requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return await inner(await _one_request(context), context)

    return behavior


class _Remembered:
    """Handlers wrapped once each: registered handlers are the same objects call after
    call, so wrapping each once spares every call a handler and a closure."""

    #: How many distinct handlers to remember wrapped (a generic handler may make a new
    #: one per call: those are wrapped per call instead).
    _REMEMBERED = 1024

    def __init__(self, wrap: Callable[[_Handler], _Handler]) -> None:
        self._wrap = wrap
        self._wrapped: dict[int, tuple[_Handler, _Handler]] = {}

    def __call__(self, handler: _Handler) -> _Handler:
        remembered = self._wrapped.get(id(handler))
        if remembered is not None and remembered[0] is handler:
            return remembered[1]
        wrapped = self._wrap(handler)
        if len(self._wrapped) < self._REMEMBERED:
            self._wrapped[id(handler)] = (handler, wrapped)
        return wrapped


class AdmissionInterceptor(HandlerInterceptor):
    """Ends a call that the queue refused, before any handler or hook sees it, and reads
    the one request of a one-request method itself."""

    def __init__(self, max_metadata_bytes: int = MAX_METADATA_BYTES, *, remember: bool) -> None:
        self._max_metadata_bytes = max_metadata_bytes
        # Not when other interceptors follow (hooks): they make a handler per call, and
        # remembering those would keep the first calls' details alive.
        self._admit = _Remembered(_admitting) if remember else _admitting

    def wrap(self, handler: _Handler, details: grpc.HandlerCallDetails) -> _Handler:
        oversized = _oversized(details.invocation_metadata, self._max_metadata_bytes)
        if oversized is not None:
            refuse = _refusing_with(oversized)
            return rewrap_handler(handler, refuse, refuse)
        return self._admit(handler)


class AsyncAdmissionInterceptor(AsyncHandlerInterceptor):
    """Refuses, on the asyncio server, a call whose metadata is over the limit, and reads
    the one request of a one-request method itself."""

    def __init__(self, max_metadata_bytes: int = MAX_METADATA_BYTES, *, remember: bool) -> None:
        self._max_metadata_bytes = max_metadata_bytes
        admit = _one_request_admitting_async
        self._admit = _Remembered(admit) if remember else admit

    def wrap(self, handler: _Handler, details: grpc.HandlerCallDetails) -> _Handler:
        oversized = _oversized(details.invocation_metadata, self._max_metadata_bytes)
        if oversized is not None:
            refuse = _refusing_with_async(oversized)
            return rewrap_handler(handler, refuse, refuse)
        return self._admit(handler)


def _one_request_admitting_async(handler: _Handler) -> _Handler:
    # grpc.aio runs a plain ``def`` behavior on a thread, reading requests its own way:
    # only coroutine and async generator behaviors are served as request streams.
    behavior = handler.unary_unary or handler.unary_stream
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
        return handler
    return _reading_one_request(handler, _one_request_async) or handler
