"""The ``greeter`` command: ``greeter serve``, ``greeter greet NAME...`` and
``greeter generate``.

grpc reads ``GRPC_VERBOSITY`` once, when it is imported, and how much grpc core may log
depends on the command line. So reading the command line imports nothing that imports
grpc: ``main`` parses it, and only the command's ``run`` sets the variable, then imports
the server or the client. One module per command (``_serve``, ``_greet``, and the
generator's own ``greeter.codegen._command``); what they
share is in ``_values`` (what flags take), ``_tls_flags`` and ``_output`` (usage errors,
one-line failures, grpc core's log).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Protocol

from greeter import __version__
from greeter.cli import _greet, _serve
from greeter.cli._output import EXIT_INTERRUPTED, UsageError
from greeter.codegen import _command as _generate

__all__ = ["main"]


class _Command(Protocol):
    """A ``greeter`` subcommand: a module with these two functions."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser], /
    ) -> argparse.ArgumentParser:
        """Add the subcommand and its flags to ``subparsers``; its parser."""

    def run(self, args: argparse.Namespace, /) -> int:
        """Run the subcommand; the exit status. ``UsageError`` for flags that do not go
        together."""


#: The subcommands, in the order ``greeter --help`` lists them: a new one is one entry.
_COMMANDS: tuple[_Command, ...] = (_serve, _greet, _generate)


def _parser() -> argparse.ArgumentParser:
    """The whole command line: ``greeter`` and each of its subcommands."""
    parser = argparse.ArgumentParser(
        prog="greeter",
        description=(
            "Serve or call the gRPC helloworld.Greeter service, or generate typed "
            "clients and services from your own .proto files."
        ),
    )
    parser.add_argument("--version", action="version", version=f"greeter {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command_parser = command.add_parser(subparsers)
        command_parser.set_defaults(command_parser=command_parser, run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Flags that do not go together exit with status 2 and the command's usage, as
    argparse's own errors do; a failed call or a server that cannot start prints one
    line and exits with status 1.
    """
    args, unrecognized = _parser().parse_known_args(argv)
    # Errors show the usage of the command they concern (greeter greet ...), not the top's.
    command_parser: argparse.ArgumentParser = args.command_parser
    if unrecognized:
        command_parser.error(f"unrecognized arguments: {' '.join(unrecognized)}")
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as error:
        command_parser.error(str(error))
    except KeyboardInterrupt:  # Ctrl-C: the shell shows it; no traceback
        return EXIT_INTERRUPTED
