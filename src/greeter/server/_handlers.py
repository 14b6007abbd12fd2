"""grpc method handlers for every service: where a served call meets user code.

For each RPC of a ``Service`` (threaded server) or ``AsyncService`` (asyncio server),
the Greeter's and generated ones alike, this makes the grpc handler that parses the
request (a malformed one answers INVALID_ARGUMENT), hands user code what its method
takes (the message, or the plain value a ``Conversion`` makes of it: the Greeter's
names), makes the call's context reachable as ``self.context`` while user code runs,
turns what user code raises into a status (a ``greeter.GreeterError`` its own, anything
else INTERNAL with a generic message and the traceback logged), and stops pulling from
a response stream as soon as its call has ended. The server's interceptors (admission,
auth, hooks) run around these handlers; the drain's counting around each of them
(``server._drain.track``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn, TypeAlias

import grpc
import grpc.aio
from google.protobuf.message import DecodeError, Message

from greeter._logging import log_unexpected_error
from greeter._method import Method, Shape
from greeter.errors import (
    INTERNAL_ERROR_DETAILS,
    Cancelled,
    GreeterError,
    Internal,
    InvalidArgument,
)
from greeter.pipeline._context import AsyncCallContext, CallContext, current_context
from greeter.server._values import Conversion

__all__ = [
    "INTERNAL_ERROR_DETAILS",
    "MALFORMED",
    "async_method_handler",
    "malformed_request",
    "messages_as_they_are",
    "method_handler",
]

logger = logging.getLogger("greeter.server")

_AioContext = grpc.aio.ServicerContext[Any, Any]
# Only the stubs make it generic: a string, read by type checkers alone.
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_MAKE_HANDLER = {
    Shape.UNARY_UNARY: grpc.unary_unary_rpc_method_handler,
    Shape.UNARY_STREAM: grpc.unary_stream_rpc_method_handler,
    Shape.STREAM_UNARY: grpc.stream_unary_rpc_method_handler,
    Shape.STREAM_STREAM: grpc.stream_stream_rpc_method_handler,
}


class _Malformed:
    """Stands for a request that did not parse (grpc would take ``None`` as a failure)."""


#: What a handler receives for a request that did not parse.
MALFORMED = _Malformed()


def malformed_request(method: Method[Any, Any]) -> InvalidArgument:
    """The error a request that did not parse ends its call with."""
    return InvalidArgument(f"the request is not a valid {method.request_type.DESCRIPTOR.full_name}")


def messages_as_they_are(method: Method[Any, Any]) -> Conversion:
    """The messages themselves, the response checked to be ``method``'s response type."""
    response_type = method.response_type

    def argument(request: object) -> Any:
        if request is MALFORMED:
            raise malformed_request(method)
        return request

    def response(produced: object) -> Message:
        if not isinstance(produced, response_type):
            raise TypeError(
                f"{method.path[1:]} must produce {response_type.__name__}, "
                f"not {type(produced).__name__}"
            )
        message: Message = produced
        return message

    return Conversion(argument, response)


def _parser(method: Method[Any, Any]) -> Callable[[bytes], object]:
    """The request deserializer: the message, or ``MALFORMED`` if the bytes do not parse.

    grpc would log a traceback for every such request (and the asyncio server would send
    the exception's text); the handler answers INVALID_ARGUMENT instead. So it does for a
    message missing a proto2 ``required`` field.
    """
    from_string = method.request_type.FromString

    def parse(data: bytes) -> object:
        try:
            request = from_string(data)
        except DecodeError:
            logger.debug("a request to %s did not parse", method.path, exc_info=True)
            return MALFORMED
        # protobuf parses a proto2 message that lacks a required field; it is malformed.
        return request if request.IsInitialized() else MALFORMED

    return parse


def _arguments(argument: Callable[[Any], Any], requests: Iterator[object]) -> Iterator[Any]:
    for request in requests:
        yield argument(request)


async def _async_arguments(
    argument: Callable[[Any], Any], requests: AsyncIterator[object]
) -> AsyncIterator[Any]:
    async for request in requests:
        yield argument(request)


def _unexpected_error(method: Method[Any, Any], call_is_active: bool) -> GreeterError:
    """The status for an exception that is not a GreeterError (call from an except block)."""
    if not call_is_active:
        # The client left while user code ran (reading its request stream then fails).
        logger.debug("%s ended by the client", method.path[1:], exc_info=True)
        return Cancelled("the call ended before the server finished")
    error = sys.exc_info()[1]
    assert error is not None, "called from an except block"
    log_unexpected_error(logger, f"Unhandled exception in {method.path[1:]}", error)
    return Internal(INTERNAL_ERROR_DETAILS)


def _make_handler(method: Method[Any, Any], behaviour: Callable[..., Any]) -> _Handler:
    handler: _Handler = _MAKE_HANDLER[method.shape](
        behaviour,
        request_deserializer=_parser(method),
        response_serializer=method.response_type.SerializeToString,
    )
    return handler


