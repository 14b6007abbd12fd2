"""Server hooks, the access log, and raw grpc interceptors on the server and the clients.

A ``ServerHook`` sees every call of a server (the Greeter's and the extra services'):
method, metadata and peer before it, status and duration after it. Raising a
``greeter.GreeterError`` in ``before_call`` refuses the call with that status before its
handler runs. Both servers behave alike; each test runs on both unless it says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
import pytest
from google.rpc.error_details_pb2 import ErrorInfo

import greeter
from greeter import (
    AccessLog,
    AsyncGreeterClient,
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    GreeterClient,
    GreeterService,
    ServerConfig,
    ServerHook,
    StatusCode,
)
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess
from tests.echo_service import (
    ECHO_METHOD,
    AsyncEchoServicer,
    EchoCode,
    EchoServicer,
    call_count,
    call_upper,
    demo_handler,
    load_echo_code,
    serving_with,
)

TIMEOUT = 10.0
SAY_HELLO = "/helloworld.Greeter/SayHello"
STREAM_REPLY = "/helloworld.Greeter/SayHelloStreamReply"
STREAM_REQUEST = "/helloworld.Greeter/SayHelloStreamRequest"
BIDI = "/helloworld.Greeter/SayHelloBidiStream"
UPPER = "/demo.Test/Upper"
COUNT = "/demo.Test/Count"
#: An access-log line: method, peer, status, duration (and the status message, if any).
ACCESS_LINE = re.compile(
    r"^(?P<method>/\S+) (?P<peer>ipv4:127\.0\.0\.1:\d+) (?P<code>[A-Z_]+) \d+\.\dms"
)

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


@pytest.fixture(scope="module")
def echo_code(tmp_path_factory: pytest.TempPathFactory) -> EchoCode:
    return load_echo_code(tmp_path_factory)


class Recorder(ServerHook):
    """Records each call it sees, and in what order, in one list shared with the services."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.events = [] if events is None else events
        self.before: list[CallInfo] = []
        self.after: list[tuple[CallInfo, CallOutcome]] = []
        self._changed = threading.Condition()

    def before_call(self, call: CallInfo) -> None:
        with self._changed:
            self.before.append(call)
            self.events.append(f"before {call.rpc}")

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        with self._changed:
            self.after.append((call, outcome))
            self.events.append(f"after {call.rpc} {outcome.code.name}")
            self._changed.notify_all()

    def outcomes(self, count: int) -> list[tuple[CallInfo, CallOutcome]]:
        """The first ``count`` calls' outcomes; waits for them (``after_call`` runs once
        the status is decided, so it may finish just after the client has its answer)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.after) >= count, TIMEOUT)
            return list(self.after)

    def outcome(self) -> CallOutcome:
        """The outcome of the one call made."""
        [(_, outcome)] = self.outcomes(1)
        return outcome


class Refuse(ServerHook):
    """Refuses every call whose method ends with ``rpc`` (or every call)."""

    def __init__(self, rpc: str = "") -> None:
        self.rpc = rpc

    def before_call(self, call: CallInfo) -> None:
        if call.method.endswith(self.rpc):
            raise greeter.PermissionDenied(
                f"{call.rpc} is not for {call.get_metadata('x-tenant')}",
                trailing_metadata=[("x-refused-by", "refuse")],
                error_details=[ErrorInfo(reason="TENANT", domain="greeter.test")],
            )


class Counting(GreeterService):
    """Counts its handler runs; ``missing`` is NOT_FOUND, ``crash`` an unexpected error."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.calls = 0
        self.events = [] if events is None else events

    def say_hello(self, name: str) -> str:
        self.calls += 1
        self.events.append("handler SayHello")
        if name == "missing":
            raise greeter.NotFound("no such name")
        if name == "crash":
            raise RuntimeError("a secret the client must not see")
        if name == "slow":
            time.sleep(0.1)
        return super().say_hello(name)

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        self.calls += 1
        for number in range(1, 101):
            yield f"{name} {number}"
            if name != "endless" and number == 3:
                return
            time.sleep(0.01)


