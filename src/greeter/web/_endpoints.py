"""What every web call goes through, written once, whatever service it calls.

A web call is admitted by the call pipeline (the auth check and the before-hooks), runs
its handler within its deadline, and ends with the status its client gets, which the
after-hooks see. ``CallSteps`` does that for a unary call and for a stream of replies,
for both kinds of service; how each step runs (awaited on the event loop for an asyncio
service, on the web port's handler threads for a threaded one) is for its subclasses in
``greeter.web._steps``. The handler is the grpc method handler the service registered
(its ``unary_unary``, ``unary_stream``, ...), called with a ``WebServicerContext`` in
place of grpc's context; ``greeter.web._routes`` finds it for each URL path.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, TypeAlias, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from google.protobuf.message import Message

from greeter._metadata import MetadataTuple
from greeter.errors import StatusCode
from greeter.pipeline._pipeline import ActiveCall, CallPipeline
from greeter.web._context import WebServicerContext, status_code

__all__ = [
    "DEADLINE_EXCEEDED_DETAILS",
    "END",
    "CallDetails",
    "CallSteps",
    "Endpoints",
    "WebCall",
    "status_of",
    "within_deadline",
]

#: A web call as Connect hands it to an endpoint: its headers, deadline and trailers.
WebCall: TypeAlias = RequestContext[Any, Any]
#: Endpoints by URL path. connectrpc types them with classes it keeps private.
Endpoints: TypeAlias = Mapping[str, Any]
#: The end of a stream, where ``None`` could be a message.
END = object()

#: The status message of a call past its deadline (as grpc's).
DEADLINE_EXCEEDED_DETAILS = "Deadline Exceeded"

_T = TypeVar("_T")
#: What a kind of service's unary handlers return (a reply, or an awaitable one), and
#: its streaming handlers (an iterator of replies, or an async one).
_Reply = TypeVar("_Reply")
_Replies = TypeVar("_Replies")


@dataclasses.dataclass
class CallDetails:
    """A web call, as grpc describes a call to server interceptors (``HandlerCallDetails``)."""

    method: str
    invocation_metadata: MetadataTuple


def status_of(raised: BaseException, call: WebCall) -> tuple[StatusCode, str]:
    """The status a web call that raised ``raised`` ended with, as its client saw it."""
    if isinstance(raised, ConnectError):
        return status_code(raised.code), raised.message
    if not isinstance(raised, Exception):  # CancelledError or GeneratorExit
        remaining_ms = call.timeout_ms
        if remaining_ms is not None and remaining_ms <= 0:
            # Newer connectrpc releases end a call past its deadline themselves.
            return StatusCode.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_DETAILS
        return StatusCode.CANCELLED, ""  # the client left
    return StatusCode.UNKNOWN, ""


async def within_deadline(call: WebCall, step: Awaitable[_T]) -> _T:
    """Await one step of a call, ending the call with DEADLINE_EXCEEDED if its deadline
    passes first (as native gRPC does; older connectrpc releases leave it to the app)."""
    remaining_ms = call.timeout_ms
    if remaining_ms is None:
        return await step
    try:
        return await asyncio.wait_for(step, max(remaining_ms, 0) / 1000)
    except asyncio.TimeoutError:
        raise ConnectError(Code.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_DETAILS) from None


@contextlib.contextmanager
def _finishing(
    pipeline: CallPipeline | None, admitted: ActiveCall | None, call: WebCall
) -> Iterator[None]:
    """Run an admitted call's after-hooks once it ends, with the status its client gets."""
    if pipeline is None or admitted is None:
        yield
        return
    try:
        yield
    except BaseException as exc:
        pipeline.end(admitted, *status_of(exc, call))
        raise
    pipeline.end(admitted, StatusCode.OK, "")


