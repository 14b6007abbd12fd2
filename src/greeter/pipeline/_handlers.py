"""Rebuilding a grpc method handler around a wrapped behavior, and the interceptors
that do it to every call's handler.

An interceptor that changes what a call does (the hooks, admission, draining) keeps the
handler's shape and serializers and wraps only its behavior: ``rewrap_handler`` is that
step, for each of the four shapes of a call. ``HandlerInterceptor`` and
``AsyncHandlerInterceptor`` find the handler of each call (a method the server does not
serve has none) and pass it to their ``wrap``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc
import grpc.aio

__all__ = ["AsyncHandlerInterceptor", "HandlerInterceptor", "rewrap_handler"]

# Generic only in grpc's type stubs, so a string here.
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def rewrap_handler(
    handler: _Handler,
    unary_response: Callable[[Any], Any],
    stream_response: Callable[[Any], Any],
) -> _Handler:
    """The same handler, with its behavior wrapped by the function for its shape."""
    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary_response(handler.unary_unary), **serializers
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream_response(handler.unary_stream), **serializers
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            unary_response(handler.stream_unary), **serializers
        )
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(
        stream_response(handler.stream_stream), **serializers
    )


class HandlerInterceptor(grpc.ServerInterceptor):
    """An interceptor of the threaded server that wraps each call's handler (``wrap``)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], _Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = continuation(handler_call_details)
        return None if handler is None else self.wrap(handler, handler_call_details)

    def wrap(self, handler: _Handler, details: grpc.HandlerCallDetails) -> _Handler:
        """The handler to serve the call ``details`` describes with, instead of ``handler``."""
        raise NotImplementedError


class AsyncHandlerInterceptor(grpc.aio.ServerInterceptor):
    """An interceptor of the asyncio server that wraps each call's handler (``wrap``)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = await continuation(handler_call_details)
        return None if handler is None else self.wrap(handler, handler_call_details)

    def wrap(self, handler: _Handler, details: grpc.HandlerCallDetails) -> _Handler:
        """The handler to serve the call ``details`` describes with, instead of ``handler``;
        runs on the server's event loop."""
        raise NotImplementedError
