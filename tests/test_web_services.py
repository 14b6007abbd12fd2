"""The web port serves every service a server carries, not only the Greeter.

The generated ``shop.v1.Inventory`` (tests/protos, generated at test time as in
``test_rpc_calls.py``) and a plain grpc generic handler (``tutorial.Greeter``) are
served beside the Greeter on the threaded and the asyncio server, and called over the
web port as curl or a browser's ``fetch`` would (``http.client``): Connect JSON and
binary, Connect's streaming framing and its GET, and gRPC-Web, with errors, metadata,
auth, hooks and drain as on native gRPC. The real browser is in
``test_web_browser_services.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
import pytest

pytest.importorskip("connectrpc", reason="the web extra (connectrpc) is not installed")

import greeter
from greeter import AsyncGreeterService, GreeterService, ServerConfig, testing
from greeter.web import asgi_app
from tests.conftest import LOOPBACK
from tests.test_codegen_build import load
from tests.test_web import (
    TOKEN,
    Answer,
    CallRecorder,
    bearer,
    check_token,
    grpc_web_frame,
    grpc_web_frames,
    post,
    post_json,
)

KINDS = ["threaded", "asyncio"]
GET_ITEM = "/shop.v1.Inventory/GetItem"
LIST_ITEMS = "/shop.v1.Inventory/ListItems"
ADD_ITEMS = "/shop.v1.Inventory/AddItems"
EXCHANGE = "/shop.v1.Inventory/Exchange"
TUTORIAL_HELLO = "/tutorial.Greeter/SayHello"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The user code (``shop_services``), with the generated modules it imports."""
    return load(tmp_path_factory, "shop_services")


@pytest.fixture(scope="module")
def pb(shop: ModuleType) -> Any:
    """The message modules: ``pb.inventory``, ``pb.types`` and ``pb.tutorial``."""
    return type("Messages", (), {name: getattr(shop, module) for name, module in _MODULES})


_MODULES = [("inventory", "inventory_pb2"), ("types", "types_pb2"), ("tutorial", "greeter_pb2")]


#: Set by the plain handler when it starts to answer "nap" (which takes half a second).
NAPPING = threading.Event()


def plain_handler(pb: Any, kind: str) -> grpc.GenericRpcHandler:
    """``tutorial.Greeter``'s SayHello as plain grpc serves it: a generic handler."""
    tutorial = pb.tutorial

    def say_hello(request: Any, context: grpc.ServicerContext) -> Any:
        if request.name == "nap":
            NAPPING.set()
            time.sleep(0.5)
        return answer(request, context)

    async def say_hello_async(request: Any, context: Any) -> Any:
        if request.name == "nap":
            NAPPING.set()
            await asyncio.sleep(0.5)
        return answer(request, context)

    def answer(request: Any, context: Any) -> Any:
        if request.name == "nobody":  # as plain grpc handlers end a call with a status
            context.set_code(grpc.StatusCode.NOT_FOUND)
            context.set_details("nobody here")
        elif request.name == "unwritten":  # as grpc_tools' servicer base classes do
            context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            context.set_details("Method not implemented!")
            raise NotImplementedError("Method not implemented!")
        return tutorial.HelloReply(message=f"Hello from plain grpc, {request.name}!")

    handler = grpc.unary_unary_rpc_method_handler(
        say_hello if kind == "threaded" else say_hello_async,
        request_deserializer=tutorial.HelloRequest.FromString,
        response_serializer=tutorial.HelloReply.SerializeToString,
    )
    return grpc.method_handlers_generic_handler("tutorial.Greeter", {"SayHello": handler})


def serving(shop: ModuleType, pb: Any, kind: str, config: ServerConfig) -> Any:
    """A server of ``kind`` with the Greeter, the Inventory and the plain handler."""
    services: list[Any] = [plain_handler(pb, kind)]
    if kind == "threaded":
        return testing.serving(
            GreeterService(), config=config, services=[shop.Inventory(), *services]
        )
    return testing.serving(
        AsyncGreeterService(), config=config, services=[shop.AsyncInventory(), *services]
    )