@contextlib.contextmanager
def _ending_as_set(context: WebServicerContext) -> Iterator[None]:
    """End a call with the status its handler set, if any, once it returns or raises
    anything but a status of its own (as grpc does)."""
    try:
        yield
    except ConnectError:
        raise
    except Exception:
        error = context.status_set()
        if error is None:
            raise
        raise error from None
    error = context.status_set()
    if error is not None:
        raise error


class CallSteps(abc.ABC, Generic[_Reply, _Replies]):
    """A web call's way through the pipeline and its handler, the same for both kinds
    of service; a subclass says how each step runs (awaited, or on a worker thread)."""

    def __init__(self, pipeline: CallPipeline | None) -> None:
        self.pipeline = pipeline

    # -- how a kind of service runs each step

    @abc.abstractmethod
    def context(self, call: WebCall) -> WebServicerContext:
        """The context the handler gets, in place of grpc's. Raises ``ConnectError``
        (INVALID_ARGUMENT) if a ``-bin`` header is not base64."""

    @abc.abstractmethod
    def arguments(self, request: Any) -> Any:
        """The request (or the stream of them) as the handler reads it."""

    @abc.abstractmethod
    async def begin(
        self, pipeline: CallPipeline, method: str, context: WebServicerContext, call: WebCall
    ) -> ActiveCall:
        """Run the auth check and the before-hooks; a refusal raises ``ConnectError``."""

    @abc.abstractmethod
    def reply(
        self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], _Reply]
    ) -> Awaitable[Message]:
        """Run a unary handler, ``work``, as ``admitted``."""

    @abc.abstractmethod
    async def open(
        self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], _Replies]
    ) -> _Replies:
        """Start a streaming handler, ``work``, as ``admitted``: its replies."""

    @abc.abstractmethod
    def next_reply(self, admitted: ActiveCall | None, replies: _Replies) -> Awaitable[object]:
        """The next of ``replies``, or ``END``."""

    @abc.abstractmethod
    async def close(self, admitted: ActiveCall | None, replies: _Replies) -> None:
        """Close ``replies``, which the call reads no more (it ended, or the client left)."""

    # -- what every web call goes through

    async def _admit(
        self, method: str, context: WebServicerContext, call: WebCall
    ) -> ActiveCall | None:
        if self.pipeline is None:
            return None
        return await self.begin(self.pipeline, method, context, call)

    def unary(
        self, method: str, handler: Callable[[Any, Any], _Reply]
    ) -> Callable[[Any, WebCall], Awaitable[Message]]:
        """What answers a web call of ``method``, a method with one reply, to a request (or
        to a stream of them): ``handler``, its grpc handler's behaviour."""

        async def call(request: Any, call: WebCall) -> Message:
            context = self.context(call)
            arguments = self.arguments(request)
            try:
                admitted = await self._admit(method, context, call)
                with _finishing(self.pipeline, admitted, call), _ending_as_set(context):
                    return await within_deadline(
                        call, self.reply(call, admitted, lambda: handler(arguments, context))
                    )
            finally:
                context.end()

        return call

    def stream(
        self, method: str, handler: Callable[[Any, Any], _Replies]
    ) -> Callable[[Any, WebCall], AsyncIterator[Message]]:
        """What answers a web call of ``method``, a method with a stream of replies, to a
        request (or to a stream of them): ``handler``, its grpc handler's behaviour."""

        async def call(request: Any, call: WebCall) -> AsyncIterator[Message]:
            context = self.context(call)
            arguments = self.arguments(request)
            admitted: ActiveCall | None = None
            replies: _Replies | None = None
            try:
                admitted = await self._admit(method, context, call)
                with _finishing(self.pipeline, admitted, call), _ending_as_set(context):
                    replies = await self.open(call, admitted, lambda: handler(arguments, context))
                    while (
                        reply := await within_deadline(call, self.next_reply(admitted, replies))
                    ) is not END:
                        assert isinstance(reply, Message)
                        yield reply
            finally:
                context.end()  # the handler's stream sees it and closes the user's
                if replies is not None:
                    await self.close(admitted, replies)

        return call
