"""Adapters between the service classes and the generated ``GreeterServicer``.

This is the only server-side module that touches generated code. It turns requests
into plain Python values, makes the call's context reachable as ``service.context``
while user code runs, turns what user code raises into a gRPC status, and stops
pulling from a reply stream as soon as its call has ended.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc
import grpc.aio

from greeter._context import AsyncCallContext, CallContext, current_context
from greeter._drain import InFlight
from greeter._exceptions import Cancelled, GreeterError, Internal
from greeter._proto import helloworld_pb2, helloworld_pb2_grpc

if TYPE_CHECKING:
    from greeter._service import AsyncGreeterService, GreeterService

logger = logging.getLogger("greeter.server")

_METHOD_PREFIX = "/helloworld.Greeter/"
#: What the client sees when a service method raises anything but a GreeterError.
INTERNAL_ERROR_DETAILS = "Internal server error"

_T = TypeVar("_T")
HelloRequest = helloworld_pb2.HelloRequest
HelloReply = helloworld_pb2.HelloReply
_AioContext = grpc.aio.ServicerContext[Any, Any]


def _reply(rpc: str, message: object) -> HelloReply:
    if not isinstance(message, str):
        raise TypeError(f"{rpc} must produce str, not {type(message).__name__}")
    return HelloReply(message=message)


def _unexpected_error(rpc: str, call_is_active: bool) -> GreeterError:
    """The status for an exception that is not a GreeterError (call from an except block)."""
    if not call_is_active:
        # The client left (cancelled, or its deadline passed) while user code ran;
        # reading its request stream then fails. Not a server bug.
        logger.debug("helloworld.Greeter/%s ended by the client", rpc, exc_info=True)
        return Cancelled("the call ended before the server finished")
    # The traceback stays in the server's log; the client learns only that it failed.
    logger.exception("Unhandled exception in helloworld.Greeter/%s", rpc)
    return Internal(INTERNAL_ERROR_DETAILS)


# ---------------------------------------------------------------- sync server


def _abort(call: CallContext, context: grpc.ServicerContext, error: GreeterError) -> NoReturn:
    trailing = call._trailing_metadata_for(error)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(error.code.to_grpc(), error.details)


def _invoke(
    rpc: str, call: CallContext, context: grpc.ServicerContext, run: Callable[[], _T]
) -> _T:
    """Run one step of user code as ``call``; end the call with a status if it raises."""
    token = current_context.set(call)
    try:
        return run()
    except GreeterError as error:
        _abort(call, context, error)
    except Exception:
        _abort(call, context, _unexpected_error(rpc, context.is_active()))
    finally:
        current_context.reset(token)


def _next_reply(rpc: str, replies: Iterator[str]) -> HelloReply | None:
    for message in replies:
        return _reply(rpc, message)
    return None


class Servicer(helloworld_pb2_grpc.GreeterServicer):
    """Serves a ``GreeterService`` on the threaded server."""

    def __init__(self, service: GreeterService) -> None:
        self._service = service
        self.in_flight = InFlight()

    def _unary(
        self, rpc: str, context: grpc.ServicerContext, produce: Callable[[], str]
    ) -> HelloReply:
        key = self.in_flight.add(_METHOD_PREFIX + rpc, context.peer)
        try:
            return _invoke(rpc, CallContext(context), context, lambda: _reply(rpc, produce()))
        finally:
            self.in_flight.remove(key)

    def _stream(
        self, rpc: str, context: grpc.ServicerContext, open_stream: Callable[[], Iterable[str]]
    ) -> Iterator[HelloReply]:
        call = CallContext(context)
        key = self.in_flight.add(_METHOD_PREFIX + rpc, context.peer)
        try:
            replies = _invoke(rpc, call, context, lambda: iter(open_stream()))
        except BaseException:
            self.in_flight.remove(key)
            raise
        try:
            # Pull one reply at a time, each in the call's context, and stop as soon as
            # the call has ended: no work continues for a client that is gone.
            while context.is_active():
                reply = _invoke(rpc, call, context, lambda: _next_reply(rpc, replies))
                if reply is None:
                    return
                yield reply
        finally:
            self.in_flight.remove(key)
            close = getattr(replies, "close", None)
            if close is not None:
                token = current_context.set(call)
                try:
                    close()  # runs the user generator's finally blocks
                finally:
                    current_context.reset(token)

    def SayHello(self, request: HelloRequest, context: grpc.ServicerContext) -> HelloReply:  # noqa: N802
        return self._unary("SayHello", context, lambda: self._service.say_hello(request.name))

    def SayHelloAgain(self, request: HelloRequest, context: grpc.ServicerContext) -> HelloReply:  # noqa: N802
        return self._unary(
            "SayHelloAgain", context, lambda: self._service.say_hello_again(request.name)
        )

    def SayHelloStreamReply(  # noqa: N802
        self, request: HelloRequest, context: grpc.ServicerContext
    ) -> Iterator[HelloReply]:
        return self._stream(
            "SayHelloStreamReply",
            context,
            lambda: self._service.say_hello_stream_reply(request.name),
        )

    def SayHelloStreamRequest(  # noqa: N802
        self, request_iterator: Iterator[HelloRequest], context: grpc.ServicerContext
    ) -> HelloReply:
        names = (request.name for request in request_iterator)
        return self._unary(
            "SayHelloStreamRequest",
            context,
            lambda: self._service.say_hello_stream_request(names),
        )

    def SayHelloBidiStream(  # noqa: N802
        self, request_iterator: Iterator[HelloRequest], context: grpc.ServicerContext
    ) -> Iterator[HelloReply]:
        names = (request.name for request in request_iterator)
        return self._stream(
            "SayHelloBidiStream", context, lambda: self._service.say_hello_bidi_stream(names)
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
        return _reply(rpc, message)
    return None


async def _names(requests: AsyncIterator[HelloRequest]) -> AsyncIterator[str]:
    async for request in requests:
        yield request.name


class AsyncServicer(helloworld_pb2_grpc.GreeterServicer):
    """Serves an ``AsyncGreeterService`` on the asyncio server."""

    def __init__(self, service: AsyncGreeterService) -> None:
        self._service = service
        self.in_flight = InFlight()

    async def _unary(
        self, rpc: str, context: _AioContext, produce: Callable[[], Awaitable[str]]
    ) -> HelloReply:
        call = AsyncCallContext(context)

        async def run() -> HelloReply:
            reply = _reply(rpc, await produce())
            await call._apply_pending_compression()
            return reply

        key = self.in_flight.add(_METHOD_PREFIX + rpc, context.peer)
        try:
            return await _invoke_async(rpc, call, context, run)
        finally:
            self.in_flight.remove(key)

    async def _stream(
        self, rpc: str, context: _AioContext, produced: AsyncIterator[str]
    ) -> AsyncIterator[HelloReply]:
        call = AsyncCallContext(context)
        replies = aiter(produced)  # once: each step below must continue, not restart
        key = self.in_flight.add(_METHOD_PREFIX + rpc, context.peer)
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
                token = current_context.set(call)
                try:
                    await aclose()  # runs the user generator's finally blocks
                finally:
                    current_context.reset(token)

    # grpc.aio serves a streaming RPC from an async generator *function*, so the
    # streaming handlers below are written as ones.

    async def SayHello(self, request: HelloRequest, context: _AioContext) -> HelloReply:  # noqa: N802
        return await self._unary("SayHello", context, lambda: self._service.say_hello(request.name))

    async def SayHelloAgain(self, request: HelloRequest, context: _AioContext) -> HelloReply:  # noqa: N802
        return await self._unary(
            "SayHelloAgain", context, lambda: self._service.say_hello_again(request.name)
        )

    async def SayHelloStreamReply(  # noqa: N802
        self, request: HelloRequest, context: _AioContext
    ) -> AsyncIterator[HelloReply]:
        replies = self._service.say_hello_stream_reply(request.name)
        async for reply in self._stream("SayHelloStreamReply", context, replies):
            yield reply

    async def SayHelloStreamRequest(  # noqa: N802
        self, request_iterator: AsyncIterator[HelloRequest], context: _AioContext
    ) -> HelloReply:
        names = _names(request_iterator)
        return await self._unary(
            "SayHelloStreamRequest",
            context,
            lambda: self._service.say_hello_stream_request(names),
        )

    async def SayHelloBidiStream(  # noqa: N802
        self, request_iterator: AsyncIterator[HelloRequest], context: _AioContext
    ) -> AsyncIterator[HelloReply]:
        replies = self._service.say_hello_bidi_stream(_names(request_iterator))
        async for reply in self._stream("SayHelloBidiStream", context, replies):
            yield reply
