"""``protoc-gen-greeter``: the protoc plugin, a thin pipe around the generator.

protoc runs it for ``--greeter_out=DIR``, with a ``CodeGeneratorRequest`` on stdin; the
``CodeGeneratorResponse`` it writes to stdout names the ``_greeter.py`` modules for
protoc to write. Problems with the protos travel in the response's ``error``, which
protoc prints and exits 1 on::

    python -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen \\
        --greeter_out=gen protos/shop/v1/inventory.proto
"""

from __future__ import annotations

import sys

from google.protobuf.compiler.plugin_pb2 import CodeGeneratorRequest

from greeter.codegen._generator import generate

__all__ = ["main"]


#: For a person who runs the plugin in a terminal, where it would wait for a request.
USAGE = (
    "protoc-gen-greeter is a protoc plugin: protoc runs it for --greeter_out, e.g.\n"
    "  python -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen "
    "--greeter_out=gen protos/shop/v1/inventory.proto\n"
    "or, with no protoc at hand: greeter generate -I protos --out gen FILE.proto"
)


def main() -> int:
    """Answer the request protoc writes to stdin; the exit status (0: protoc reads the
    answer, errors included; 2, with a usage message, when stdin is a terminal)."""
    if sys.stdin.isatty():
        print(USAGE, file=sys.stderr)
        return 2
    request = CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = generate(request)
    sys.stdout.buffer.write(response.SerializeToString())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
