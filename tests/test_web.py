"""Browsers and plain HTTP: the same service over Connect and gRPC-Web (``greeter.web``).

Each test talks HTTP/1.1 to the web port as curl or a browser's ``fetch`` would, with
the standard library's ``http.client``: Connect JSON and binary unary calls, gRPC-Web's
framing, CORS preflights; against the threaded and the asyncio server, both serving
native gRPC on their other port. The real browser is in ``test_web_browser.py``.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import re
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("connectrpc", reason="the web extra (connectrpc) is not installed")

from google.rpc import error_details_pb2, status_pb2

import greeter
from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    GreeterClient,
    GreeterServer,
    GreeterService,
    ServerConfig,
    ServerTLS,
    testing,
)
from greeter._proto import helloworld_pb2
from greeter.web import ASGIApp, asgi_app
from tests.certs import Certificates
from tests.conftest import LOOPBACK, ServerProcess, run_cli

ORIGIN = "http://page.example"
SAY_HELLO = "/helloworld.Greeter/SayHello"
STREAM_REPLY = "/helloworld.Greeter/SayHelloStreamReply"


def _no_name_error() -> greeter.InvalidArgument:
    """What both showcases raise for "nobody": trailing metadata and a rich detail."""
    violation = error_details_pb2.BadRequest.FieldViolation(field="name", description="say who")
    return greeter.InvalidArgument(
        "no name given",
        trailing_metadata=[("x-reason", "empty")],
        error_details=[error_details_pb2.BadRequest(field_violations=[violation])],
    )


class Showcase(GreeterService):
    """Everything a web call can see and do, on the threaded server."""

    def say_hello(self, name: str) -> str:
        if name == "nobody":
            raise _no_name_error()
        if name == "crash":
            raise RuntimeError("a bug")
        if name == "slow":  # until the call ends (its deadline), as a handler should
            self.context.cancelled.wait(timeout=5)
            return "too late"
        if name == "nap":
            time.sleep(1)
            return "slow but done"
        self.context.send_initial_metadata([("x-header", "early")])
        self.context.set_trailing_metadata([("x-trailer", "late")])
        mood = self.context.get_metadata("x-mood") or "plain"
        return f"Hello, {name}! ({mood})"


class AsyncShowcase(AsyncGreeterService):
    """``Showcase`` on the asyncio server."""

    async def say_hello(self, name: str) -> str:
        if name == "nobody":
            raise _no_name_error()
        if name == "crash":
            raise RuntimeError("a bug")
        if name == "slow":
            await asyncio.sleep(5)
            return "too late"
        if name == "nap":
            await asyncio.sleep(1)
            return "slow but done"
        await self.context.send_initial_metadata([("x-header", "early")])
        self.context.set_trailing_metadata([("x-trailer", "late")])
        mood = self.context.get_metadata("x-mood") or "plain"
        return f"Hello, {name}! ({mood})"

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        for number in range(1, 4):
            yield f"Hello, {name}! ({number} of 3)"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed


def post(
    address: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    method: str = "POST",
    *,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """One HTTP/1.1 request, as curl sends it (over HTTPS, verified by ``tls``, if given)."""
    host, _, port = address.rpartition(":")
    connection = (
        http.client.HTTPConnection(host, int(port), timeout=10)
        if tls is None
        else http.client.HTTPSConnection(host, int(port), timeout=10, context=tls)
    )
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def post_json(address: str, path: str, message: dict[str, str], **headers: str) -> Answer:
    return post(
        address, path, json.dumps(message).encode(), {"Content-Type": "application/json", **headers}
    )


def grpc_web_frame(message: bytes) -> bytes:
    return struct.pack(">BI", 0, len(message)) + message


def grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """The messages and the trailers of a gRPC-Web answer body."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    offset = 0
    while offset < len(body):
        flags, length = struct.unpack_from(">BI", body, offset)
        payload = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flags & 0x80:
            for line in payload.decode().strip().split("\r\n"):
                name, _, value = line.partition(":")
                trailers[name.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def call_grpc_web(
    address: str, path: str, name: str, **headers: str
) -> tuple[list[str], dict[str, str]]:
    request = helloworld_pb2.HelloRequest(name=name).SerializeToString()
    answer = post(
        address,
        path,
        grpc_web_frame(request),
        {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", **headers},
    )
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/grpc-web+proto"
    messages, trailers = grpc_web_frames(answer.body)
    replies = [helloworld_pb2.HelloReply.FromString(message).message for message in messages]
    return replies, trailers


@contextmanager
def web_serving(
    kind: str, origins: tuple[str, ...] = (ORIGIN,), grace_seconds: float = 5.0
) -> Iterator[GreeterServer | AsyncGreeterServer]:
    config = ServerConfig(web=LOOPBACK, web_origins=origins, grace_seconds=grace_seconds)
    service: GreeterService | AsyncGreeterService = (
        Showcase() if kind == "sync" else AsyncShowcase()
    )
    with testing.serving(service, config=config) as server:
        yield server


@pytest.fixture(params=["sync", "async"])
def web(request: pytest.FixtureRequest) -> Iterator[str]:
    """The web address of a server (threaded, then asyncio) serving ``Showcase``."""
    with web_serving(request.param) as server:
        assert server.web_address is not None
        yield server.web_address


# ------------------------------------------------------------------- Connect


def test_a_kept_alive_connection_answers_each_call_without_waiting_for_an_ack(web: str) -> None:
    # An answer goes out in several writes; with Nagle's algorithm on, each waits for
    # the client's delayed ACK of the one before (40 ms on Linux) instead of a fraction.
    host, _, port = web.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    took: list[float] = []
    try:
        for _ in range(21):
            started = time.perf_counter()
            connection.request(
                "POST", SAY_HELLO, b'{"name": "you"}', {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            body = response.read()
            took.append(time.perf_counter() - started)
            assert (response.status, json.loads(body)) == (200, {"message": "Hello, you! (plain)"})
    finally:
        connection.close()
    assert statistics.median(took) < 0.02


def test_connect_json_unary_answers_as_curl_sends_it(web: str) -> None:
    answer = post_json(web, SAY_HELLO, {"name": "you"})

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"message": "Hello, you! (plain)"}


def test_connect_binary_unary_answers_with_the_protobuf_reply(web: str) -> None:
    request = helloworld_pb2.HelloRequest(name="you").SerializeToString()
    answer = post(web, SAY_HELLO, request, {"Content-Type": "application/proto"})

    assert answer.status == 200
    assert helloworld_pb2.HelloReply.FromString(answer.body).message == "Hello, you! (plain)"


def test_request_metadata_reaches_the_context_and_headers_and_trailers_come_back(
    web: str,
) -> None:
    answer = post_json(web, SAY_HELLO, {"name": "you"}, **{"X-Mood": "cheerful"})

    assert answer.json() == {"message": "Hello, you! (cheerful)"}
    assert answer.headers["x-header"] == "early"
    assert answer.headers["trailer-x-trailer"] == "late"  # Connect unary: trailers as headers


def test_greeter_errors_become_the_same_code_details_and_rich_details(web: str) -> None:
    answer = post_json(web, SAY_HELLO, {"name": "nobody"})

    assert answer.status == 400
    error = answer.json()
    assert error["code"] == "invalid_argument"
    assert error["message"] == "no name given"
    details = error["details"]
    assert isinstance(details, list)
    assert details[0]["type"] == "google.rpc.BadRequest"
    bad_request = error_details_pb2.BadRequest.FromString(
        base64.b64decode(details[0]["value"] + "==")
    )
    assert bad_request.field_violations[0].field == "name"
    assert answer.headers["trailer-x-reason"] == "empty"


def test_other_exceptions_become_internal_with_a_generic_message(web: str) -> None:
    error = post_json(web, SAY_HELLO, {"name": "crash"}).json()

    assert error == {"code": "internal", "message": "Internal server error"}


def test_the_deadline_a_client_sends_ends_the_call_with_deadline_exceeded(web: str) -> None:
    started = time.monotonic()
    answer = post_json(web, SAY_HELLO, {"name": "slow"}, **{"Connect-Timeout-Ms": "200"})

    assert answer.json()["code"] == "deadline_exceeded"
    assert time.monotonic() - started < 0.9


def test_an_unknown_method_is_not_found(web: str) -> None:
    answer = post_json(web, "/helloworld.Greeter/SayGoodbye", {"name": "you"})

    assert answer.status == 404


# ------------------------------------------------------------------ gRPC-Web


def test_grpc_web_unary_frames_the_reply_and_the_trailers(web: str) -> None:
    replies, trailers = call_grpc_web(web, SAY_HELLO, "you", **{"X-Mood": "framed"})

    assert replies == ["Hello, you! (framed)"]
    assert trailers["grpc-status"] == "0"
    assert trailers["x-trailer"] == "late"


def test_grpc_web_server_streaming_sends_every_reply(web: str) -> None:
    replies, trailers = call_grpc_web(web, STREAM_REPLY, "you")

    assert replies == [f"Hello, you! ({number} of 3)" for number in (1, 2, 3)]
    assert trailers["grpc-status"] == "0"


def test_grpc_web_errors_carry_the_status_and_the_rich_details(web: str) -> None:
    replies, trailers = call_grpc_web(web, SAY_HELLO, "nobody")

    assert replies == []
    assert trailers["grpc-status"] == str(greeter.StatusCode.INVALID_ARGUMENT.value)
    assert urllib.parse.unquote(trailers["grpc-message"]) == "no name given"
    assert trailers["x-reason"] == "empty"
    status = status_pb2.Status.FromString(
        base64.b64decode(trailers["grpc-status-details-bin"] + "==")
    )
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].description == "say who"


# ---------------------------------------------------------------------- CORS


def test_a_preflight_from_an_allowed_origin_allows_the_call(web: str) -> None:
    answer = post(
        web,
        SAY_HELLO,
        b"",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-grpc-web,x-mood",
        },
        method="OPTIONS",
    )

    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    # Only what is served: Connect's GET is not (the Greeter's methods are not idempotent).
    assert answer.headers["access-control-allow-methods"] == "POST"
    assert post(web, f"{SAY_HELLO}?encoding=json&message=%7B%7D", b"", {}, "GET").status == 405
    allowed = answer.headers["access-control-allow-headers"]
    for header in (
        "content-type",
        "x-grpc-web",
        "x-mood",
        "connect-protocol-version",
        "authorization",  # bearer tokens
    ):
        assert header in allowed


def test_a_preflight_from_another_origin_is_refused(web: str) -> None:
    answer = post(
        web,
        SAY_HELLO,
        b"",
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        method="OPTIONS",
    )

    assert answer.status == 403
    assert "access-control-allow-origin" not in answer.headers


def test_answers_to_an_allowed_origin_expose_the_status_and_trailer_headers(web: str) -> None:
    answer = post_json(web, SAY_HELLO, {"name": "you"}, Origin=ORIGIN)

    assert answer.headers["access-control-allow-origin"] == ORIGIN
    exposed = answer.headers["access-control-expose-headers"].split(", ")
    for header in (
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "connect-protocol-version",
        "trailer-x-trailer",
        "x-header",
    ):
        assert header in exposed


def test_answers_to_other_origins_carry_no_cors_headers(web: str) -> None:
    answer = post_json(web, SAY_HELLO, {"name": "you"}, Origin="http://evil.example")

    assert "access-control-allow-origin" not in answer.headers


# ------------------------------------------------- auth, hooks and the access log


TOKEN = "s3cret"
#: An access-log line: method, peer, status, duration (and the status message, if any).
ACCESS_LINE = re.compile(
    r"^(?P<method>/\S+) (?P<peer>ipv4:127\.0\.0\.1:\d+) (?P<code>[A-Z_]+) \d+\.\dms"
)


def check_token(token: str) -> str:
    """The server's auth check: one good token, one that may not greet, the rest unknown."""
    if token == TOKEN:
        return "alice"
    if token == "read-only":
        raise greeter.PermissionDenied("read-only tokens may not greet")
    raise greeter.Unauthenticated("unknown token")


class Whoami(GreeterService):
    """Greets each caller by the identity the auth check gave them, and records it."""

    def __init__(self) -> None:
        self.identities: list[str | None] = []

    def say_hello(self, name: str) -> str:
        self.identities.append(self.context.identity)
        return f"Hello, {name}! You are {self.context.identity}."

    def say_hello_stream_reply(self, name: str) -> Iterator[str]:
        for number in (1, 2):
            yield f"Hello, {name}! You are {self.context.identity}. ({number} of 2)"


class AsyncWhoami(AsyncGreeterService):
    """``Whoami`` on the asyncio server."""

    def __init__(self) -> None:
        self.identities: list[str | None] = []

    async def say_hello(self, name: str) -> str:
        self.identities.append(self.context.identity)
        return f"Hello, {name}! You are {self.context.identity}."

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        for number in (1, 2):
            yield f"Hello, {name}! You are {self.context.identity}. ({number} of 2)"


class CallRecorder(greeter.ServerHook):
    """Records each call a server's hooks see: before, and after with its outcome."""

    def __init__(self) -> None:
        self.before: list[greeter.CallInfo] = []
        self.after: list[tuple[greeter.CallInfo, greeter.CallOutcome]] = []
        self._changed = threading.Condition()

    def before_call(self, call: greeter.CallInfo) -> None:
        with self._changed:
            self.before.append(call)

    def after_call(self, call: greeter.CallInfo, outcome: greeter.CallOutcome) -> None:
        with self._changed:
            self.after.append((call, outcome))
            self._changed.notify_all()

    def outcomes(self, count: int) -> list[tuple[greeter.CallInfo, greeter.CallOutcome]]:
        """The first ``count`` outcomes, once there are that many (or fail after 10 s)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.after) >= count, 10)
            return list(self.after)


@dataclass
class Guarded:
    """A server checking tokens and running hooks on both ports, with what they saw."""

    server: GreeterServer | AsyncGreeterServer
    service: Whoami | AsyncWhoami
    hook: CallRecorder

    @property
    def web(self) -> str:
        assert self.server.web_address is not None
        return self.server.web_address


@pytest.fixture(params=["sync", "async"])
def guarded(request: pytest.FixtureRequest) -> Iterator[Guarded]:
    """A threaded, then an asyncio server with ``auth``, a hook and the access log."""
    hook = CallRecorder()
    config = ServerConfig(
        web=LOOPBACK, web_origins=[ORIGIN], auth=check_token, hooks=[hook], access_log=True
    )
    service: Whoami | AsyncWhoami = Whoami() if request.param == "sync" else AsyncWhoami()
    with testing.serving(service, config=config) as server:
        yield Guarded(server, service, hook)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_web_call_with_a_valid_token_is_answered_and_the_handler_sees_the_identity(
    guarded: Guarded,
) -> None:
    answer = post_json(guarded.web, SAY_HELLO, {"name": "you"}, **bearer(TOKEN))

    assert answer.json() == {"message": "Hello, you! You are alice."}
    assert guarded.service.identities == ["alice"]


def test_a_grpc_web_stream_with_a_valid_token_sees_the_identity_in_every_reply(
    guarded: Guarded,
) -> None:
    replies, trailers = call_grpc_web(guarded.web, STREAM_REPLY, "you", **bearer(TOKEN))

    assert replies == [f"Hello, you! You are alice. ({number} of 2)" for number in (1, 2)]
    assert trailers["grpc-status"] == "0"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer guess", "Basic s3cret", "Bearer read-only"],
    ids=["no-token", "unknown-token", "not-bearer", "permission-denied"],
)
def test_a_refused_web_call_gets_the_native_code_and_details_and_never_runs(
    guarded: Guarded, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    metadata = [] if authorization is None else [("authorization", authorization)]
    with GreeterClient(guarded.server.target, timeout=10) as client:
        with pytest.raises(greeter.GreeterError) as native:
            client.greet("you", metadata=metadata)

    connect = post_json(guarded.web, SAY_HELLO, {"name": "you"}, **headers).json()
    _, trailers = call_grpc_web(guarded.web, SAY_HELLO, "you", **headers)

    assert native.value.code in (
        greeter.StatusCode.UNAUTHENTICATED,
        greeter.StatusCode.PERMISSION_DENIED,
    )
    assert connect == {"code": native.value.code.name.lower(), "message": native.value.details}
    assert trailers["grpc-status"] == str(native.value.code.value)
    assert urllib.parse.unquote(trailers["grpc-message"]) == native.value.details
    assert guarded.service.identities == []


def test_hooks_see_web_calls_with_method_metadata_peer_status_and_duration(
    guarded: Guarded,
) -> None:
    post_json(guarded.web, SAY_HELLO, {"name": "you"}, **bearer(TOKEN), **{"X-Mood": "shy"})
    call_grpc_web(guarded.web, STREAM_REPLY, "you", **bearer(TOKEN))
    post_json(guarded.web, SAY_HELLO, {"name": "you"}, **bearer("guess"))

    (hello, ok), (stream, streamed), (refused, unknown) = guarded.hook.outcomes(3)
    # The auth check refused the third before any before_call: only after_call sees it.
    assert [call.method for call in guarded.hook.before] == [SAY_HELLO, STREAM_REPLY]
    assert hello.get_metadata("x-mood") == "shy"
    assert hello.get_metadata("authorization") == f"Bearer {TOKEN}"
    assert hello.peer.startswith("ipv4:127.0.0.1:")
    assert (ok.code, ok.details) == (greeter.StatusCode.OK, "")
    assert 0 < ok.duration < 5
    assert (stream.method, streamed.code) == (STREAM_REPLY, greeter.StatusCode.OK)
    assert (refused.method, unknown.code) == (SAY_HELLO, greeter.StatusCode.UNAUTHENTICATED)
    assert unknown.details == "unknown token"


def test_hooks_see_a_web_call_past_its_deadline_end_with_deadline_exceeded() -> None:
    hook = CallRecorder()
    config = ServerConfig(web=LOOPBACK, hooks=[hook])
    for service in (Showcase(), AsyncShowcase()):
        hook.after.clear()
        with testing.serving(service, config=config) as server:
            assert server.web_address is not None
            post_json(
                server.web_address, SAY_HELLO, {"name": "slow"}, **{"Connect-Timeout-Ms": "200"}
            )
            [(_, outcome)] = hook.outcomes(1)
        assert outcome.code == greeter.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_web_call_whose_deadline_passes_during_the_auth_check_ends_for_the_hooks_too(
    kind: str,
) -> None:
    def slow_check(token: str) -> str:
        time.sleep(0.5)  # a token service that takes its time
        return "late"

    hook = CallRecorder()
    config = ServerConfig(web=LOOPBACK, auth=slow_check, hooks=[hook])
    service: Whoami | AsyncWhoami = Whoami() if kind == "sync" else AsyncWhoami()
    with testing.serving(service, config=config) as server:
        assert server.web_address is not None
        answer = post_json(
            server.web_address,
            SAY_HELLO,
            {"name": "you"},
            **bearer(TOKEN),
            **{"Connect-Timeout-Ms": "100"},
        )
        [(_, outcome)] = hook.outcomes(1)

    assert answer.json()["code"] == "deadline_exceeded"
    assert outcome.code == greeter.StatusCode.DEADLINE_EXCEEDED
    assert service.identities == []


def test_the_access_log_writes_a_line_for_each_web_call(
    guarded: Guarded, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="greeter.access"):
        post_json(guarded.web, SAY_HELLO, {"name": "you"}, **bearer(TOKEN))
        post_json(guarded.web, SAY_HELLO, {"name": "you"})
        guarded.hook.outcomes(2)  # the access log runs after this hook
        deadline = time.monotonic() + 10
        while len(access := [r for r in caplog.records if r.name == "greeter.access"]) < 2:
            assert time.monotonic() < deadline, caplog.records
            time.sleep(0.01)

    matches = [ACCESS_LINE.match(record.getMessage()) for record in access]
    assert [(m["method"], m["code"]) for m in matches if m] == [
        (SAY_HELLO, "OK"),
        (SAY_HELLO, "UNAUTHENTICATED"),
    ]
    assert access[1].getMessage().endswith("'missing bearer token (authorization metadata)'")


def test_a_browser_may_send_its_token_across_origins(guarded: Guarded) -> None:
    preflight = post(
        guarded.web,
        SAY_HELLO,
        b"",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        method="OPTIONS",
    )
    answer = post_json(guarded.web, SAY_HELLO, {"name": "you"}, Origin=ORIGIN, **bearer(TOKEN))

    assert preflight.status == 204
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.json() == {"message": "Hello, you! You are alice."}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_prometheus_metrics_count_web_calls_by_method_and_status(kind: str) -> None:
    pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")
    from prometheus_client import CollectorRegistry

    from greeter.metrics import PrometheusMetrics

    registry = CollectorRegistry()
    config = ServerConfig(web=LOOPBACK, auth=check_token, hooks=[PrometheusMetrics(registry)])
    service: Whoami | AsyncWhoami = Whoami() if kind == "sync" else AsyncWhoami()
    with testing.serving(service, config=config) as server:
        assert server.web_address is not None
        post_json(server.web_address, SAY_HELLO, {"name": "you"}, **bearer(TOKEN))
        post_json(server.web_address, SAY_HELLO, {"name": "you"})
        call_grpc_web(server.web_address, STREAM_REPLY, "you", **bearer(TOKEN))

    def calls(method: str, code: str) -> float | None:
        labels = {"service": "helloworld.Greeter", "method": method, "code": code}
        return registry.get_sample_value("greeter_server_calls_total", labels)

    assert calls("SayHello", "OK") == 1
    assert calls("SayHello", "UNAUTHENTICATED") == 1
    assert calls("SayHelloStreamReply", "OK") == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_asgi_app_with_a_config_checks_tokens_and_runs_its_hooks(kind: str) -> None:
    hook = CallRecorder()
    service: Whoami | AsyncWhoami = Whoami() if kind == "sync" else AsyncWhoami()
    app = asgi_app(service, config=ServerConfig(auth=check_token, hooks=[hook]))

    status, reply = call_asgi(app, "mounted", (b"authorization", f"Bearer {TOKEN}".encode()))
    refused, error = call_asgi(app, "mounted")

    assert (status, json.loads(reply)) == (200, {"message": "Hello, mounted! You are alice."})
    assert refused == 401
    assert json.loads(error)["code"] == "unauthenticated"
    assert [outcome.code.name for _, outcome in hook.outcomes(2)] == ["OK", "UNAUTHENTICATED"]
    assert service.identities == ["alice"]


def test_asgi_app_refuses_async_hooks_for_a_threaded_service() -> None:
    class AsyncHook(greeter.ServerHook):
        async def before_call(self, call: greeter.CallInfo) -> None:
            return None

    with pytest.raises(TypeError, match="async"):
        asgi_app(GreeterService(), config=ServerConfig(hooks=[AsyncHook()]))


# ----------------------------------------------------------------------- TLS


def json_body(name: str) -> bytes:
    return json.dumps({"name": name}).encode()


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_with_tls_the_web_port_serves_https_with_the_servers_certificate(
    kind: str,
    certificates: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the PEM bytes go
    pair = certificates.trusted.server
    tls = ServerTLS(pair.certificate.data, pair.private_key.data)  # bytes, not paths
    config = ServerConfig(web=LOOPBACK, tls=tls, auth=check_token)
    service: Whoami | AsyncWhoami = Whoami() if kind == "sync" else AsyncWhoami()
    verified = ssl.create_default_context(cafile=certificates.trusted.ca.path)
    with testing.serving(service, config=config) as server:
        assert server.web_address is not None
        answer = post(
            server.web_address, SAY_HELLO, json_body("you"), JSON | bearer(TOKEN), tls=verified
        )
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            post(server.web_address, SAY_HELLO, json_body("you"), JSON)  # plaintext
        assert list(tmp_path.iterdir()) == []  # the key was written only while loading

    assert answer.json() == {"message": "Hello, you! You are alice."}


def test_with_a_client_ca_the_web_port_requires_client_certificates(
    certificates: Certificates,
) -> None:
    trusted = certificates.trusted
    tls = ServerTLS(
        trusted.server.certificate.path, trusted.server.private_key.path, client_ca=trusted.ca.path
    )
    anonymous = ssl.create_default_context(cafile=trusted.ca.path)
    known = ssl.create_default_context(cafile=trusted.ca.path)
    known.load_cert_chain(trusted.client.certificate.path, trusted.client.private_key.path)
    with testing.serving(GreeterService(), config=ServerConfig(web=LOOPBACK, tls=tls)) as server:
        assert server.web_address is not None
        answer = post(server.web_address, SAY_HELLO, json_body("you"), JSON, tls=known)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            post(server.web_address, SAY_HELLO, json_body("you"), JSON, tls=anonymous)

    assert answer.json() == {"message": "Hello, you!"}


def test_greeter_serve_web_checks_tokens_over_tls_and_logs_each_web_call(
    certificates: Certificates,
) -> None:
    trusted = certificates.trusted
    process = ServerProcess(
        [
            sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK,
            "--web", LOOPBACK, "--auth-token", TOKEN, "--access-log",
            "--tls-cert", str(trusted.server.certificate.path),
            "--tls-key", str(trusted.server.private_key.path),
        ],
        r"to browsers \(Connect, gRPC-Web\) on 127\.0\.0\.1:(\d+) over TLS",
    )  # fmt: skip
    try:
        web_address = f"127.0.0.1:{process.port}"
        verified = ssl.create_default_context(cafile=trusted.ca.path)
        answer = post(web_address, SAY_HELLO, json_body("cli"), JSON | bearer(TOKEN), tls=verified)
        refused = post(web_address, SAY_HELLO, json_body("cli"), JSON, tls=verified)
        process.wait_for_log("greeter.access", count=2)
        assert process.stop() == 0
    finally:
        process.kill()

    assert answer.json() == {"message": "Hello, cli!"}
    assert refused.json()["code"] == "unauthenticated"
    assert re.search(
        r"greeter\.access: /helloworld\.Greeter/SayHello ipv4:127\.0\.0\.1:\d+ OK", process.log()
    )
    assert re.search(r"SayHello ipv4:127\.0\.0\.1:\d+ UNAUTHENTICATED", process.log())


# ----------------------------------------------------------- serving, stopping


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_one_server_answers_native_grpc_and_web_on_two_ports(kind: str) -> None:
    with web_serving(kind) as server:
        with GreeterClient(server.target) as client:
            assert client.greet("native") == "Hello, native! (plain)"
        assert server.web_address is not None
        assert post_json(server.web_address, SAY_HELLO, {"name": "web"}).status == 200


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stop_lets_a_web_call_in_flight_finish_then_closes_the_web_port(kind: str) -> None:
    answers: list[Answer] = []
    with web_serving(kind, grace_seconds=3) as server:
        address = server.web_address
        assert address is not None
        call = threading.Thread(
            target=lambda: answers.append(post_json(address, SAY_HELLO, {"name": "nap"}))
        )
        call.start()
        time.sleep(0.3)  # the call is in flight when the block ends and stop() begins
    call.join(timeout=5)

    assert answers[0].json() == {"message": "slow but done"}
    with pytest.raises(ConnectionRefusedError):
        post_json(address, SAY_HELLO, {"name": "late"})


def test_the_web_keyword_of_start_serves_browsers_too() -> None:
    with GreeterService().start(LOOPBACK, web=LOOPBACK) as server:
        assert server.web_address is not None
        answer = post_json(server.web_address, SAY_HELLO, {"name": "you"})
    assert answer.json() == {"message": "Hello, you!"}


def call_asgi(app: ASGIApp, name: str, *headers: tuple[bytes, bytes]) -> tuple[object, bytes]:
    """One Connect JSON call to ``app`` as an ASGI server makes it: the status and body."""
    body = json.dumps({"name": name}).encode()
    sent: list[dict[str, object]] = []
    received: list[bytes] = []

    async def receive() -> dict[str, object]:
        if not received:
            received.append(body)
            return {"type": "http.request", "body": body, "more_body": False}
        # As a server does: nothing more until the client goes away.
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SAY_HELLO,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    reply = b"".join(m["body"] for m in sent[1:] if isinstance(m.get("body"), bytes))  # type: ignore[misc]
    return sent[0]["status"], reply


def test_asgi_app_answers_in_an_asgi_server_of_your_own() -> None:
    status, reply = call_asgi(asgi_app(AsyncGreeterService(), origins=["*"]), "mounted")

    assert status == 200
    assert json.loads(reply) == {"message": "Hello, mounted!"}


def test_import_greeter_does_not_load_the_web_extra() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, greeter; print('connectrpc' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


def test_greeter_serve_web_serves_both_ports_and_drains_both_on_sigterm() -> None:
    process = ServerProcess(
        [
            sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK,
            "--web", LOOPBACK, "--web-origin", ORIGIN,
        ],
        r"to browsers \(Connect, gRPC-Web\) on 127\.0\.0\.1:(\d+)",
    )  # fmt: skip
    try:
        web_address = f"127.0.0.1:{process.port}"
        answer = post_json(web_address, SAY_HELLO, {"name": "cli"}, Origin=ORIGIN)
        assert answer.json() == {"message": "Hello, cli!"}
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert process.stop() == 0
    finally:
        process.kill()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--web-origin", ORIGIN], "--web-origin needs --web"),
        (["--web", LOOPBACK, "--workers", "2"], "--web serves one process"),
    ],
)
def test_greeter_serve_web_flags_that_cannot_work_are_usage_errors(
    arguments: list[str], message: str
) -> None:
    result = run_cli("serve", "--address", LOOPBACK, *arguments)

    assert result.returncode == 2
    assert message in result.stderr


# ----------------------------------------------------------------- admission


class HeldWeb(GreeterService):
    """SayHello waits for ``release``; ``started`` counts the calls that began."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def say_hello(self, name: str) -> str:
        self.started.release()
        self.release.wait(10)
        return f"Hello, {name}!"


def test_the_web_port_queues_a_call_while_its_threads_are_busy_and_serves_it() -> None:
    service = HeldWeb()
    config = ServerConfig(web=LOOPBACK, max_workers=1)
    with testing.serving(service, config=config) as server, ThreadPoolExecutor(2) as pool:
        assert server.web_address is not None
        running = pool.submit(post_json, server.web_address, SAY_HELLO, {"name": "running"})
        assert service.started.acquire(timeout=10)
        queued = pool.submit(post_json, server.web_address, SAY_HELLO, {"name": "queued"})
        service.release.set()
        assert running.result(10).json() == {"message": "Hello, running!"}
        assert queued.result(10).json() == {"message": "Hello, queued!"}


def test_the_web_port_refuses_a_call_beyond_a_full_queue_at_once() -> None:
    service = HeldWeb()
    config = ServerConfig(web=LOOPBACK, max_workers=1, max_queued_calls=0)
    with testing.serving(service, config=config) as server, ThreadPoolExecutor(1) as pool:
        assert server.web_address is not None
        running = pool.submit(post_json, server.web_address, SAY_HELLO, {"name": "running"})
        try:
            assert service.started.acquire(timeout=10)
            started = time.monotonic()
            refused = post_json(server.web_address, SAY_HELLO, {"name": "one too many"})
            took = time.monotonic() - started
        finally:
            service.release.set()
        assert (refused.status, refused.json()["code"], took < 1) == (
            429,
            "resource_exhausted",
            True,
        )
        assert running.result(10).json() == {"message": "Hello, running!"}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_web_port_refuses_a_message_over_max_receive_message_length(kind: str) -> None:
    service: GreeterService | AsyncGreeterService = (
        GreeterService() if kind == "sync" else AsyncGreeterService()
    )
    config = ServerConfig(web=LOOPBACK, max_receive_message_length=1000)
    with testing.serving(service, config=config) as server:
        assert server.web_address is not None
        small = post_json(server.web_address, SAY_HELLO, {"name": "x" * 500})
        large = post_json(server.web_address, SAY_HELLO, {"name": "x" * 2000})
    assert small.json() == {"message": f"Hello, {'x' * 500}!"}
    assert (large.status, large.json()["code"]) == (429, "resource_exhausted")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_web_address_already_in_use_is_one_oserror_naming_it(kind: str) -> None:
    service: GreeterService | AsyncGreeterService = (
        GreeterService() if kind == "sync" else AsyncGreeterService()
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        expected = rf"^cannot listen on {re.escape(address)} \(--web\): address already in use$"
        with (
            pytest.raises(OSError, match=expected),
            testing.serving(service, config=ServerConfig(web=address)),
        ):
            pass
