"""Transport security: TLS and mutual TLS for servers and clients.

Certificates and keys are PEM. Each may be given as ``bytes`` (the PEM itself) or as a
path (``str`` or ``os.PathLike``) to a PEM file, read when the server or client is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeAlias

import grpc

from greeter._options import ChannelOption

__all__ = ["PEM", "ClientTLS", "ServerTLS"]

#: A PEM certificate or key: the ``bytes`` themselves, or the path of a file holding them.
PEM: TypeAlias = bytes | str | os.PathLike[str]


def read_pem(source: PEM, what: str) -> bytes:
    """The PEM bytes of ``source``; a missing file is one clear ``OSError``."""
    if isinstance(source, bytes):
        return source
    try:
        with open(source, "rb") as file:
            return file.read()
    except OSError as exc:
        raise OSError(
            f"cannot read the {what} from {os.fspath(source)!r}: {exc.strerror}"
        ) from None


@dataclass(frozen=True)
class ServerTLS:
    """Serve over TLS; with ``client_ca``, mutual TLS.

    ::

        config = ServerConfig(tls=ServerTLS("server.crt", "server.key"))

    Attributes:
        certificate_chain: the server's certificate (followed by any intermediates).
        private_key: the certificate's private key.
        client_ca: CA certificate(s) that client certificates must chain to. When set,
            every client must present a certificate signed by it (mTLS); a service
            method reads the verified identity from ``self.context.peer_identities``.
    """

    certificate_chain: PEM
    private_key: PEM
    client_ca: PEM | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """The grpc server credentials for these files."""
        pair = (
            read_pem(self.private_key, "TLS private key"),
            read_pem(self.certificate_chain, "TLS certificate chain"),
        )
        if self.client_ca is None:
            return grpc.ssl_server_credentials([pair])
        return grpc.ssl_server_credentials(
            [pair],
            root_certificates=read_pem(self.client_ca, "client CA certificate"),
            require_client_auth=True,
        )


@dataclass(frozen=True)
class ClientTLS:
    """Call a server over TLS; with a certificate and key of the client's own, mTLS.

    ::

        GreeterClient("greeter.example.com:443", tls=ClientTLS())          # system roots
        GreeterClient("localhost:50051", tls=ClientTLS(ca="ca.crt"))      # private CA

    Attributes:
        ca: CA certificate(s) to verify the server with; ``None`` uses the system roots.
        certificate_chain: the client's certificate, for servers that require one.
        private_key: the client certificate's private key.
        server_name: the name to verify in the server's certificate instead of the
            target's host (for tests, or for addressing a server by IP).
    """

    ca: PEM | None = None
    certificate_chain: PEM | None = None
    private_key: PEM | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("a client certificate needs both certificate_chain and private_key")

    def credentials(self) -> grpc.ChannelCredentials:
        """The grpc channel credentials for these files."""
        return grpc.ssl_channel_credentials(
            root_certificates=None if self.ca is None else read_pem(self.ca, "CA certificate"),
            private_key=(
                None
                if self.private_key is None
                else read_pem(self.private_key, "client private key")
            ),
            certificate_chain=(
                None
                if self.certificate_chain is None
                else read_pem(self.certificate_chain, "client certificate chain")
            ),
        )

    def channel_options(self) -> list[ChannelOption]:
        """The channel arguments these settings imply (the server-name override)."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]
