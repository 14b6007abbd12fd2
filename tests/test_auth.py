"""Bearer tokens: sent by the client as call credentials, checked by the server per call.

Tokens travel over TLS (certificates from ``tests.certs``) unless the client explicitly
opts into plaintext. A rejected call never reaches the service method.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    ClientTLS,
    GreeterClient,
    GreeterService,
    ServerConfig,
    ServerTLS,
    TokenCheck,
)
from tests.certs import Certificates, greet_once
from tests.conftest import LOOPBACK, ServerProcess, serving
from tests.test_health import health_stub

SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"


class Recorder(GreeterService):
    """Records ``self.context.identity`` for every call its method actually ran."""

    def __init__(self) -> None:
        self.identities: list[str | None] = []
        self.lock = threading.Lock()

    def say_hello(self, name: str) -> str:
        with self.lock:
            self.identities.append(self.context.identity)
        return f"Hello, {name}! You are {self.context.identity}."


class AsyncRecorder(AsyncGreeterService):
    def __init__(self) -> None:
        self.identities: list[str | None] = []

    async def say_hello(self, name: str) -> str:
        self.identities.append(self.context.identity)
        return f"Hello, {name}! You are {self.context.identity}."


class Served:
    """A running server of either kind, with the identities its method saw."""

    def __init__(self, target: str, recorder: Recorder | AsyncRecorder) -> None:
        self.target = target
        self._recorder = recorder

    @property
    def identities(self) -> list[str | None]:
        return self._recorder.identities


@contextmanager
def served_by(kind: str, config: ServerConfig) -> Iterator[Served]:
    """Serve ``Recorder`` (or ``AsyncRecorder``) on the ``kind`` server with ``config``."""
    service, async_service = Recorder(), AsyncRecorder()
    with serving(kind, service, async_service, config=config) as target:
        yield Served(target, service if kind == "sync" else async_service)


def tls_config(certificates: Certificates, auth: TokenCheck) -> ServerConfig:
    server = certificates.trusted.server
    return ServerConfig(tls=ServerTLS(server.certificate.path, server.private_key.path), auth=auth)


@pytest.fixture
def client_tls(certificates: Certificates) -> ClientTLS:
    return ClientTLS(ca=certificates.trusted.ca.path)


@pytest.fixture
def secured(certificates: Certificates, server_kind: str) -> Iterator[Served]:
    """A TLS server of each kind accepting the single token ``"s3cret"``."""
    config = tls_config(certificates, greeter.bearer_tokens({"s3cret"}))
    with served_by(server_kind, config) as served:
        yield served


# -- tokens over TLS ---------------------------------------------------------------------


def test_a_fixed_token_is_accepted_and_names_the_caller(
    secured: Served, client_tls: ClientTLS, client_kind: str
) -> None:
    reply = greet_once(client_kind, secured.target, tls=client_tls, token="s3cret")
    assert reply == "Hello, you! You are token-1."
    assert secured.identities == ["token-1"]


def test_bearer_tokens_name_each_token_of_the_set(
    certificates: Certificates, client_tls: ClientTLS
) -> None:
    check = greeter.bearer_tokens({"first", "second"})
    identities = {check("first"), check("second")}
    assert len(identities) == 2
    assert all(identity.startswith("token-") for identity in identities)
    with serving("sync", Recorder(), config=tls_config(certificates, check)) as target:
        for token in ("first", "second"):
            reply = greet_once("sync", target, tls=client_tls, token=token)
            assert reply.startswith("Hello, you! You are token-")


def test_a_callable_token_is_called_for_every_call(
    certificates: Certificates, client_tls: ClientTLS, server_kind: str, client_kind: str
) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def check(token: str) -> str:
        with lock:
            seen.append(token)
        return f"user of {token}"

    counter = itertools.count(1)

    def token() -> str:
        return f"token-{next(counter)}"

    with serving(
        server_kind, Recorder(), AsyncRecorder(), config=tls_config(certificates, check)
    ) as target:
        if client_kind == "sync":
            with GreeterClient(target, timeout=10, tls=client_tls, token=token) as client:
                replies = [client.greet("you") for _ in range(3)]
        else:

            async def calls() -> list[str]:
                async with AsyncGreeterClient(
                    target, timeout=10, tls=client_tls, token=token
                ) as client:
                    return [await client.greet("you") for _ in range(3)]

            replies = asyncio.run(calls())
    assert seen == ["token-1", "token-2", "token-3"]
    assert replies == [f"Hello, you! You are user of token-{n}." for n in (1, 2, 3)]


def test_a_call_without_a_token_is_unauthenticated_and_never_runs(
    secured: Served, client_tls: ClientTLS, client_kind: str
) -> None:
    with pytest.raises(greeter.Unauthenticated):
        greet_once(client_kind, secured.target, tls=client_tls)
    assert secured.identities == []


def test_a_wrong_token_is_unauthenticated_and_never_runs(
    secured: Served, client_tls: ClientTLS, client_kind: str
) -> None:
    with pytest.raises(greeter.Unauthenticated) as raised:
        greet_once(client_kind, secured.target, tls=client_tls, token="guess")
    assert "guess" not in str(raised.value)
    assert secured.identities == []


def test_a_malformed_authorization_header_is_unauthenticated(
    secured: Served, client_tls: ClientTLS
) -> None:
    for header in ("s3cret", "Basic s3cret", "Bearer", "Bearer "):
        with GreeterClient(secured.target, timeout=10, tls=client_tls) as client:
            with pytest.raises(greeter.Unauthenticated):
                client.greet("you", metadata=[("authorization", header)])
    assert secured.identities == []


def test_every_rpc_shape_is_checked(secured: Served, client_tls: ClientTLS) -> None:
    with GreeterClient(secured.target, timeout=10, tls=client_tls) as client:
        with pytest.raises(greeter.Unauthenticated):
            client.greet_again("you")
        with pytest.raises(greeter.Unauthenticated):
            client.greet_many(["Ann", "Bob"])
        with pytest.raises(greeter.Unauthenticated):
            list(client.greet_stream("you"))
        with pytest.raises(greeter.Unauthenticated):
            list(client.chat(["Ann"]))
    with GreeterClient(secured.target, timeout=10, tls=client_tls, token="s3cret") as client:
        assert client.greet_again("you") == "Hello again, you!"
        assert client.greet_many(["Ann", "Bob"]) == "Hello, Ann and Bob!"
        assert len(list(client.greet_stream("you"))) == 3
        assert list(client.chat(["Ann"])) == ["Hello, Ann! You are token-1."]


def test_a_check_raising_permission_denied_fails_the_call_with_permission_denied(
    certificates: Certificates, client_tls: ClientTLS, server_kind: str, client_kind: str
) -> None:
    def check(token: str) -> str:
        if token == "read-only":
            raise greeter.PermissionDenied("read-only tokens may not greet")
        raise greeter.Unauthenticated("unknown token")

    with served_by(server_kind, tls_config(certificates, check)) as served:
        with pytest.raises(greeter.PermissionDenied, match="read-only tokens may not greet"):
            greet_once(client_kind, served.target, tls=client_tls, token="read-only")
        with pytest.raises(greeter.Unauthenticated, match="unknown token"):
            greet_once(client_kind, served.target, tls=client_tls, token="other")
        assert served.identities == []


def test_an_async_check_works_on_the_asyncio_server(
    certificates: Certificates, client_tls: ClientTLS, client_kind: str
) -> None:
    async def check(token: str) -> str:
        await asyncio.sleep(0)
        if token != "async-token":
            raise greeter.Unauthenticated("no")
        return "async caller"

    with served_by("async", tls_config(certificates, check)) as served:
        reply = greet_once(client_kind, served.target, tls=client_tls, token="async-token")
        assert reply == "Hello, you! You are async caller."
        with pytest.raises(greeter.Unauthenticated):
            greet_once(client_kind, served.target, tls=client_tls, token="sync-token")
        assert served.identities == ["async caller"]


def test_an_async_check_on_the_threaded_server_is_a_type_error() -> None:
    async def check(token: str) -> str:
        return token

    with pytest.raises(TypeError, match="asyncio"):
        GreeterService().start(LOOPBACK, config=ServerConfig(auth=check))


def test_bearer_tokens_needs_at_least_one_token() -> None:
    with pytest.raises(ValueError, match="at least one"):
        greeter.bearer_tokens([])
    with pytest.raises(ValueError, match="at least one"):
        greeter.bearer_tokens([""])


def test_identity_is_none_without_auth(server_kind: str) -> None:
    with served_by(server_kind, ServerConfig()) as served:
        assert greet_once("sync", served.target) == "Hello, you! You are None."


def test_a_check_that_crashes_fails_the_call_without_running_it(
    certificates: Certificates, client_tls: ClientTLS, server_kind: str
) -> None:
    def check(token: str) -> str:
        raise RuntimeError("the token store is down")

    with served_by(server_kind, tls_config(certificates, check)) as served:
        # Like an exception in a service method: INTERNAL, and no internals leak out.
        with pytest.raises(greeter.Internal) as raised:
            greet_once("sync", served.target, tls=client_tls, token="s3cret")
        assert "the token store is down" not in str(raised.value)
        assert served.identities == []


def test_health_is_reachable_without_a_token(secured: Served, certificates: Certificates) -> None:
    credentials = grpc.ssl_channel_credentials(certificates.trusted.ca.data)
    with grpc.secure_channel(secured.target, credentials) as channel:
        health = health_stub(channel)
        response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_a_token_like_the_greeter(
    secured: Served, certificates: Certificates
) -> None:
    credentials = grpc.ssl_channel_credentials(certificates.trusted.ca.data)
    with grpc.secure_channel(secured.target, credentials) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            ProtoReflectionDescriptorDatabase(channel).get_services()
    assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.UNAUTHENTICATED
    token = grpc.access_token_call_credentials("s3cret")
    both = grpc.composite_channel_credentials(credentials, token)
    with grpc.secure_channel(secured.target, both) as channel:
        assert "helloworld.Greeter" in ProtoReflectionDescriptorDatabase(channel).get_services()


# -- tokens over plaintext ---------------------------------------------------------------


def test_a_token_over_plaintext_is_refused_by_the_client() -> None:
    with pytest.raises(ValueError, match="unsafe_plaintext_token"):
        GreeterClient(LOOPBACK, token="s3cret")
    with pytest.raises(ValueError, match="unsafe_plaintext_token"):
        GreeterClient(LOOPBACK, token=lambda: "s3cret")

    async def make_async() -> None:
        AsyncGreeterClient(LOOPBACK, token="s3cret")

    with pytest.raises(ValueError, match="unsafe_plaintext_token"):
        asyncio.run(make_async())


def test_unsafe_plaintext_token_sends_the_token_to_a_plaintext_server(
    server_kind: str, client_kind: str
) -> None:
    with served_by(server_kind, ServerConfig(auth=greeter.bearer_tokens({"s3cret"}))) as served:
        reply = greet_once(client_kind, served.target, token="s3cret", unsafe_plaintext_token=True)
        assert reply == "Hello, you! You are token-1."
        with pytest.raises(greeter.Unauthenticated):
            greet_once(client_kind, served.target, token="nope", unsafe_plaintext_token=True)
        with pytest.raises(greeter.Unauthenticated):
            greet_once(client_kind, served.target)
        assert served.identities == ["token-1"]


def test_unsafe_plaintext_token_calls_a_callable_token_per_call() -> None:
    counter = itertools.count(1)
    seen: list[str] = []

    def check(token: str) -> str:
        seen.append(token)
        return token

    with served_by("sync", ServerConfig(auth=check)) as served:
        with GreeterClient(
            served.target,
            timeout=10,
            token=lambda: f"t{next(counter)}",
            unsafe_plaintext_token=True,
        ) as client:
            client.greet("a")
            client.greet("b")
    assert seen == ["t1", "t2"]


# -- the command line --------------------------------------------------------------------


def greeter_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``greeter ARGS...`` with ``env`` added to an environment free of GREETER_*."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("GREETER_")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "greeter"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
    )
    return result.returncode, result.stdout, result.stderr


@contextmanager
def cli_server(
    certificates: Certificates, *flags: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """``greeter serve`` over TLS on 127.0.0.1 with ``flags`` and ``env``."""
    server = certificates.trusted.server
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--tls-cert", str(server.certificate.path)),
            *("--tls-key", str(server.private_key.path)),
            *flags,
        ],
        SERVING_LINE,
        env=env,
    )
    try:
        yield process
    finally:
        process.kill()


def tls_greet(
    process: ServerProcess, certificates: Certificates, *flags: str, **env: str
) -> tuple[int, str, str]:
    """``greeter greet you`` over TLS against ``process``."""
    ca = str(certificates.trusted.ca.path)
    return greeter_cli("greet", "you", "--target", process.target, "--tls-ca", ca, *flags, env=env)


def test_cli_serve_accepts_each_repeated_auth_token(certificates: Certificates) -> None:
    with cli_server(certificates, "--auth-token", "alpha", "--auth-token", "beta") as process:
        for token in ("alpha", "beta"):
            assert tls_greet(process, certificates, "--token", token) == (0, "Hello, you!\n", "")
        code, stdout, stderr = tls_greet(process, certificates, "--token", "gamma")
        assert (code, stdout) == (1, "")
        assert "UNAUTHENTICATED" in stderr
        code, _, stderr = tls_greet(process, certificates)
        assert code == 1
        assert "UNAUTHENTICATED" in stderr


def test_cli_serve_reads_comma_separated_tokens_from_greeter_auth_tokens(
    certificates: Certificates,
) -> None:
    with cli_server(certificates, env={"GREETER_AUTH_TOKENS": "alpha,beta"}) as process:
        for token in ("alpha", "beta"):
            assert tls_greet(process, certificates, "--token", token)[:2] == (0, "Hello, you!\n")
        assert tls_greet(process, certificates, "--token", "alpha,beta")[0] == 1


def test_cli_greet_reads_the_token_from_greeter_token(certificates: Certificates) -> None:
    with cli_server(certificates, "--auth-token", "alpha") as process:
        assert tls_greet(process, certificates, GREETER_TOKEN="alpha")[:2] == (0, "Hello, you!\n")
        assert tls_greet(process, certificates, GREETER_TOKEN="beta")[0] == 1


def test_cli_greet_token_over_plaintext_needs_unsafe_plaintext_token() -> None:
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--auth-token", "alpha"),
        ],
        SERVING_LINE,
    )
    try:
        code, stdout, stderr = greeter_cli(
            "greet", "you", "--target", process.target, "--token", "alpha"
        )
        assert (code, stdout) != (0, "Hello, you!\n")
        assert "--unsafe-plaintext-token" in stderr
        assert "Traceback" not in stderr
        assert greeter_cli(
            *("greet", "you", "--target", process.target, "--token", "alpha"),
            "--unsafe-plaintext-token",
        ) == (0, "Hello, you!\n", "")
    finally:
        process.kill()