class AsyncCounting(AsyncGreeterService):
    """``Counting`` for the asyncio server."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.calls = 0
        self.events = [] if events is None else events

    async def say_hello(self, name: str) -> str:
        self.calls += 1
        self.events.append("handler SayHello")
        if name == "missing":
            raise greeter.NotFound("no such name")
        if name == "crash":
            raise RuntimeError("a secret the client must not see")
        if name == "slow":
            await asyncio.sleep(0.1)
        return await super().say_hello(name)

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        self.calls += 1
        for number in range(1, 101):
            yield f"{name} {number}"
            if name != "endless" and number == 3:
                return
            await asyncio.sleep(0.01)


@dataclass
class Served:
    """A running server, and how to reach and inspect it."""

    target: str
    service: Counting | AsyncCounting
    echo: EchoServicer | AsyncEchoServicer


class HookedServers:
    """Starts servers of one kind (``"sync"`` or ``"async"``) carrying the Greeter
    (``Counting``), ``echo.Echo`` and ``demo.Test``; stops them all in ``close()``."""

    def __init__(self, kind: str, echo_code: EchoCode) -> None:
        self.kind = kind
        self._echo_code = echo_code
        self._running = ExitStack()

    def start(self, config: ServerConfig, events: list[str] | None = None) -> Served:
        """Serve with ``config``; the Greeter appends to ``events`` when its handler runs."""
        code = self._echo_code
        if self.kind == "sync":
            service = Counting(events)
            echo = EchoServicer(code)
            running = serving_with(
                "sync", [code.service(echo), demo_handler()], config=config, service=service
            )
            return Served(self._running.enter_context(running).target, service, echo)
        async_service = AsyncCounting(events)
        async_echo = AsyncEchoServicer(code)
        services = [code.service(async_echo), demo_handler(asynchronous=True)]
        running = serving_with("async", services, config=config, async_service=async_service)
        return Served(self._running.enter_context(running).target, async_service, async_echo)

    def close(self) -> None:
        self._running.close()


@pytest.fixture
def servers(server_kind: str, echo_code: EchoCode) -> Iterator[HookedServers]:
    """Start hooked servers of ``server_kind``; every one is stopped when the test ends."""
    started = HookedServers(server_kind, echo_code)
    try:
        yield started
    finally:
        started.close()


# ------------------------------------------------------------------ what hooks see


def test_hook_sees_method_metadata_and_peer_before_the_handler_runs(
    servers: HookedServers,
) -> None:
    events: list[str] = []
    recorder = Recorder(events)
    served = servers.start(ServerConfig(hooks=[recorder]), events)
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        client.greet("you", metadata=[("x-tenant", "acme"), ("x-trace-bin", b"\x00\x01")])
    recorder.outcomes(1)
    [call] = recorder.before
    assert call.method == SAY_HELLO
    assert (call.service, call.rpc) == ("helloworld.Greeter", "SayHello")
    assert call.get_metadata("x-tenant") == "acme"
    assert call.get_metadata("X-Tenant") == "acme"
    assert call.get_metadata("x-absent") is None
    assert ("x-trace-bin", b"\x00\x01") in call.metadata
    assert call.peer.startswith("ipv4:127.0.0.1:")
    assert events == ["before SayHello", "handler SayHello", "after SayHello OK"]


def test_hook_sees_ok_and_the_duration_after_the_call(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        assert client.greet("slow") == "Hello, slow!"
    outcome = recorder.outcome()
    assert (outcome.code, outcome.details) == (StatusCode.OK, "")
    assert 0.1 <= outcome.duration < TIMEOUT


def test_hook_sees_the_status_and_message_of_an_error_the_service_raised(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        with pytest.raises(greeter.NotFound):
            client.greet("missing")
        with pytest.raises(greeter.Internal):
            client.greet("crash")
    outcomes = [(outcome.code, outcome.details) for _, outcome in recorder.outcomes(2)]
    assert outcomes == [
        (StatusCode.NOT_FOUND, "no such name"),
        (StatusCode.INTERNAL, "Internal server error"),
    ]


def test_hook_sees_each_streaming_call_end_after_its_last_reply(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        assert list(client.greet_stream("s")) == ["s 1", "s 2", "s 3"]
        assert client.greet_many(["Ann", "Bob"]) == "Hello, Ann and Bob!"
        assert list(client.chat(["Ann", "Bob"])) == ["Hello, Ann!", "Hello, Bob!"]
    seen = [(call.method, outcome.code) for call, outcome in recorder.outcomes(3)]
    assert seen == [
        (STREAM_REPLY, StatusCode.OK),
        (STREAM_REQUEST, StatusCode.OK),
        (BIDI, StatusCode.OK),
    ]


def test_hook_sees_a_stream_the_client_cancelled_end_cancelled(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        with client.greet_stream("endless") as replies:
            assert next(replies) == "endless 1"
    call, outcome = recorder.outcomes(1)[0]
    assert (call.method, outcome.code) == (STREAM_REPLY, StatusCode.CANCELLED)


def test_hook_sees_calls_to_the_extra_services(servers: HookedServers, echo_code: EchoCode) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))
    assert echo_code.echo(served.target, "ping", metadata=(("x-tenant", "acme"),)) == "ping"
    assert call_upper(served.target, b"abc") == b"ABC"
    assert call_count(served.target, 2) == [b"1", b"2"]
    seen = [(call.method, outcome.code) for call, outcome in recorder.outcomes(3)]
    assert seen == [(ECHO_METHOD, StatusCode.OK), (UPPER, StatusCode.OK), (COUNT, StatusCode.OK)]
    assert recorder.before[0].service == "echo.Echo"
    assert recorder.before[0].get_metadata("x-tenant") == "acme"


# ------------------------------------------------------------------ refusing calls


def test_hook_refusal_ends_the_call_with_its_status_and_the_handler_never_runs(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[Refuse(), recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT, metadata=[("x-tenant", "acme")]) as client:
        with pytest.raises(greeter.PermissionDenied) as unary:
            client.greet("you")
        with pytest.raises(greeter.PermissionDenied) as stream:
            list(client.greet_stream("you"))
        with pytest.raises(greeter.PermissionDenied):
            client.greet_many(["Ann"])
        with pytest.raises(greeter.PermissionDenied):
            list(client.chat(["Ann"]))
    assert unary.value.details == "SayHello is not for acme"
    assert stream.value.details == "SayHelloStreamReply is not for acme"
    assert served.service.calls == 0
    assert recorder.before == []  # the refusing hook came first
    refused = [(call.rpc, outcome.code) for call, outcome in recorder.outcomes(4)]
    assert refused == [
        ("SayHello", StatusCode.PERMISSION_DENIED),
        ("SayHelloStreamReply", StatusCode.PERMISSION_DENIED),
        ("SayHelloStreamRequest", StatusCode.PERMISSION_DENIED),
        ("SayHelloBidiStream", StatusCode.PERMISSION_DENIED),
    ]
    assert recorder.after[0][1].details == "SayHello is not for acme"


def test_hook_refusal_sends_the_errors_trailing_metadata_and_rich_details(
    servers: HookedServers,
) -> None:
    served = servers.start(ServerConfig(hooks=[Refuse()]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        with pytest.raises(greeter.PermissionDenied) as raised:
            client.greet("you")
    assert ("x-refused-by", "refuse") in raised.value.trailing_metadata
    [info] = raised.value.details_of_type(ErrorInfo)
    assert (info.reason, info.domain) == ("TENANT", "greeter.test")


def test_hook_refuses_calls_to_an_extra_service_before_its_servicer_runs(
    servers: HookedServers, echo_code: EchoCode
) -> None:
    served = servers.start(ServerConfig(hooks=[Refuse("/Echo")]))
    with pytest.raises(grpc.RpcError) as raised:
        echo_code.echo(served.target, "ping")
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert served.echo.calls == 0
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        assert client.greet("you") == "Hello, you!"


def test_hooks_run_in_order_and_a_refusal_skips_the_later_before_calls(
    servers: HookedServers,
) -> None:
    events: list[str] = []
    first, last = Recorder(events), Recorder(events)
    served = servers.start(ServerConfig(hooks=[first, Refuse("/SayHello"), last]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        assert client.greet_again("you") == "Hello again, you!"
        with pytest.raises(greeter.PermissionDenied):
            client.greet("you")
    first.outcomes(2)
    last.outcomes(2)
    assert events == [
        "before SayHelloAgain",
        "before SayHelloAgain",
        "after SayHelloAgain OK",
        "after SayHelloAgain OK",
        "before SayHello",
        "after SayHello PERMISSION_DENIED",
        "after SayHello PERMISSION_DENIED",
    ]


def test_a_hook_that_fails_before_the_call_refuses_it_as_internal_and_is_logged(
    servers: HookedServers, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(ServerHook):
        def before_call(self, call: CallInfo) -> None:
            raise KeyError("a secret the client must not see")

    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[Broken(), recorder]))
    with caplog.at_level(logging.ERROR, logger="greeter.server"):
        with GreeterClient(served.target, timeout=TIMEOUT) as client:
            with pytest.raises(greeter.Internal) as raised:
                client.greet("you")
        outcome = recorder.outcome()
    assert raised.value.details == "Internal server error"
    assert (outcome.code, outcome.details) == (StatusCode.INTERNAL, "Internal server error")
    assert served.service.calls == 0
    [record] = [r for r in caplog.records if r.name == "greeter.server"]
    assert SAY_HELLO in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)


def test_a_failing_after_call_is_logged_and_the_call_and_other_hooks_are_unaffected(
    servers: HookedServers, caplog: pytest.LogCaptureFixture
) -> None:
    class Exploding(ServerHook):
        def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
            raise RuntimeError("after_call broke")

    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[Exploding(), recorder]))
    with caplog.at_level(logging.ERROR, logger="greeter.server"):
        with GreeterClient(served.target, timeout=TIMEOUT) as client:
            assert client.greet("you") == "Hello, you!"
        assert recorder.outcome().code == StatusCode.OK
    [record] = [r for r in caplog.records if r.name == "greeter.server"]
    assert record.getMessage() == "Exploding.after_call failed"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "after_call broke"


# ------------------------------------------------------------ async hooks


class AsyncGate(ServerHook):
    """An ``async def before_call``: awaits, then refuses callers without ``x-tenant``."""

    def __init__(self) -> None:
        self.awaited = 0

    async def before_call(self, call: CallInfo) -> None:
        await asyncio.sleep(0.01)
        self.awaited += 1
        if call.get_metadata("x-tenant") is None:
            raise greeter.Unauthenticated("x-tenant metadata is required")


def test_async_before_call_is_awaited_on_the_asyncio_server_and_can_refuse() -> None:
    gate, recorder = AsyncGate(), Recorder()
    service = AsyncCounting()
    config = ServerConfig(hooks=[gate, recorder])
    with serving_with("async", [], config=config, async_service=service) as server:
        with GreeterClient(server.target, timeout=TIMEOUT) as client:
            assert client.greet("you", metadata=[("x-tenant", "acme")]) == "Hello, you!"
            with pytest.raises(greeter.Unauthenticated, match="x-tenant metadata is required"):
                client.greet("you")
        outcomes = [outcome.code for _, outcome in recorder.outcomes(2)]
    assert gate.awaited == 2
    assert service.calls == 1
    assert outcomes == [StatusCode.OK, StatusCode.UNAUTHENTICATED]


def test_async_before_call_is_refused_with_a_type_error_on_the_threaded_server() -> None:
    with pytest.raises(TypeError, match=r"AsyncGate\.before_call is async"):
        GreeterService().start(LOOPBACK, config=ServerConfig(hooks=[AsyncGate()]))


# ------------------------------------------------------------------ access log


def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The first ``count`` access-log lines; waits (bounded) for them to be written."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        lines = [r.getMessage() for r in caplog.records if r.name == "greeter.access"]
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} access-log lines: {caplog.records}")


def test_access_log_writes_one_info_line_per_call_with_method_peer_status_and_duration(
    servers: HookedServers,
    echo_code: EchoCode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = servers.start(ServerConfig(access_log=True))
    with caplog.at_level(logging.INFO, logger="greeter.access"):
        with GreeterClient(served.target, timeout=TIMEOUT) as client:
            client.greet("you")
            with pytest.raises(greeter.NotFound):
                client.greet("missing")
            list(client.greet_stream("s"))
        echo_code.echo(served.target, "ping")
        lines = access_lines(caplog, 4)
        time.sleep(0.1)  # nothing more is written
        assert len(access_lines(caplog, 4)) == 4
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "greeter.access")
    matches = [ACCESS_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [(m["method"], m["code"]) for m in matches if m] == [
        (SAY_HELLO, "OK"),
        (SAY_HELLO, "NOT_FOUND"),
        (STREAM_REPLY, "OK"),
        (ECHO_METHOD, "OK"),
    ]
    assert lines[1].endswith("ms 'no such name'")


def test_access_log_hook_quotes_at_most_200_characters_of_a_status_message(
    servers: HookedServers, caplog: pytest.LogCaptureFixture
) -> None:
    class Chatty(ServerHook):
        def before_call(self, call: CallInfo) -> None:
            raise greeter.Unavailable("x" * 300)

    served = servers.start(ServerConfig(hooks=[Chatty(), AccessLog()]))
    with caplog.at_level(logging.INFO, logger="greeter.access"):
        with GreeterClient(served.target, timeout=TIMEOUT) as client:
            with pytest.raises(greeter.Unavailable):
                client.greet("you")
        [line] = access_lines(caplog, 1)
    assert line.endswith(f"UNAVAILABLE {line.split()[3]} '{'x' * 200}...'")


def test_no_access_log_lines_are_written_unless_asked_for(
    servers: HookedServers, caplog: pytest.LogCaptureFixture
) -> None:
    served = servers.start(ServerConfig())
    with caplog.at_level(logging.INFO, logger="greeter.access"):
        with GreeterClient(served.target, timeout=TIMEOUT) as client:
            client.greet("you")
    assert [r for r in caplog.records if r.name == "greeter.access"] == []


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["threaded", "asyncio"])
def test_greeter_serve_access_log_prints_a_line_per_call(flags: list[str]) -> None:
    process = ServerProcess(
        [
            *GREETER_SERVE,
            "--address",
            LOOPBACK,
            "--access-log",
            *flags,
        ],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        with GreeterClient(process.target, timeout=TIMEOUT) as client:
            assert client.greet("you") == "Hello, you!"
            assert client.greet_again("you") == "Hello again, you!"
    finally:
        process.stop()
        process.kill()
    output = "".join(process.output)
    assert re.search(
        r"greeter\.access: /helloworld\.Greeter/SayHello ipv4:127\.0\.0\.1:\d+ OK", output
    )
    assert re.search(
        r"greeter\.access: /helloworld\.Greeter/SayHelloAgain ipv4:127\.0\.0\.1:\d+ OK", output
    )


# ---------------------------------------------------- raw grpc server interceptors


class MethodLog(grpc.ServerInterceptor):
    """A raw grpc interceptor for the threaded server: records each method it is asked for."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Request, _Response] | None
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        self.methods.append(handler_call_details.method)
        return continuation(handler_call_details)


