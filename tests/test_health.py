"""The standard health service (``grpc.health.v1.Health``), asked with grpc's own stubs.

What load balancers and Kubernetes' gRPC probes rely on: ``SERVING`` once the server
has started, ``NOT_SERVING`` from the moment a graceful stop begins (while in-flight
calls still drain), and nothing at all with ``health=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Protocol, cast

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    ServerConfig,
)
from greeter._proto.health_pb2 import HealthListRequest, HealthListResponse
from greeter.server._health import AsyncHealth, Health
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, serving, wait_for

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GREETER = "helloworld.Greeter"
HEALTH = "grpc.health.v1.Health"
TIMEOUT = 10.0
#: Long enough that a stop cannot end before the test has seen NOT_SERVING.
GRACE_SECONDS = 5.0

HealthCheckRequest = health_pb2.HealthCheckRequest
HealthCheckResponse = health_pb2.HealthCheckResponse


class HealthStub(Protocol):
    """``health_pb2_grpc.HealthStub`` as it is on a sync channel (its stubs are untyped)."""

    Check: grpc.UnaryUnaryMultiCallable[HealthCheckRequest, HealthCheckResponse]
    Watch: grpc.UnaryStreamMultiCallable[HealthCheckRequest, HealthCheckResponse]


class AsyncHealthStub(Protocol):
    """``health_pb2_grpc.HealthStub`` as it is on a ``grpc.aio`` channel."""

    Check: grpc.aio.UnaryUnaryMultiCallable[HealthCheckRequest, HealthCheckResponse]
    Watch: grpc.aio.UnaryStreamMultiCallable[HealthCheckRequest, HealthCheckResponse]


def health_stub(channel: grpc.Channel) -> HealthStub:
    return cast(HealthStub, health_pb2_grpc.HealthStub(channel))


def async_health_stub(channel: grpc.aio.Channel) -> AsyncHealthStub:
    return cast(AsyncHealthStub, health_pb2_grpc.HealthStub(channel))


def check(target: str, service: str) -> int:
    """The status ``Health/Check`` reports for ``service`` (raises ``grpc.RpcError``)."""
    with grpc.insecure_channel(target) as channel:
        response = health_stub(channel).Check(HealthCheckRequest(service=service), timeout=10)
    return response.status


def test_health_reports_serving_for_the_server_and_the_greeter_once_started(
    server_kind: str,
) -> None:
    with serving(server_kind) as target:
        assert check(target, "") == SERVING
        assert check(target, GREETER) == SERVING


def test_health_check_of_an_unknown_service_is_not_found(server_kind: str) -> None:
    with serving(server_kind) as target:
        with pytest.raises(grpc.RpcError) as raised:
            check(target, "no.such.Service")
    assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.NOT_FOUND


def test_health_false_turns_the_health_service_off(server_kind: str) -> None:
    with serving(server_kind, config=ServerConfig(health=False)) as target:
        with pytest.raises(grpc.RpcError) as raised:
            check(target, "")
        with GreeterClient(target, timeout=TIMEOUT) as client:
            assert client.greet("you") == "Hello, you!"
    assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.UNIMPLEMENTED


def _echo_handler() -> grpc.GenericRpcHandler:
    echo = grpc.unary_unary_rpc_method_handler(
        lambda request, context: request,
        request_deserializer=bytes,
        response_serializer=bytes,
    )
    return grpc.method_handlers_generic_handler("test.Echo", {"Echo": echo})


def test_health_reports_serving_for_extra_services_on_the_threaded_server() -> None:
    with GreeterService().start(LOOPBACK, services=[_echo_handler()]) as server:
        assert check(server.target, "test.Echo") == SERVING
        assert check(server.target, GREETER) == SERVING


def test_health_reports_serving_for_extra_services_on_the_asyncio_server() -> None:
    async def scenario() -> None:
        server = await AsyncGreeterService().start(LOOPBACK, services=[_echo_handler()])
        try:
            async with grpc.aio.insecure_channel(server.target) as channel:
                health = async_health_stub(channel)
                for service in ("", GREETER, "test.Echo"):
                    response = await health.Check(
                        HealthCheckRequest(service=service), timeout=TIMEOUT
                    )
                    assert response.status == SERVING
        finally:
            await server.stop(0)

    asyncio.run(scenario())


def test_health_watch_starts_with_serving(server_kind: str) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        watch = health_stub(channel).Watch(HealthCheckRequest(service=GREETER), timeout=TIMEOUT)
        assert next(watch).status == SERVING
        watch.cancel()


class Blocking(GreeterService):
    """SayHello waits until released (at most 10 s)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def say_hello(self, name: str) -> str:
        self.entered.set()
        self.release.wait(timeout=10)
        return f"Finally, {name}"


