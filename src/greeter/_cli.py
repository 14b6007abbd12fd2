"""The ``greeter`` command: ``greeter serve`` and ``greeter greet NAME``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from greeter._client import DEFAULT_TARGET, GreeterClient
from greeter._exceptions import GreeterError
from greeter._server import DEFAULT_ADDRESS
from greeter._service import GreeterService

__all__ = ["main"]

#: Exit status when a call fails or the server cannot start.
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greeter",
        description="Serve or call the gRPC helloworld.Greeter service.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a Greeter server until SIGINT or SIGTERM",
        description="Run a Greeter server with the canonical greetings until SIGINT or "
        "SIGTERM, then stop gracefully.",
    )
    serve.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"host:port to listen on; port 0 picks a free port (default: {DEFAULT_ADDRESS})",
    )
    serve.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="on shutdown, how long in-flight calls may finish (default: 5)",
    )

    greet = commands.add_parser(
        "greet",
        help="call a Greeter server and print its reply",
        description="Call SayHello (or SayHelloAgain) and print the reply's message.",
    )
    greet.add_argument("name", metavar="NAME", help="the name to greet")
    greet.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        help=f"host:port of the server (default: {DEFAULT_TARGET})",
    )
    greet.add_argument("--again", action="store_true", help="call SayHelloAgain instead")
    greet.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="deadline for the call (default: 10)",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from greeter._config import ServerConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        GreeterService().serve(args.address, config=ServerConfig(grace_seconds=args.grace))
    except (OSError, ValueError) as exc:
        print(f"greeter: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _greet(args: argparse.Namespace) -> int:
    with GreeterClient(args.target, timeout=args.timeout) as client:
        try:
            reply = client.greet_again(args.name) if args.again else client.greet(args.name)
        except GreeterError as error:
            one_line = " ".join(str(error).split())
            print(f"greeter: {one_line}", file=sys.stderr)
            return EXIT_FAILURE
    print(reply)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _greet(args)


if __name__ == "__main__":
    sys.exit(main())
