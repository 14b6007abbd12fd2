"""The TLS flags of ``greeter serve`` and ``greeter greet``, and what they become: the
server's ``ServerTLS``, the client's ``ClientTLS``.

Both commands take a certificate and its key as ``--tls-cert`` and ``--tls-key``, which
go together.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from greeter.cli._output import UsageError

if TYPE_CHECKING:
    from greeter._tls import ClientTLS, ServerTLS

__all__ = ["add_client_tls_flags", "add_server_tls_flags", "client_tls", "server_tls"]


def _add_certificate_flags(group: argparse._ArgumentGroup, certificate_help: str) -> None:
    group.add_argument("--tls-cert", metavar="FILE", help=certificate_help)
    group.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")


def _check_certificate_flags(args: argparse.Namespace) -> None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")


def add_server_tls_flags(group: argparse._ArgumentGroup) -> None:
    """``greeter serve``'s TLS flags: its certificate, and the CA of its clients'."""
    _add_certificate_flags(group, "serve TLS with this certificate chain")
    client_ca_help = "require client certificates signed by this CA (mutual TLS)"
    group.add_argument("--tls-client-ca", metavar="FILE", help=client_ca_help)


def server_tls(args: argparse.Namespace) -> ServerTLS | None:
    """The server's TLS from ``greeter serve``'s flags; ``None``: plaintext."""
    from greeter._tls import ServerTLS

    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    _check_certificate_flags(args)
    return ServerTLS(args.tls_cert, args.tls_key, client_ca=args.tls_client_ca)


def add_client_tls_flags(group: argparse._ArgumentGroup) -> None:
    """``greeter greet``'s TLS flags: how to verify the server, and its own certificate."""
    group.add_argument(
        "--tls", action="store_true", help="call over TLS, verified with the system's CAs"
    )
    group.add_argument("--tls-ca", metavar="FILE", help="call over TLS, verified with this CA")
    _add_certificate_flags(group, "present this client certificate (mutual TLS)")
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="the name to verify in the server's certificate instead of the target's host",
    )


def client_tls(args: argparse.Namespace) -> ClientTLS | None:
    """The client's TLS from ``greeter greet``'s flags; ``None``: plaintext."""
    from greeter._tls import ClientTLS

    _check_certificate_flags(args)
    wanted = args.tls or any(value is not None for value in (args.tls_ca, args.tls_cert))
    if not wanted:
        if args.tls_server_name is not None:
            raise UsageError("--tls-server-name needs TLS: add --tls or --tls-ca FILE")
        return None
    return ClientTLS(
        ca=args.tls_ca,
        certificate_chain=args.tls_cert,
        private_key=args.tls_key,
        server_name=args.tls_server_name,
    )
