"""Observability: Prometheus metrics (``greeter.metrics``) and OpenTelemetry tracing.

Metrics are checked end to end: a real server with ``PrometheusMetrics`` as a hook
serves calls, and the counts are read back by scraping ``serve_metrics`` over HTTP.
Tracing uses ``opentelemetry-instrumentation-grpc``'s own interceptors, passed through
``ServerConfig(interceptors=...)`` and the clients' ``interceptors=``, with the spans
collected in memory.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    client_interceptor,
    server_interceptor,
)
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode as SpanStatus
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    GreeterClient,
    GreeterService,
    Internal,
    NotFound,
    PermissionDenied,
    ServerConfig,
    ServerHook,
    ServerInterceptor,
    StatusCode,
)
from greeter.metrics import MetricsServer, PrometheusMetrics, serve_metrics
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, serving

GREETER = "helloworld.Greeter"

# ---------------------------------------------------------------- services under test


def _refuse(name: str) -> None:
    """The errors the test services raise: NOT_FOUND for "nobody", INTERNAL for "crash"."""
    if name == "nobody":
        raise NotFound("no one to greet")
    if name == "crash":
        raise Internal("the greeter fell over")


class Picky(GreeterService):
    """The stock greetings, except for the names ``_refuse`` refuses."""

    def say_hello(self, name: str) -> str:
        _refuse(name)
        return super().say_hello(name)

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        _refuse(name)
        return super().say_hello_stream_reply(name)


class AsyncPicky(AsyncGreeterService):
    """``Picky`` for the asyncio server."""

    async def say_hello(self, name: str) -> str:
        _refuse(name)
        return await super().say_hello(name)

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        _refuse(name)
        async for reply in super().say_hello_stream_reply(name):
            yield reply


def serving_picky(kind: str, config: ServerConfig) -> AbstractContextManager[str]:
    """Serve ``Picky`` (or ``AsyncPicky``) with ``config``; the target while it runs."""
    return serving(kind, Picky(), AsyncPicky(), config)


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Scrape:
    """The greeter series of one scrape of a metrics endpoint."""

    #: ``greeter_server_calls_total``, by (service, method, code).
    calls: dict[tuple[str, str, str], float]
    #: ``greeter_server_call_duration_seconds_count``, by (service, method).
    durations: dict[tuple[str, str], float]
    #: ``greeter_server_call_duration_seconds_bucket``, by (service, method, le).
    buckets: dict[tuple[str, str, str], float]


#: How long the last call's after-hooks may take to count, once its client has its answer.
SETTLE_SECONDS = 5.0


def scrape_settled(url: str, calls: dict[tuple[str, str, str], int]) -> Scrape:
    """``scrape(url)`` once it counts ``calls``, or as it is after ``SETTLE_SECONDS``.

    A call's after-hooks may finish just after its client has its answer (the asyncio
    server ends a failed stream first), so the last call may take a moment to count.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        scraped = scrape(url)
        # The hook counts the call, then times it: both are in once the durations are.
        counted = scraped.calls == calls
        if counted and sum(scraped.durations.values()) == sum(calls.values()):
            return scraped
        if time.monotonic() > deadline:
            return scraped
        time.sleep(0.05)


def scrape(url: str) -> Scrape:
    """GET a Prometheus endpoint over HTTP and parse its text exposition."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    scraped = Scrape(calls={}, durations={}, buckets={})
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "greeter_server_calls_total":
                key = (labels["service"], labels["method"], labels["code"])
                scraped.calls[key] = sample.value
            elif sample.name == "greeter_server_call_duration_seconds_count":
                scraped.durations[labels["service"], labels["method"]] = sample.value
            elif sample.name == "greeter_server_call_duration_seconds_bucket":
                bucket = (labels["service"], labels["method"], labels["le"])
                scraped.buckets[bucket] = sample.value
    return scraped


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of the test's own, so tests never share series."""
    return CollectorRegistry()


