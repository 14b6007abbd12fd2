"""What one generated module holds: each service's names, its RPCs and imports, checked.

``plan_module(proto, types)`` reads a file's services from its descriptor and settles
every name the module will bind or refer to (``InventoryClient``, ``get_item``,
``inventory_pb2.Item``) before any text is written, so that a proto Python cannot name
(a keyword as a package, two services whose classes clash, a message not in the request)
is a ``GenerationError`` that says what to change. How one name becomes another is
``greeter.codegen._gennames``; how a plan becomes text is ``greeter.codegen._gentext``.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from greeter.codegen._gennames import (
    free_name,
    long_alias,
    method_attribute,
    pb2_module,
    snake_case,
)
from greeter.rpc import Shape

__all__ = [
    "MODULE_NAMES",
    "GenerationError",
    "ModulePlan",
    "Rpc",
    "ServiceNames",
    "TypeIndex",
    "plan_module",
]

#: Where a service's, and a method's, comments are in ``SourceCodeInfo``
#: (``FileDescriptorProto.service`` is field 6, ``ServiceDescriptorProto.method`` 2).
_SERVICE_FIELD = 6
_METHOD_FIELD = 2

#: Each RPC's shape by whether its client, and its server, stream.
_SHAPES = {
    (False, False): Shape.UNARY_UNARY,
    (False, True): Shape.UNARY_STREAM,
    (True, False): Shape.STREAM_UNARY,
    (True, True): Shape.STREAM_STREAM,
}

#: Names the module binds besides its classes and ``_pb2`` aliases.
MODULE_NAMES = frozenset(
    {"annotations", "greeter", "AsyncIterable", "AsyncIterator", "Iterable", "Iterator"}
)


class GenerationError(Exception):
    """A proto the generator cannot turn into Python; the message says what to change."""


@dataclass(frozen=True)
class Rpc:
    """One RPC, with every name the generated code uses for it."""

    name: str  #: ``GetItem``
    attribute: str  #: ``get_item``
    with_call: str | None  #: ``get_item_with_call``, for RPCs with one response
    shape: Shape  #: which side streams
    request: str  #: ``inventory_pb2.GetItemRequest``
    response: str  #: ``inventory_pb2.Item``
    comment: str


@dataclass(frozen=True)
class ServiceNames:
    """One service: its full name, the module's five names for it, its RPCs."""

    full_name: str  #: ``shop.v1.Inventory``
    table: str  #: ``_Inventory``
    client: str
    async_client: str
    service: str
    async_service: str
    comment: str
    rpcs: tuple[Rpc, ...]


@dataclass(frozen=True)
class ModulePlan:
    """Everything a generated module says, by name."""

    proto_name: str  #: ``shop/v1/inventory.proto``
    #: Each ``_pb2`` module the services use -> the name it is imported as.
    imports: dict[str, str]
    services: tuple[ServiceNames, ...]


@dataclass(frozen=True)
class _MessageType:
    """Where a message is defined: its file and its Python name in the ``_pb2`` module."""

    proto_file: str
    python_name: str  #: ``Item``, or ``Outer.Inner`` for a nested message


class TypeIndex:
    """Every message of the request by full name (``.shop.v1.Item``)."""

    def __init__(self, proto_files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._types: dict[str, _MessageType] = {}
        for proto in proto_files:
            prefix = f".{proto.package}." if proto.package else "."
            for full_name, python_name in _messages(proto.message_type, prefix, ""):
                self._types[full_name] = _MessageType(proto.name, python_name)

    def find(self, full_name: str, where: str) -> _MessageType:
        found = self._types.get(full_name)
        if found is None:
            raise GenerationError(f"{where}: message type {full_name.lstrip('.')} not found")
        return found


def plan_module(proto: descriptor_pb2.FileDescriptorProto, types: TypeIndex) -> ModulePlan:
    """The plan of ``proto``'s greeter module; ``GenerationError`` if Python cannot say it."""
    _check_python_names(pb2_module(proto.name), f"{proto.name}: its module")
    imports = _import_names(
        pb2_module(types.find(full_name, proto.name).proto_file)
        for service in proto.service
        for method in service.method
        for full_name in (method.input_type, method.output_type)
    )
    services = _Services(proto, types, imports)
    plan = ModulePlan(
        proto_name=proto.name,
        imports=imports,
        services=tuple(services.names(index, s) for index, s in enumerate(proto.service)),
    )
    _check_module_names(plan)
    return plan


def _messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], prefix: str, outer: str
) -> Iterator[tuple[str, str]]:
    for message in messages:
        python_name = f"{outer}{message.name}"
        yield prefix + message.name, python_name
        yield from _messages(message.nested_type, f"{prefix}{message.name}.", f"{python_name}.")