class AsyncMethodLog(grpc.aio.ServerInterceptor):
    """``MethodLog`` for the asyncio server."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        self.methods.append(handler_call_details.method)
        return await continuation(handler_call_details)


def test_raw_server_interceptors_run_for_every_call_beside_the_hooks(
    server_kind: str, servers: HookedServers, echo_code: EchoCode
) -> None:
    interceptor = MethodLog() if server_kind == "sync" else AsyncMethodLog()
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder], interceptors=[interceptor]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        client.greet("you")
        list(client.greet_stream("s"))
    echo_code.echo(served.target, "ping")
    recorder.outcomes(3)
    assert interceptor.methods == [SAY_HELLO, STREAM_REPLY, ECHO_METHOD]


def test_raw_server_interceptors_run_without_any_hook(
    server_kind: str, servers: HookedServers
) -> None:
    interceptor = MethodLog() if server_kind == "sync" else AsyncMethodLog()
    served = servers.start(ServerConfig(interceptors=[interceptor]))
    with GreeterClient(served.target, timeout=TIMEOUT) as client:
        client.greet("you")
    assert interceptor.methods == [SAY_HELLO]


def test_a_server_refuses_raw_interceptors_of_the_other_servers_kind() -> None:
    with pytest.raises(TypeError, match=r"AsyncMethodLog is not a grpc\.ServerInterceptor"):
        GreeterService().start(LOOPBACK, config=ServerConfig(interceptors=[AsyncMethodLog()]))
    config = ServerConfig(interceptors=[MethodLog()])
    with pytest.raises(TypeError, match=r"MethodLog is not a grpc\.aio\.\S*ServerInterceptor"):
        with serving_with("async", [], config=config):
            pass


# ------------------------------------------------------------ client interceptors


@dataclass(frozen=True)
class CallDetails(grpc.ClientCallDetails):
    """grpc's ``ClientCallDetails`` is abstract: an interceptor that changes them makes its own."""

    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def with_tag(details: grpc.ClientCallDetails) -> CallDetails:
    return CallDetails(
        details.method,
        details.timeout,
        (*(details.metadata or ()), ("x-intercepted", "sync")),
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )


