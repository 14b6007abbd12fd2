"""The generator on protos that are hard to turn into Python, served and called.

tests/protos/tricky/v1/keywords.proto: keywords as RPC and field names, RPCs whose
names clash in snake_case or with the base classes' names, a streaming-only service and
an empty one; deep/a/b/c/d/v1/deep.proto: a deep package and nested messages;
tutorial/greeter.proto: the classic tutorial's proto2 ``tutorial.Greeter``, with
``required`` fields, beside greeter's own ``helloworld.Greeter``;
editions/v1/notes.proto: an ``edition = "2023"`` file.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import greeter
import greeter.rpc
from greeter import AsyncGreeterService, GreeterClient, GreeterService, testing
from tests.test_codegen_build import load

#: Each RPC of tricky.v1.Keywords, and the Python method that serves and calls it.
KEYWORD_METHODS = {
    "Import": "import_",
    "Class": "class_",
    "GetItem": "get_item",
    "get_item": "get_item_",
    "GetItemWithCall": "get_item_with_call",
    "Close": "close_",
    "Context": "context_",
    "AddToServer": "add_to_server_",
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Any:
    names = {
        "shop": "shop_services",
        "keywords": "tricky.v1.keywords_greeter",
        "keywords_pb2": "tricky.v1.keywords_pb2",
        "deep": "deep.a.b.c.d.v1.deep_greeter",
        "deep_pb2": "deep.a.b.c.d.v1.deep_pb2",
        "tutorial": "tutorial.greeter_greeter",
        "tutorial_pb2": "tutorial.greeter_pb2",
        "notes": "editions.v1.notes_greeter",
        "notes_pb2": "editions.v1.notes_pb2",
        "convert": "alias.both_greeter",
        "a_types": "alias.a.types_pb2",
    }
    loaded = {key: load(tmp_path_factory, module) for key, module in names.items()}
    return type("Modules", (), loaded)


@pytest.fixture(scope="module")
def target(modules: Any) -> Iterator[str]:
    """Every generated service of the tests, beside helloworld.Greeter, on one server."""
    shop = modules.shop
    services = [
        shop.Keywords(),
        shop.Streams(),
        modules.keywords.NothingService(),
        shop.Deep(),
        shop.TutorialGreeter(),
        shop.Notes(),
        shop.Inventory(),
        shop.Convert(),
    ]
    registrations = [(greeter.rpc.add_to_server, service) for service in services]
    with testing.serving(GreeterService(), services=registrations) as server:
        yield server.target


def test_keywords_and_snake_case_clashes_get_a_trailing_underscore(modules: Any) -> None:
    table = modules.keywords._Keywords.definition
    assert {method.name: method.attribute for method in table.methods} == KEYWORD_METHODS
    client = modules.keywords.KeywordsClient
    assert client.close is greeter.rpc.Client.close  # the base's close, not the RPC's
    assert callable(client.close_)
    # GetItem's variant with metadata steps aside for the RPC GetItemWithCall.
    assert {"get_item_with_call_", "import_with_call", "close_with_call"} <= set(vars(client))


def test_each_rpc_reaches_the_method_of_its_python_name(modules: Any, target: str) -> None:
    request = modules.keywords_pb2.Request(**{"from": "me", "class": 2, "import": True})
    with modules.keywords.KeywordsClient(target, timeout=10) as client:
        answers = {
            rpc: getattr(getattr(client, method)(request), "return")
            for rpc, method in KEYWORD_METHODS.items()
        }
        with_call = client.get_item_with_call_(request)
    assert answers == {**KEYWORD_METHODS, "Context": "context_ from ipv4"}
    assert getattr(with_call.message, "return") == "get_item"


@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_a_streaming_only_service_serves_each_stream(modules: Any, kind: str) -> None:
    shop, pb2 = modules.shop, modules.keywords_pb2
    streams = shop.Streams() if kind == "threaded" else shop.AsyncStreams()
    service = GreeterService() if kind == "threaded" else AsyncGreeterService()
    registrations = [(greeter.rpc.add_to_server, streams)]
    with testing.serving(service, services=registrations) as server:
        with modules.keywords.StreamsClient(server.target, timeout=10) as client:
            watched = client.watch(pb2.Request(**{"from": "w", "class": 2}))
            uploaded = client.upload(pb2.Request(**{"from": name}) for name in "ab")
            chatted = client.chat([pb2.Request(**{"from": "c"})])
            assert [getattr(reply, "return") for reply in watched] == ["w 0", "w 1"]
            assert list(getattr(uploaded, "lambda")) == ["a", "b"]
            assert [getattr(reply, "return") for reply in chatted] == ["c"]


def test_an_empty_service_is_served_and_known_to_health(modules: Any, target: str) -> None:
    assert modules.keywords._Nothing.definition.methods == ()
    with GreeterClient(target, timeout=10) as client:
        assert client.check_health("tricky.v1.Nothing") == "SERVING"
    with modules.keywords.NothingClient(target) as nothing:
        assert nothing.target == target


def test_a_deep_package_with_nested_messages(modules: Any, target: str) -> None:
    pb2 = modules.deep_pb2
    with modules.deep.DeepClient(target, timeout=10) as client:
        inner = client.echo(pb2.Outer(inner=pb2.Outer.Inner(text="deep")))
    assert isinstance(inner, pb2.Outer.Inner)
    assert inner.text == "deep"


def test_proto_comments_become_docstrings_as_written(modules: Any) -> None:
    documented = modules.deep.DeepClient.__doc__
    assert 'Comments become docstrings: "quotes", a backslash \\ and """ triple\n' in documented
    assert inspect.getdoc(modules.deep.DeepClient.echo) == (
        "Call ``deep.a.b.c.d.v1.Deep/Echo``.\n\nEchoes the inner message."
    )


