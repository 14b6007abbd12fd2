"""TLS and mutual TLS: real handshakes over 127.0.0.1 with certificates made for the test.

Every case runs on the threaded and the asyncio server, with the sync and the asyncio
client (``server_kind`` x ``client_kind``).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    ClientTLS,
    GreeterClient,
    GreeterService,
    ServerConfig,
    ServerTLS,
    testing,
)
from tests.certs import (
    CLIENT_COMMON_NAME,
    CLIENT_DNS_NAME,
    CLIENT_URI,
    OTHER_SERVER_NAME,
    Authority,
    Certificates,
    KeyPair,
    greet_once,
)
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, run_cli, serving

SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"


def server_tls(pair: KeyPair, client_ca: Authority | None = None) -> ServerTLS:
    """TLS from files (paths); mTLS when ``client_ca`` is given."""
    return ServerTLS(
        pair.certificate.path,
        pair.private_key.path,
        client_ca=None if client_ca is None else client_ca.ca.path,
    )


def client_tls(authority: Authority, client: KeyPair | None = None) -> ClientTLS:
    """Trust ``authority``; present ``client``'s certificate when given."""
    return ClientTLS(
        ca=authority.ca.path,
        certificate_chain=None if client is None else client.certificate.path,
        private_key=None if client is None else client.private_key.path,
    )


# -- TLS ---------------------------------------------------------------------------------


def test_tls_works_with_the_servers_ca_given_as_files(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with serving(server_kind, config=config) as target:
        tls = client_tls(certificates.trusted)
        assert greet_once(client_kind, target, tls=tls) == "Hello, you!"


def test_tls_works_with_certificates_and_keys_given_as_pem_bytes(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    trusted = certificates.trusted
    config = ServerConfig(
        tls=ServerTLS(trusted.server.certificate.data, trusted.server.private_key.data)
    )
    with serving(server_kind, config=config) as target:
        tls = ClientTLS(ca=trusted.ca.data)
        assert greet_once(client_kind, target, tls=tls) == "Hello, you!"


def test_tls_paths_may_be_given_as_strings(certificates: Certificates) -> None:
    trusted = certificates.trusted
    config = ServerConfig(
        tls=ServerTLS(str(trusted.server.certificate.path), str(trusted.server.private_key.path))
    )
    with serving("sync", config=config) as target:
        assert greet_once("sync", target, tls=ClientTLS(ca=str(trusted.ca.path))) == "Hello, you!"


def test_tls_works_when_dialling_localhost_by_name(certificates: Certificates) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with GreeterService().start(LOOPBACK, config=config) as server:
        target = f"localhost:{server.port}"
        assert greet_once("sync", target, tls=client_tls(certificates.trusted)) == "Hello, you!"


def test_tls_works_over_ipv6_loopback(certificates: Certificates, client_kind: str) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with GreeterService().start("[::1]:0", config=config) as server:
        assert server.target == f"[::1]:{server.port}"
        tls = client_tls(certificates.trusted)
        assert greet_once(client_kind, server.target, tls=tls) == "Hello, you!"


def test_tls_fails_with_unavailable_when_the_client_does_not_trust_the_servers_ca(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with serving(server_kind, config=config) as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=client_tls(certificates.untrusted))


def test_tls_fails_when_the_server_presents_a_certificate_of_another_ca(
    certificates: Certificates, client_kind: str
) -> None:
    config = ServerConfig(tls=server_tls(certificates.untrusted.server))
    with serving("sync", config=config) as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=client_tls(certificates.trusted))


def test_a_plaintext_client_cannot_call_a_tls_port(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with serving(server_kind, config=config) as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target)


def test_a_tls_client_cannot_call_a_plaintext_port(
    certificates: Certificates, client_kind: str
) -> None:
    with serving("sync") as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=client_tls(certificates.trusted))


def test_server_name_overrides_the_name_checked_in_the_servers_certificate(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    # The certificate names only OTHER_SERVER_NAME, not the 127.0.0.1 the client dials.
    config = ServerConfig(tls=server_tls(certificates.trusted.named_server))
    with serving(server_kind, config=config) as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=client_tls(certificates.trusted))
        tls = ClientTLS(ca=certificates.trusted.ca.path, server_name=OTHER_SERVER_NAME)
        assert greet_once(client_kind, target, tls=tls) == "Hello, you!"


