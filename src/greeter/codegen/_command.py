"""``greeter generate``: typed clients and services from ``.proto`` files, one command.

::

    greeter generate -I protos --out src protos/shop/v1/inventory.proto

writes ``src/shop/v1/inventory_pb2.py``, ``inventory_pb2.pyi`` and
``inventory_greeter.py``, one line on stderr per file. Exit status: 0 when every file is
written, 1 when protoc rejects the protos (its own message first) or grpcio-tools is
missing, 2 for a usage error such as a missing file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["add_parser", "main", "run"]

EXIT_OK = 0
EXIT_PROTO_ERROR = 1
EXIT_USAGE = 2

_DESCRIPTION = (
    "Compile .proto files into Python: messages (NAME_pb2.py and .pyi, by grpcio-tools' "
    "protoc, run in this process) and a typed client and service for each service "
    "(NAME_greeter.py). Needs grpcio-tools: pip install 'grpc-greeter[codegen]'."
)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``generate`` command to a CLI's subparsers; ``run`` carries it out.

    The parser is in the namespace as ``command_parser``, for ``run``'s usage errors.
    """
    parser = subparsers.add_parser(
        "generate",
        help="generate typed clients and services from .proto files",
        description=_DESCRIPTION,
    )
    _add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``greeter generate`` with ``argv`` (the arguments after ``generate``);
    returns the exit status."""
    parser = argparse.ArgumentParser(prog="greeter generate", description=_DESCRIPTION)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Generate what ``args`` (parsed by ``add_parser``'s parser) asks for; the exit
    status. Reports each file written, or the error, on stderr."""
    # Loaded here, not at the top: the generator brings grpc and protobuf (~150 ms), which
    # a command line adding this parser should not pay for its other commands.
    from greeter.codegen._protoc import GenerateError, GenerateUsageError, generate

    parser: argparse.ArgumentParser = args.command_parser
    try:
        written = generate(args.proto_path or ["."], args.files, args.out)
    except GenerateUsageError as error:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except GenerateError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_PROTO_ERROR
    for path in written:
        print(f"{parser.prog}: wrote {path}", file=sys.stderr)
    return EXIT_OK


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(command_parser=parser)
    parser.add_argument(
        "-I",
        "--proto_path",
        action="append",
        metavar="PROTO_PATH",
        help="a directory to find .proto files and their imports in; repeatable "
        "(default: the working directory). Well-known types need none.",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="where the Python package tree is written (created if missing)",
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE.proto", help="the .proto files to generate code for"
    )


if __name__ == "__main__":
    sys.exit(main())