@pytest.fixture(scope="module", params=KINDS)
def web(request: pytest.FixtureRequest, shop: ModuleType, pb: Any) -> Iterator[tuple[str, str]]:
    """The web address of a server of each kind, and the kind."""
    with serving(shop, pb, request.param, ServerConfig(web=LOOPBACK)) as server:
        assert server.web_address is not None
        yield server.web_address, request.param


# ----------------------------------------------------------- Connect's framing


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def enveloped(body: bytes) -> tuple[list[bytes], dict[str, Any]]:
    """The messages of a Connect streaming answer, and its end-of-stream message."""
    messages: list[bytes] = []
    end: dict[str, Any] = {}
    offset = 0
    while offset < len(body):
        flags, length = struct.unpack_from(">BI", body, offset)
        payload = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flags & 0x02:
            end = json.loads(payload)
        else:
            messages.append(payload)
    return messages, end


def connect_stream(
    address: str, path: str, *messages: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """A Connect streaming call with JSON messages: the replies and the end of the stream."""
    body = b"".join(envelope(json.dumps(message).encode()) for message in messages)
    answer = post(address, path, body, {"Content-Type": "application/connect+json"})
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/connect+json"
    replies, end = enveloped(answer.body)
    return [json.loads(reply) for reply in replies], end


def grpc_web(
    address: str, path: str, request: Any, **headers: str
) -> tuple[list[bytes], dict[str, str]]:
    answer = post(
        address,
        path,
        grpc_web_frame(request.SerializeToString()),
        {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", **headers},
    )
    assert answer.status == 200
    return grpc_web_frames(answer.body)


# ---------------------------------------------------------- a generated service


def test_connect_json_calls_a_generated_service_with_metadata_and_trailers(
    web: tuple[str, str],
) -> None:
    address, kind = web
    answer = post_json(address, GET_ITEM, {"sku": "A1"}, **{"X-Caller": "page"})

    assert answer.status == 200
    assert answer.json() == {"sku": "A1", "name": "Item A1", "labels": {"caller": "page"}}
    assert answer.headers["trailer-x-served-by"] == kind


def test_connect_binary_calls_a_generated_service(web: tuple[str, str], pb: Any) -> None:
    address, _ = web
    request = pb.inventory.GetItemRequest(sku="B2").SerializeToString()
    answer = post(address, GET_ITEM, request, {"Content-Type": "application/proto"})

    assert answer.status == 200
    item = pb.types.Item.FromString(answer.body)
    assert (item.sku, item.name) == ("B2", "Item B2")


def test_well_known_types_travel_over_connect_json(web: tuple[str, str]) -> None:
    answer = post_json(web[0], "/shop.v1.Inventory/Ping", {})

    assert (answer.status, answer.json()) == (200, {})


def test_grpc_web_calls_a_generated_service(web: tuple[str, str], pb: Any) -> None:
    address, kind = web
    messages, trailers = grpc_web(address, GET_ITEM, pb.inventory.GetItemRequest(sku="C3"))

    assert [pb.types.Item.FromString(message).sku for message in messages] == ["C3"]
    assert trailers["grpc-status"] == "0"
    assert trailers["x-served-by"] == kind


def test_grpc_web_server_streaming_sends_every_item(web: tuple[str, str], pb: Any) -> None:
    messages, trailers = grpc_web(web[0], LIST_ITEMS, pb.inventory.ListItemsRequest(count=3))

    assert [pb.types.Item.FromString(message).sku for message in messages] == [
        "sku-0",
        "sku-1",
        "sku-2",
    ]
    assert trailers["grpc-status"] == "0"


def test_connect_server_streaming_sends_every_item_then_the_end(web: tuple[str, str]) -> None:
    replies, end = connect_stream(web[0], LIST_ITEMS, {"count": 2})

    assert replies == [{"sku": "sku-0"}, {"sku": "sku-1"}]
    assert "error" not in end


def test_connect_client_streaming_reads_every_request_sent_over_http_1_1(
    web: tuple[str, str],
) -> None:
    # A client sending its whole stream in the request body (not a browser's fetch).
    replies, end = connect_stream(web[0], ADD_ITEMS, *({"sku": str(n)} for n in range(4)))

    assert replies == [{"items": 4}]
    assert "error" not in end


def test_connect_bidi_streaming_answers_a_request_stream_sent_whole(web: tuple[str, str]) -> None:
    # Over HTTP/1.1 half duplex: the requests all arrive, then the replies go out.
    replies, end = connect_stream(web[0], EXCHANGE, {"sku": "x"}, {"sku": "y"})

    assert replies == [
        {"sku": "x", "notes": [{"text": "seen"}]},
        {"sku": "y", "notes": [{"text": "seen"}]},
    ]
    assert "error" not in end


# ---------------------------------------------------------------------- errors


def test_a_generated_service_error_becomes_its_connect_code(web: tuple[str, str]) -> None:
    answer = post_json(web[0], GET_ITEM, {"sku": "missing"})

    assert answer.status == 404
    assert answer.json() == {"code": "not_found", "message": "no item missing"}


def test_a_generated_service_error_travels_in_grpc_web_trailers(
    web: tuple[str, str], pb: Any
) -> None:
    messages, trailers = grpc_web(web[0], GET_ITEM, pb.inventory.GetItemRequest(sku="missing"))

    assert messages == []
    assert trailers["grpc-status"] == str(greeter.StatusCode.NOT_FOUND.value)
    assert urllib.parse.unquote(trailers["grpc-message"]) == "no item missing"


def test_other_exceptions_become_internal_with_a_generic_message(web: tuple[str, str]) -> None:
    answer = post_json(web[0], GET_ITEM, {"sku": "crash"})

    assert answer.json() == {"code": "internal", "message": "Internal server error"}


def test_an_rpc_not_overridden_is_unimplemented(web: tuple[str, str]) -> None:
    answer = post_json(web[0], "/shop.v1.Inventory/Forgotten", {"sku": "A1"})

    assert answer.json()["code"] == "unimplemented"


@pytest.mark.parametrize(
    ("path", "body", "content_type", "message_type"),
    [
        (GET_ITEM, b"\xff\xff\xff", "application/proto", "shop.v1.GetItemRequest"),
        (GET_ITEM, b"{not json", "application/json", "shop.v1.GetItemRequest"),
        # proto2: a message missing a required field does not reach the service either.
        (TUTORIAL_HELLO, b"{}", "application/json", "tutorial.HelloRequest"),
    ],
    ids=["binary", "json", "missing-required-field"],
)
def test_a_malformed_request_is_invalid_argument(
    web: tuple[str, str], path: str, body: bytes, content_type: str, message_type: str
) -> None:
    answer = post(web[0], path, body, {"Content-Type": content_type})

    assert answer.status == 400
    assert answer.json() == {
        "code": "invalid_argument",
        "message": f"the request is not a valid {message_type}",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/shop.v1.Inventory/Missing",
        "/shop.v1.Nowhere/GetItem",
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/shop.v1.Inventory/GetItem/extra",
        "/",
    ],
)
def test_a_path_naming_no_served_method_is_not_found(web: tuple[str, str], path: str) -> None:
    # Connect's unimplemented: health and reflection are for native gRPC clients only.
    answer = post_json(web[0], path, {})

    assert answer.status == 404


# --------------------------------------------------- any registered grpc handler


def test_a_plain_grpc_generic_handler_is_served_too(web: tuple[str, str], pb: Any) -> None:
    answer = post_json(web[0], TUTORIAL_HELLO, {"name": "web"})
    messages, trailers = grpc_web(web[0], TUTORIAL_HELLO, pb.tutorial.HelloRequest(name="frame"))

    assert answer.json() == {"message": "Hello from plain grpc, web!"}
    assert pb.tutorial.HelloReply.FromString(messages[0]).message == "Hello from plain grpc, frame!"
    assert trailers["grpc-status"] == "0"


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("nobody", "not_found", "nobody here"),
        ("unwritten", "unimplemented", "Method not implemented!"),
    ],
)
def test_a_status_a_plain_handler_sets_ends_its_web_call_as_it_ends_a_native_one(
    web: tuple[str, str], pb: Any, name: str, code: str, message: str
) -> None:
    answer = post_json(web[0], TUTORIAL_HELLO, {"name": name})
    _, trailers = grpc_web(web[0], TUTORIAL_HELLO, pb.tutorial.HelloRequest(name=name))

    assert answer.json() == {"code": code, "message": message}
    assert trailers["grpc-status"] == str(greeter.StatusCode[code.upper()].value)
    assert urllib.parse.unquote(trailers["grpc-message"]) == message