def test_server_name_must_match_the_certificate(certificates: Certificates) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    with serving("sync", config=config) as target:
        tls = ClientTLS(ca=certificates.trusted.ca.path, server_name="not-the-server.example")
        with pytest.raises(greeter.Unavailable):
            greet_once("sync", target, tls=tls)


def test_a_client_certificate_without_its_key_is_a_value_error(
    certificates: Certificates,
) -> None:
    with pytest.raises(ValueError, match="private_key"):
        ClientTLS(certificate_chain=certificates.trusted.client.certificate.path)


def test_a_missing_certificate_file_is_an_os_error_naming_the_file(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> None:
    missing = tmp_path_factory.mktemp("nothing") / "missing.pem"
    tls = ServerTLS(missing, certificates.trusted.server.private_key.path)
    with pytest.raises(OSError, match=r"missing\.pem"):
        GreeterService().start(LOOPBACK, config=ServerConfig(tls=tls))


# -- TLS material checked before serving: one error naming the file -------------------

#: What is wrong with a certificate and key pair, and how the error says so.
BAD_PAIRS = {
    "mismatched-key": r"the TLS private key '.*' does not belong to the TLS certificate '.*'",
    "certificate-not-pem": r"the TLS certificate chain '.*junk\.txt' is not a PEM certificate$",
    "swapped": r"is not a PEM certificate \(it holds a private key: are the certificate and",
    "key-not-pem": r"the TLS private key '.*junk\.txt' is not a PEM private key",
    "encrypted-key": r"the TLS private key '.*encrypted\.key' is encrypted",
}


def bad_pair(certificates: Certificates, case: str, directory: Path) -> tuple[Path, Path]:
    """A certificate and key file that ``case`` of ``BAD_PAIRS`` describes."""
    server = certificates.trusted.server
    junk = directory / "junk.txt"
    junk.write_text("not PEM at all\n")
    encrypted = directory / "encrypted.key"
    key = serialization.load_pem_private_key(server.private_key.data, password=None)
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    pairs = {
        "mismatched-key": (server.certificate.path, certificates.untrusted.server.private_key.path),
        "certificate-not-pem": (junk, server.private_key.path),
        "swapped": (server.private_key.path, server.certificate.path),
        "key-not-pem": (server.certificate.path, junk),
        "encrypted-key": (server.certificate.path, encrypted),
    }
    return pairs[case]


@pytest.mark.parametrize("case", BAD_PAIRS)
def test_a_bad_tls_pair_is_a_value_error_naming_the_file_before_serving(
    certificates: Certificates, server_kind: str, case: str, tmp_path: Path
) -> None:
    certificate, key = bad_pair(certificates, case, tmp_path)
    config = ServerConfig(tls=ServerTLS(certificate, key))
    service = GreeterService() if server_kind == "sync" else AsyncGreeterService()
    with pytest.raises(ValueError, match=BAD_PAIRS[case]):
        with testing.serving(service, config=config):
            pass


def test_a_bad_tls_pair_given_as_bytes_says_so(certificates: Certificates) -> None:
    tls = ServerTLS(
        certificates.trusted.server.certificate.data,
        certificates.untrusted.server.private_key.data,
    )
    with pytest.raises(ValueError, match=r"private key \(given as bytes\) does not belong"):
        tls.check()


def test_serve_with_workers_checks_the_tls_pair_before_starting_any(
    certificates: Certificates,
) -> None:
    # Unchecked, each worker would fail on its own (and the parent exit with SystemExit).
    server = certificates.trusted.server
    tls = ServerTLS(server.certificate.path, certificates.untrusted.server.private_key.path)
    with pytest.raises(ValueError, match="does not belong to the TLS certificate"):
        GreeterService().serve(LOOPBACK, config=ServerConfig(tls=tls), workers=2)


def test_a_client_ca_that_is_not_pem_is_a_value_error_naming_the_file(
    certificates: Certificates, tmp_path: Path
) -> None:
    junk = tmp_path / "ca.txt"
    junk.write_text("not PEM\n")
    tls = ServerTLS(
        certificates.trusted.server.certificate.path,
        certificates.trusted.server.private_key.path,
        client_ca=junk,
    )
    with pytest.raises(ValueError, match=r"client CA certificate '.*ca\.txt' is not a PEM"):
        tls.check()


def test_a_client_with_a_ca_that_is_not_pem_fails_at_once_naming_the_file(
    client_kind: str, tmp_path: Path
) -> None:
    junk = tmp_path / "ca.txt"
    junk.write_text("not PEM\n")
    client_class = GreeterClient if client_kind == "sync" else AsyncGreeterClient
    with pytest.raises(ValueError, match=r"the CA certificate '.*ca\.txt' is not a PEM"):
        client_class("localhost:50051", tls=ClientTLS(ca=junk))


def test_a_client_certificate_with_another_key_fails_at_once_naming_the_key(
    certificates: Certificates,
) -> None:
    tls = ClientTLS(
        ca=certificates.trusted.ca.path,
        certificate_chain=certificates.trusted.client.certificate.path,
        private_key=certificates.untrusted.client.private_key.path,
    )
    with pytest.raises(ValueError, match=r"the client private key '.*' does not belong"):
        GreeterClient("localhost:50051", tls=tls)


# -- mutual TLS --------------------------------------------------------------------------


def test_mtls_works_with_a_client_certificate_of_the_trusted_ca(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    trusted = certificates.trusted
    config = ServerConfig(tls=server_tls(trusted.server, client_ca=trusted))
    with serving(server_kind, config=config) as target:
        tls = client_tls(trusted, trusted.client)
        assert greet_once(client_kind, target, tls=tls) == "Hello, you!"


def test_mtls_works_with_pem_bytes(certificates: Certificates, client_kind: str) -> None:
    trusted = certificates.trusted
    config = ServerConfig(
        tls=ServerTLS(
            trusted.server.certificate.data,
            trusted.server.private_key.data,
            client_ca=trusted.ca.data,
        )
    )
    with serving("async", config=config) as target:
        tls = ClientTLS(
            ca=trusted.ca.data,
            certificate_chain=trusted.client.certificate.data,
            private_key=trusted.client.private_key.data,
        )
        assert greet_once(client_kind, target, tls=tls) == "Hello, you!"


def test_mtls_refuses_a_client_without_a_certificate(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    trusted = certificates.trusted
    config = ServerConfig(tls=server_tls(trusted.server, client_ca=trusted))
    with serving(server_kind, config=config) as target:
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=client_tls(trusted))


def test_mtls_refuses_a_client_certificate_of_an_untrusted_ca(
    certificates: Certificates, server_kind: str, client_kind: str
) -> None:
    trusted = certificates.trusted
    config = ServerConfig(tls=server_tls(trusted.server, client_ca=trusted))
    with serving(server_kind, config=config) as target:
        tls = client_tls(trusted, certificates.untrusted.client)
        with pytest.raises(greeter.Unavailable):
            greet_once(client_kind, target, tls=tls)


class PeerRecorder(GreeterService):
    """Replies with nothing special; records what each call knew of its peer."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, ...], dict[str, tuple[bytes, ...]]]] = []
        self.lock = threading.Lock()

    def say_hello(self, name: str) -> str:
        with self.lock:
            self.seen.append((self.context.peer_identities, self.context.auth_context))
        return super().say_hello(name)


class AsyncPeerRecorder(AsyncGreeterService):
    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, ...], dict[str, tuple[bytes, ...]]]] = []

    async def say_hello(self, name: str) -> str:
        self.seen.append((self.context.peer_identities, self.context.auth_context))
        return await super().say_hello(name)


def _record_peer(
    server_kind: str, config: ServerConfig, call: KeyPair | None, certificates: Certificates
) -> tuple[tuple[str, ...], dict[str, tuple[bytes, ...]]]:
    service, async_service = PeerRecorder(), AsyncPeerRecorder()
    with serving(server_kind, service, async_service, config=config) as target:
        greet_once("sync", target, tls=client_tls(certificates.trusted, call))
    (seen,) = service.seen if server_kind == "sync" else async_service.seen
    return seen


def test_a_service_method_reads_the_verified_client_certificate(
    certificates: Certificates, server_kind: str
) -> None:
    trusted = certificates.trusted
    config = ServerConfig(tls=server_tls(trusted.server, client_ca=trusted))
    peer_identities, auth_context = _record_peer(server_kind, config, trusted.client, certificates)
    assert CLIENT_DNS_NAME in peer_identities
    assert CLIENT_URI in peer_identities
    assert auth_context["x509_common_name"] == (CLIENT_COMMON_NAME.encode(),)
    assert auth_context["transport_security_type"] == (b"ssl",)
    assert all(isinstance(value, bytes) for values in auth_context.values() for value in values)


def test_peer_identities_are_empty_without_a_client_certificate(
    certificates: Certificates, server_kind: str
) -> None:
    config = ServerConfig(tls=server_tls(certificates.trusted.server))
    peer_identities, auth_context = _record_peer(server_kind, config, None, certificates)
    assert peer_identities == ()
    assert auth_context["transport_security_type"] == (b"ssl",)
    assert "x509_common_name" not in auth_context


def test_peer_identities_are_empty_on_a_plaintext_server(server_kind: str) -> None:
    service, async_service = PeerRecorder(), AsyncPeerRecorder()
    with serving(server_kind, service, async_service) as target:
        greet_once("sync", target)
    (seen,) = service.seen if server_kind == "sync" else async_service.seen
    assert seen[0] == ()


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def tls_serve(certificates: Certificates) -> Iterator[ServerProcess]:
    """``greeter serve --tls-cert --tls-key`` on 127.0.0.1."""
    server = certificates.trusted.server
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--tls-cert", str(server.certificate.path)),
            *("--tls-key", str(server.private_key.path)),
        ],
        SERVING_LINE,
    )
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def mtls_serve(certificates: Certificates) -> Iterator[ServerProcess]:
    """``greeter serve --tls-cert --tls-key --tls-client-ca`` on 127.0.0.1."""
    trusted = certificates.trusted
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--async", "--address", LOOPBACK),
            *("--tls-cert", str(trusted.server.certificate.path)),
            *("--tls-key", str(trusted.server.private_key.path)),
            *("--tls-client-ca", str(trusted.ca.path)),
        ],
        SERVING_LINE,
    )
    try:
        yield process
    finally:
        process.kill()


def test_cli_greets_a_tls_server_with_tls_ca(
    tls_serve: ServerProcess, certificates: Certificates
) -> None:
    ca = str(certificates.trusted.ca.path)
    result = run_cli("greet", "you", "--target", tls_serve.target, "--tls-ca", ca)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Hello, you!\n", "")


def test_cli_plaintext_greet_to_a_tls_server_says_it_may_require_tls(
    tls_serve: ServerProcess,
) -> None:
    result = run_cli("greet", "you", "--target", tls_serve.target, "--timeout", "5")
    assert (result.returncode, result.stdout) == (1, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("greeter: UNAVAILABLE: ")
    assert line.endswith("; the server may require TLS (--tls, or --tls-ca FILE)")


def test_cli_greet_fails_against_tls_without_the_ca(
    tls_serve: ServerProcess, certificates: Certificates
) -> None:
    plaintext = run_cli("greet", "you", "--target", tls_serve.target, "--timeout", "5")
    assert plaintext.returncode == 1
    assert "UNAVAILABLE" in plaintext.stderr
    untrusted = str(certificates.untrusted.ca.path)
    wrong_ca = run_cli(
        "greet", "you", "--target", tls_serve.target, "--tls-ca", untrusted, "--timeout", "5"
    )
    assert wrong_ca.returncode == 1
    assert "UNAVAILABLE" in wrong_ca.stderr


def test_cli_tls_server_name_overrides_the_checked_name(certificates: Certificates) -> None:
    named = certificates.trusted.named_server
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--tls-cert", str(named.certificate.path)),
            *("--tls-key", str(named.private_key.path)),
        ],
        SERVING_LINE,
    )
    try:
        result = run_cli(
            *("greet", "you", "--target", process.target),
            *("--tls-ca", str(certificates.trusted.ca.path)),
            *("--tls-server-name", OTHER_SERVER_NAME),
        )
        assert (result.returncode, result.stdout) == (0, "Hello, you!\n")
    finally:
        process.kill()


def test_cli_mtls_greets_with_a_client_certificate(
    mtls_serve: ServerProcess, certificates: Certificates
) -> None:
    trusted = certificates.trusted
    result = run_cli(
        *("greet", "you", "--target", mtls_serve.target),
        *("--tls-ca", str(trusted.ca.path)),
        *("--tls-cert", str(trusted.client.certificate.path)),
        *("--tls-key", str(trusted.client.private_key.path)),
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "Hello, you!\n", "")


def test_cli_mtls_refuses_a_client_without_a_certificate(
    mtls_serve: ServerProcess, certificates: Certificates
) -> None:
    ca = str(certificates.trusted.ca.path)
    result = run_cli("greet", "you", "--target", mtls_serve.target, "--tls-ca", ca)
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


def test_cli_tls_cert_without_key_is_a_usage_error(certificates: Certificates) -> None:
    cert = str(certificates.trusted.server.certificate.path)
    result = run_cli("serve", "--address", LOOPBACK, "--tls-cert", cert, timeout=30)
    assert result.returncode == 2
    assert "--tls-key" in result.stderr


def test_cli_serve_with_a_missing_certificate_file_fails_cleanly(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> None:
    missing = str(tmp_path_factory.mktemp("nothing") / "missing.pem")
    key = str(certificates.trusted.server.private_key.path)
    result = run_cli(
        "serve", "--address", LOOPBACK, "--tls-cert", missing, "--tls-key", key, timeout=30
    )
    assert result.returncode == 1
    assert "missing.pem" in result.stderr
    assert "Traceback" not in result.stderr


# -- the plaintext warning ---------------------------------------------------------------


def _tls_warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "--tls-cert" in line]


@pytest.mark.parametrize(
    ("address", "serving_line"),
    [
        ("0.0.0.0:0", r"Serving helloworld\.Greeter on 0\.0\.0\.0:(\d+)"),
        ("[::]:0", r"Serving helloworld\.Greeter on \[::\]:(\d+)"),
    ],
)
def test_cli_plaintext_server_on_a_public_address_warns_once_naming_the_tls_flags(
    address: str, serving_line: str
) -> None:
    # One process: each worker process (the default) would warn for its own server.
    process = ServerProcess(
        [*GREETER_SERVE, "--address", address, "--workers", "1"],
        serving_line,
    )
    try:
        assert process.stop() == 0
    finally:
        process.kill()
    (warning,) = _tls_warnings("".join(process.output))
    assert "--tls-key" in warning


def test_cli_plaintext_server_on_loopback_does_not_warn() -> None:
    process = ServerProcess([*GREETER_SERVE, "--address", LOOPBACK], SERVING_LINE)
    try:
        assert process.stop() == 0
    finally:
        process.kill()
    assert _tls_warnings("".join(process.output)) == []


def test_cli_tls_server_on_a_public_address_does_not_warn(certificates: Certificates) -> None:
    server = certificates.trusted.server
    process = ServerProcess(
        [
            # One process: workers would pick a port, let go of it and bind it again,
            # and on a busy machine another test may take it in between.
            *(*GREETER_SERVE, "--address", "0.0.0.0:0", "--workers", "1"),
            *("--tls-cert", str(server.certificate.path)),
            *("--tls-key", str(server.private_key.path)),
        ],
        r"Serving helloworld\.Greeter on 0\.0\.0\.0:(\d+)",
    )
    try:
        assert process.stop() == 0
    finally:
        process.kill()
    assert _tls_warnings("".join(process.output)) == []


def test_library_plaintext_server_on_a_public_address_logs_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="greeter"):
        with GreeterService().start("0.0.0.0:0"):
            pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TLS" in warnings[0].getMessage()


def test_library_plaintext_server_on_loopback_logs_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="greeter"):
        with GreeterService().start(LOOPBACK):
            pass
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("case", BAD_PAIRS)
def test_cli_serve_with_a_bad_tls_pair_prints_one_line_naming_the_file(
    certificates: Certificates, case: str, tmp_path: Path
) -> None:
    certificate, key = bad_pair(certificates, case, tmp_path)
    # The default --workers: one process per CPU, none of them started.
    result = run_cli(
        *("serve", "--address", LOOPBACK, "--tls-cert", str(certificate), "--tls-key", str(key))
    )
    assert (result.returncode, result.stdout) == (1, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("greeter: the TLS ")
    assert re.search(BAD_PAIRS[case], line), line
