"""Adapters between the service classes and the generated ``GreeterServicer``.

With ``_messages`` (requests into plain Python values, and back into replies), this is
the only server-side code that touches generated code. It makes the call's context
reachable as ``service.context`` while user code runs, turns what user code raises
into a gRPC status, and stops pulling from a reply stream as soon as its call has
ended.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc
import grpc.aio

from greeter._logging import log_unexpected_error
from greeter._proto import helloworld_pb2_grpc
from greeter.errors import INTERNAL_ERROR_DETAILS, Cancelled, GreeterError, Internal
from greeter.pipeline._context import AsyncCallContext, CallContext, current_context
from greeter.server._drain import InFlight
from greeter.server._messages import (
    HelloReply,
    HelloRequest,
    name_of,
    names_async,
    names_of,
    reply_of,
)
from greeter.server._writes import StalledWrites

if TYPE_CHECKING:
    from greeter.server._methods import AsyncGreeterMethods, GreeterMethods

logger = logging.getLogger("greeter.server")

_METHOD_PREFIX = "/helloworld.Greeter/"
_METHOD_PATHS = {
    rpc: _METHOD_PREFIX + rpc
    for rpc in (
        "SayHello",
        "SayHelloAgain",
        "SayHelloStreamReply",
        "SayHelloStreamRequest",
        "SayHelloBidiStream",
    )
}

_T = TypeVar("_T")
_In = TypeVar("_In")  # what a service method takes: a name, or an iterator of names
_Incoming = TypeVar("_Incoming")  # what grpc passes: a request, or an iterator of them
_AioContext = grpc.aio.ServicerContext[Any, Any]


def _unexpected_error(rpc: str, call_is_active: bool) -> GreeterError:
    """The status for an exception that is not a GreeterError (call from an except block)."""
    if not call_is_active:
        # The client left (cancelled, or its deadline passed) while user code ran;
        # reading its request stream then fails. Not a server bug.
        logger.debug("helloworld.Greeter/%s ended by the client", rpc, exc_info=True)
        return Cancelled("the call ended before the server finished")
    # The traceback stays in the server's log (bounded, and once per window for the same
    # error); the client learns only that it failed.
    error = sys.exc_info()[1]
    assert error is not None, "called from an except block"
    log_unexpected_error(logger, f"Unhandled exception in helloworld.Greeter/{rpc}", error)
    return Internal(INTERNAL_ERROR_DETAILS)


# ---------------------------------------------------------------- sync server


def _abort(call: CallContext, context: grpc.ServicerContext, error: GreeterError) -> NoReturn:
    trailing = call._trailing_metadata_for(error)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(error.code.to_grpc(), error.details)


def _invoke(
    rpc: str,
    call: CallContext,
    context: grpc.ServicerContext,
    step: Callable[..., _T],
    *arguments: Any,
) -> _T:
    """Run one step of user code, ``step(*arguments)``, as ``call``; end the call with a
    status if it raises."""
    token = current_context.set(call)
    try:
        return step(*arguments)
    except GreeterError as error:
        _abort(call, context, error)
    except Exception:
        _abort(call, context, _unexpected_error(rpc, context.is_active()))
    finally:
        current_context.reset(token)


def _one_reply(
    rpc: str, produce: Callable[[_In], str], names: Callable[[_Incoming], _In], incoming: _Incoming
) -> HelloReply:
    return reply_of(rpc, produce(names(incoming)))


def _next_reply(rpc: str, replies: Iterator[str]) -> HelloReply | None:
    message = next(replies, _END)
    return None if message is _END else reply_of(rpc, message)


class _RunningAs:
    """Runs a block as ``call``: ``service.context`` is that call's context inside it."""

    def __init__(self, call: CallContext | AsyncCallContext) -> None:
        self._call = call

    def __enter__(self) -> None:
        self._token = current_context.set(self._call)

    def __exit__(self, *exc_info: object) -> None:
        current_context.reset(self._token)


#: Nothing more to send (``next()``'s default at the end of a reply stream).
_END = object()

# The handlers below run once per call (and the loop in ``_stream`` once per reply), so
# they pass the service's bound method and its argument along instead of building a
# closure for each call, and set the call's context once per step of user code.