def _rest_of(watch: Iterator[HealthCheckResponse]) -> list[int]:
    """The statuses a watch still sends before it ends (with an error or not)."""
    statuses: list[int] = []
    with contextlib.suppress(grpc.RpcError):
        for response in watch:
            statuses.append(response.status)
    return statuses


def test_health_turns_not_serving_as_soon_as_a_graceful_stop_begins() -> None:
    service = Blocking()
    server = service.start(LOOPBACK, config=ServerConfig(grace_seconds=GRACE_SECONDS))
    with grpc.insecure_channel(server.target) as channel:
        health = health_stub(channel)
        watches = {
            name: health.Watch(HealthCheckRequest(service=name), timeout=30)
            for name in ("", GREETER)
        }
        assert {name: next(watch).status for name, watch in watches.items()} == {
            "": SERVING,
            GREETER: SERVING,
        }
        replies: list[str] = []
        with GreeterClient(server.target, timeout=TIMEOUT) as client:
            slow_call = threading.Thread(target=lambda: replies.append(client.greet("you")))
            slow_call.start()
            assert service.entered.wait(timeout=TIMEOUT)
            stopping = threading.Thread(target=server.stop)
            stopping.start()
            try:
                # Both watches hear NOT_SERVING while the slow call is still running, so
                # the stop cannot have finished yet.
                assert {name: next(watch).status for name, watch in watches.items()} == {
                    "": NOT_SERVING,
                    GREETER: NOT_SERVING,
                }
                assert stopping.is_alive()
                assert slow_call.is_alive()
            finally:
                service.release.set()
                slow_call.join(timeout=TIMEOUT)
                stopping.join(timeout=TIMEOUT)
        assert not stopping.is_alive()
        assert replies == ["Finally, you"]
        # The stop ends the watches; nothing says SERVING again.
        for watch in watches.values():
            assert SERVING not in _rest_of(watch)


class AsyncBlocking(AsyncGreeterService):
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def say_hello(self, name: str) -> str:
        self.entered.set()
        await asyncio.wait_for(self.release.wait(), 10)
        return f"Finally, {name}"


def test_asyncio_health_turns_not_serving_as_soon_as_a_graceful_stop_begins() -> None:
    async def scenario() -> None:
        service = AsyncBlocking()
        server = await service.start(LOOPBACK, config=ServerConfig(grace_seconds=GRACE_SECONDS))
        async with (
            grpc.aio.insecure_channel(server.target) as channel,
            AsyncGreeterClient(server.target, timeout=TIMEOUT) as client,
        ):
            watch = async_health_stub(channel).Watch(HealthCheckRequest(service=""), timeout=30)
            first = await asyncio.wait_for(watch.read(), TIMEOUT)
            assert isinstance(first, HealthCheckResponse)
            assert first.status == SERVING
            slow_call = asyncio.create_task(client.greet("you"))
            await asyncio.wait_for(service.entered.wait(), TIMEOUT)
            stopping = asyncio.create_task(server.stop())
            try:
                second = await asyncio.wait_for(watch.read(), TIMEOUT)
                assert isinstance(second, HealthCheckResponse)
                assert second.status == NOT_SERVING
                assert not stopping.done()
                assert not slow_call.done()
            finally:
                service.release.set()
                assert await asyncio.wait_for(slow_call, TIMEOUT) == "Finally, you"
                await asyncio.wait_for(stopping, TIMEOUT)
            rest: list[int] = []
            with contextlib.suppress(grpc.RpcError):
                for _ in range(10):
                    response = await asyncio.wait_for(watch.read(), TIMEOUT)
                    if not isinstance(response, HealthCheckResponse):
                        break  # grpc.aio.EOF: the stream ended cleanly
                    rest.append(response.status)
            assert SERVING not in rest

    asyncio.run(scenario())


