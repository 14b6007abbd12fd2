"""Services of the user's own, served beside the Greeter on the same port (``services=``).

An extra service is either the pair ``(add_XServicer_to_server, servicer)`` from the
user's own ``grpc_tools.protoc`` output (here ``echo.Echo``, tests/protos/echo.proto) or
a grpc generic handler (here ``demo.Test``, with no proto at all). Either kind answers
stock grpc clients, shows up in health (per service name) and in reflection, and is
served on every address the server listens on.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpc_reflection.v1alpha.reflection_pb2 import ServerReflectionRequest, ServerReflectionResponse

from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    ExtraService,
    GreeterClient,
    GreeterService,
    ServerConfig,
)
from tests.conftest import LOOPBACK
from tests.echo_service import (
    DEMO_SERVICE,
    ECHO_PROTO,
    ECHO_SERVICE,
    TIMEOUT,
    AsyncEchoServicer,
    EchoCode,
    EchoServicer,
    call_count,
    call_upper,
    demo_handler,
    load_echo_code,
    protoc,
    serving_with,
)

GREETER = "helloworld.Greeter"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
STOCK_HELLOWORLD_PROTO = Path(__file__).resolve().parent / "stock" / "helloworld.proto"

#: A client made only of grpcio and the stubs protoc generates: it never imports greeter.
STOCK_CLIENT = """\
import sys

import grpc

import echo_pb2
import echo_pb2_grpc
import helloworld_pb2
import helloworld_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    greeter = helloworld_pb2_grpc.GreeterStub(channel)
    echo = echo_pb2_grpc.EchoStub(channel)
    hello = greeter.SayHello(helloworld_pb2.HelloRequest(name="stock"), timeout=10)
    echoed = echo.Echo(echo_pb2.EchoRequest(data="ping"), timeout=10)
    upper = channel.unary_unary("/demo.Test/Upper")(b"abc", timeout=10)
print(hello.message)
print(echoed.data)
print(upper.decode())
print("greeter imported:", "greeter" in sys.modules)
"""


@pytest.fixture(scope="module")
def echo_code(tmp_path_factory: pytest.TempPathFactory) -> EchoCode:
    return load_echo_code(tmp_path_factory)


@pytest.fixture
def extra_services(server_kind: str, echo_code: EchoCode) -> list[ExtraService]:
    """``echo.Echo`` and ``demo.Test``, with ``async def`` handlers for the asyncio server."""
    if server_kind == "sync":
        return [echo_code.service(EchoServicer(echo_code)), demo_handler()]
    return [echo_code.service(AsyncEchoServicer(echo_code)), demo_handler(asynchronous=True)]


@pytest.fixture(scope="module")
def stock_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stock client script beside the modules protoc generates for both protos."""
    out = tmp_path_factory.mktemp("stock_echo")
    protoc(out, ECHO_PROTO)
    protoc(out, STOCK_HELLOWORLD_PROTO)
    script = out / "stock_client.py"
    script.write_text(STOCK_CLIENT)
    return script


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, for unix sockets (their paths are limited to ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="greeter-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# The stubs of grpcio-health-checking and grpcio-reflection are untyped, so the calls are
# made the way their generated stubs make them (``channel.unary_unary(path, ...)``), with
# the packages' own messages: typed end to end.


def health_status(target: str, service: str) -> str:
    """What ``grpc.health.v1.Health/Check`` reports for ``service``, by name."""
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(
            f"/{HEALTH}/Check",
            request_serializer=HealthCheckRequest.SerializeToString,
            response_deserializer=HealthCheckResponse.FromString,
        )
        response = check(HealthCheckRequest(service=service), timeout=TIMEOUT)
    return HealthCheckResponse.ServingStatus.Name(response.status)


def reflect(target: str, request: ServerReflectionRequest) -> ServerReflectionResponse:
    """One request to reflection (``v1alpha``); its one response."""
    with grpc.insecure_channel(target) as channel:
        info = channel.stream_stream(
            f"/{REFLECTION}/ServerReflectionInfo",
            request_serializer=ServerReflectionRequest.SerializeToString,
            response_deserializer=ServerReflectionResponse.FromString,
        )
        responses = list(info(iter([request]), timeout=TIMEOUT))
    assert len(responses) == 1
    return responses[0]


def reflected_services(target: str) -> list[str]:
    response = reflect(target, ServerReflectionRequest(list_services=""))
    return [service.name for service in response.list_services_response.service]


def test_extra_services_answer_beside_the_greeter_on_one_port(
    server_kind: str, echo_code: EchoCode, extra_services: list[ExtraService]
) -> None:
    with serving_with(server_kind, extra_services) as server:
        with GreeterClient(server.target, timeout=TIMEOUT) as client:
            assert client.greet("you") == "Hello, you!"
            assert echo_code.echo(server.target, "ping") == "ping"
            assert call_upper(server.target, b"abc") == b"ABC"
            assert call_count(server.target, 3) == [b"1", b"2", b"3"]
            assert list(client.greet_stream("you")) == [
                "Hello, you! (1 of 3)",
                "Hello, you! (2 of 3)",
                "Hello, you! (3 of 3)",
            ]


def test_the_extra_servicer_handles_each_call_once(server_kind: str, echo_code: EchoCode) -> None:
    servicer: EchoServicer | AsyncEchoServicer = (
        EchoServicer(echo_code) if server_kind == "sync" else AsyncEchoServicer(echo_code)
    )
    with serving_with(server_kind, [echo_code.service(servicer)]) as server:
        replies = [echo_code.echo(server.target, str(number)) for number in range(3)]
    assert replies == ["0", "1", "2"]
    assert servicer.calls == 3


def test_a_stock_client_in_another_process_calls_the_greeter_and_the_extra_services(
    server_kind: str, stock_client: Path, extra_services: list[ExtraService]
) -> None:
    with serving_with(server_kind, extra_services) as server:
        result = subprocess.run(
            [sys.executable, str(stock_client), server.target],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=stock_client.parent,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Hello, stock!",
        "ping",
        "ABC",
        "greeter imported: False",
    ]


def test_health_reports_serving_for_every_extra_service_by_name(
    server_kind: str, extra_services: list[ExtraService]
) -> None:
    with serving_with(server_kind, extra_services) as server:
        statuses = {
            service: health_status(server.target, service)
            for service in ("", GREETER, ECHO_SERVICE, DEMO_SERVICE)
        }
    assert statuses == {
        "": "SERVING",
        GREETER: "SERVING",
        ECHO_SERVICE: "SERVING",
        DEMO_SERVICE: "SERVING",
    }


def test_reflection_lists_the_extra_services_beside_the_greeter(
    server_kind: str, extra_services: list[ExtraService]
) -> None:
    with serving_with(server_kind, extra_services) as server:
        services = reflected_services(server.target)
    assert sorted(services) == sorted(
        [GREETER, ECHO_SERVICE, DEMO_SERVICE, HEALTH, REFLECTION, REFLECTION_V1]
    )


def test_reflection_describes_a_generated_extra_service_from_its_proto(
    server_kind: str, extra_services: list[ExtraService]
) -> None:
    with serving_with(server_kind, extra_services) as server:
        response = reflect(
            server.target,
            ServerReflectionRequest(file_containing_symbol=ECHO_SERVICE),
        )
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(serialized)
        for serialized in response.file_descriptor_response.file_descriptor_proto
    ]
    echo_file = next(file for file in files if file.package == "echo")
    assert [service.name for service in echo_file.service] == ["Echo"]
    assert [
        (method.name, method.input_type, method.output_type)
        for method in echo_file.service[0].method
    ] == [("Echo", ".echo.EchoRequest", ".echo.EchoReply")]


