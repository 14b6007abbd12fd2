"""``greeter greet NAME...``: its flags, and the command that calls a Greeter server and
prints each reply's message on its own line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, get_args

from greeter._addresses import DEFAULT_TARGET
from greeter._options import Compression
from greeter.cli._output import GRPC_VERBOSITY_VARIABLE, UsageError, failed, quiet_grpc_core
from greeter.cli._tls_flags import add_client_tls_flags, client_tls
from greeter.cli._values import metadata_pair, positive, target

if TYPE_CHECKING:
    from greeter.client._sync import GreeterClient
    from greeter.errors import GreeterError

__all__ = ["TOKEN_VARIABLE", "add_parser", "run"]

#: Where ``greeter greet`` finds its bearer token when ``--token`` is not given.
TOKEN_VARIABLE = "GREETER_TOKEN"

_MODES = {
    "again": "call SayHelloAgain",
    "stream": "call SayHelloStreamReply: print every greeting streamed for NAME",
    "many": "call SayHelloStreamRequest: send every NAME, print the one greeting",
    "chat": "call SayHelloBidiStream: send every NAME, print each reply as it comes",
}

#: What grpc reports when a plaintext client's connection is closed during its opening:
#: a TLS server does that to the HTTP/2 preface it cannot read as a TLS handshake.
_CLOSED_WHILE_CONNECTING = "Socket closed"


_DESCRIPTION = (
    "Call SayHello (or another RPC, see the mode options) and print each reply's message "
    "on its own line. A failed call prints one line, the status and its details, and "
    "exits with status 1; grpc core's own log lines are off unless "
    f"${GRPC_VERBOSITY_VARIABLE} is set."
)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``greeter greet`` and its flags to the command line; its parser."""
    greet = subparsers.add_parser(
        "greet", help="call a Greeter server and print its reply", description=_DESCRIPTION
    )
    greet.add_argument("names", nargs="+", metavar="NAME", help="the name(s) to greet")
    greet.add_argument(
        "--target",
        type=target,
        default=DEFAULT_TARGET,
        help="HOST:PORT of the server, or unix:PATH, or another grpc target such as "
        f"dns:///HOST:PORT (default: {DEFAULT_TARGET})",
    )
    modes = greet.add_mutually_exclusive_group()
    for mode, help_text in _MODES.items():
        modes.add_argument(
            f"--{mode}", dest="mode", action="store_const", const=mode, help=help_text
        )
    greet.add_argument(
        "--timeout",
        type=positive,
        default=10.0,
        metavar="SECONDS",
        help="deadline for the call, more than 0; 'inf' for none (default: 10)",
    )
    greet.add_argument(
        "--metadata",
        type=metadata_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="send this metadata with the call (repeatable). KEY is lowercased and may "
        "hold letters, digits, '-', '_' and '.', not start with 'grpc-'; VALUE is "
        "printable ASCII, or base64 if KEY ends in -bin (x-trace-bin=AAEC sends the "
        "bytes 00 01 02)",
    )
    greet.add_argument(
        "--compression", choices=get_args(Compression), help="compress the request(s)"
    )
    greet.add_argument(
        "--wait-for-ready",
        action="store_true",
        help="wait for the server to become reachable instead of failing at once",
    )
    security = greet.add_argument_group("security")
    add_client_tls_flags(security)
    security.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE) or None,
        metavar="TOKEN",
        help=f"send this bearer token with the call (default: ${TOKEN_VARIABLE})",
    )
    security.add_argument(
        "--unsafe-plaintext-token",
        action="store_true",
        help="allow --token without TLS (local development only: anyone can read it)",
    )
    return greet


def run(args: argparse.Namespace) -> int:
    """Make the call and print its replies; the exit status."""
    # The one-line error carries grpc's details already: grpc core's own lines would
    # only repeat them.
    quiet_grpc_core("NONE")
    from greeter.client._sync import GreeterClient
    from greeter.errors import GreeterError

    if len(args.names) > 1 and args.mode not in ("many", "chat"):
        raise UsageError("several names need --many or --chat")
    if (
        args.token is not None
        and not args.unsafe_plaintext_token
        and not (args.tls or args.tls_ca or args.tls_cert)
    ):
        raise UsageError(
            "--token needs TLS (--tls or --tls-ca FILE); for local development only, "
            "add --unsafe-plaintext-token"
        )
    try:
        tls = client_tls(args)
        client = GreeterClient(
            args.target,
            timeout=args.timeout,
            metadata=args.metadata,
            compression=args.compression,
            wait_for_ready=args.wait_for_ready or None,
            tls=tls,
            token=args.token,
            unsafe_plaintext_token=args.unsafe_plaintext_token,
        )
    except (OSError, ValueError) as error:  # an unreadable --tls-ca file, ...
        return failed(error)
    with client:
        try:
            for reply in _replies(client, args):
                print(reply, flush=True)
        except GreeterError as error:
            return failed(error, _hint(error, plaintext=tls is None))
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


def _hint(error: GreeterError, *, plaintext: bool) -> str | None:
    """What to try next, when the failure suggests one."""
    from greeter.errors import StatusCode

    if (
        plaintext
        and error.code is StatusCode.UNAVAILABLE
        and _CLOSED_WHILE_CONNECTING in error.details
    ):
        return "the server may require TLS (--tls, or --tls-ca FILE)"
    return None