def test_the_greeter_is_still_served_beside_them(web: tuple[str, str]) -> None:
    answer = post_json(web[0], "/helloworld.Greeter/SayHello", {"name": "you"})

    assert answer.json() == {"message": "Hello, you!"}


# ----------------------------------------------------------------- auth, hooks


@dataclass
class Guarded:
    address: str
    hook: CallRecorder


@pytest.fixture(params=KINDS)
def guarded(request: pytest.FixtureRequest, shop: ModuleType, pb: Any) -> Iterator[Guarded]:
    """A server of each kind checking tokens and running a hook on both ports."""
    hook = CallRecorder()
    config = ServerConfig(web=LOOPBACK, auth=check_token, hooks=[hook])
    with serving(shop, pb, request.param, config) as server:
        assert server.web_address is not None
        yield Guarded(server.web_address, hook)


def test_a_generated_service_checks_tokens_and_runs_hooks_on_the_web_port(
    guarded: Guarded, pb: Any
) -> None:
    allowed = post_json(guarded.address, GET_ITEM, {"sku": "A1"}, **bearer(TOKEN))
    refused = post_json(guarded.address, GET_ITEM, {"sku": "A1"}, **bearer("guess"))
    _, trailers = grpc_web(
        guarded.address, LIST_ITEMS, pb.inventory.ListItemsRequest(count=1), **bearer(TOKEN)
    )
    missing = post_json(guarded.address, GET_ITEM, {"sku": "missing"}, **bearer(TOKEN))

    assert allowed.json()["sku"] == "A1"
    assert (refused.status, refused.json()["code"]) == (401, "unauthenticated")
    assert trailers["grpc-status"] == "0"
    assert missing.json()["code"] == "not_found"
    seen = [(call.method, outcome.code.name) for call, outcome in guarded.hook.outcomes(4)]
    assert seen == [
        (GET_ITEM, "OK"),
        (GET_ITEM, "UNAUTHENTICATED"),
        (LIST_ITEMS, "OK"),
        (GET_ITEM, "NOT_FOUND"),
    ]


