"""Throwaway certificates for the TLS, mTLS and auth tests, made fresh for each test run.

Two unrelated certificate authorities, each with a server certificate (``localhost``,
127.0.0.1 and ::1) and a client certificate: ``trusted`` is the one the tests' servers
and clients trust, ``untrusted`` plays the stranger. No private key is ever committed:
the keys live in a temporary directory for the length of the test session.

The fixtures are ``certificates`` (everything, session-scoped; the trusted files are
``ca.pem``, ``server.pem``, ``server-key.pem``, ``client.pem``, ``client-key.pem`` in
``certificates.directory``) and ``client_kind`` (run a test with the sync and the asyncio
client). A test module loads them with ``pytest_plugins = ["tests.certs"]``.
``greet_once`` makes one SayHello call with either client.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from greeter import AsyncGreeterClient, ClientTLS, GreeterClient

#: The name (DNS SAN) and SPIFFE-style URI (URI SAN) in every client certificate.
CLIENT_DNS_NAME = "client.example"
CLIENT_URI = "spiffe://example.test/greeter-client"
#: The common name of the trusted authority's client certificate.
CLIENT_COMMON_NAME = "greeter test client"
#: The only name in ``Authority.named_server``: a name that no address resolves to.
OTHER_SERVER_NAME = "greeter.internal"

_VALIDITY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pem:
    """One PEM file: where it was written and what it holds."""

    path: Path
    data: bytes


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key."""

    certificate: Pem
    private_key: Pem


@dataclass(frozen=True)
class Authority:
    """A CA and the certificates it issued."""

    ca: Pem
    #: For ``localhost``, 127.0.0.1 and ::1.
    server: KeyPair
    #: For ``OTHER_SERVER_NAME`` only (to test ``ClientTLS(server_name=...)``).
    named_server: KeyPair
    #: CN, DNS SAN ``client.example`` and URI SAN ``CLIENT_URI``; for client auth.
    client: KeyPair


@dataclass(frozen=True)
class Certificates:
    """Everything the tests need, in one directory."""

    directory: Path
    trusted: Authority
    untrusted: Authority


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(directory: Path, filename: str, data: bytes) -> Pem:
    path = directory / filename
    path.write_bytes(data)
    return Pem(path, data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


class _Issuer:
    """A CA that writes itself and the certificates it signs as ``{prefix}NAME.pem``."""

    def __init__(self, directory: Path, prefix: str, common_name: str) -> None:
        self.directory = directory
        self.prefix = prefix
        self.key = _new_key()
        self.name = _name(common_name)
        certificate = (
            _builder(self.name, self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca = _write(
            directory, f"{prefix}ca.pem", certificate.public_bytes(serialization.Encoding.PEM)
        )

    def issue(
        self,
        role: str,
        common_name: str,
        names: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
    ) -> KeyPair:
        key = _new_key()
        certificate = (
            _builder(_name(common_name), self.name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return KeyPair(
            _write(
                self.directory,
                f"{self.prefix}{role}.pem",
                certificate.public_bytes(serialization.Encoding.PEM),
            ),
            _write(self.directory, f"{self.prefix}{role}-key.pem", _key_pem(key)),
        )


def make_authority(directory: Path, prefix: str, client_common_name: str) -> Authority:
    """A new CA with a server, a named server and a client certificate, written as PEM.

    The files are ``{prefix}ca.pem``, ``{prefix}server.pem`` and ``{prefix}server-key.pem``,
    ``{prefix}named-server.pem`` (and ``-key``), ``{prefix}client.pem`` (and ``-key``).
    """
    issuer = _Issuer(directory, prefix, f"{prefix}greeter test CA")
    server_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    client_names: list[x509.GeneralName] = [
        x509.DNSName(CLIENT_DNS_NAME),
        x509.UniformResourceIdentifier(CLIENT_URI),
    ]
    server_auth = ExtendedKeyUsageOID.SERVER_AUTH
    return Authority(
        ca=issuer.ca,
        server=issuer.issue("server", "localhost", server_names, server_auth),
        named_server=issuer.issue(
            "named-server", OTHER_SERVER_NAME, [x509.DNSName(OTHER_SERVER_NAME)], server_auth
        ),
        client=issuer.issue(
            "client",
            client_common_name,
            client_names,
            ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
    )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A trusted and an untrusted authority, with PEM files in a session temp directory.

    The trusted authority's files have plain names (``ca.pem``, ``server.pem``,
    ``server-key.pem``, ``client.pem``, ``client-key.pem``), as the README's examples use
    them; the untrusted one's start with ``untrusted-``.
    """
    directory = tmp_path_factory.mktemp("certs")
    return Certificates(
        directory=directory,
        trusted=make_authority(directory, "", CLIENT_COMMON_NAME),
        untrusted=make_authority(directory, "untrusted-", "untrusted test client"),
    )


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Run a test with ``GreeterClient`` and with ``AsyncGreeterClient``."""
    kind: str = request.param
    return kind


def greet_once(
    client_kind: str,
    target: str,
    *,
    tls: ClientTLS | None = None,
    token: str | Callable[[], str] | None = None,
    unsafe_plaintext_token: bool = False,
    name: str = "you",
) -> str:
    """One SayHello call with a new sync or asyncio client; its reply."""
    if client_kind == "sync":
        with GreeterClient(
            target,
            timeout=10,
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
        ) as client:
            return client.greet(name)

    async def call() -> str:
        async with AsyncGreeterClient(
            target,
            timeout=10,
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
        ) as client:
            return await client.greet(name)

    return asyncio.run(call())
