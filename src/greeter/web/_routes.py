"""Which endpoint answers a URL path: the method's registered handler and its messages.

A web call's path is its gRPC method (``/shop.v1.Inventory/GetItem``). ``Routes`` makes
the Connect endpoint of a path the first time it is called, from two things: the grpc
handler a service registered for that method (``greeter.server._ports.RegisteredHandlers``)
and the method's description in protobuf's default descriptor pool, which gives its
request and response classes (for Connect's JSON and binary codecs) and its idempotency
(Connect serves a ``NO_SIDE_EFFECTS`` method over GET too). So every service the server
carries is served, the Greeter, generated services and plain grpc handlers alike, once
its ``_pb2`` module is imported; a path naming no served method is Connect's
``unimplemented`` (HTTP 404).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from connectrpc.method import IdempotencyLevel, MethodInfo
from connectrpc.server import Endpoint
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions

from greeter.server._ports import RegisteredHandlers
from greeter.web._endpoints import CallSteps

__all__ = ["Routes"]


class Routes(Mapping[str, Endpoint[Any, Any]]):
    """The endpoint of each method ``handlers`` serve, by URL path, each run by ``steps``.

    Iterating it lists the endpoints made so far (those called at least once).
    """

    def __init__(self, handlers: RegisteredHandlers, steps: CallSteps[Any, Any]) -> None:
        self._handlers = handlers
        self._steps = steps
        self._made: dict[str, Endpoint[Any, Any]] = {}

    def __getitem__(self, path: str) -> Endpoint[Any, Any]:
        endpoint = self._made.get(path)
        if endpoint is None:
            endpoint = self._make(path)
            self._made[path] = endpoint  # only paths that name a served method: bounded
        return endpoint

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def __len__(self) -> int:
        return len(self._made)

    def _make(self, path: str) -> Endpoint[Any, Any]:
        """The endpoint of ``path``; ``KeyError`` if it names no served method."""
        described = _described(path)
        if described is None:
            raise KeyError(path)
        handler = self._handlers.find(path)
        if handler is None:
            raise KeyError(path)
        return _endpoint(self._steps, path, handler, described)


def _described(path: str) -> MethodDescriptor | None:
    """The descriptor of the method ``path`` names, if protobuf has it loaded."""
    service_name, slash, method_name = path.removeprefix("/").partition("/")
    if not path.startswith("/") or not slash or "/" in method_name:
        return None
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError:
        return None
    method: MethodDescriptor | None = service.methods_by_name.get(method_name)
    return method


def _endpoint(
    steps: CallSteps[Any, Any],
    path: str,
    handler: grpc.RpcMethodHandler[Any, Any],
    described: MethodDescriptor,
) -> Endpoint[Any, Any]:
    """``handler`` as the endpoint of ``path``, in its shape (the handler's, as grpc's)."""
    if handler.unary_unary is not None:
        info = _method_info(described, "UNARY")
        return Endpoint.unary(info, steps.unary(path, handler.unary_unary))
    if handler.stream_unary is not None:
        info = _method_info(described, "CLIENT_STREAM")
        return Endpoint.client_stream(info, steps.unary(path, handler.stream_unary))
    if handler.unary_stream is not None:
        info = _method_info(described, "SERVER_STREAM")
        return Endpoint.server_stream(info, steps.stream(path, handler.unary_stream))
    assert handler.stream_stream is not None, "a grpc handler has one of four behaviours"
    info = _method_info(described, "BIDI_STREAM")
    return Endpoint.bidi_stream(info, steps.stream(path, handler.stream_stream))


def _method_info(described: MethodDescriptor, shape: str) -> MethodInfo[Any, Any]:
    """Connect's description of a method of ``shape`` (``"UNARY"``, ``"SERVER_STREAM"``...)."""
    level = MethodOptions.IdempotencyLevel.Name(described.GetOptions().idempotency_level)
    fields: dict[str, Any] = {
        "name": described.name,
        "service_name": described.containing_service.full_name,
        "input": message_factory.GetMessageClass(described.input_type),
        "output": message_factory.GetMessageClass(described.output_type),
        "idempotency_level": IdempotencyLevel[level.removeprefix("IDEMPOTENCY_")],
    }
    if any(field.name == "stream_type" for field in dataclasses.fields(MethodInfo)):
        # connectrpc 0.13 (Python 3.11+) names each method's shape; 0.12 (the newest on
        # Python 3.10) reads it from the kind of endpoint.
        from connectrpc.method import StreamType

        fields["stream_type"] = StreamType[shape]
    return MethodInfo(**fields)