class Servicer(helloworld_pb2_grpc.GreeterServicer):
    """Serves a ``GreeterService`` on the threaded server."""

    def __init__(self, service: GreeterMethods) -> None:
        self._service = service
        self.in_flight = InFlight()
        #: Times each reply's send on the native port (``None``: untimed).
        self.writes: StalledWrites | None = None

    def _unary(
        self,
        rpc: str,
        context: grpc.ServicerContext,
        produce: Callable[[_In], str],
        names: Callable[[_Incoming], _In],
        incoming: _Incoming,
    ) -> HelloReply:
        """One reply: ``produce(names(incoming))`` run as the call, its errors a status."""
        key = self.in_flight.add(_METHOD_PATHS[rpc], context.peer)
        try:
            call = CallContext(context)
            return _invoke(rpc, call, context, _one_reply, rpc, produce, names, incoming)
        finally:
            self.in_flight.remove(key)

    def _stream(
        self,
        rpc: str,
        context: grpc.ServicerContext,
        open_stream: Callable[[_In], Iterable[str]],
        names: Callable[[_Incoming], _In],
        incoming: _Incoming,
    ) -> Iterator[HelloReply]:
        """Replies pulled one at a time from ``open_stream(names(incoming))``."""
        call = CallContext(context)
        key = self.in_flight.add(_METHOD_PATHS[rpc], context.peer)
        try:
            replies = _invoke(rpc, call, context, lambda: iter(open_stream(names(incoming))))
        except BaseException:
            self.in_flight.remove(key)
            raise
        # A native call's sends are timed; a web call's (no cancel) are its server's.
        cancel: Callable[[], object] | None = getattr(context, "cancel", None)
        writes = self.writes
        try:
            # Pull one reply at a time, each in the call's context, and stop as soon as
            # the call has ended: no work continues for a client that is gone.
            while context.is_active():
                reply = _invoke(rpc, call, context, _next_reply, rpc, replies)
                if reply is None:
                    return
                if writes is None or cancel is None:
                    yield reply
                    continue
                # grpc sends the reply between this yield and the next resume.
                ticket = writes.begin(cancel)
                try:
                    yield reply
                finally:
                    writes.end(ticket)
        finally:
            self.in_flight.remove(key)
            close = getattr(replies, "close", None)
            if close is not None:
                with _RunningAs(call):
                    close()  # runs the user generator's finally blocks

    def SayHello(self, request: HelloRequest, context: grpc.ServicerContext) -> HelloReply:  # noqa: N802
        return self._unary("SayHello", context, self._service.say_hello, name_of, request)

    def SayHelloAgain(self, request: HelloRequest, context: grpc.ServicerContext) -> HelloReply:  # noqa: N802
        return self._unary(
            "SayHelloAgain", context, self._service.say_hello_again, name_of, request
        )

    def SayHelloStreamReply(  # noqa: N802
        self, request: HelloRequest, context: grpc.ServicerContext
    ) -> Iterator[HelloReply]:
        return self._stream(
            "SayHelloStreamReply",
            context,
            self._service.say_hello_stream_reply,
            name_of,
            request,
        )

    def SayHelloStreamRequest(  # noqa: N802
        self, request_iterator: Iterator[HelloRequest], context: grpc.ServicerContext
    ) -> HelloReply:
        return self._unary(
            "SayHelloStreamRequest",
            context,
            self._service.say_hello_stream_request,
            names_of,
            request_iterator,
        )

    def SayHelloBidiStream(  # noqa: N802
        self, request_iterator: Iterator[HelloRequest], context: grpc.ServicerContext
    ) -> Iterator[HelloReply]:
        return self._stream(
            "SayHelloBidiStream",
            context,
            self._service.say_hello_bidi_stream,
            names_of,
            request_iterator,
        )


# ------------------------------------------------------------- asyncio server


async def _abort_async(
    call: AsyncCallContext, context: _AioContext, error: GreeterError
) -> NoReturn:
    await context.abort(error.code.to_grpc(), error.details, call._trailing_metadata_for(error))
    raise AssertionError("unreachable: abort() raises")


