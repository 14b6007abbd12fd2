"""The adapter between a ``GreeterService`` and the generated ``GreeterServicer``.

This is the only server-side module that touches generated code. It turns requests
into plain Python values, makes the call's context reachable as ``service.context``,
and turns what the service raises into a gRPC status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import grpc

from greeter._context import CallContext, current_context
from greeter._exceptions import GreeterError, StatusCode
from greeter._proto import helloworld_pb2, helloworld_pb2_grpc

if TYPE_CHECKING:
    from greeter._service import GreeterService

logger = logging.getLogger("greeter.server")

#: What the client sees when a service method raises anything but a GreeterError.
INTERNAL_ERROR_DETAILS = "Internal server error"


@contextmanager
def _serving(rpc: str, context: grpc.ServicerContext) -> Iterator[None]:
    """Expose ``context`` to the service and map what it raises to a status."""
    token = current_context.set(CallContext(context))
    try:
        yield
    except GreeterError as error:
        if error.trailing_metadata:
            context.set_trailing_metadata(error.trailing_metadata)
        context.abort(error.code.to_grpc(), error.details)
    except Exception:
        # The traceback stays in the server's log; the client learns only that it failed.
        logger.exception("Unhandled exception in helloworld.Greeter/%s", rpc)
        context.abort(StatusCode.INTERNAL.to_grpc(), INTERNAL_ERROR_DETAILS)
    finally:
        current_context.reset(token)


class Servicer(helloworld_pb2_grpc.GreeterServicer):
    """Serves a sync ``GreeterService`` through the generated servicer interface."""

    def __init__(self, service: GreeterService) -> None:
        self._service = service

    def _unary(
        self,
        rpc: str,
        method: Callable[[str], str],
        request: helloworld_pb2.HelloRequest,
        context: grpc.ServicerContext,
    ) -> helloworld_pb2.HelloReply:
        with _serving(rpc, context):
            return helloworld_pb2.HelloReply(message=method(request.name))
        raise AssertionError("unreachable: _serving aborts the call on error")

    def SayHello(  # noqa: N802 - the generated interface's name
        self, request: helloworld_pb2.HelloRequest, context: grpc.ServicerContext
    ) -> helloworld_pb2.HelloReply:
        return self._unary("SayHello", self._service.say_hello, request, context)

    def SayHelloAgain(  # noqa: N802
        self, request: helloworld_pb2.HelloRequest, context: grpc.ServicerContext
    ) -> helloworld_pb2.HelloReply:
        return self._unary("SayHelloAgain", self._service.say_hello_again, request, context)

    # The streaming RPCs are built in a later release; until then they answer
    # UNIMPLEMENTED, as a stock server without them would.
    def SayHelloStreamReply(  # noqa: N802
        self, request: helloworld_pb2.HelloRequest, context: grpc.ServicerContext
    ) -> Iterator[helloworld_pb2.HelloReply]:
        context.abort(StatusCode.UNIMPLEMENTED.to_grpc(), "SayHelloStreamReply is not implemented")

    def SayHelloStreamRequest(  # noqa: N802
        self, request_iterator: Iterator[helloworld_pb2.HelloRequest], context: grpc.ServicerContext
    ) -> helloworld_pb2.HelloReply:
        context.abort(
            StatusCode.UNIMPLEMENTED.to_grpc(), "SayHelloStreamRequest is not implemented"
        )

    def SayHelloBidiStream(  # noqa: N802
        self, request_iterator: Iterator[helloworld_pb2.HelloRequest], context: grpc.ServicerContext
    ) -> Iterator[helloworld_pb2.HelloReply]:
        context.abort(StatusCode.UNIMPLEMENTED.to_grpc(), "SayHelloBidiStream is not implemented")
