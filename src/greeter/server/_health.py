"""The gRPC health service (``grpc.health.v1.Health``): Check, Watch and List.

Load balancers and Kubernetes' gRPC probes ask it whether to route calls here. A
server reports ``SERVING`` for the empty name (the whole server) and every service it
carries once it has started, and ``NOT_SERVING`` for all of them the moment it begins
to stop, before it refuses calls, so traffic is moved away while calls still drain.
Once the working calls have drained, ``end_watches()`` ends every ``Watch`` stream
(status OK), so that no watcher holds the server open.

Served from the build's own ``greeter/_proto/health.proto`` on grpcio's public API, not
from grpcio-health-checking: that package requires a grpcio as new as itself, so
installing greeter would upgrade an existing project's grpcio. A ``Watch`` on the
threaded server holds no worker thread: grpc's server calls it with a callback to send
replies through (``experimental_non_blocking``), and the status changes are sent from
whichever thread makes them. An interceptor that wraps the handler hides that callback;
the watch then falls back to a reply iterator, which does hold a thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import DecodeError, Message

from greeter._proto.health_pb2 import (
    HealthCheckRequest,
    HealthCheckResponse,
    HealthListRequest,
    HealthListResponse,
)

__all__ = [
    "HEALTH_CHECK_CODECS",
    "HEALTH_CHECK_METHOD",
    "HEALTH_SERVICE",
    "AsyncHealth",
    "Health",
    "HealthCheckRequest",
    "HealthCheckResponse",
]

#: The full name of the health service.
HEALTH_SERVICE = "grpc.health.v1.Health"
#: The health service's one-shot check, as a client calls it.
HEALTH_CHECK_METHOD = f"/{HEALTH_SERVICE}/Check"
#: The health check's message codecs, as ``channel.unary_unary(HEALTH_CHECK_METHOD, ...)``
#: takes them.
HEALTH_CHECK_CODECS: dict[str, Any] = {
    "request_serializer": HealthCheckRequest.SerializeToString,
    "response_deserializer": HealthCheckResponse.FromString,
}
#: ``List`` answers RESOURCE_EXHAUSTED past this many services, as the protocol asks.
MAXIMUM_LISTED = 100

_Status: TypeAlias = HealthCheckResponse.ServingStatus.ValueType
_SERVING = HealthCheckResponse.SERVING
_NOT_SERVING = HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN = HealthCheckResponse.SERVICE_UNKNOWN

_Message = TypeVar("_Message", bound=Message)

#: Sends one reply to a watcher; ``None`` ends its stream.
_Send = Callable[[HealthCheckResponse | None], object]


@dataclass(eq=False, slots=True)  # each watcher is its own (a set holds them)
class _Watcher:
    """One open ``Watch``: the service it watches and the last status it was sent."""

    service: str
    send: _Send
    last: _Status | None = None


class _Statuses:
    """The statuses a server reports, and the watchers told of each change.

    Replies are sent outside ``_lock``: grpc's threaded server runs a call's done
    callbacks (``forget``) on its own thread while a send from here waits for that
    thread. ``_publishing`` keeps the replies to one watcher in the order of the
    changes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._publishing = threading.Lock()
        self._statuses: dict[str, _Status] = {}
        self._watchers: set[_Watcher] = set()
        self._stopping = False
        self._watches_ended = False

    def check(self, service: str) -> _Status | None:
        with self._lock:
            return self._statuses.get(service)

    def listed(self) -> dict[str, _Status]:
        with self._lock:
            return dict(self._statuses)

    def set(self, services: Iterable[str], status: _Status, *, for_good: bool = False) -> None:
        with self._publishing:
            with self._lock:
                if self._stopping:
                    return
                self._stopping = for_good
                for service in services:
                    self._statuses[service] = status
                watchers = list(self._watchers)
            for watcher in watchers:
                self._send_status(watcher)

    def set_all(self, status: _Status) -> None:
        """Report ``status`` for every service known, for good."""
        with self._lock:
            services = list(self._statuses) or [""]
        self.set(services, status, for_good=True)

    def watch(self, service: str, send: _Send) -> _Watcher:
        """Register a watcher and send it the current status (ending it if watches ended)."""
        watcher = _Watcher(service, send)
        with self._publishing:
            with self._lock:
                ended = self._watches_ended
                if not ended:
                    self._watchers.add(watcher)
            self._send_status(watcher)
            if ended:
                send(None)
        return watcher

    def forget(self, watcher: _Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def end_watches(self) -> None:
        with self._publishing:
            with self._lock:
                self._watches_ended = True
                watchers, self._watchers = self._watchers, set()
            for watcher in watchers:
                watcher.send(None)

    def _send_status(self, watcher: _Watcher) -> None:
        status = self.check(watcher.service)
        status = _SERVICE_UNKNOWN if status is None else status
        if status != watcher.last:
            watcher.last = status
            watcher.send(HealthCheckResponse(status=status))


def _parsed(message_type: type[_Message], data: bytes) -> _Message | None:
    """``data`` parsed, or ``None`` if it is not a ``message_type`` (the caller answers
    INVALID_ARGUMENT: grpc's own deserializer would answer INTERNAL and log a traceback)."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        return None


def _serialized(message: Message) -> bytes:
    return message.SerializeToString()


_MALFORMED = "the request is not a valid {}"
#: Replies are messages; requests arrive as bytes, parsed by ``_parsed``.
_SERIALIZER: dict[str, Any] = {"response_serializer": _serialized}


def _list_response(statuses: _Statuses) -> HealthListResponse | None:
    listed = statuses.listed()
    if len(listed) > MAXIMUM_LISTED:
        return None
    return HealthListResponse(
        statuses={name: HealthCheckResponse(status=status) for name, status in listed.items()}
    )


class _Watch:
    """``Watch`` on the threaded server. grpc calls it with ``send`` when it sees
    ``experimental_non_blocking``: the call then holds no worker thread. Called without
    (through an interceptor that wraps handlers), it returns a reply iterator."""

    experimental_non_blocking = True

    def __init__(self, statuses: _Statuses) -> None:
        self._statuses = statuses

    def __call__(
        self, data: bytes, context: grpc.ServicerContext, send: _Send | None = None
    ) -> Iterator[HealthCheckResponse] | None:
        request = _parsed(HealthCheckRequest, data)
        if request is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthCheckRequest"))
        if send is not None:
            watcher = self._statuses.watch(request.service, send)
            if not context.add_callback(lambda: self._statuses.forget(watcher)):
                self._statuses.forget(watcher)  # the call has already ended
            return None
        replies: queue.SimpleQueue[HealthCheckResponse | None] = queue.SimpleQueue()
        watcher = self._statuses.watch(request.service, replies.put)

        def on_done() -> None:
            self._statuses.forget(watcher)
            replies.put(None)

        if not context.add_callback(on_done):
            on_done()  # the call has already ended
        return iter(replies.get, None)


class Health:
    """The health service on the threaded server."""

    def __init__(self, server: grpc.Server) -> None:
        self._statuses = _Statuses()
        handlers = {
            "Check": grpc.unary_unary_rpc_method_handler(self._check, **_SERIALIZER),
            "List": grpc.unary_unary_rpc_method_handler(self._list, **_SERIALIZER),
            "Watch": grpc.unary_stream_rpc_method_handler(_Watch(self._statuses), **_SERIALIZER),
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(HEALTH_SERVICE, handlers),)
        )

    def serving(self, services: Iterable[str]) -> None:
        """Report ``SERVING`` for the server as a whole and for each of ``services``."""
        self._statuses.set(("", *services), _SERVING)

    def stopping(self) -> None:
        """Report ``NOT_SERVING`` for everything, for good (watchers hear it at once)."""
        self._statuses.set_all(_NOT_SERVING)

    def end_watches(self) -> None:
        """End every open ``Watch`` stream with status OK; later watches end at once.

        Call it once a graceful stop has drained the working calls: watches never end
        on their own, and a client that sees its stream end reconnects elsewhere.
        """
        self._statuses.end_watches()

    def _check(self, data: bytes, context: grpc.ServicerContext) -> HealthCheckResponse:
        request = _parsed(HealthCheckRequest, data)
        if request is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthCheckRequest"))
        status = self._statuses.check(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return HealthCheckResponse(status=status)

    def _list(self, data: bytes, context: grpc.ServicerContext) -> HealthListResponse:
        if _parsed(HealthListRequest, data) is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthListRequest"))
        response = _list_response(self._statuses)
        if response is None:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many services to list")
        return response


class AsyncHealth:
    """The health service on the asyncio server (its methods run on the server's loop)."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._statuses = _Statuses()
        handlers = {
            "Check": grpc.unary_unary_rpc_method_handler(self._check, **_SERIALIZER),
            "List": grpc.unary_unary_rpc_method_handler(self._list, **_SERIALIZER),
            "Watch": grpc.unary_stream_rpc_method_handler(self._watch, **_SERIALIZER),
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(HEALTH_SERVICE, handlers),)
        )

    async def serving(self, services: Iterable[str]) -> None:
        """Report ``SERVING`` for the server as a whole and for each of ``services``."""
        self._statuses.set(("", *services), _SERVING)

    async def stopping(self) -> None:
        """Report ``NOT_SERVING`` for everything, for good (watchers hear it at once)."""
        self._statuses.set_all(_NOT_SERVING)

    async def end_watches(self) -> None:
        """End every open ``Watch`` stream with status OK; later watches end at once.

        As ``Health.end_watches``: call it once a graceful stop has drained the calls.
        """
        self._statuses.end_watches()

    async def _check(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> HealthCheckResponse:
        request = _parsed(HealthCheckRequest, data)
        if request is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthCheckRequest")
            )
        status = self._statuses.check(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return HealthCheckResponse(status=status)

    async def _list(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> HealthListResponse:
        if _parsed(HealthListRequest, data) is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthListRequest")
            )
        response = _list_response(self._statuses)
        if response is None:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many services to list")
        return response

    async def _watch(
        self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[HealthCheckResponse]:
        request = _parsed(HealthCheckRequest, data)
        if request is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED.format("HealthCheckRequest")
            )
        replies: asyncio.Queue[HealthCheckResponse | None] = asyncio.Queue()
        watcher = self._statuses.watch(request.service, replies.put_nowait)
        try:
            while (reply := await replies.get()) is not None:
                yield reply
        finally:
            self._statuses.forget(watcher)
