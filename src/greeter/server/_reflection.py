"""gRPC server reflection, under both of the protocol's names (``v1`` and ``v1alpha``).

Reflection lets generic tools (``grpcurl``, ``buf curl``, Postman, Kreya) list a
server's services and call them with no ``.proto`` at hand. Served from the build's own
``greeter/_proto/reflection.proto`` on grpcio's public API, not from grpcio-reflection
(which requires a grpcio as new as itself, and serves ``v1alpha`` only). The two
versions' messages are identical on the wire, so one servicer answers both names.

Files are described from the process's default descriptor pool (where every generated
``_pb2`` module registers, the Greeter's included), except the health and reflection
protocols: greeter's messages for those sit under a package of its own (see
``protos/greeter/_proto/health.proto``), so their files are described here as the
protocol names them (``grpc/health/v1/health.proto``, ...), from a pool of this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import DecodeError, Message

from greeter._proto import health_pb2, reflection_pb2
from greeter._proto.reflection_pb2 import (
    ErrorResponse,
    ExtensionNumberResponse,
    ExtensionRequest,
    FileDescriptorResponse,
    ListServiceResponse,
    ServerReflectionRequest,
    ServerReflectionResponse,
    ServiceResponse,
)

__all__ = ["REFLECTION_SERVICES", "add_reflection"]

_V1_SERVICE = "grpc.reflection.v1.ServerReflection"
_V1ALPHA_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
#: The names reflection is served (and listed) under.
REFLECTION_SERVICES = (_V1_SERVICE, _V1ALPHA_SERVICE)

_NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def _renamed(file: FileDescriptor, package: str) -> descriptor_pb2.FileDescriptorProto:
    """``file`` as the protocol names it: in ``package``, at the path that package gives."""
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    old, new = f".{proto.package}.", f".{package}."

    def moved(name: str) -> str:
        return new + name[len(old) :] if name.startswith(old) else name

    def rename_fields(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            for field in message.field:
                if field.HasField("type_name"):  # message and enum fields only
                    field.type_name = moved(field.type_name)
            rename_fields(message.nested_type)

    rename_fields(proto.message_type)
    for service in proto.service:
        for method in service.method:
            method.input_type, method.output_type = (
                moved(method.input_type),
                moved(method.output_type),
            )
    proto.name = f"{package.replace('.', '/')}/{proto.name.rsplit('/', 1)[-1]}"
    proto.package = package
    return proto


def _protocol_pool() -> descriptor_pool.DescriptorPool:
    """The health and reflection protocols' files, as the protocols name them."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_renamed(health_pb2.DESCRIPTOR, "grpc.health.v1"))
    for service_name in REFLECTION_SERVICES:
        pool.Add(_renamed(reflection_pb2.DESCRIPTOR, service_name.rsplit(".", 1)[0]))
    return pool


class _Reflection:
    """Answers reflection requests, one at a time, for both servers."""

    def __init__(self, services: Sequence[str]) -> None:
        self._listed = ListServiceResponse(service=[ServiceResponse(name=s) for s in services])
        self._pools = (_protocol_pool(), descriptor_pool.Default())

    def answer(self, data: bytes) -> ServerReflectionResponse | None:
        """The response to one request; ``None`` if ``data`` is not a request at all."""
        try:
            request = ServerReflectionRequest.FromString(data)
        except DecodeError:
            return None
        response = ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.WhichOneof("message_request")
        try:
            if kind == "list_services":
                response.list_services_response.CopyFrom(self._listed)
            elif kind == "file_by_filename":
                response.file_descriptor_response.CopyFrom(
                    self._files(lambda pool: pool.FindFileByName(request.file_by_filename))
                )
            elif kind == "file_containing_symbol":
                symbol = request.file_containing_symbol
                response.file_descriptor_response.CopyFrom(
                    self._files(lambda pool: pool.FindFileContainingSymbol(symbol))
                )
            elif kind == "file_containing_extension":
                wanted = request.file_containing_extension
                response.file_descriptor_response.CopyFrom(
                    self._files(lambda pool: _file_of_extension(pool, wanted))
                )
            elif kind == "all_extension_numbers_of_type":
                response.all_extension_numbers_response.CopyFrom(
                    self._extension_numbers(request.all_extension_numbers_of_type)
                )
            else:
                response.error_response.CopyFrom(
                    ErrorResponse(error_code=_INVALID_ARGUMENT, error_message="empty request")
                )
        except KeyError:  # what every pool raises for a name it does not have
            response.error_response.CopyFrom(
                ErrorResponse(error_code=_NOT_FOUND, error_message="not found")
            )
        return response

    def _files(
        self, find: Callable[[descriptor_pool.DescriptorPool], FileDescriptor]
    ) -> FileDescriptorResponse:
        """The file the first pool that has it finds, then every file it imports."""
        for pool in self._pools:
            try:
                file = find(pool)
            except KeyError:
                continue
            return FileDescriptorResponse(file_descriptor_proto=_with_imports(file))
        raise KeyError("not found")

    def _extension_numbers(self, message_name: str) -> ExtensionNumberResponse:
        for pool in self._pools:
            try:
                message = pool.FindMessageTypeByName(message_name)
            except KeyError:
                continue
            numbers = sorted(field.number for field in pool.FindAllExtensions(message))
            return ExtensionNumberResponse(base_type_name=message_name, extension_number=numbers)
        raise KeyError(message_name)


def _file_of_extension(
    pool: descriptor_pool.DescriptorPool, wanted: ExtensionRequest
) -> FileDescriptor:
    message = pool.FindMessageTypeByName(wanted.containing_type)
    extension = pool.FindExtensionByNumber(message, wanted.extension_number)
    return pool.FindFileContainingSymbol(extension.full_name)


def _with_imports(file: FileDescriptor) -> list[bytes]:
    """``file`` and everything it imports, each once, serialized."""
    serialized, seen, pending = [], set(), [file]
    while pending:
        each = pending.pop()
        if each.name in seen:
            continue
        seen.add(each.name)
        proto = descriptor_pb2.FileDescriptorProto()
        each.CopyToProto(proto)
        serialized.append(proto.SerializeToString())
        pending.extend(each.dependencies)
    return serialized


def _serialized(message: Message) -> bytes:
    return message.SerializeToString()


_MALFORMED = "the request is not a valid ServerReflectionRequest"


def add_reflection(
    server: grpc.Server | grpc.aio.Server, services: Sequence[str], *, asyncio: bool
) -> None:
    """Serve reflection on ``server`` (an asyncio one if ``asyncio``), listing ``services``
    and reflection itself. ``server`` may be a stand-in that only collects the handlers,
    hence ``asyncio``."""
    reflection = _Reflection([*services, *REFLECTION_SERVICES])
    behavior: Any
    if asyncio:

        async def info_async(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[ServerReflectionResponse]:
            async for data in requests:
                response = reflection.answer(data)
                if response is None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED)
                yield response

        behavior = info_async
    else:

        def info(
            requests: Iterator[bytes], context: grpc.ServicerContext
        ) -> Iterator[ServerReflectionResponse]:
            for data in requests:
                response = reflection.answer(data)
                if response is None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, _MALFORMED)
                yield response

        behavior = info
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.stream_stream_rpc_method_handler(
        behavior, response_serializer=_serialized
    )
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
            for name in REFLECTION_SERVICES
        )
    )
