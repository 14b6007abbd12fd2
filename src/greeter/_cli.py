"""The ``greeter`` command: ``greeter serve`` and ``greeter greet NAME...``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from typing import get_args

from greeter._client import DEFAULT_TARGET, GreeterClient
from greeter._config import Compression, ServerConfig
from greeter._exceptions import GreeterError
from greeter._server import DEFAULT_ADDRESS
from greeter._service import AsyncGreeterService, GreeterService

__all__ = ["main"]

#: Exit status when a call fails or the server cannot start.
EXIT_FAILURE = 1

_MODES = {
    "again": "call SayHelloAgain",
    "stream": "call SayHelloStreamReply: print every greeting streamed for NAME",
    "many": "call SayHelloStreamRequest: send every NAME, print the one greeting",
    "chat": "call SayHelloBidiStream: send every NAME, print each reply as it comes",
}


def _metadata_pair(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.lower(), value


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
    serve.add_argument(
        "--async",
        dest="use_asyncio",
        action="store_true",
        help="serve with the asyncio server (AsyncGreeterService) instead of threads",
    )
    serve.add_argument(
        "--compression",
        choices=get_args(Compression),
        help="compress every response with this algorithm",
    )

    greet = commands.add_parser(
        "greet",
        help="call a Greeter server and print its reply",
        description="Call SayHello (or another RPC, see the mode options) and print each "
        "reply's message on its own line.",
    )
    greet.add_argument("names", nargs="+", metavar="NAME", help="the name(s) to greet")
    greet.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        help=f"host:port of the server (default: {DEFAULT_TARGET})",
    )
    modes = greet.add_mutually_exclusive_group()
    for mode, help_text in _MODES.items():
        modes.add_argument(
            f"--{mode}", dest="mode", action="store_const", const=mode, help=help_text
        )
    greet.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="deadline for the call (default: 10)",
    )
    greet.add_argument(
        "--metadata",
        type=_metadata_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="send this metadata with the call (repeatable)",
    )
    greet.add_argument(
        "--compression", choices=get_args(Compression), help="compress the request(s)"
    )
    greet.add_argument(
        "--wait-for-ready",
        action="store_true",
        help="wait for the server to become reachable instead of failing at once",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = ServerConfig(grace_seconds=args.grace, compression=args.compression)
        service = AsyncGreeterService() if args.use_asyncio else GreeterService()
        service.serve(args.address, config=config)
    except (OSError, ValueError) as exc:
        print(f"greeter: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:  # Ctrl-C while the server was still starting
        return EXIT_FAILURE
    return 0


def _replies(client: GreeterClient, args: argparse.Namespace) -> Iterable[str]:
    names: list[str] = args.names
    if args.mode == "many":
        return [client.greet_many(names)]
    if args.mode == "chat":
        return client.chat(names)
    if args.mode == "stream":
        return client.greet_stream(names[0])
    if args.mode == "again":
        return [client.greet_again(names[0])]
    return [client.greet(names[0])]


def _greet(args: argparse.Namespace) -> int:
    with GreeterClient(
        args.target,
        timeout=args.timeout,
        metadata=args.metadata,
        compression=args.compression,
        wait_for_ready=args.wait_for_ready or None,
    ) as client:
        try:
            for reply in _replies(client, args):
                print(reply, flush=True)
        except GreeterError as error:
            one_line = " ".join(str(error).split())
            print(f"greeter: {one_line}", file=sys.stderr)
            return EXIT_FAILURE
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "greet" and len(args.names) > 1 and args.mode not in ("many", "chat"):
        parser.error("several names need --many or --chat")
    if args.command == "serve":
        return _serve(args)
    return _greet(args)


if __name__ == "__main__":
    sys.exit(main())