def _import_names(modules: Iterable[str]) -> dict[str, str]:
    """The name each module is imported as: its last part (``types_pb2``), unless two
    modules share it, when each gets protoc's long alias (``shop_dot_v1_dot_types__pb2``)."""
    by_short: dict[str, list[str]] = {}
    for module in dict.fromkeys(modules):  # in first use order, once each
        by_short.setdefault(module.rpartition(".")[2], []).append(module)
    return {
        module: short if len(sharing) == 1 and short not in MODULE_NAMES else long_alias(module)
        for short, sharing in by_short.items()
        for module in sharing
    }


def _check_python_names(dotted: str, what: str) -> None:
    """Python code can only name ``dotted`` if each part is an identifier, no keyword."""
    for part in dotted.split("."):
        if keyword.iskeyword(part) or not part.isidentifier():
            raise GenerationError(
                f"{what}, {dotted}, cannot be written in Python: {part!r} is "
                f"{'a Python keyword' if keyword.iskeyword(part) else 'no identifier'}; "
                "rename it in the proto"
            )


class _Services:
    """Names a file's services, with the file's comments and imports at hand."""

    def __init__(
        self, proto: descriptor_pb2.FileDescriptorProto, types: TypeIndex, imports: dict[str, str]
    ) -> None:
        self.proto = proto
        self.types = types
        self.imports = imports
        self.comments = {
            tuple(location.path): location.leading_comments
            for location in proto.source_code_info.location
        }

    def names(self, index: int, service: descriptor_pb2.ServiceDescriptorProto) -> ServiceNames:
        full_name = f"{self.proto.package}.{service.name}" if self.proto.package else service.name
        taken: set[str] = set()
        attributes = []
        for method in service.method:  # in proto order: the first keeps the plain name
            attributes.append(method_attribute(method.name, taken))
            taken.add(attributes[-1])
        rpcs = []
        for number, (method, attribute) in enumerate(zip(service.method, attributes, strict=True)):
            where = f"{self.proto.name}: {full_name}/{method.name}"
            with_call = None
            if not method.server_streaming:
                with_call = free_name(f"{snake_case(method.name)}_with_call", taken)
                taken.add(with_call)
            shape = _SHAPES[method.client_streaming, method.server_streaming]
            rpcs.append(
                Rpc(
                    name=method.name,
                    attribute=attribute,
                    with_call=with_call,
                    shape=shape,
                    request=self._type(method.input_type, where),
                    response=self._type(method.output_type, where),
                    comment=self.comments.get((_SERVICE_FIELD, index, _METHOD_FIELD, number), ""),
                )
            )
        return ServiceNames(
            full_name=full_name,
            table=f"_{service.name}",
            client=f"{service.name}Client",
            async_client=f"Async{service.name}Client",
            service=f"{service.name}Service",
            async_service=f"Async{service.name}Service",
            comment=self.comments.get((_SERVICE_FIELD, index), ""),
            rpcs=tuple(rpcs),
        )

    def _type(self, full_name: str, where: str) -> str:
        """How the module refers to a message: ``inventory_pb2.Item``."""
        found = self.types.find(full_name, where)
        module = pb2_module(found.proto_file)
        _check_python_names(module, f"{where}: the module of {found.proto_file}")
        _check_python_names(found.python_name, f"{where}: message {full_name.lstrip('.')}")
        return f"{self.imports[module]}.{found.python_name}"


def _check_module_names(plan: ModulePlan) -> None:
    """Two services whose classes would share a name are an error, not a silent loss."""
    owners: dict[str, str] = dict.fromkeys(MODULE_NAMES, "the module's own imports")
    for service in plan.services:
        for name in (
            service.table,
            service.client,
            service.async_client,
            service.service,
            service.async_service,
        ):
            if name in owners:
                raise GenerationError(
                    f"{plan.proto_name}: service {service.full_name} would generate "
                    f"{name}, which {owners[name]} generates too; rename one of the "
                    "services"
                )
            owners[name] = f"service {service.full_name}"