async def _invoke_async(
    rpc: str, call: AsyncCallContext, context: _AioContext, run: Callable[[], Awaitable[_T]]
) -> _T:
    """Await one step of user code as ``call``; end the call with a status if it raises."""
    token = current_context.set(call)
    try:
        return await run()
    except GreeterError as error:
        await _abort_async(call, context, error)
    except Exception:
        await _abort_async(call, context, _unexpected_error(rpc, not context.done()))
    finally:
        current_context.reset(token)


async def _next_reply_async(rpc: str, replies: AsyncIterator[str]) -> HelloReply | None:
    async for message in replies:
        return reply_of(rpc, message)
    return None


class AsyncServicer(helloworld_pb2_grpc.GreeterServicer):
    """Serves an ``AsyncGreeterService`` on the asyncio server."""

    def __init__(self, service: AsyncGreeterMethods) -> None:
        self._service = service
        self.in_flight = InFlight()

    async def _unary(
        self, rpc: str, context: _AioContext, produce: Callable[[], Awaitable[str]]
    ) -> HelloReply:
        call = AsyncCallContext(context)

        async def run() -> HelloReply:
            reply = reply_of(rpc, await produce())
            await call._apply_pending_compression()
            return reply

        key = self.in_flight.add(_METHOD_PATHS[rpc], context.peer)
        try:
            return await _invoke_async(rpc, call, context, run)
        finally:
            self.in_flight.remove(key)

    async def _stream(
        self, rpc: str, context: _AioContext, open_stream: Callable[[], AsyncIterator[str]]
    ) -> AsyncIterator[HelloReply]:
        call = AsyncCallContext(context)

        async def opened() -> AsyncIterator[str]:
            return aiter(open_stream())  # once: each step below continues, not restarts

        # Counted from the start, as on the threaded server: opening runs user code too.
        key = self.in_flight.add(_METHOD_PATHS[rpc], context.peer)
        try:
            replies = await _invoke_async(rpc, call, context, opened)
        except BaseException:
            self.in_flight.remove(key)
            raise
        try:
            while not context.done():
                reply = await _invoke_async(
                    rpc, call, context, lambda: _next_reply_async(rpc, replies)
                )
                if reply is None:
                    return
                await call._apply_pending_compression()
                yield reply
        finally:
            self.in_flight.remove(key)
            aclose = getattr(replies, "aclose", None)
            if aclose is not None:
                with _RunningAs(call):
                    await aclose()  # runs the user generator's finally blocks

    # grpc.aio serves a streaming RPC from an async generator *function*, so the
    # streaming handlers below are written as ones.

    async def SayHello(self, request: HelloRequest, context: _AioContext) -> HelloReply:  # noqa: N802
        return await self._unary(
            "SayHello", context, lambda: self._service.say_hello(name_of(request))
        )

    async def SayHelloAgain(self, request: HelloRequest, context: _AioContext) -> HelloReply:  # noqa: N802
        return await self._unary(
            "SayHelloAgain", context, lambda: self._service.say_hello_again(name_of(request))
        )

    async def SayHelloStreamReply(  # noqa: N802
        self, request: HelloRequest, context: _AioContext
    ) -> AsyncIterator[HelloReply]:
        replies = self._stream(
            "SayHelloStreamReply",
            context,
            lambda: self._service.say_hello_stream_reply(name_of(request)),
        )
        async for reply in replies:
            yield reply

    async def SayHelloStreamRequest(  # noqa: N802
        self, request_iterator: AsyncIterator[HelloRequest], context: _AioContext
    ) -> HelloReply:
        names = names_async(request_iterator)
        return await self._unary(
            "SayHelloStreamRequest",
            context,
            lambda: self._service.say_hello_stream_request(names),
        )

    async def SayHelloBidiStream(  # noqa: N802
        self, request_iterator: AsyncIterator[HelloRequest], context: _AioContext
    ) -> AsyncIterator[HelloReply]:
        names = names_async(request_iterator)
        replies = self._stream(
            "SayHelloBidiStream", context, lambda: self._service.say_hello_bidi_stream(names)
        )
        async for reply in replies:
            yield reply
