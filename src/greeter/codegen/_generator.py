"""The generator: a ``CodeGeneratorRequest`` in, one ``<file>_greeter.py`` per proto out.

``generate(request)`` is the one function every way in calls (the ``protoc-gen-greeter``
plugin, ``greeter generate``, the ``greeter.build`` backend). For each file to generate
that declares services it writes, beside protoc's ``_pb2.py``, a module with four
classes per service (``InventoryClient``, ``AsyncInventoryClient``,
``InventoryService``, ``AsyncInventoryService``) over a method table; the behaviour is
``greeter.rpc``'s. Naming rules are in ``greeter.codegen._gennames``. A problem in the
protos (a name clash, a type it cannot find) is reported in ``response.error``.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from greeter.codegen._gennames import (
    docstring_lines,
    free_name,
    greeter_module_path,
    long_alias,
    method_attribute,
    pb2_module,
    snake_case,
)

__all__ = ["GenerationError", "generate"]

#: Where a service's, and a method's, comments are in ``SourceCodeInfo``
#: (``FileDescriptorProto.service`` is field 6, ``ServiceDescriptorProto.method`` 2).
_SERVICE_FIELD = 6
_METHOD_FIELD = 2

#: Names the module binds besides its classes and ``_pb2`` aliases.
_MODULE_NAMES = frozenset(
    {"annotations", "greeter", "AsyncIterable", "AsyncIterator", "Iterable", "Iterator"}
)

_OPTION_PARAMETERS = """\
        *,
        timeout: float | None = None,
        metadata: greeter.rpc.Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: greeter.rpc.Compression | None = None,"""


def _is_cap_words(name: str) -> bool:
    """What ruff's N801 (and PEP 8) asks of a class name: ``InventoryClient``."""
    return name[:1].isupper() and "_" not in name


class GenerationError(Exception):
    """A proto the generator cannot turn into Python; the message says what to change."""