def test_an_open_health_watch_does_not_hold_a_graceful_stop(server_kind: str) -> None:
    # grpc clients with client-side health checking keep a Watch open on every
    # connection; a stop with no Greeter call in flight should not wait for them.
    config = ServerConfig(grace_seconds=GRACE_SECONDS)
    if server_kind == "sync":
        server = GreeterService().start(LOOPBACK, config=config)
        with grpc.insecure_channel(server.target) as channel:
            watch = health_stub(channel).Watch(HealthCheckRequest(service=""), timeout=30)
            assert next(watch).status == SERVING
            started = time.monotonic()
            server.stop()
            elapsed = time.monotonic() - started
    else:

        async def scenario() -> float:
            server = await AsyncGreeterService().start(LOOPBACK, config=config)
            async with grpc.aio.insecure_channel(server.target) as channel:
                watch = async_health_stub(channel).Watch(HealthCheckRequest(service=""))
                first = await asyncio.wait_for(watch.read(), TIMEOUT)
                assert isinstance(first, HealthCheckResponse)
                started = time.monotonic()
                await server.stop()
                return time.monotonic() - started

        elapsed = asyncio.run(scenario())
    assert elapsed < GRACE_SECONDS / 2


# -- List, malformed requests, worker threads, ending the watches -------------------------

HEALTH_LIST = "/grpc.health.v1.Health/List"


def test_health_list_reports_every_service_it_checks(server_kind: str) -> None:
    # Parsed with greeter's own message, the protocol's HealthListResponse (grpc's stubs
    # have it only from 1.70 on); test_reflection asks it with a reflected message too.
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        listed = channel.unary_unary(
            HEALTH_LIST,
            request_serializer=HealthListRequest.SerializeToString,
            response_deserializer=HealthListResponse.FromString,
        )(HealthListRequest(), timeout=TIMEOUT)
    assert {name: reply.status for name, reply in listed.statuses.items()} == {
        "": SERVING,
        GREETER: SERVING,
    }


def _call_with_bytes(channel: grpc.Channel, method: str, request: bytes) -> list[bytes]:
    """Call a health method with ``request`` as its message's bytes; the replies' bytes."""
    if method == "Watch":
        watch: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            f"/{HEALTH}/Watch"
        )
        return list(watch(request, timeout=TIMEOUT))
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{HEALTH}/{method}")
    return [call(request, timeout=TIMEOUT)]