class Tagging(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """A raw grpc client interceptor of all four kinds: adds ``x-intercepted`` metadata."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def _details(self, details: grpc.ClientCallDetails) -> CallDetails:
        self.methods.append(details.method)
        return with_tag(details)

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], grpc._CallFuture[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> grpc._CallFuture[_Response]:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], grpc._CallIterator[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> grpc._CallIterator[_Response]:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[
            [grpc.ClientCallDetails, Iterator[_Request]], grpc._CallFuture[_Response]
        ],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Request],
    ) -> grpc._CallFuture[_Response]:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[
            [grpc.ClientCallDetails, Iterator[_Request]], grpc._CallIterator[_Response]
        ],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Request],
    ) -> grpc._CallIterator[_Response]:
        return continuation(self._details(client_call_details), request_iterator)


def with_async_tag(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), ("x-intercepted", "async"))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


# grpc.aio sorts an interceptor into one kind only, so the asyncio client takes one
# interceptor object per kind of call.


class AsyncTagUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, _Request],
            Awaitable[grpc.aio.UnaryUnaryCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: _Request,
    ) -> _Response | grpc.aio.UnaryUnaryCall[_Request, _Response]:
        return await continuation(with_async_tag(client_call_details), request)


class AsyncTagUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, _Request],
            Awaitable[grpc.aio.UnaryStreamCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: _Request,
    ) -> AsyncIterator[_Response] | grpc.aio.UnaryStreamCall[_Request, _Response]:
        return await continuation(with_async_tag(client_call_details), request)


class AsyncTagStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[_Request] | Iterable[_Request]],
            Awaitable[grpc.aio.StreamUnaryCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[_Request] | Iterable[_Request],
    ) -> _Response | grpc.aio.StreamUnaryCall[_Request, _Response]:
        return await continuation(with_async_tag(client_call_details), request_iterator)


class AsyncTagStreamStream(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[_Request] | Iterable[_Request]],
            Awaitable[grpc.aio.StreamStreamCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[_Request] | Iterable[_Request],
    ) -> AsyncIterator[_Response] | grpc.aio.StreamStreamCall[_Request, _Response]:
        return await continuation(with_async_tag(client_call_details), request_iterator)


def test_sync_client_refuses_an_object_that_is_no_client_interceptor() -> None:
    with pytest.raises(TypeError, match="is not a grpc client interceptor"):
        GreeterClient(LOOPBACK, interceptors=[AsyncTagUnaryUnary()])  # type: ignore[list-item]


def tags_seen(recorder: Recorder) -> list[tuple[str, str | None]]:
    return [(call.rpc, call.get_metadata("x-intercepted")) for call, _ in recorder.outcomes(4)]


def test_sync_client_interceptors_run_on_every_rpc_and_add_metadata_the_server_sees(
    servers: HookedServers,
) -> None:
    recorder, tagging = Recorder(), Tagging()
    served = servers.start(ServerConfig(hooks=[recorder]))
    with GreeterClient(served.target, timeout=TIMEOUT, interceptors=[tagging]) as client:
        assert client.greet("you") == "Hello, you!"
        assert list(client.greet_stream("s")) == ["s 1", "s 2", "s 3"]
        assert client.greet_many(["Ann"]) == "Hello, Ann!"
        assert list(client.chat(["Ann"])) == ["Hello, Ann!"]
    assert tagging.methods == [SAY_HELLO, STREAM_REPLY, STREAM_REQUEST, BIDI]
    assert tags_seen(recorder) == [
        ("SayHello", "sync"),
        ("SayHelloStreamReply", "sync"),
        ("SayHelloStreamRequest", "sync"),
        ("SayHelloBidiStream", "sync"),
    ]


def test_async_client_interceptors_run_on_every_rpc_and_add_metadata_the_server_sees(
    servers: HookedServers,
) -> None:
    recorder = Recorder()
    served = servers.start(ServerConfig(hooks=[recorder]))

    async def scenario() -> None:
        interceptors = [
            AsyncTagUnaryUnary(),
            AsyncTagUnaryStream(),
            AsyncTagStreamUnary(),
            AsyncTagStreamStream(),
        ]
        async with AsyncGreeterClient(
            served.target, timeout=TIMEOUT, interceptors=interceptors
        ) as client:
            assert await client.greet("you") == "Hello, you!"
            assert [reply async for reply in client.greet_stream("s")] == ["s 1", "s 2", "s 3"]
            assert await client.greet_many(["Ann"]) == "Hello, Ann!"
            assert [reply async for reply in client.chat(["Ann"])] == ["Hello, Ann!"]

    asyncio.run(scenario())
    assert tags_seen(recorder) == [
        ("SayHello", "async"),
        ("SayHelloStreamReply", "async"),
        ("SayHelloStreamRequest", "async"),
        ("SayHelloBidiStream", "async"),
    ]


# ---------------------------------------- plain-def handlers on the asyncio server
#
# grpc.aio serves plain ``def`` handlers too: in a worker thread, with a blocking context
# and request iterator. A generic handler written for the threaded server can so be
# passed to either server; the hooks (and auth, and the access log) must not break it.


def _find(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such key")
    if request == b"soft":
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("not yet")
    return b"found " + request


def _join(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    return b"+".join(requests)


def plain_def_handler() -> grpc.GenericRpcHandler:
    """``demo.Plain``: ``Find`` (unary; aborts, or sets a status) and ``Join`` (client stream)."""
    return grpc.method_handlers_generic_handler(
        "demo.Plain",
        {
            "Find": grpc.unary_unary_rpc_method_handler(
                _find, request_deserializer=bytes, response_serializer=bytes
            ),
            "Join": grpc.stream_unary_rpc_method_handler(
                _join, request_deserializer=bytes, response_serializer=bytes
            ),
        },
    )


def call_plain(target: str, method: str, request: bytes | list[bytes]) -> bytes | grpc.StatusCode:
    """Call ``demo.Plain``; the reply, or the status it failed with."""
    with grpc.insecure_channel(target) as channel:
        try:
            if isinstance(request, bytes):
                find: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
                return find(request, timeout=TIMEOUT)
            join: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(method)
            return join(iter(request), timeout=TIMEOUT)
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call):
                return error.code()
            raise


def test_plain_def_generic_handlers_run_under_hooks_on_the_asyncio_server() -> None:
    recorder = Recorder()
    config = ServerConfig(hooks=[recorder])
    with serving_with("async", [demo_handler(), plain_def_handler()], config=config) as server:
        assert call_upper(server.target, b"abc") == b"ABC"
        assert call_count(server.target, 2) == [b"1", b"2"]
        assert call_plain(server.target, "/demo.Plain/Join", [b"a", b"b"]) == b"a+b"
    # A plain def's status reaches the client from grpc.aio's worker thread, at times
    # before its after-hooks have run: the calls' outcomes, in any order.
    assert sorted((call.method, outcome.code) for call, outcome in recorder.outcomes(3)) == [
        ("/demo.Plain/Join", StatusCode.OK),
        (COUNT, StatusCode.OK),
        (UPPER, StatusCode.OK),
    ]


def test_hooks_see_the_status_a_plain_def_handler_sets_on_the_asyncio_server() -> None:
    recorder = Recorder()
    config = ServerConfig(hooks=[recorder])
    with serving_with("async", [plain_def_handler()], config=config) as server:
        assert call_plain(server.target, "/demo.Plain/Find", b"k") == b"found k"
        assert (
            call_plain(server.target, "/demo.Plain/Find", b"missing") == grpc.StatusCode.NOT_FOUND
        )
        assert (
            call_plain(server.target, "/demo.Plain/Find", b"soft")
            == grpc.StatusCode.FAILED_PRECONDITION
        )
    assert sorted((o.code, o.details) for _, o in recorder.outcomes(3)) == [
        (StatusCode.OK, ""),
        (StatusCode.NOT_FOUND, "no such key"),
        (StatusCode.FAILED_PRECONDITION, "not yet"),
    ]


def test_async_hooks_guard_plain_def_handlers_on_the_asyncio_server() -> None:
    gate, recorder = AsyncGate(), Recorder()
    config = ServerConfig(hooks=[gate, recorder])
    with serving_with("async", [plain_def_handler()], config=config) as server:
        refused = call_plain(server.target, "/demo.Plain/Find", b"k")
        with grpc.insecure_channel(server.target) as channel:
            find: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/demo.Plain/Find"
            )
            admitted = find(b"k", timeout=TIMEOUT, metadata=(("x-tenant", "acme"),))
    assert (refused, admitted) == (grpc.StatusCode.UNAUTHENTICATED, b"found k")
    assert gate.awaited == 2
    codes = sorted(outcome.code for _, outcome in recorder.outcomes(2))
    assert codes == [StatusCode.OK, StatusCode.UNAUTHENTICATED]