def _check_python_names(dotted: str, what: str) -> None:
    """Python code can only name ``dotted`` if each part is an identifier, no keyword."""
    for part in dotted.split("."):
        if keyword.iskeyword(part) or not part.isidentifier():
            raise GenerationError(
                f"{what}, {dotted}, cannot be written in Python: {part!r} is "
                f"{'a Python keyword' if keyword.iskeyword(part) else 'no identifier'}; "
                "rename it in the proto"
            )


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Generate ``<file>_greeter.py`` for each file to generate that declares services."""
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = (
        plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
        | plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS
    )
    # Editions change how fields are encoded, which is protoc's _pb2 business; the
    # generator only reads services and message names, alike in every edition.
    response.minimum_edition = descriptor_pb2.EDITION_PROTO2
    response.maximum_edition = descriptor_pb2.EDITION_2024
    try:
        files = {proto.name: proto for proto in request.proto_file}
        types = _TypeIndex(request.proto_file)
        for name in request.file_to_generate:
            proto = files.get(name)
            if proto is None:
                raise GenerationError(f"{name}: not among the request's proto files")
            if proto.service:
                generated = response.file.add()
                generated.name = greeter_module_path(proto.name)
                generated.content = _Module(proto, types).render()
    except GenerationError as error:
        del response.file[:]
        response.error = str(error)
    except Exception as error:  # a bug here must still reach the user as a message
        del response.file[:]
        response.error = f"greeter's generator failed: {type(error).__name__}: {error}"
    return response


@dataclass(frozen=True)
class _MessageType:
    """Where a message is defined: its file and its Python name in the ``_pb2`` module."""

    proto_file: str
    python_name: str  #: ``Item``, or ``Outer.Inner`` for a nested message


class _TypeIndex:
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
        module: short if len(sharing) == 1 and short not in _MODULE_NAMES else long_alias(module)
        for short, sharing in by_short.items()
        for module in sharing
    }


@dataclass(frozen=True)
class _Rpc:
    """One RPC, with every name the generated code uses for it."""

    name: str  #: ``GetItem``
    attribute: str  #: ``get_item``
    with_call: str | None  #: ``get_item_with_call``, for RPCs with one response
    shape: str  #: ``UNARY_UNARY``, ... (a ``greeter.rpc.Shape`` member)
    request: str  #: ``inventory_pb2.GetItemRequest``
    response: str  #: ``inventory_pb2.Item``
    comment: str


@dataclass(frozen=True)
class _ServiceNames:
    full_name: str  #: ``shop.v1.Inventory``
    table: str  #: ``_Inventory``
    client: str
    async_client: str
    service: str
    async_service: str
    comment: str
    rpcs: tuple[_Rpc, ...]


class _Module:
    """The text of one generated module."""

    def __init__(self, proto: descriptor_pb2.FileDescriptorProto, types: _TypeIndex) -> None:
        self.proto = proto
        self.types = types
        self.comments = {
            tuple(location.path): location.leading_comments
            for location in proto.source_code_info.location
        }
        _check_python_names(pb2_module(proto.name), f"{proto.name}: its module")
        #: Each ``_pb2`` module the services use -> the name it is imported as.
        self.imports = _import_names(
            pb2_module(types.find(full_name, proto.name).proto_file)
            for service in proto.service
            for method in service.method
            for full_name in (method.input_type, method.output_type)
        )
        self.typing_names: set[str] = set()
        self.services = [
            self._service(index, service) for index, service in enumerate(proto.service)
        ]
        self._check_module_names()

    # ------------------------------------------------------------------ names

    def _service(self, index: int, service: descriptor_pb2.ServiceDescriptorProto) -> _ServiceNames:
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
            shape = (
                f"{'STREAM' if method.client_streaming else 'UNARY'}_"
                f"{'STREAM' if method.server_streaming else 'UNARY'}"
            )
            rpcs.append(
                _Rpc(
                    name=method.name,
                    attribute=attribute,
                    with_call=with_call,
                    shape=shape,
                    request=self._type(method.input_type, where),
                    response=self._type(method.output_type, where),
                    comment=self.comments.get((_SERVICE_FIELD, index, _METHOD_FIELD, number), ""),
                )
            )
        return _ServiceNames(
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

    def _check_module_names(self) -> None:
        """Two services whose classes would share a name are an error, not a silent loss."""
        owners: dict[str, str] = dict.fromkeys(_MODULE_NAMES, "the module's own imports")
        for service in self.services:
            for name in (
                service.table,
                service.client,
                service.async_client,
                service.service,
                service.async_service,
            ):
                if name in owners:
                    raise GenerationError(
                        f"{self.proto.name}: service {service.full_name} would generate "
                        f"{name}, which {owners[name]} generates too; rename one of the "
                        "services"
                    )
                owners[name] = f"service {service.full_name}"

    # ------------------------------------------------------------------ text

    def render(self) -> str:
        body: list[str] = []
        for service in self.services:
            body += self._table(service)
            body += self._client(service, is_async=False)
            body += self._client(service, is_async=True)
            body += self._service_class(service, is_async=False)
            body += self._service_class(service, is_async=True)
        return "\n".join([*self._header(), *body]).rstrip("\n") + "\n"

    def _header(self) -> list[str]:
        lines = [
            f'"""Typed greeter clients and services for {self.proto.name}.',
            "",
            "Generated by greeter's code generator (greeter.codegen); do not edit. The",
            "classes are names and types over greeter.rpc, which has the behaviour.",
            '"""',
            "",
        ]
        if any(not _is_cap_words(service.client) for service in self.services):
            lines.append("# ruff: noqa: N801  (the class names follow the proto's service names)")
        lines += [
            "from __future__ import annotations",
            "",
            "# The imports follow the proto files, whatever the project's import sections.",
            "# isort: off",
        ]
        if self.typing_names:
            lines += [f"from collections.abc import {', '.join(sorted(self.typing_names))}", ""]
        lines.append("import greeter.rpc")
        for module, bound in sorted(self.imports.items()):
            package, _, short = module.rpartition(".")
            alias = "" if bound == short else f" as {bound}"
            if package:
                lines.append(f"from {package} import {short}{alias}")
            else:
                lines.append(f"import {short}{alias}")
        return [*lines, "# isort: on", "", ""]

    def _table(self, service: _ServiceNames) -> list[str]:
        lines = [
            f"class {service.table}:",
            f'    """The RPCs of ``{service.full_name}``, which the classes below share."""',
            "",
        ]
        for rpc in service.rpcs:
            lines += [
                f"    {rpc.attribute} = greeter.rpc.Method(",
                f'        "/{service.full_name}/{rpc.name}",',
                f'        "{rpc.attribute}",',
                f"        greeter.rpc.Shape.{rpc.shape},",
                f"        {rpc.request},",
                f"        {rpc.response},",
                "    )",
            ]
        listed = [f"            {rpc.attribute}," for rpc in service.rpcs]
        if len(service.rpcs) > 1:
            methods = ["        (", *listed, "        ),"]
        else:  # ruff format keeps () and (one,) on one line
            methods = [f"        ({''.join(rpc.attribute + ',' for rpc in service.rpcs)}),"]
        return [
            *lines,
            "    definition = greeter.rpc.ServiceDefinition(",
            f'        "{service.full_name}",',
            *methods,
            "    )",
            "",
            "",
        ]

    def _client(self, service: _ServiceNames, *, is_async: bool) -> list[str]:
        name = service.async_client if is_async else service.client
        base = "AsyncClient" if is_async else "Client"
        kind = "An asyncio" if is_async else "A blocking"
        lines = [f"class {name}(greeter.rpc.{base}):"]
        lines += docstring_lines(
            f"{kind} client of ``{service.full_name}``.",
            service.comment,
            "    ",
        )
        lines += ["", f"    definition = {service.table}.definition", ""]
        for rpc in service.rpcs:
            lines += self._client_method(service, rpc, is_async=is_async, with_call=False)
            if rpc.with_call is not None:
                lines += self._client_method(service, rpc, is_async=is_async, with_call=True)
        return [*lines, ""]

    def _client_method(
        self, service: _ServiceNames, rpc: _Rpc, *, is_async: bool, with_call: bool
    ) -> list[str]:
        streams_requests = rpc.shape.startswith("STREAM")
        streams_responses = rpc.shape.endswith("STREAM")
        if streams_requests:
            self.typing_names.add("Iterable")
            parameter = f"requests: Iterable[{rpc.request}]"
            if is_async:
                self.typing_names.add("AsyncIterable")
                parameter += f" | AsyncIterable[{rpc.request}]"
        else:
            parameter = f"request: {rpc.request}"
        if streams_responses:
            stream = "AsyncResponseStream" if is_async else "ResponseStream"
            returns = f"greeter.rpc.{stream}[{rpc.response}]"
        elif with_call:
            returns = f"greeter.rpc.Response[{rpc.response}]"
        else:
            returns = rpc.response
        helper = rpc.shape.lower() + ("_with_call" if with_call else "")
        awaits = is_async and not streams_responses
        method = rpc.with_call if with_call else rpc.attribute
        summary = f"Call ``{service.full_name}/{rpc.name}``"
        summary += ", with the server's metadata." if with_call else "."
        return [
            f"    {'async def' if awaits else 'def'} {method}(",
            "        self,",
            f"        {parameter},",
            _OPTION_PARAMETERS,
            f"    ) -> {returns}:",
            *docstring_lines(summary, "" if with_call else rpc.comment, "        "),
            f"        return {'await ' if awaits else ''}self._{helper}(",
            f"            {service.table}.{rpc.attribute},",
            f"            {'requests' if streams_requests else 'request'},",
            "            timeout,",
            "            metadata,",
            "            wait_for_ready,",
            "            compression,",
            "        )",
            "",
        ]

    def _service_class(self, service: _ServiceNames, *, is_async: bool) -> list[str]:
        name = service.async_service if is_async else service.service
        base = "AsyncService" if is_async else "Service"
        server = "the asyncio server" if is_async else "the threaded server"
        lines = [f"class {name}(greeter.rpc.{base}):"]
        lines += docstring_lines(
            f"Serve ``{service.full_name}`` on {server}.",
            f" Override the RPCs you serve; the others answer UNIMPLEMENTED.\n\n{service.comment}",
            "    ",
        )
        lines += ["", f"    definition = {service.table}.definition", ""]
        for rpc in service.rpcs:
            lines += self._service_method(service, rpc, is_async=is_async)
        return [*lines, ""]

    def _service_method(self, service: _ServiceNames, rpc: _Rpc, *, is_async: bool) -> list[str]:
        streams_requests = rpc.shape.startswith("STREAM")
        streams_responses = rpc.shape.endswith("STREAM")
        iterator = "AsyncIterator" if is_async else "Iterator"
        if streams_requests or streams_responses:
            self.typing_names.add(iterator)
        parameter = f"request: {rpc.request}"
        if streams_requests:
            parameter = f"requests: {iterator}[{rpc.request}]"
        returns = f"{iterator}[{rpc.response}]" if streams_responses else rpc.response
        # An async streaming method is a plain def here, so that an override written as
        # an async generator (`async def` with `yield`) has the same type.
        keyword = "async def" if is_async and not streams_responses else "def"
        summary = f"Serve ``{service.full_name}/{rpc.name}`` (override it)."
        return [
            f"    {keyword} {rpc.attribute}(",
            "        self,",
            f"        {parameter},",
            f"    ) -> {returns}:",
            *docstring_lines(summary, rpc.comment, "        "),
            "        raise greeter.rpc.Unimplemented(",
            f'            "{service.full_name}/{rpc.name} is not implemented by this server",',
            "        )",
            "",
        ]
