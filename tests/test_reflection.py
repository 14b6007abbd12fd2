"""Server reflection: generic tools can list the services and call them with no .proto.

Asked two ways: with grpc's own reflection client (``grpc_reflection.v1alpha``), under
both of the protocol's names (``v1alpha`` and ``v1``), and with ``buf curl``, a Go
client that shares no code with grpcio (npm ``@bufbuild/buf``, installed by
``npm ci --prefix tests/interop/node``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from greeter import ServerConfig
from tests.certs import Certificates
from tests.conftest import EXPECTED_BY_RPC, GREETER_SERVE, LOOPBACK, ServerProcess, serving

GREETER = "helloworld.Greeter"
HEALTH = "grpc.health.v1.Health"
REFLECTION_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
RPCS = [
    "SayHello",
    "SayHelloAgain",
    "SayHelloStreamReply",
    "SayHelloStreamRequest",
    "SayHelloBidiStream",
]
BUF = Path(__file__).resolve().parent / "interop" / "node" / "node_modules" / ".bin" / "buf"
SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"

ServerReflectionRequest = reflection_pb2.ServerReflectionRequest
ServerReflectionResponse = reflection_pb2.ServerReflectionResponse


def listed_services(target: str) -> list[str]:
    with grpc.insecure_channel(target) as channel:
        return ProtoReflectionDescriptorDatabase(channel).get_services()


def test_reflection_lists_the_greeter_health_and_both_reflection_services(
    server_kind: str,
) -> None:
    with serving(server_kind) as target:
        services = listed_services(target)
    assert sorted(services) == sorted([GREETER, HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA])


def test_reflection_lists_no_health_service_when_health_is_off(server_kind: str) -> None:
    with serving(server_kind, config=ServerConfig(health=False)) as target:
        services = listed_services(target)
    assert GREETER in services
    assert HEALTH not in services


def test_reflection_resolves_the_file_of_the_greeter_with_every_rpc(server_kind: str) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        file = database.FindFileContainingSymbol(GREETER)
        assert file.package == "helloworld"
        (service,) = [s for s in file.service if s.name == "Greeter"]
        assert [method.name for method in service.method] == RPCS
        pool = DescriptorPool(database)
        request = pool.FindMessageTypeByName("helloworld.HelloRequest")
        assert [field.name for field in request.fields] == ["name"]
        greeter_service = pool.FindServiceByName(GREETER)
        say_hello = greeter_service.methods_by_name["SayHelloBidiStream"]
        assert say_hello.output_type.full_name == "helloworld.HelloReply"


def test_every_health_method_reflection_describes_answers(server_kind: str) -> None:
    # Asked as a generic tool asks: with message classes built from what reflection says.
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        health = pool.FindServiceByName(HEALTH)
        assert health.file.name == "grpc/health/v1/health.proto"
        assert set(health.methods_by_name) == {"Check", "List", "Watch"}
        replies: dict[str, Any] = {}
        for method in health.methods:
            request = message_factory.GetMessageClass(method.input_type)().SerializeToString()
            reply_type = message_factory.GetMessageClass(method.output_type)
            path = f"/{HEALTH}/{method.name}"
            if method.server_streaming:
                watch: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(path)
                replies_of_watch = watch(request, timeout=10)
                replies[method.name] = reply_type.FromString(next(replies_of_watch))
                replies_of_watch.cancel()
            else:
                call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
                replies[method.name] = reply_type.FromString(call(request, timeout=10))
    serving_status = health.methods_by_name["Check"].output_type.enum_types_by_name["ServingStatus"]
    serving_number = serving_status.values_by_name["SERVING"].number
    assert replies["Check"].status == serving_number
    assert replies["Watch"].status == serving_number
    statuses = replies["List"].statuses
    assert {name: statuses[name].status for name in statuses} == {
        "": serving_number,
        GREETER: serving_number,
    }


@pytest.mark.parametrize("service", [REFLECTION_V1, REFLECTION_V1ALPHA])
def test_reflection_describes_itself_under_both_names(server_kind: str, service: str) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        info = pool.FindServiceByName(service).methods_by_name["ServerReflectionInfo"]
    package = service.rsplit(".", 1)[0]
    assert info.input_type.full_name == f"{package}.ServerReflectionRequest"
    assert info.output_type.full_name == f"{package}.ServerReflectionResponse"
    assert info.client_streaming
    assert info.server_streaming


def test_a_malformed_reflection_request_is_invalid_argument_and_logs_no_traceback(
    server_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        info: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
            REFLECTION_V1_METHOD
        )
        with pytest.raises(grpc.RpcError) as raised:
            list(info(iter([b"\xff\xff"]), timeout=10))
    assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


def _ask(
    channel: grpc.Channel, method: str, request: ServerReflectionRequest
) -> ServerReflectionResponse:
    info = channel.stream_stream(
        method,
        request_serializer=ServerReflectionRequest.SerializeToString,
        response_deserializer=ServerReflectionResponse.FromString,
    )
    (response,) = list(info(iter([request]), timeout=10))
    return response


@pytest.mark.parametrize(
    "method",
    [
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        REFLECTION_V1_METHOD,
    ],
    ids=["v1alpha", "v1"],
)
def test_reflection_answers_under_both_protocol_names(server_kind: str, method: str) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        listing = _ask(channel, method, ServerReflectionRequest(list_services=""))
        file = _ask(channel, method, ServerReflectionRequest(file_containing_symbol=GREETER))
    names = [service.name for service in listing.list_services_response.service]
    assert {GREETER, HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA} <= set(names)
    assert len(file.file_descriptor_response.file_descriptor_proto) >= 1


def test_reflection_reports_an_unknown_symbol_as_not_found(server_kind: str) -> None:
    with serving(server_kind) as target, grpc.insecure_channel(target) as channel:
        response = _ask(
            channel,
            REFLECTION_V1_METHOD,
            ServerReflectionRequest(file_containing_symbol="no.such.Thing"),
        )
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_reflection_false_turns_reflection_off(server_kind: str) -> None:
    with serving(server_kind, config=ServerConfig(reflection=False)) as target:
        for method in (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            REFLECTION_V1_METHOD,
        ):
            with grpc.insecure_channel(target) as channel:
                with pytest.raises(grpc.RpcError) as raised:
                    _ask(channel, method, ServerReflectionRequest(list_services=""))
            assert cast(grpc.Call, raised.value).code() == grpc.StatusCode.UNIMPLEMENTED


# -- buf curl ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def buf() -> str:
    """The ``buf`` executable from the pinned npm package ``@bufbuild/buf``."""
    if not BUF.exists():
        pytest.skip(
            "buf is not installed (it comes with npm's @bufbuild/buf): "
            "run `npm ci --prefix tests/interop/node`"
        )
    return str(BUF)


def buf_curl(buf: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [buf, "curl", "--protocol", "grpc", "--timeout", "30s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "BUF_CACHE_DIR": str(tmp_path / "buf-cache")},
    )


def json_documents(text: str) -> list[object]:
    """Every JSON document in ``text`` (buf curl prints one per response message)."""
    decoder = json.JSONDecoder()
    documents, position = [], 0
    text = text.strip()
    while position < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
        while position < len(text) and text[position].isspace():
            position += 1
    return documents


@pytest.mark.parametrize("reflect_protocol", ["grpc-v1", "grpc-v1alpha"])
def test_buf_curl_lists_the_services_of_greeter_serve(
    buf: str, greeter_serve: ServerProcess, tmp_path: Path, reflect_protocol: str
) -> None:
    result = buf_curl(
        buf,
        tmp_path,
        *("--http2-prior-knowledge", "--reflect-protocol", reflect_protocol),
        *("--list-services", f"http://{greeter_serve.target}"),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(
        [GREETER, HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA]
    )


def test_buf_curl_calls_health_list_through_reflection(
    buf: str, greeter_serve: ServerProcess, tmp_path: Path
) -> None:
    result = buf_curl(
        buf,
        tmp_path,
        *("--http2-prior-knowledge", "-d", "{}"),
        f"http://{greeter_serve.target}/{HEALTH}/List",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "statuses": {"": {"status": "SERVING"}, GREETER: {"status": "SERVING"}}
    }


def test_buf_curl_lists_the_greeters_methods(
    buf: str, greeter_serve: ServerProcess, tmp_path: Path
) -> None:
    result = buf_curl(
        buf,
        tmp_path,
        "--http2-prior-knowledge",
        *("--list-methods", f"http://{greeter_serve.target}"),
    )
    assert result.returncode == 0, result.stderr
    greeter_methods = [m for m in result.stdout.split() if m.startswith(f"{GREETER}/")]
    assert sorted(greeter_methods) == sorted(f"{GREETER}/{rpc}" for rpc in RPCS)


def test_buf_curl_calls_say_hello_through_reflection(
    buf: str, greeter_serve: ServerProcess, tmp_path: Path
) -> None:
    result = buf_curl(
        buf,
        tmp_path,
        *("--http2-prior-knowledge", "-d", '{"name":"you"}'),
        f"http://{greeter_serve.target}/{GREETER}/SayHello",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "Hello, you!"}


def test_buf_curl_calls_the_streaming_rpcs(
    buf: str, greeter_serve: ServerProcess, tmp_path: Path
) -> None:
    url = f"http://{greeter_serve.target}/{GREETER}"
    replies = buf_curl(
        buf,
        tmp_path,
        *("--http2-prior-knowledge", "-d", '{"name":"you"}', f"{url}/SayHelloStreamReply"),
    )
    assert replies.returncode == 0, replies.stderr
    assert json_documents(replies.stdout) == [
        {"message": message} for message in EXPECTED_BY_RPC["SayHelloStreamReply"]
    ]
    names = '{"name":"Ann"} {"name":"Bob"} {"name":"Cy"}'
    chat = buf_curl(
        buf, tmp_path, *("--http2-prior-knowledge", "-d", names, f"{url}/SayHelloBidiStream")
    )
    assert chat.returncode == 0, chat.stderr
    assert json_documents(chat.stdout) == [
        {"message": message} for message in EXPECTED_BY_RPC["SayHelloBidiStream"]
    ]


def test_buf_curl_gets_unimplemented_without_reflection(buf: str, tmp_path: Path) -> None:
    process = ServerProcess(
        [*GREETER_SERVE, "--no-reflection", "--address", LOOPBACK],
        SERVING_LINE,
    )
    try:
        result = buf_curl(
            buf,
            tmp_path,
            *("--http2-prior-knowledge", "--list-services", f"http://{process.target}"),
        )
    finally:
        process.kill()
    assert result.returncode != 0
    assert "unimplemented" in result.stderr.lower()


@pytest.fixture
def secure_serve(certificates: Certificates) -> Iterator[ServerProcess]:
    """``greeter serve`` with mTLS and a bearer token, on 127.0.0.1."""
    trusted = certificates.trusted
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve", "--address", LOOPBACK),
            *("--tls-cert", str(trusted.server.certificate.path)),
            *("--tls-key", str(trusted.server.private_key.path)),
            *("--tls-client-ca", str(trusted.ca.path)),
            *("--auth-token", "s3cret"),
        ],
        SERVING_LINE,
    )
    try:
        yield process
    finally:
        process.kill()


def test_buf_curl_calls_a_server_with_mtls_and_a_token(
    buf: str, secure_serve: ServerProcess, certificates: Certificates, tmp_path: Path
) -> None:
    trusted = certificates.trusted
    tls = (
        *("--cacert", str(trusted.ca.path)),
        *("--cert", str(trusted.client.certificate.path)),
        *("--key", str(trusted.client.private_key.path)),
    )
    url = f"https://localhost:{secure_serve.port}/{GREETER}/SayHello"
    token = "authorization: Bearer s3cret"
    result = buf_curl(
        buf, tmp_path, *tls, "-H", token, "--reflect-header", token, "-d", '{"name":"you"}', url
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "Hello, you!"}

    # Reflection needs the token too; with it but without one on the call, the call fails.
    no_call_token = buf_curl(
        buf, tmp_path, *tls, "--reflect-header", token, "-d", '{"name":"you"}', url
    )
    assert no_call_token.returncode != 0
    assert "unauthenticated" in no_call_token.stderr.lower()
    no_token = buf_curl(buf, tmp_path, *tls, "-d", '{"name":"you"}', url)
    assert no_token.returncode != 0
