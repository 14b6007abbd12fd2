"""The generator: a ``CodeGeneratorRequest`` in, one ``<file>_greeter.py`` per proto out.

``generate(request)`` is the one function every way in calls (the ``protoc-gen-greeter``
plugin, ``greeter generate``, the ``greeter.build`` backend). For each file to generate
that declares services it writes, beside protoc's ``_pb2.py``, a module with four
classes per service (``InventoryClient``, ``AsyncInventoryClient``,
``InventoryService``, ``AsyncInventoryService``) over a method table; the behaviour is
``greeter.rpc``'s. Its three steps have a module each: naming rules
(``greeter.codegen._gennames``), the plan of a module's names (``_genplan``) and its
text (``_gentext``). A problem in the protos (a name clash, a type it cannot find) is
reported in ``response.error``.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from greeter.codegen._gennames import greeter_module_path
from greeter.codegen._genplan import GenerationError, TypeIndex, plan_module
from greeter.codegen._gentext import render

__all__ = ["GenerationError", "generate"]


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
        types = TypeIndex(request.proto_file)
        for name in request.file_to_generate:
            proto = files.get(name)
            if proto is None:
                raise GenerationError(f"{name}: not among the request's proto files")
            if proto.service:
                generated = response.file.add()
                generated.name = greeter_module_path(proto.name)
                generated.content = render(plan_module(proto, types))
    except GenerationError as error:
        del response.file[:]
        response.error = str(error)
    except Exception as error:  # a bug here must still reach the user as a message
        del response.file[:]
        response.error = f"greeter's generator failed: {type(error).__name__}: {error}"
    return response
