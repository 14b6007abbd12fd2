"""Transport security: TLS and mutual TLS for servers and clients.

Certificates and keys are PEM. Each may be given as ``bytes`` (the PEM itself) or as a
path (``str`` or ``os.PathLike``) to a PEM file, read when the server or client is made.
They are checked then with the standard library's ``ssl`` module (grpc's own checks come
later, as grpc core log lines and a misleading error), so a wrong file is one
``ValueError`` naming it and what is wrong with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


def _named(source: PEM, what: str) -> str:
    """``what`` and where it came from, for an error message."""
    if isinstance(source, bytes):
        return f"the {what} (given as bytes)"
    return f"the {what} {os.fspath(source)!r}"


def _check_certificates(pem: bytes, source: PEM, what: str) -> None:
    """ValueError unless ``pem`` holds at least one PEM certificate."""
    import ssl  # here: only TLS users need it

    text = pem.decode("ascii", errors="replace")  # PEM is ASCII; anything else fails
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except (ssl.SSLError, TypeError):
        hint = " (it holds a private key: are the certificate and key swapped?)"
        raise ValueError(
            f"{_named(source, what)} is not a PEM certificate"
            f"{hint if 'PRIVATE KEY-----' in text else ''}"
        ) from None


def _refuse_a_passphrase() -> bytes:
    # Without a callback, OpenSSL would prompt for the passphrase on the terminal.
    raise ValueError("encrypted")


@contextmanager
def _as_files(*sources: tuple[PEM, bytes]) -> Iterator[list[str]]:
    """Paths holding each ``(source, pem)``: the source's own, or a private copy of bytes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="greeter-tls-") as directory:
        paths = []
        for number, (source, pem) in enumerate(sources):
            if isinstance(source, bytes):
                path = os.path.join(directory, f"{number}.pem")
                with open(path, "wb") as file:
                    file.write(pem)
            else:
                path = os.fspath(source)
            paths.append(path)
        yield paths


def _check_key_pair(certificate_chain: PEM, private_key: PEM, what: str) -> tuple[bytes, bytes]:
    """Read a certificate and its key; ValueError unless both are PEM and belong together.

    Returns ``(private_key, certificate_chain)`` as PEM bytes, the order grpc takes them.
    """
    import ssl  # here: only TLS users need it

    chain = read_pem(certificate_chain, f"{what} certificate chain")
    key = read_pem(private_key, f"{what} private key")
    _check_certificates(chain, certificate_chain, f"{what} certificate chain")
    key_named = _named(private_key, f"{what} private key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # ssl reads a key pair from files only: PEM given as bytes is copied to a private
    # directory for the check.
    with _as_files((certificate_chain, chain), (private_key, key)) as (chain_file, key_file):
        try:
            context.load_cert_chain(chain_file, key_file, password=_refuse_a_passphrase)
        except ValueError:
            raise ValueError(
                f"{key_named} is encrypted: grpc needs it unencrypted "
                "(openssl pkey -in KEY -out PLAIN_KEY)"
            ) from None
        except ssl.SSLError:
            if b"PRIVATE KEY-----" not in key:
                raise ValueError(f"{key_named} is not a PEM private key") from None
            raise ValueError(
                f"{key_named} does not belong to {_named(certificate_chain, what + ' certificate')}"
            ) from None
    return key, chain


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

    def check(self) -> None:
        """Read and check the files, as ``credentials()`` does, without making any.

        Raises ``OSError`` if a file cannot be read, ``ValueError`` if one is not PEM or
        the key does not belong to the certificate, each naming the file. ``serve()``
        calls it before starting worker processes, so a mistake is one error, not one
        per worker.
        """
        self._pem()

    def credentials(self) -> grpc.ServerCredentials:
        """The grpc server credentials for these files (checked first, see ``check()``)."""
        pair, client_ca = self._pem()
        if client_ca is None:
            return grpc.ssl_server_credentials([pair])
        return grpc.ssl_server_credentials(
            [pair], root_certificates=client_ca, require_client_auth=True
        )

    def _pem(self) -> tuple[tuple[bytes, bytes], bytes | None]:
        """The checked ``(key, chain)`` pair and client CA, as grpc takes them."""
        pair = _check_key_pair(self.certificate_chain, self.private_key, "TLS")
        if self.client_ca is None:
            return pair, None
        client_ca = read_pem(self.client_ca, "client CA certificate")
        _check_certificates(client_ca, self.client_ca, "client CA certificate")
        return pair, client_ca


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
        """The grpc channel credentials for these files.

        Raises ``OSError`` if a file cannot be read, ``ValueError`` if one is not PEM or
        the key does not belong to the certificate, each naming the file.
        """
        ca = None
        if self.ca is not None:
            ca = read_pem(self.ca, "CA certificate")
            _check_certificates(ca, self.ca, "CA certificate")
        key = chain = None
        if self.certificate_chain is not None and self.private_key is not None:
            key, chain = _check_key_pair(self.certificate_chain, self.private_key, "client")
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=chain
        )

    def channel_options(self) -> list[ChannelOption]:
        """The channel arguments these settings imply (the server-name override)."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]