@pytest.mark.parametrize("method", ["Check", "Watch", "List"])
def test_a_malformed_health_request_is_invalid_argument_and_logs_no_traceback(
    server_kind: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_message = b"\xff\xff"
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            _call_with_bytes(channel, method, not_a_message)
    assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


@pytest.mark.parametrize("hooks", [False, True], ids=["plain", "with-hooks"])
def test_open_health_watches_hold_no_worker_thread_on_the_threaded_server(
    hooks: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Two worker threads (and so at most two calls at once): four open watches, and the
    # Greeter still answers; also when hooks (here the access log) wrap every call.
    caplog.set_level(logging.INFO, logger="greeter.access")
    config = ServerConfig(max_workers=2, access_log=hooks)
    with GreeterService().start(LOOPBACK, config=config) as server:
        with grpc.insecure_channel(server.target) as channel:
            health = health_stub(channel)
            watches = []
            for _ in range(4):
                watch = health.Watch(HealthCheckRequest(service=""), timeout=30)
                assert next(watch).status == SERVING
                watches.append(watch)
            with GreeterClient(server.target, timeout=TIMEOUT) as client:
                assert client.greet("you") == "Hello, you!"
            for watch in watches:
                watch.cancel()
    if hooks:  # and the hooks still see each watch end, as cancelled by the client

        def watch_lines() -> list[str]:
            lines = [r.getMessage() for r in caplog.records if r.name == "greeter.access"]
            return [line for line in lines if "/grpc.health.v1.Health/Watch" in line]

        wait_for(lambda: len(watch_lines()) == 4, "an access log line for each watch")
        assert all("CANCELLED" in line for line in watch_lines()), watch_lines()


@contextlib.contextmanager
def bare_health_server() -> Iterator[tuple[Health, str]]:
    """A plain grpc server with greeter's health service alone, reporting "x" SERVING."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health = Health(server)
    port = server.add_insecure_port(f"{LOOPBACK.rsplit(':', 1)[0]}:0")
    server.start()
    try:
        health.serving(["x"])
        yield health, f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def test_end_watches_ends_every_watch_stream_with_ok() -> None:
    with bare_health_server() as (health, target), grpc.insecure_channel(target) as channel:
        stub = health_stub(channel)
        watches = [stub.Watch(HealthCheckRequest(service=name), timeout=30) for name in ("", "x")]
        assert [next(watch).status for watch in watches] == [SERVING, SERVING]
        health.stopping()
        assert [next(watch).status for watch in watches] == [NOT_SERVING, NOT_SERVING]

        health.end_watches()

        for watch in watches:
            assert list(watch) == []  # ends cleanly: no error raised
            assert cast(grpc.Call, watch).code() == grpc.StatusCode.OK
        # A watch that starts after that hears the status once, and ends.
        late = stub.Watch(HealthCheckRequest(service="x"), timeout=30)
        assert [reply.status for reply in late] == [NOT_SERVING]


def test_end_watches_ends_every_watch_stream_on_the_asyncio_server() -> None:
    async def scenario() -> None:
        server = grpc.aio.server()
        health = AsyncHealth(server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            await health.serving(["x"])
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                watch = async_health_stub(channel).Watch(
                    HealthCheckRequest(service="x"), timeout=30
                )
                replies = [await asyncio.wait_for(watch.read(), TIMEOUT)]
                await health.stopping()
                replies.append(await asyncio.wait_for(watch.read(), TIMEOUT))
                await health.end_watches()
                assert await asyncio.wait_for(watch.read(), TIMEOUT) is grpc.aio.EOF
                assert await watch.code() == grpc.StatusCode.OK
            statuses = [r.status for r in replies if isinstance(r, HealthCheckResponse)]
            assert statuses == [SERVING, NOT_SERVING]
        finally:
            await server.stop(None)

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_check_answers_not_serving_in_the_lame_duck_then_unavailable(kind: str) -> None:
    # A Watch hears NOT_SERVING as a stop begins (above). A Check is a new call: it gets
    # NOT_SERVING while the lame duck still takes calls; then the server takes none.
    flags = ["--async"] if kind == "asyncio" else []
    process = ServerProcess(
        [*GREETER_SERVE, "--address", LOOPBACK, "--workers", "1", "--lame-duck", "3", *flags],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        with grpc.insecure_channel(process.target) as channel:
            health = health_stub(channel)
            assert health.Check(HealthCheckRequest(service=""), timeout=TIMEOUT).status == SERVING
            process.process.send_signal(signal.SIGTERM)

            def check() -> int | str:
                try:
                    return health.Check(HealthCheckRequest(service=""), timeout=TIMEOUT).status
                except grpc.RpcError as error:
                    code = error.code() if isinstance(error, grpc.Call) else None
                    return str(code and code.name)

            wait_for(lambda: check() == NOT_SERVING, "NOT_SERVING in the lame duck")
            wait_for(lambda: check() == "UNAVAILABLE", "UNAVAILABLE once the stop began")
        assert process.process.wait(timeout=30) == 0  # the SIGTERM above
    finally:
        process.kill()