@pytest.fixture
def endpoint(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    """``serve_metrics`` of the test's registry on 127.0.0.1 (port picked by the OS)."""
    with serve_metrics(LOOPBACK, registry) as running:
        yield running


def make_some_calls(target: str) -> None:
    """Unary, client-, server- and bidi-streaming calls, some failing with NOT_FOUND."""
    with GreeterClient(target, timeout=10) as client:
        assert client.greet("you") == "Hello, you!"
        assert client.greet("you") == "Hello, you!"
        with pytest.raises(NotFound):
            client.greet("nobody")
        with client.greet_stream("you") as replies:
            assert len(list(replies)) == 3
        with pytest.raises(NotFound):
            with client.greet_stream("nobody") as replies:
                list(replies)
        assert client.greet_many(["Ann", "Bob"]) == "Hello, Ann and Bob!"
        with pytest.raises(NotFound):
            with client.chat(["Ann", "nobody"]) as replies:
                list(replies)


#: What ``make_some_calls`` leaves in the counters...
EXPECTED_CALLS = {
    (GREETER, "SayHello", "OK"): 2,
    (GREETER, "SayHello", "NOT_FOUND"): 1,
    (GREETER, "SayHelloStreamReply", "OK"): 1,
    (GREETER, "SayHelloStreamReply", "NOT_FOUND"): 1,
    (GREETER, "SayHelloStreamRequest", "OK"): 1,
    (GREETER, "SayHelloBidiStream", "NOT_FOUND"): 1,
}
#: ... and in the latency histogram's counts.
EXPECTED_DURATIONS = {
    (GREETER, "SayHello"): 3,
    (GREETER, "SayHelloStreamReply"): 2,
    (GREETER, "SayHelloStreamRequest"): 1,
    (GREETER, "SayHelloBidiStream"): 1,
}


def test_scrape_counts_every_call_by_method_and_status_code(
    server_kind: str, registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    config = ServerConfig(hooks=[PrometheusMetrics(registry)])
    with serving_picky(server_kind, config) as target:
        assert scrape(endpoint.url).calls == {}
        make_some_calls(target)
        scraped = scrape_settled(endpoint.url, EXPECTED_CALLS)
    assert scraped.calls == EXPECTED_CALLS
    assert scraped.durations == EXPECTED_DURATIONS
    for (service, method), count in EXPECTED_DURATIONS.items():
        assert scraped.buckets[service, method, "+Inf"] == count


def test_call_duration_lands_in_the_bucket_of_its_latency(
    registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    class Slow(GreeterService):
        def say_hello(self, name: str) -> str:
            time.sleep(0.3)
            return super().say_hello(name)

    metrics = PrometheusMetrics(registry, buckets=(0.1, 10.0))
    with serving("sync", Slow(), config=ServerConfig(hooks=[metrics])) as target:
        with GreeterClient(target, timeout=10) as client:
            client.greet("you")
    scraped = scrape(endpoint.url)
    assert scraped.buckets[GREETER, "SayHello", "0.1"] == 0
    assert scraped.buckets[GREETER, "SayHello", "10.0"] == 1
    seconds = registry.get_sample_value(
        "greeter_server_call_duration_seconds_sum", {"service": GREETER, "method": "SayHello"}
    )
    assert seconds is not None
    assert 0.3 <= seconds < 10


def test_calls_rejected_by_an_earlier_hook_are_counted_with_their_status(
    server_kind: str, registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    class Bouncer(ServerHook):
        def before_call(self, call: CallInfo) -> None:
            if call.get_metadata("x-ticket") is None:
                raise PermissionDenied("no ticket")

    config = ServerConfig(hooks=[Bouncer(), PrometheusMetrics(registry)])
    with serving(server_kind, config=config) as target:
        with GreeterClient(target, timeout=10) as client:
            with pytest.raises(PermissionDenied):
                client.greet("you")
            client.greet("you", metadata=[("x-ticket", "1")])
    assert scrape(endpoint.url).calls == {
        (GREETER, "SayHello", "PERMISSION_DENIED"): 1,
        (GREETER, "SayHello", "OK"): 1,
    }


def test_health_checks_are_counted_under_the_health_service(
    server_kind: str, registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    config = ServerConfig(hooks=[PrometheusMetrics(registry)])
    with serving(server_kind, config=config) as target:
        with grpc.insecure_channel(target) as channel:
            health_check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            reply = health_check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert scrape(endpoint.url).calls == {("grpc.health.v1.Health", "Check", "OK"): 1}


def test_one_registry_holds_one_prometheus_metrics(registry: CollectorRegistry) -> None:
    PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusMetrics(registry)


def test_metrics_endpoint_reports_the_port_the_os_picked(registry: CollectorRegistry) -> None:
    with serve_metrics("127.0.0.1:0", registry) as endpoint:
        assert endpoint.port > 0
        assert endpoint.address == f"127.0.0.1:{endpoint.port}"
        assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
        assert scrape(endpoint.url).calls == {}


def test_metrics_endpoint_serves_on_ipv6_loopback(registry: CollectorRegistry) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    PrometheusMetrics(registry).after_call(
        CallInfo(f"/{GREETER}/SayHello", (), "ipv6:[::1]:1"), CallOutcome(StatusCode.OK, "", 0.001)
    )
    with serve_metrics("[::1]:0", registry) as endpoint:
        assert endpoint.url == f"http://[::1]:{endpoint.port}/metrics"
        assert scrape(endpoint.url).calls == {(GREETER, "SayHello", "OK"): 1}


def test_stopping_the_metrics_endpoint_frees_its_port(registry: CollectorRegistry) -> None:
    endpoint = serve_metrics(LOOPBACK, registry)
    endpoint.stop()
    endpoint.stop()  # a second stop is harmless
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more...
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=5).close()
    with serve_metrics(f"127.0.0.1:{endpoint.port}", registry) as again:  # ...and it is free
        assert again.port == endpoint.port


def test_metrics_endpoint_on_a_taken_port_raises_os_error(
    registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    with pytest.raises(OSError, match="in use"):
        serve_metrics(f"127.0.0.1:{endpoint.port}", registry)


@pytest.mark.parametrize("address", ["9100", ":9100", "127.0.0.1:", "127.0.0.1:http", "[::1]"])
def test_metrics_address_must_be_host_and_port(address: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        serve_metrics(address, CollectorRegistry())


def test_importing_greeter_does_not_import_prometheus_client() -> None:
    code = "import sys, greeter; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- the command line


def test_cli_serve_with_metrics_exposes_the_calls_it_served() -> None:
    process = ServerProcess(
        [
            *GREETER_SERVE,
            "--address",
            LOOPBACK,
            "--metrics",
            LOOPBACK,
        ],
        r"Metrics on http://127\.0\.0\.1:(\d+)/metrics",
    )
    try:
        metrics_port = process.port
        grpc_port = _port_in_output(process, r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)")
        with GreeterClient(f"127.0.0.1:{grpc_port}", timeout=10) as client:
            assert client.greet("you") == "Hello, you!"
            with client.greet_stream("you") as replies:
                assert len(list(replies)) == 3
        scraped = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scraped.calls == {
            (GREETER, "SayHello", "OK"): 1,
            (GREETER, "SayHelloStreamReply", "OK"): 1,
        }
        assert process.stop() == 0
    finally:
        process.kill()


def _port_in_output(process: ServerProcess, pattern: str, timeout: float = 10) -> int:
    """The port in a line the process printed (or prints within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(pattern, process.log())
        if match:
            return int(match.group(1))
        assert time.monotonic() < deadline, f"no line matching {pattern!r} in: {process.log()}"
        time.sleep(0.02)


# ---------------------------------------------------------------- tracing


class Tracing:
    """A tracer provider whose spans are kept in memory for the test to read."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, kind: SpanKind) -> list[ReadableSpan]:
        """The finished spans of ``kind``, oldest first."""
        finished = sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
        return [span for span in finished if span.kind == kind]

    def server_interceptor(self, server_kind: str) -> ServerInterceptor:
        """OpenTelemetry's server interceptor for the threaded or the asyncio server."""
        if server_kind == "sync":
            # opentelemetry-instrumentation-grpc's factories are unannotated.
            threaded: grpc.ServerInterceptor = server_interceptor(  # type: ignore[no-untyped-call]
                tracer_provider=self.provider
            )
            return threaded
        asyncio_interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider
        )
        return asyncio_interceptor

    def aio_client_interceptors(self) -> list[grpc.aio.ClientInterceptor]:
        """OpenTelemetry's interceptors for an asyncio client (one per RPC shape)."""
        interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider
        )
        return interceptors


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    """A fresh in-memory ``Tracing`` for the test, shut down after it."""
    traced = Tracing()
    yield traced
    traced.provider.shutdown()


def traced_config(tracing: Tracing, server_kind: str) -> ServerConfig:
    """A server config whose only extra is OpenTelemetry's server interceptor."""
    return ServerConfig(interceptors=[tracing.server_interceptor(server_kind)])


def assert_child_of(server_span: ReadableSpan, client_span: ReadableSpan) -> None:
    """The server span continues the client's trace: same trace, parent = client span."""
    assert server_span.parent is not None
    assert server_span.parent.is_remote  # it came over the wire, in the call's metadata
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.context.trace_id == client_span.context.trace_id


def test_traced_server_records_one_span_per_call_named_after_the_rpc(
    server_kind: str, tracing: Tracing
) -> None:
    async def calls(target: str) -> None:
        async with AsyncGreeterClient(
            target, timeout=10, interceptors=tracing.aio_client_interceptors()
        ) as client:
            assert await client.greet("you") == "Hello, you!"
            assert await client.greet_again("you") == "Hello again, you!"
            assert len([reply async for reply in client.greet_stream("you")]) == 3
            assert await client.greet_many(["Ann", "Bob"]) == "Hello, Ann and Bob!"
            assert len([reply async for reply in client.chat(_names("Ann", "Bob"))]) == 2

    with serving_picky_traced(server_kind, tracing) as target:
        asyncio.run(calls(target))
    rpcs = [
        "SayHello",
        "SayHelloAgain",
        "SayHelloStreamReply",
        "SayHelloStreamRequest",
        "SayHelloBidiStream",
    ]
    server_spans = tracing.spans(SpanKind.SERVER)
    client_spans = tracing.spans(SpanKind.CLIENT)
    assert [span.name for span in server_spans] == [f"/{GREETER}/{rpc}" for rpc in rpcs]
    assert [span.name for span in client_spans] == [f"/{GREETER}/{rpc}" for rpc in rpcs]
    for server_span, client_span in zip(server_spans, client_spans, strict=True):
        assert server_span.status.status_code == SpanStatus.UNSET
        assert server_span.attributes is not None
        assert server_span.attributes["rpc.grpc.status_code"] == 0
        assert server_span.attributes["rpc.service"] == GREETER
        assert_child_of(server_span, client_span)


def test_traced_server_marks_a_server_fault_as_an_error(server_kind: str, tracing: Tracing) -> None:
    async def fail(target: str) -> None:
        async with AsyncGreeterClient(
            target, timeout=10, interceptors=tracing.aio_client_interceptors()
        ) as client:
            with pytest.raises(Internal):
                await client.greet("crash")

    with serving_picky_traced(server_kind, tracing) as target:
        asyncio.run(fail(target))
    [server_span] = tracing.spans(SpanKind.SERVER)
    [client_span] = tracing.spans(SpanKind.CLIENT)
    assert server_span.name == f"/{GREETER}/SayHello"
    assert server_span.status.status_code == SpanStatus.ERROR
    assert server_span.attributes is not None
    assert server_span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert client_span.status.status_code == SpanStatus.ERROR
    assert_child_of(server_span, client_span)


def test_traced_server_leaves_a_client_error_unset_with_its_status_code(
    server_kind: str, tracing: Tracing
) -> None:
    # OpenTelemetry's semantic conventions: on the server, only codes that point at the
    # server (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
    # DATA_LOSS) make a span an error; NOT_FOUND is the client's problem. The client's
    # span is an error for any code but OK.
    async def fail(target: str) -> None:
        async with AsyncGreeterClient(
            target, timeout=10, interceptors=tracing.aio_client_interceptors()
        ) as client:
            with pytest.raises(NotFound):
                await client.greet("nobody")
            with pytest.raises(NotFound):
                async for _ in client.greet_stream("nobody"):
                    pass

    with serving_picky_traced(server_kind, tracing) as target:
        asyncio.run(fail(target))
    server_spans = tracing.spans(SpanKind.SERVER)
    client_spans = tracing.spans(SpanKind.CLIENT)
    assert [span.name for span in server_spans] == [
        f"/{GREETER}/SayHello",
        f"/{GREETER}/SayHelloStreamReply",
    ]
    for server_span, client_span in zip(server_spans, client_spans, strict=True):
        assert server_span.status.status_code == SpanStatus.UNSET
        assert server_span.attributes is not None
        assert server_span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
        assert client_span.status.status_code == SpanStatus.ERROR
        assert_child_of(server_span, client_span)


def test_metrics_and_tracing_see_the_same_calls_on_one_server(
    server_kind: str, tracing: Tracing, registry: CollectorRegistry, endpoint: MetricsServer
) -> None:
    config = ServerConfig(
        hooks=[PrometheusMetrics(registry)],
        interceptors=[tracing.server_interceptor(server_kind)],
    )
    with serving_picky(server_kind, config) as target:
        make_some_calls(target)
    assert scrape_settled(endpoint.url, EXPECTED_CALLS).calls == EXPECTED_CALLS
    server_spans = tracing.spans(SpanKind.SERVER)
    assert len(server_spans) == sum(EXPECTED_CALLS.values())
    codes = [dict(span.attributes or {})["rpc.grpc.status_code"] for span in server_spans]
    assert codes.count(grpc.StatusCode.NOT_FOUND.value[0]) == 3


def test_sync_client_propagates_the_current_trace_in_metadata(
    server_kind: str, tracing: Tracing
) -> None:
    tracer = tracing.provider.get_tracer("test")
    with serving_picky_traced(server_kind, tracing) as target:
        with GreeterClient(target, timeout=10) as client:
            with tracer.start_as_current_span("greet", kind=SpanKind.CLIENT):
                carrier: dict[str, str] = {}
                inject(carrier)  # the W3C traceparent of the current span
                assert client.greet("you", metadata=list(carrier.items())) == "Hello, you!"
    [server_span] = tracing.spans(SpanKind.SERVER)
    [client_span] = tracing.spans(SpanKind.CLIENT)
    assert server_span.name == f"/{GREETER}/SayHello"
    assert_child_of(server_span, client_span)


def test_opentelemetrys_sync_client_interceptor_is_refused_when_the_client_is_built(
    tracing: Tracing,
) -> None:
    # opentelemetry-instrumentation-grpc's client_interceptor() is not a grpc client
    # interceptor but one of its own ("grpcext"), which only its GrpcInstrumentorClient
    # knows how to install. The sync client says so at once, not at the first call; sync
    # clients propagate the trace through metadata instead (test above).
    interceptor = client_interceptor(tracer_provider=tracing.provider)  # type: ignore[no-untyped-call]
    with pytest.raises(TypeError, match="interceptor must be"):
        GreeterClient(LOOPBACK, interceptors=[interceptor])


def serving_picky_traced(server_kind: str, tracing: Tracing) -> AbstractContextManager[str]:
    """Serve ``Picky`` with OpenTelemetry's server interceptor reporting to ``tracing``."""
    return serving_picky(server_kind, traced_config(tracing, server_kind))


async def _names(*names: str) -> AsyncIterator[str]:
    for name in names:
        yield name


_INSTRUMENTED_SYNC_CLIENT = """
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from greeter import GreeterClient

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)  # the sync instrumentor reads only the global one
GrpcInstrumentorClient().instrument()
with GreeterClient({target!r}, timeout=10) as client:
    print(client.greet("you"))
    with client.greet_stream("you") as replies:
        print(next(replies))
kinds = sorted(span.kind.name for span in spans.get_finished_spans())
print(" ".join(kinds))
"""


def test_opentelemetrys_global_sync_client_instrumentation_traces_the_client(
    server_kind: str, tracing: Tracing
) -> None:
    # GrpcInstrumentorClient patches grpc's channel constructors for the whole process
    # and reads the global tracer provider, so the client runs in a child process; the
    # server here records the spans whose parents are the child's. Leaving a stream's
    # block early cancels it through the generator the instrumentation hands back.
    with serving_picky_traced(server_kind, tracing) as target:
        result = subprocess.run(
            [sys.executable, "-c", _INSTRUMENTED_SYNC_CLIENT.format(target=target)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Hello, you!", "Hello, you! (1 of 3)", "CLIENT CLIENT"]
    server_spans = tracing.spans(SpanKind.SERVER)
    assert sorted(span.name for span in server_spans) == [
        f"/{GREETER}/SayHello",
        f"/{GREETER}/SayHelloStreamReply",
    ]
    for span in server_spans:
        assert span.parent is not None
        assert span.parent.is_remote