# ---------------------------------------------------------------- sync server


def _abort(call: CallContext, context: grpc.ServicerContext, error: GreeterError) -> NoReturn:
    trailing = call._trailing_metadata_for(error)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(error.code.to_grpc(), error.details)


#: Nothing more to send (``next()``'s default at the end of a response stream).
_END = object()


def _taking(
    method: Method[Any, Any], argument: Callable[[Any], Any], *, asyncio: bool
) -> Callable[[Any], Any]:
    """What the handler hands user code for what grpc passes it (a request, or a stream)."""
    if not method.shape.streams_requests:
        return argument  # called once per call: no wrapper in between
    stream = _async_arguments if asyncio else _arguments
    return lambda requests: stream(argument, requests)


def method_handler(
    method: Method[Any, Any],
    implementation: Callable[[Any], Any],
    conversion: Conversion | None = None,
) -> _Handler:
    """The grpc handler serving ``method`` with ``implementation`` on the threaded server.

    ``conversion`` says what the method takes and gives (by default, the messages).
    """
    argument, respond = conversion or messages_as_they_are(method)
    arguments = _taking(method, argument, asyncio=False)

    def unary(incoming: Any, context: grpc.ServicerContext) -> Message:
        call = CallContext(context)
        token = current_context.set(call)
        try:
            return respond(implementation(arguments(incoming)))
        except GreeterError as error:
            _abort(call, context, error)
        except Exception:
            _abort(call, context, _unexpected_error(method, context.is_active()))
        finally:
            current_context.reset(token)

    def stream(incoming: Any, context: grpc.ServicerContext) -> Iterator[Message]:
        call = CallContext(context)
        token = current_context.set(call)
        try:
            responses = iter(implementation(arguments(incoming)))
        except GreeterError as error:
            _abort(call, context, error)
        except Exception:
            _abort(call, context, _unexpected_error(method, context.is_active()))
        finally:
            current_context.reset(token)
        try:
            # One response at a time, each in the call's context; stop as soon as the
            # call has ended: no work continues for a client that is gone.
            while context.is_active():
                token = current_context.set(call)
                try:
                    response = next(responses, _END)
                    if response is _END:
                        return
                    checked = respond(response)
                except GreeterError as error:
                    _abort(call, context, error)
                except Exception:
                    _abort(call, context, _unexpected_error(method, context.is_active()))
                finally:
                    current_context.reset(token)
                yield checked
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                token = current_context.set(call)
                try:
                    close()  # runs the user generator's finally blocks
                finally:
                    current_context.reset(token)

    return _make_handler(method, stream if method.shape.streams_responses else unary)


# ------------------------------------------------------------- asyncio server


async def _abort_async(
    call: AsyncCallContext, context: _AioContext, error: GreeterError
) -> NoReturn:
    await context.abort(error.code.to_grpc(), error.details, call._trailing_metadata_for(error))
    raise AssertionError("unreachable: abort() raises")


def async_method_handler(
    method: Method[Any, Any],
    implementation: Callable[[Any], Any],
    conversion: Conversion | None = None,
) -> _Handler:
    """The grpc handler serving ``method`` with ``implementation`` on the asyncio server."""
    argument, respond = conversion or messages_as_they_are(method)
    arguments = _taking(method, argument, asyncio=True)

    async def unary(incoming: Any, context: _AioContext) -> Message:
        call = AsyncCallContext(context)
        token = current_context.set(call)
        try:
            response = respond(await implementation(arguments(incoming)))
            await call._apply_pending_compression()
            return response
        except GreeterError as error:
            await _abort_async(call, context, error)
        except Exception:
            await _abort_async(call, context, _unexpected_error(method, not context.done()))
        finally:
            current_context.reset(token)

    # grpc.aio serves a streaming RPC from an async generator function.
    async def stream(incoming: Any, context: _AioContext) -> AsyncIterator[Message]:
        call = AsyncCallContext(context)
        token = current_context.set(call)
        try:
            responses = aiter(implementation(arguments(incoming)))
        except GreeterError as error:
            await _abort_async(call, context, error)
        except Exception:
            await _abort_async(call, context, _unexpected_error(method, not context.done()))
        finally:
            current_context.reset(token)
        try:
            while not context.done():
                token = current_context.set(call)
                try:
                    response = await anext(responses, _END)
                    if response is _END:
                        return
                    checked = respond(response)
                    await call._apply_pending_compression()
                except GreeterError as error:
                    await _abort_async(call, context, error)
                except Exception:
                    await _abort_async(call, context, _unexpected_error(method, not context.done()))
                finally:
                    current_context.reset(token)
                yield checked
        finally:
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                token = current_context.set(call)
                try:
                    await aclose()  # runs the user generator's finally blocks
                finally:
                    current_context.reset(token)

    return _make_handler(method, stream if method.shape.streams_responses else unary)