# -------------------------------------------------------------------- asgi_app


@pytest.mark.parametrize("kind", KINDS)
def test_asgi_app_serves_a_generated_service(kind: str, shop: ModuleType) -> None:
    from greeter.web._port import WebPort

    service = shop.Inventory() if kind == "threaded" else shop.AsyncInventory()
    port = WebPort(asgi_app(service, origins=["*"]), LOOPBACK, grace_seconds=1)
    port.start_thread()
    try:
        answer = post_json(port.address, GET_ITEM, {"sku": "A1"})
        greeter_call = post_json(port.address, "/helloworld.Greeter/SayHello", {"name": "x"})
    finally:
        port.begin_stop()
        port.wait_stopped(5)

    assert answer.json()["name"] == "Item A1"
    assert greeter_call.status == 404  # only the service given is served


# ------------------------------------------------------------------------ drain


@pytest.mark.parametrize("kind", KINDS)
def test_stop_lets_a_web_call_of_another_service_finish(
    kind: str, shop: ModuleType, pb: Any
) -> None:
    NAPPING.clear()
    answers: list[Answer] = []
    with serving(shop, pb, kind, ServerConfig(web=LOOPBACK, grace_seconds=5)) as server:
        address = server.web_address
        assert address is not None
        call = threading.Thread(
            target=lambda: answers.append(post_json(address, TUTORIAL_HELLO, {"name": "nap"}))
        )
        call.start()
        assert NAPPING.wait(10)  # in flight as the block ends and stop() begins
    call.join(timeout=10)

    assert answers[0].json() == {"message": "Hello from plain grpc, nap!"}


