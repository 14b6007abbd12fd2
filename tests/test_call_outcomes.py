"""One event, one status: what hooks and the access log see on both servers.

A client that leaves (cancels, or lets its deadline pass) is seen as such whether the
handler then returns (grpc's own health ``Watch`` on the threaded server), raises while
waiting for requests that will never come, or is cancelled (the asyncio server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from greeter import (
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    GreeterService,
    ServerConfig,
    ServerHook,
    StatusCode,
    testing,
)
from tests.conftest import wait_for

WATCH = "/grpc.health.v1.Health/Watch"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
LIST_SERVICES = reflection_pb2.ServerReflectionRequest(list_services="")


def watch(
    channel: grpc.Channel,
) -> grpc.UnaryStreamMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    """health.v1 Watch (grpc's generated stubs are untyped)."""
    return channel.unary_stream(
        WATCH,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


def reflection_info(
    channel: grpc.Channel,
) -> grpc.StreamStreamMultiCallable[
    reflection_pb2.ServerReflectionRequest, reflection_pb2.ServerReflectionResponse
]:
    """ServerReflectionInfo, the reflection service's one RPC."""
    return channel.stream_stream(
        REFLECTION,
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )


WHOLE_SERVER = health_pb2.HealthCheckRequest(service="")


class Outcomes(ServerHook):
    """Every call's method and status, as ``after_call`` saw them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, StatusCode]] = []

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        self.seen.append((call.method, outcome.code))

    def of(self, method: str) -> StatusCode:
        """The status of the one call to ``method`` (waits for it to end)."""
        wait_for(lambda: any(seen == method for seen, _ in self.seen), f"a call to {method}")
        [code] = [code for seen, code in self.seen if seen == method]
        return code


@pytest.fixture
def served(server_kind: str) -> Iterator[tuple[grpc.Channel, Outcomes]]:
    """A channel to a server of ``server_kind`` (health and reflection on), and its hook."""
    outcomes = Outcomes()
    service = GreeterService() if server_kind == "sync" else AsyncGreeterService()
    with (
        testing.serving(service, config=ServerConfig(hooks=[outcomes])) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        yield channel, outcomes


def test_a_watch_ended_by_the_clients_deadline_is_deadline_exceeded(
    served: tuple[grpc.Channel, Outcomes],
) -> None:
    channel, outcomes = served
    watching = watch(channel)(WHOLE_SERVER, timeout=0.5)
    with pytest.raises(grpc.RpcError):
        list(watching)
    assert watching.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert outcomes.of(WATCH) == StatusCode.DEADLINE_EXCEEDED


def test_a_watch_the_client_cancelled_is_cancelled(
    served: tuple[grpc.Channel, Outcomes],
) -> None:
    channel, outcomes = served
    watching = watch(channel)(WHOLE_SERVER, timeout=10)
    assert next(watching).status == health_pb2.HealthCheckResponse.SERVING
    watching.cancel()
    assert outcomes.of(WATCH) == StatusCode.CANCELLED


def test_reflection_the_client_finished_asking_is_ok(
    served: tuple[grpc.Channel, Outcomes],
) -> None:
    channel, outcomes = served
    replies = list(reflection_info(channel)(iter([LIST_SERVICES]), timeout=10))
    assert len(replies) == 1
    assert outcomes.of(REFLECTION) == StatusCode.OK


def test_reflection_the_client_cancelled_is_never_unknown_on_the_threaded_server() -> None:
    """Its handler, waiting for the next request, raises: the status is the client's
    CANCELLED, not UNKNOWN. (grpc may end such a handler's requests as if the client had
    finished sending, when the reset overtakes the cancellation, and then the handler
    ends OK; grpc.aio always does: see ``greeter.pipeline._pipeline._client_left``.)"""
    outcomes = Outcomes()
    asked = threading.Event()

    def requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:
        yield LIST_SERVICES
        asked.wait(10)

    config = ServerConfig(hooks=[outcomes])
    with (
        testing.serving(GreeterService(), config=config) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        call = reflection_info(channel)(requests(), timeout=10)
        next(call)
        call.cancel()
        asked.set()
        assert outcomes.of(REFLECTION) in {StatusCode.CANCELLED, StatusCode.OK}


def test_the_access_log_says_deadline_exceeded_for_a_watch_past_its_deadline(
    server_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = GreeterService() if server_kind == "sync" else AsyncGreeterService()
    with (
        caplog.at_level(logging.INFO, logger="greeter.access"),
        testing.serving(service, config=ServerConfig(access_log=True)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        with pytest.raises(grpc.RpcError):
            list(watch(channel)(WHOLE_SERVER, timeout=0.5))

        def logged() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name == "greeter.access"]

        wait_for(lambda: bool(logged()), "the Watch's access-log line")
    [line] = logged()
    assert line.startswith(f"{WATCH} ipv4:127.0.0.1:")
    assert line.split()[2] == "DEADLINE_EXCEEDED"
