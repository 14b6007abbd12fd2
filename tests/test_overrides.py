"""Mistakes in a service subclass fail at its ``class`` statement, not at the first call.

A misspelt RPC method would otherwise never be called, and an override of the wrong
shape would fail only when a client called it. Helper methods of the user's own, and
attributes that are not functions, keep working.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import ClassVar, ParamSpec, TypeVar

import pytest

from greeter import AsyncGreeterService, GreeterClient, GreeterService
from greeter._helloworld import GREETER
from greeter._method import Method
from greeter._proto import helloworld_pb2
from tests.conftest import LOOPBACK, serving_async

_P = ParamSpec("_P")
_R = TypeVar("_R")

BASES = [GreeterService, AsyncGreeterService]
RPCS = GREETER.methods
RPC_METHODS = [rpc.attribute for rpc in RPCS]
SINGLE_REPLY = ["say_hello", "say_hello_again", "say_hello_stream_request"]
STREAMED_REPLIES = ["say_hello_stream_reply", "say_hello_bidi_stream"]

#: The ``def`` line each error message tells the user to write, per base class.
SYNC_SIGNATURES = {
    "say_hello": "def say_hello(self, name: str) -> str",
    "say_hello_again": "def say_hello_again(self, name: str) -> str",
    "say_hello_stream_reply": "def say_hello_stream_reply(self, name: str) -> Iterator[str]",
    "say_hello_stream_request": "def say_hello_stream_request(self, names: Iterator[str]) -> str",
    "say_hello_bidi_stream": (
        "def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterator[str]"
    ),
}
ASYNC_SIGNATURES = {
    "say_hello": "async def say_hello(self, name: str) -> str",
    "say_hello_again": "async def say_hello_again(self, name: str) -> str",
    "say_hello_stream_reply": (
        "async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]"
    ),
    "say_hello_stream_request": (
        "async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str"
    ),
    "say_hello_bidi_stream": (
        "async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]"
    ),
}


def subclass(*bases: type, **body: object) -> type:
    """``class Mine(*bases)`` with ``body`` as its namespace, as a class statement makes it.

    Lets one test try the same mistake on every RPC; mypy would (rightly) refuse most
    of these overrides written out as class statements.
    """
    return type("Mine", bases, body)


# One function of each of the four shapes a ``def`` can have.
def plain(self: object, name: str) -> str:
    return name


def generator(self: object, name: str) -> Iterator[str]:
    yield name


async def coroutine(self: object, name: str) -> str:
    return name


async def async_generator(self: object, name: str) -> AsyncIterator[str]:
    yield name


def right_shape(base: type, method: str) -> Callable[..., object]:
    """A function of the shape ``method`` must have on ``base``."""
    if base is GreeterService:
        return plain
    return async_generator if method in STREAMED_REPLIES else coroutine


def base_id(base: type) -> str:
    return base.__name__


# ------------------------------------------------------------ misspelt names


@pytest.mark.parametrize("base", BASES, ids=base_id)
@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("say_helo", "say_hello"),
        ("say_hello_streem_reply", "say_hello_stream_reply"),
        ("say_hello_stream_requests", "say_hello_stream_request"),
        ("say_hello_bidi", "say_hello_bidi_stream"),
        ("sayhello", "say_hello"),
        ("sayHelloAgain", "say_hello_again"),
        ("hello_again", "say_hello_again"),
        ("say_goodbye", "say_hello"),
    ],
)
def test_a_method_named_almost_like_an_rpc_fails_naming_the_closest_rpc(
    base: type, name: str, meant: str
) -> None:
    expected = f"Mine.{name} is not an RPC of helloworld.Greeter, so it would never be called"
    with pytest.raises(TypeError, match=re.escape(expected)) as raised:
        subclass(base, **{name: right_shape(base, meant)})
    message = str(raised.value)
    assert f"did you mean {meant}?" in message
    assert f"e.g. _{name}" in message  # how to keep a helper of that name


@pytest.mark.parametrize("base", BASES, ids=base_id)
@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.name)
def test_the_generated_camel_case_name_fails_pointing_at_the_snake_case_method(
    base: type, rpc: Method[helloworld_pb2.HelloRequest, helloworld_pb2.HelloReply]
) -> None:
    with pytest.raises(TypeError, match=re.escape(f"Mine.{rpc.name} would never")) as raised:
        subclass(base, **{rpc.name: right_shape(base, rpc.attribute)})
    assert f"methods are snake_case: did you mean {rpc.attribute}?" in str(raised.value)


def test_a_typo_fails_at_the_class_statement() -> None:
    with pytest.raises(TypeError, match=r"Polite\.say_helo .* did you mean say_hello\?"):

        class Polite(GreeterService):
            def say_helo(self, name: str) -> str:
                return f"Good day, {name}."


def test_a_misspelt_static_method_fails_too() -> None:
    with pytest.raises(TypeError, match=r"did you mean say_hello_again\?"):
        subclass(GreeterService, say_helloagain=staticmethod(lambda name: name))


# ------------------------------------------------- helpers of the user's own


class Formal(GreeterService):
    """An override that uses helpers whose names look like no RPC."""

    stream_reply_count = 2
    say_hello_prefix = "Good day"  # data, not a method: never taken for an RPC
    _cache: ClassVar[dict[str, str]] = {}

    def format_name(self, name: str) -> str:
        return name.title()

    def greeting_for(self, name: str) -> str:
        return f"{self.say_hello_prefix}, {self.format_name(name)}{self.punctuation}"

    def _remember(self, name: str, greeting: str) -> str:
        self._cache[name] = greeting
        return greeting

    @property
    def punctuation(self) -> str:
        return "."

    @staticmethod
    def shout(text: str) -> str:
        return text.upper()

    @classmethod
    def describe(cls) -> str:
        return cls.__name__

    def say_hello(self, name: str) -> str:
        return self._remember(name, self.greeting_for(name))

    def say_hello_again(self, name: str) -> str:
        return self.shout(self.greeting_for(name))


class AsyncFormal(AsyncGreeterService):
    """The asyncio mirror of ``Formal``."""

    stream_reply_count = 2
    _cache: ClassVar[dict[str, str]] = {}

    def format_name(self, name: str) -> str:
        return name.title()

    async def greeting_for(self, name: str) -> str:
        return f"Good day, {self.format_name(name)}."

    @staticmethod
    def shout(text: str) -> str:
        return text.upper()

    async def say_hello(self, name: str) -> str:
        self._cache[name] = await self.greeting_for(name)
        return self._cache[name]

    async def say_hello_again(self, name: str) -> str:
        return self.shout(await self.greeting_for(name))


def test_helper_methods_of_a_sync_service_keep_working_when_served() -> None:
    with Formal().start(LOOPBACK) as server, GreeterClient(server.target, timeout=10) as client:
        assert client.greet("ada lovelace") == "Good day, Ada Lovelace."
        assert client.greet_again("ada") == "GOOD DAY, ADA."
        assert list(client.greet_stream("ada")) == ["Hello, ada! (1 of 2)", "Hello, ada! (2 of 2)"]
    assert Formal.describe() == "Formal"


def test_helper_methods_of_an_async_service_keep_working_when_served() -> None:
    with serving_async(AsyncFormal()) as server, GreeterClient(server.target, timeout=10) as client:
        assert client.greet("ada lovelace") == "Good day, Ada Lovelace."
        assert client.greet_again("ada") == "GOOD DAY, ADA."
        assert list(client.greet_stream("ada")) == ["Hello, ada! (1 of 2)", "Hello, ada! (2 of 2)"]


def test_a_subclass_of_a_subclass_is_checked_and_keeps_its_parents_helpers() -> None:
    class Shouting(Formal):
        def say_hello(self, name: str) -> str:
            return self.shout(self.greeting_for(name))

    with Shouting().start(LOOPBACK) as server, GreeterClient(server.target, timeout=10) as client:
        assert client.greet("ada") == "GOOD DAY, ADA."
    with pytest.raises(TypeError, match=r"did you mean say_hello\?"):
        subclass(Formal, say_hullo=plain)


@pytest.mark.parametrize("base", BASES, ids=base_id)
def test_private_names_and_the_base_classes_own_api_are_never_taken_for_rpcs(base: type) -> None:
    subclass(
        base,
        _say_helo=plain,
        __repr__=lambda self: "Mine()",
        start=inspect.getattr_static(base, "start"),
    )


# ------------------------------------------------------- sync versus asyncio


@pytest.mark.parametrize("method", RPC_METHODS)
@pytest.mark.parametrize("function", [coroutine, async_generator], ids=["coroutine", "async_gen"])
def test_an_async_def_on_the_sync_service_fails_saying_what_to_write(
    method: str, function: Callable[..., object]
) -> None:
    expected = (
        f"GreeterService calls its methods on worker threads and never awaits them. "
        f"Write `{SYNC_SIGNATURES[method]}`, or subclass AsyncGreeterService"
    )
    with pytest.raises(TypeError, match=re.escape(expected)):
        subclass(GreeterService, **{method: function})


@pytest.mark.parametrize("method", RPC_METHODS)
@pytest.mark.parametrize("function", [plain, generator], ids=["def", "generator"])
def test_a_plain_def_on_the_async_service_fails_saying_what_to_write(
    method: str, function: Callable[..., object]
) -> None:
    expected = (
        f"AsyncGreeterService runs on an event loop and needs `async def` methods. "
        f"Write `{ASYNC_SIGNATURES[method]}`"
    )
    with pytest.raises(TypeError, match=re.escape(expected)) as raised:
        subclass(AsyncGreeterService, **{method: function})
    assert str(raised.value).endswith(", or subclass GreeterService to write blocking methods.")


def test_an_async_def_on_the_sync_service_fails_at_the_class_statement() -> None:
    with pytest.raises(TypeError, match=r"Write `def say_hello\(self, name: str\) -> str`"):

        class Polite(GreeterService):
            async def say_hello(self, name: str) -> str:  # type: ignore[override]
                return f"Good day, {name}."


# --------------------------------------------------- one reply versus a stream


@pytest.mark.parametrize("method", SINGLE_REPLY)
@pytest.mark.parametrize(
    ("base", "function", "signatures"),
    [
        (GreeterService, generator, SYNC_SIGNATURES),
        (AsyncGreeterService, async_generator, ASYNC_SIGNATURES),
    ],
    ids=["GreeterService", "AsyncGreeterService"],
)
def test_a_generator_where_one_reply_is_expected_fails_saying_to_return_it(
    method: str, base: type, function: Callable[..., object], signatures: dict[str, str]
) -> None:
    with pytest.raises(TypeError, match="sends one reply, to `return`, not `yield`") as raised:
        subclass(base, **{method: function})
    assert str(raised.value).endswith(f"Write `{signatures[method]}`.")


@pytest.mark.parametrize("method", STREAMED_REPLIES)
def test_a_coroutine_where_the_async_service_streams_replies_fails_saying_to_yield(
    method: str,
) -> None:
    with pytest.raises(TypeError, match="streams replies, to `yield` one by one") as raised:
        subclass(AsyncGreeterService, **{method: coroutine})
    assert str(raised.value).endswith(
        f"Write `{ASYNC_SIGNATURES[method]}` with `yield` for each reply."
    )


class ListReplies(GreeterService):
    """Sync streams may return any iterable, or be generators."""

    def say_hello_stream_reply(self, name: str) -> list[str]:
        return [f"Hi {name}", f"Bye {name}"]

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterator[str]:
        for name in names:
            yield name.upper()


def test_a_sync_stream_may_return_an_iterable_or_be_a_generator() -> None:
    with ListReplies().start(LOOPBACK) as server, GreeterClient(server.target, timeout=10) as c:
        assert list(c.greet_stream("ada")) == ["Hi ada", "Bye ada"]
        assert list(c.chat(["ann", "bob"])) == ["ANN", "BOB"]


# ------------------------------------------------------------------ parameters


def no_request(self: object) -> str:
    return "Hello!"


def two_requests(self: object, name: str, greeting: str) -> str:
    return f"{greeting}, {name}!"


def keyword_request(self: object, *, name: str) -> str:
    return name


async def async_no_request(self: object) -> AsyncIterator[str]:
    yield "Hello!"


@pytest.mark.parametrize(
    ("base", "method", "function", "shown"),
    [
        (GreeterService, "say_hello", no_request, "(self)"),
        (GreeterService, "say_hello_again", two_requests, "(self, name, greeting)"),
        (GreeterService, "say_hello_stream_request", keyword_request, "(self, *, name)"),
        (AsyncGreeterService, "say_hello_bidi_stream", async_no_request, "(self)"),
    ],
    ids=["none", "two", "keyword-only", "async-none"],
)
def test_an_override_that_cannot_take_one_request_fails_saying_what_to_write(
    base: type, method: str, function: Callable[..., object], shown: str
) -> None:
    signatures = SYNC_SIGNATURES if base is GreeterService else ASYNC_SIGNATURES
    parameter = "names" if "names" in signatures[method] else "name"
    expected = (
        f"Mine.{method}{shown} cannot be called with one request: an RPC method takes self "
        f"and one parameter ({parameter}). Write `{signatures[method]}`"
    )
    with pytest.raises(TypeError, match=re.escape(expected)):
        subclass(base, **{method: function})


class Flexible(GreeterService):
    """Overrides that differ in form but can each be called with one request."""

    def say_hello(self, name: str, greeting: str = "Howdy") -> str:
        return f"{greeting}, {name}!"

    @staticmethod
    def say_hello_again(name: str) -> str:
        return f"Howdy again, {name}!"

    @classmethod
    def say_hello_stream_request(cls, names: Iterator[str]) -> str:
        return f"{cls.__name__}: {', '.join(names)}"


def test_overrides_callable_with_one_request_are_accepted_and_served() -> None:
    with Flexible().start(LOOPBACK) as server, GreeterClient(server.target, timeout=10) as c:
        assert c.greet("ada") == "Howdy, ada!"
        assert c.greet_again("ada") == "Howdy again, ada!"
        assert c.greet_many(["ann", "bob"]) == "Flexible: ann, bob"


# ------------------------------------------------------- other wrong overrides


@pytest.mark.parametrize("base", BASES, ids=base_id)
def test_an_rpc_set_to_plain_data_fails(base: type) -> None:
    with pytest.raises(TypeError, match=r"Mine\.say_hello_again is None, not a method\. Write"):
        subclass(base, say_hello_again=None)


class AsyncMixin:
    async def say_hello(self, name: str) -> str:
        return name


def test_a_wrong_override_from_a_mixin_fails_naming_the_mixin() -> None:
    with pytest.raises(TypeError, match=r"^AsyncMixin\.say_hello is `async def`, but Greeter"):
        subclass(AsyncMixin, GreeterService)


def logged(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """A plain (sync) decorator: it returns whatever the method returns, a coroutine too."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(*args, **kwargs)

    return wrapper