# ------------------------------------------------------------ Connect's GET

LOOKUP_PROTO = """
syntax = "proto3";
package webget.v1;
message Key { string name = 1; }
message Value { string text = 1; }
service Lookup {
  rpc Find(Key) returns (Value) { option idempotency_level = NO_SIDE_EFFECTS; }
  rpc Store(Key) returns (Value);
}
"""


@pytest.fixture(scope="module")
def lookup(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """``webget.v1.Lookup``'s messages, compiled by protoc at test time and imported."""
    root = tmp_path_factory.mktemp("webget")
    (root / "webget" / "v1").mkdir(parents=True)
    (root / "webget" / "v1" / "lookup.proto").write_text(LOOKUP_PROTO)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{root}", f"--python_out={root}",
         "webget/v1/lookup.proto"],
        check=True, timeout=60,
    )  # fmt: skip
    sys.path.insert(0, str(root))
    return importlib.import_module("webget.v1.lookup_pb2")


@pytest.mark.parametrize("kind", KINDS)
def test_connect_get_calls_a_method_declared_free_of_side_effects(
    kind: str, lookup: ModuleType
) -> None:
    def answer(request: Any, context: Any) -> Any:
        return lookup.Value(text=f"found {request.name}")

    async def answer_async(request: Any, context: Any) -> Any:
        return answer(request, context)

    behaviour = answer if kind == "threaded" else answer_async
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=lookup.Key.FromString,
            response_serializer=lookup.Value.SerializeToString,
        )
        for name in ("Find", "Store")
    }
    service = grpc.method_handlers_generic_handler("webget.v1.Lookup", handlers)
    base: GreeterService | AsyncGreeterService = (
        GreeterService() if kind == "threaded" else AsyncGreeterService()
    )
    query = urllib.parse.urlencode({"encoding": "json", "message": '{"name": "k"}'})
    with testing.serving(base, config=ServerConfig(web=LOOPBACK), services=[service]) as server:
        assert server.web_address is not None
        found = post(server.web_address, f"/webget.v1.Lookup/Find?{query}", b"", {}, "GET")
        refused = post(server.web_address, f"/webget.v1.Lookup/Store?{query}", b"", {}, "GET")
        posted = post_json(server.web_address, "/webget.v1.Lookup/Store", {"name": "k"})

    assert (found.status, json.loads(found.body)) == (200, {"text": "found k"})
    assert refused.status == 405
    assert posted.json() == {"text": "found k"}


class Precondition(GreeterService):
    """Ends each call with the status it sets on ``self.context``, then returns."""

    def say_hello(self, name: str) -> str:
        self.context.set_code(greeter.StatusCode.FAILED_PRECONDITION)
        self.context.set_details("not yet")
        return "ignored"


def test_a_status_set_on_self_context_ends_a_web_call_as_a_native_one() -> None:
    config = ServerConfig(web=LOOPBACK)
    with testing.serving(Precondition(), config=config) as server:
        assert server.web_address is not None
        with greeter.GreeterClient(server.target, timeout=10) as client:
            with pytest.raises(greeter.FailedPrecondition) as native:
                client.greet("you")
        answer = post_json(server.web_address, "/helloworld.Greeter/SayHello", {"name": "you"})

    assert native.value.details == "not yet"
    assert answer.json() == {"code": "failed_precondition", "message": "not yet"}