def test_the_tutorial_greeter_serves_beside_the_canonical_greeter(
    modules: Any, target: str
) -> None:
    pb2 = modules.tutorial_pb2
    with modules.tutorial.GreeterClient(target, timeout=10) as tutorial:
        reply = tutorial.say_hello(pb2.HelloRequest(name="Ada"))
        replies = tutorial.say_hello_stream_reply(pb2.HelloRequest(name="Bo", times=2))
        assert [each.message for each in replies] == ["Hello, Bo!", "Hello, Bo!"]
    with GreeterClient(target, timeout=10) as canonical:
        assert canonical.greet("Ada") == "Hello, Ada!"
    assert reply.message == "Hello from the tutorial, Ada!"
    assert modules.tutorial._Greeter.definition.name == "tutorial.Greeter"


def test_a_proto2_request_missing_a_required_field_answers_invalid_argument(
    target: str,
) -> None:
    with grpc.insecure_channel(target) as channel:
        say_hello: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/tutorial.Greeter/SayHello"
        )
        with pytest.raises(grpc.RpcError) as raised:
            say_hello(b"", timeout=10)  # no name: a required field
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "the request is not a valid tutorial.HelloRequest"


def test_a_service_from_an_editions_file_is_served(modules: Any, target: str) -> None:
    pb2 = modules.notes_pb2
    with modules.notes.NotesClient(target, timeout=10) as client:
        kept = client.keep(pb2.Note(text="hi", stars=1))
    assert (kept.text, kept.stars) == ("kept: hi", 2)


def test_reflection_lists_and_describes_every_generated_service(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        listed = set(database.get_services())
        pool = DescriptorPool(database)
        get_item = pool.FindServiceByName("shop.v1.Inventory").methods_by_name["GetItem"]
        echo = pool.FindServiceByName("deep.a.b.c.d.v1.Deep").methods_by_name["Echo"]
    assert {
        "helloworld.Greeter",
        "shop.v1.Inventory",
        "tricky.v1.Keywords",
        "tricky.v1.Streams",
        "tricky.v1.Nothing",
        "deep.a.b.c.d.v1.Deep",
        "tutorial.Greeter",
        "editions.v1.Notes",
        "alias.Convert",
    } <= listed
    assert get_item.output_type.full_name == "shop.v1.Item"  # from types.proto
    assert echo.output_type.full_name == "deep.a.b.c.d.v1.Outer.Inner"


def test_messages_from_modules_of_the_same_name_are_told_apart(modules: Any, target: str) -> None:
    with modules.convert.ConvertClient(target, timeout=10) as client:
        converted = client.number(modules.a_types.Thing(name="four"))
    assert converted.number == 4
    assert type(converted).DESCRIPTOR.full_name == "alias.b.Thing"
