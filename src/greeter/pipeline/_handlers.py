"""Rebuilding a grpc method handler around a wrapped behavior.

An interceptor that changes what a call does (the hooks, admission, draining) keeps the
handler's shape and serializers and wraps only its behavior: ``rewrap_handler`` is that
step, for each of the four shapes of a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

__all__ = ["rewrap_handler"]


def rewrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
    unary_response: Callable[[Any], Any],
    stream_response: Callable[[Any], Any],
) -> grpc.RpcMethodHandler[Any, Any]:
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