class AsyncDecorated(AsyncGreeterService):
    @logged
    async def say_hello(self, name: str) -> str:
        return f"Logged hello, {name}!"

    @logged
    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        yield f"Logged, {name}!"


def test_an_async_method_under_a_plain_decorator_is_judged_by_the_method_it_wraps() -> None:
    with serving_async(AsyncDecorated()) as server, GreeterClient(server.target, timeout=10) as c:
        assert c.greet("ada") == "Logged hello, ada!"
        assert list(c.greet_stream("ada")) == ["Logged, ada!"]
    with pytest.raises(TypeError, match="GreeterService calls its methods on worker threads"):
        subclass(GreeterService, say_hello=logged(coroutine))


# ------------------------------------------------------ the table of the RPCs


def test_the_table_of_rpcs_agrees_with_the_proto_and_the_service_classes() -> None:
    methods = helloworld_pb2.DESCRIPTOR.services_by_name["Greeter"].methods
    assert [method.name for method in methods] == [rpc.name for rpc in RPCS]
    for method, rpc in zip(methods, RPCS, strict=True):
        assert method.client_streaming == rpc.shape.streams_requests, rpc
        assert method.server_streaming == rpc.shape.streams_responses, rpc
        for base in BASES:
            assert callable(getattr(base, rpc.attribute))


@pytest.mark.parametrize("base", BASES, ids=base_id)
def test_the_base_classes_own_methods_pass_as_overrides(base: type) -> None:
    subclass(base, **{rpc.attribute: vars(base)[rpc.attribute] for rpc in RPCS})