def test_reflection_lists_a_generic_handler_it_cannot_describe(
    server_kind: str, extra_services: list[ExtraService]
) -> None:
    """A generic handler has no descriptors: tools see its name, but not its methods."""
    with serving_with(server_kind, extra_services) as server:
        response = reflect(
            server.target,
            ServerReflectionRequest(file_containing_symbol=DEMO_SERVICE),
        )
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_without_health_and_reflection_the_extra_services_still_answer(
    server_kind: str, echo_code: EchoCode, extra_services: list[ExtraService]
) -> None:
    config = ServerConfig(health=False, reflection=False)
    with serving_with(server_kind, extra_services, config=config) as server:
        assert echo_code.echo(server.target, "ping") == "ping"
        assert call_upper(server.target, b"abc") == b"ABC"
        with pytest.raises(grpc.RpcError) as raised:
            health_status(server.target, ECHO_SERVICE)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_greeter_and_extra_services_are_served_on_every_address(
    server_kind: str, echo_code: EchoCode, extra_services: list[ExtraService], short_dir: Path
) -> None:
    addresses = ["127.0.0.1:0", "[::1]:0", f"unix:{short_dir / 'greeter.sock'}"]
    with serving_with(server_kind, extra_services, address=addresses) as server:
        targets = server.targets
        assert len(targets) == 3
        assert targets[0].startswith("127.0.0.1:")
        assert targets[1].startswith("[::1]:")
        assert targets[2] == addresses[2]
        for target in targets:
            with GreeterClient(target, timeout=TIMEOUT) as client:
                assert client.greet(target) == f"Hello, {target}!"
            assert echo_code.echo(target, target) == target
            assert call_upper(target, b"abc") == b"ABC"


def test_a_servicer_passed_without_its_add_function_is_refused_with_a_clear_type_error(
    echo_code: EchoCode,
) -> None:
    servicer = EchoServicer(echo_code)
    add_to_server = echo_code.pb2_grpc.add_EchoServicer_to_server
    mistakes: list[Any] = [servicer, (servicer, add_to_server), add_to_server]
    for mistake in mistakes:
        with pytest.raises(
            TypeError, match=r"services= takes generated services, grpc generic handlers and \("
        ):
            GreeterService().start(LOOPBACK, services=[mistake])
        with pytest.raises(
            TypeError, match=r"services= takes generated services, grpc generic handlers and \("
        ):
            AsyncGreeterServer(AsyncGreeterService(), LOOPBACK, services=[mistake])
