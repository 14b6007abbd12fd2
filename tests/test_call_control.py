"""Call options, metadata both ways, compression on the wire, statuses and rich details."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

import pytest
from google.rpc import error_details_pb2

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    ServerConfig,
)
from tests.conftest import serving
from tests.h2sniff import SniffingProxy

BINARY = b"\x00\x01\xfe\xff"


def _sent(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    return ";".join(f"{key}={value!r}" for key, value in metadata if key.startswith("x-"))


class Echo(GreeterService):
    """Answers every RPC with the x- metadata it received."""

    def say_hello(self, name: str) -> str:
        return _sent(self.context.invocation_metadata)

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        yield _sent(self.context.invocation_metadata)

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        list(names)
        return _sent(self.context.invocation_metadata)

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        for _ in names:
            yield _sent(self.context.invocation_metadata)


class AsyncEcho(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        return _sent(self.context.invocation_metadata)

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        yield _sent(self.context.invocation_metadata)

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        [name async for name in names]
        return _sent(self.context.invocation_metadata)

    async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
        async for _ in names:
            yield _sent(self.context.invocation_metadata)


CLIENT_METADATA: greeter.Metadata = [("x-client", "default")]
CALL_METADATA: greeter.Metadata = [("x-call", "one"), ("x-blob-bin", BINARY)]
ECHOED = f"x-client='default';x-call='one';x-blob-bin={BINARY!r}"


def test_metadata_reaches_the_server_on_every_rpc_from_the_sync_client(server_kind: str) -> None:
    with serving(server_kind, Echo(), AsyncEcho()) as target:
        with GreeterClient(target, metadata=CLIENT_METADATA) as client:
            results = [
                client.greet("x", metadata=CALL_METADATA),
                client.greet_again("x", metadata=CALL_METADATA) != "",
                *client.greet_stream("x", metadata=CALL_METADATA),
                client.greet_many(["x"], metadata=CALL_METADATA),
                *client.chat(["x"], metadata=CALL_METADATA),
            ]
    assert results == [ECHOED, True, ECHOED, ECHOED, ECHOED]


def test_metadata_reaches_the_server_on_every_rpc_from_the_async_client(server_kind: str) -> None:
    async def scenario(target: str) -> list[str]:
        async with AsyncGreeterClient(target, metadata=CLIENT_METADATA) as client:
            return [
                await client.greet("x", metadata=CALL_METADATA),
                *[r async for r in client.greet_stream("x", metadata=CALL_METADATA)],
                await client.greet_many(["x"], metadata=CALL_METADATA),
                *[r async for r in client.chat(["x"], metadata=CALL_METADATA)],
            ]

    with serving(server_kind, Echo(), AsyncEcho()) as target:
        assert asyncio.run(scenario(target)) == [ECHOED] * 4


class Hanging(GreeterService):
    """Every RPC waits until its call is over (bounded), to exercise deadlines."""

    def _hang(self) -> None:
        deadline = time.monotonic() + 10
        while self.context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)

    def say_hello(self, name: str) -> str:
        self._hang()
        return name

    def say_hello_again(self, name: str) -> str:
        self._hang()
        return name

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        self._hang()
        yield name

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        self._hang()
        return ""

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        self._hang()
        yield ""


class AsyncHanging(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        await asyncio.sleep(10)
        return name

    async def say_hello_again(self, name: str) -> str:
        await asyncio.sleep(10)
        return name

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        await asyncio.sleep(10)
        yield name

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        await asyncio.sleep(10)
        return ""

    async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
        await asyncio.sleep(10)
        yield ""


def test_every_rpc_times_out_with_deadline_exceeded_on_the_sync_client(server_kind: str) -> None:
    with serving(server_kind, Hanging(), AsyncHanging()) as target:
        with GreeterClient(target, timeout=0.3) as client:
            calls: list[Callable[[], object]] = [
                lambda: client.greet("x"),
                lambda: client.greet_again("x"),
                lambda: list(client.greet_stream("x")),
                lambda: client.greet_many(["x"]),
                lambda: list(client.chat(["x"])),
                lambda: client.greet_with_call("x", timeout=0.2),
            ]
            for call in calls:
                with pytest.raises(greeter.DeadlineExceeded):
                    call()


def test_every_rpc_times_out_with_deadline_exceeded_on_the_async_client(server_kind: str) -> None:
    async def scenario(target: str) -> None:
        async with AsyncGreeterClient(target, timeout=0.3) as client:
            with pytest.raises(greeter.DeadlineExceeded):
                await client.greet("x")
            with pytest.raises(greeter.DeadlineExceeded):
                await client.greet_again("x", timeout=0.2)
            with pytest.raises(greeter.DeadlineExceeded):
                [r async for r in client.greet_stream("x")]
            with pytest.raises(greeter.DeadlineExceeded):
                await client.greet_many(["x"])
            with pytest.raises(greeter.DeadlineExceeded):
                [r async for r in client.chat(["x"])]

    with serving(server_kind, Hanging(), AsyncHanging()) as target:
        asyncio.run(scenario(target))


def test_async_client_wait_for_ready_waits_for_a_late_server() -> None:
    with GreeterService().start("127.0.0.1:0") as probe:
        port = probe.port  # a port the OS just handed out, free again after this block
    stop = threading.Event()

    def start_late() -> None:
        with GreeterService().start(f"127.0.0.1:{port}"):
            stop.wait(timeout=10)

    async def scenario() -> str:
        async with AsyncGreeterClient(f"127.0.0.1:{port}", wait_for_ready=True) as client:
            return await client.greet("late", timeout=10)

    late = threading.Timer(0.5, start_late)
    late.start()
    try:
        assert asyncio.run(scenario()) == "Hello, late!"
    finally:
        stop.set()
        late.join(timeout=10)


class Talkative(GreeterService):
    """Sends initial and trailing metadata, text and binary, on unary and streams."""

    def say_hello(self, name: str) -> str:
        self.context.send_initial_metadata([("x-initial", "hi"), ("x-initial-bin", BINARY)])
        self.context.set_trailing_metadata([("x-trailing", "bye"), ("x-trailing-bin", BINARY)])
        return super().say_hello(name)

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        self.context.send_initial_metadata([("x-initial", "stream")])
        self.context.set_trailing_metadata([("x-trailing-bin", BINARY)])
        yield from super().say_hello_stream_reply(name)


class AsyncTalkative(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        await self.context.send_initial_metadata([("x-initial", "hi"), ("x-initial-bin", BINARY)])
        self.context.set_trailing_metadata([("x-trailing", "bye"), ("x-trailing-bin", BINARY)])
        return await super().say_hello(name)

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        await self.context.send_initial_metadata([("x-initial", "stream")])
        self.context.set_trailing_metadata([("x-trailing-bin", BINARY)])
        async for reply in super().say_hello_stream_reply(name):
            yield reply


def _x(metadata: greeter.MetadataTuple) -> list[tuple[str, str | bytes]]:
    return [(key, value) for key, value in metadata if key.startswith("x-")]


def test_sync_client_reads_initial_and_trailing_metadata(server_kind: str) -> None:
    with (
        serving(server_kind, Talkative(), AsyncTalkative()) as target,
        GreeterClient(target) as client,
    ):
        reply = client.greet_with_call("you")
        with client.greet_stream("you") as replies:
            assert _x(replies.initial_metadata()) == [("x-initial", "stream")]
            assert len(list(replies)) == 3
            assert _x(replies.trailing_metadata()) == [("x-trailing-bin", BINARY)]
    assert reply.message == "Hello, you!"
    assert _x(reply.initial_metadata) == [("x-initial", "hi"), ("x-initial-bin", BINARY)]
    assert _x(reply.trailing_metadata) == [("x-trailing", "bye"), ("x-trailing-bin", BINARY)]


def test_async_client_reads_initial_and_trailing_metadata(server_kind: str) -> None:
    async def scenario(target: str) -> None:
        async with AsyncGreeterClient(target) as client:
            reply = await client.greet_with_call("you")
            assert reply.message == "Hello, you!"
            assert _x(reply.initial_metadata) == [("x-initial", "hi"), ("x-initial-bin", BINARY)]
            assert _x(reply.trailing_metadata) == [
                ("x-trailing", "bye"),
                ("x-trailing-bin", BINARY),
            ]
            replies = client.greet_stream("you")
            assert _x(await replies.initial_metadata()) == [("x-initial", "stream")]
            assert len([r async for r in replies]) == 3
            assert _x(await replies.trailing_metadata()) == [("x-trailing-bin", BINARY)]

    with serving(server_kind, Talkative(), AsyncTalkative()) as target:
        asyncio.run(scenario(target))


def test_with_call_variants_return_the_same_messages(server_kind: str) -> None:
    with serving(server_kind) as target, GreeterClient(target) as client:
        assert client.greet_again_with_call("you").message == "Hello again, you!"
        assert client.greet_many_with_call(["Ann", "Bob"]).message == "Hello, Ann and Bob!"

    async def scenario() -> list[str]:
        async with AsyncGreeterClient(target) as async_client:
            return [
                (await async_client.greet_again_with_call("you")).message,
                (await async_client.greet_many_with_call(["Ann", "Bob"])).message,
            ]

    with serving(server_kind) as target:
        assert asyncio.run(scenario()) == ["Hello again, you!", "Hello, Ann and Bob!"]


# -- compression: checked on the wire, where grpc-encoding is visible ----------------

LONG_NAME = "compressible " * 200


@pytest.fixture
def sniffed(server_kind: str) -> Iterator[tuple[str, SniffingProxy]]:
    with serving(server_kind) as target:
        proxy = SniffingProxy(int(target.rsplit(":", 1)[1]))
        try:
            yield server_kind, proxy
        finally:
            proxy.close()


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_per_call_compression_is_negotiated_on_the_wire(
    sniffed: tuple[str, SniffingProxy], algorithm: greeter.Compression
) -> None:
    _, proxy = sniffed
    with GreeterClient(proxy.target) as client:
        assert client.greet(LONG_NAME, compression=algorithm) == f"Hello, {LONG_NAME}!"
        assert len(list(client.chat([LONG_NAME] * 2, compression=algorithm))) == 2
    assert proxy.requests.header_values("grpc-encoding") == [algorithm, algorithm]
    assert proxy.requests.compressed_flags == [1, 1, 1]
    assert proxy.responses.compressed_flags == [0, 0, 0]  # the server was not asked to


def test_client_default_compression_applies_to_async_calls(
    sniffed: tuple[str, SniffingProxy],
) -> None:
    _, proxy = sniffed

    async def scenario() -> str:
        async with AsyncGreeterClient(proxy.target, compression="gzip") as client:
            return await client.greet_many([LONG_NAME, LONG_NAME])

    assert asyncio.run(scenario()).startswith("Hello, compressible")
    assert proxy.requests.header_values("grpc-encoding") == ["gzip"]
    assert proxy.requests.compressed_flags == [1, 1]


def test_uncompressed_calls_send_no_grpc_encoding(sniffed: tuple[str, SniffingProxy]) -> None:
    _, proxy = sniffed
    with GreeterClient(proxy.target) as client:
        client.greet(LONG_NAME)
    assert proxy.requests.header_values("grpc-encoding") == []
    assert proxy.requests.compressed_flags == [0]


def test_server_wide_and_per_call_response_compression(server_kind: str) -> None:
    class Deflating(GreeterService):
        def say_hello_again(self, name: str) -> str:
            self.context.set_compression("deflate")
            return super().say_hello_again(name)

    class AsyncDeflating(AsyncGreeterService):
        async def say_hello_again(self, name: str) -> str:
            self.context.set_compression("deflate")
            return await super().say_hello_again(name)

    config = ServerConfig(compression="gzip")
    with serving(server_kind, Deflating(), AsyncDeflating(), config=config) as target:
        proxy = SniffingProxy(int(target.rsplit(":", 1)[1]))
        try:
            with GreeterClient(proxy.target) as client:
                client.greet(LONG_NAME)
                client.greet_again(LONG_NAME)
        finally:
            proxy.close()
    assert proxy.responses.header_values("grpc-encoding") == ["gzip", "deflate"]
    assert proxy.responses.compressed_flags == [1, 1]


# -- statuses, details and rich error details -----------------------------------------


@pytest.mark.parametrize(
    "error_class", greeter.GreeterError.__subclasses__(), ids=lambda cls: cls.__name__
)
def test_async_service_errors_reach_the_async_client_as_the_same_class(
    error_class: type[greeter.GreeterError],
) -> None:
    class Failing(AsyncGreeterService):
        async def say_hello(self, name: str) -> str:
            raise error_class(f"{name} failed")

    async def scenario(target: str) -> greeter.GreeterError:
        async with AsyncGreeterClient(target) as client:
            with pytest.raises(greeter.GreeterError) as caught:
                await client.greet("call")
            return caught.value

    with serving("async", async_service=Failing()) as target:
        error = asyncio.run(scenario(target))
    assert type(error) is error_class
    assert error.details == "call failed"


def _bad_request() -> error_details_pb2.BadRequest:
    violation = error_details_pb2.BadRequest.FieldViolation(field="name", description="empty")
    return error_details_pb2.BadRequest(field_violations=[violation])


class Validating(GreeterService):
    def say_hello(self, name: str) -> str:
        raise greeter.InvalidArgument(
            "name is invalid",
            error_details=[_bad_request(), error_details_pb2.ErrorInfo(reason="EMPTY_NAME")],
            trailing_metadata=[("x-request-id", "7")],
        )


class AsyncValidating(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        raise greeter.InvalidArgument(
            "name is invalid",
            error_details=[_bad_request(), error_details_pb2.ErrorInfo(reason="EMPTY_NAME")],
            trailing_metadata=[("x-request-id", "7")],
        )


def _assert_rich(error: greeter.GreeterError) -> None:
    assert isinstance(error, greeter.InvalidArgument)
    assert error.details == "name is invalid"
    assert error.details_of_type(error_details_pb2.BadRequest) == [_bad_request()]
    (info,) = error.details_of_type(error_details_pb2.ErrorInfo)
    assert info.reason == "EMPTY_NAME"
    assert error.details_of_type(error_details_pb2.RetryInfo) == []
    assert ("x-request-id", "7") in error.trailing_metadata
    assert "grpc-status-details-bin" not in dict(error.trailing_metadata)


def test_rich_error_details_round_trip_to_the_sync_client(server_kind: str) -> None:
    with (
        serving(server_kind, Validating(), AsyncValidating()) as target,
        GreeterClient(target) as client,
    ):
        with pytest.raises(greeter.InvalidArgument) as caught:
            client.greet("")
    _assert_rich(caught.value)


def test_rich_error_details_round_trip_to_the_async_client(server_kind: str) -> None:
    async def scenario(target: str) -> greeter.GreeterError:
        async with AsyncGreeterClient(target) as client:
            with pytest.raises(greeter.InvalidArgument) as caught:
                await client.greet("")
            return caught.value

    with serving(server_kind, Validating(), AsyncValidating()) as target:
        _assert_rich(asyncio.run(scenario(target)))


def test_async_service_unexpected_exception_becomes_internal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Buggy(AsyncGreeterService):
        async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
            yield "fine"
            raise ZeroDivisionError("secret")

    with serving("async", async_service=Buggy()) as target, GreeterClient(target) as client:
        received: list[str] = []
        with pytest.raises(greeter.Internal) as caught:
            received.extend(client.greet_stream("you"))
    assert caught.value.details == "Internal server error"
    assert "SayHelloStreamReply" in caplog.text
    assert "ZeroDivisionError" in caplog.text


# -- the async call context -------------------------------------------------------------


def test_async_context_exposes_metadata_peer_and_deadline() -> None:
    seen: dict[str, object] = {}

    class Inspecting(AsyncGreeterService):
        async def say_hello(self, name: str) -> str:
            seen["user"] = dict(self.context.invocation_metadata)["x-user"]
            seen["peer"] = self.context.peer
            seen["remaining"] = self.context.time_remaining()
            seen["active"] = self.context.is_active()
            return name

    with serving("async", async_service=Inspecting()) as target, GreeterClient(target) as client:
        client.greet("you", timeout=30, metadata=[("x-user", "ada")])
    assert seen["user"] == "ada"
    assert str(seen["peer"]).startswith("ipv4:127.0.0.1:")
    remaining = seen["remaining"]
    assert isinstance(remaining, float)
    assert 0 < remaining <= 30.5
    assert seen["active"] is True


def test_async_context_outside_a_call_raises() -> None:
    with pytest.raises(RuntimeError, match="only available while serving"):
        _ = AsyncGreeterService().context


# -- server- and client-wide options ------------------------------------------------------


def test_server_max_send_message_length_refuses_a_large_reply(server_kind: str) -> None:
    config = ServerConfig(max_send_message_length=200)
    with serving(server_kind, config=config) as target, GreeterClient(target) as client:
        assert client.greet("short") == "Hello, short!"
        with pytest.raises(greeter.ResourceExhausted):
            client.greet("x" * 1000)


def test_raw_channel_options_pass_through_to_the_server(server_kind: str) -> None:
    config = ServerConfig(options=[("grpc.max_receive_message_length", 200)])
    with serving(server_kind, config=config) as target, GreeterClient(target) as client:
        assert client.greet("short") == "Hello, short!"
        with pytest.raises(greeter.ResourceExhausted):
            client.greet("x" * 1000)


def test_client_max_receive_message_length_refuses_a_large_reply(server_kind: str) -> None:
    with serving(server_kind) as target:
        with GreeterClient(target, max_receive_message_length=200) as client:
            assert client.greet("short") == "Hello, short!"
            with pytest.raises(greeter.ResourceExhausted):
                client.greet("x" * 1000)


def test_trailing_metadata_set_before_an_error_is_sent_with_the_errors_own(
    server_kind: str,
) -> None:
    error = greeter.FailedPrecondition(
        "not yet",
        trailing_metadata=[("x-from-error", "2")],
        error_details=[error_details_pb2.RetryInfo()],
    )

    class Sync(GreeterService):
        def say_hello(self, name: str) -> str:
            self.context.set_trailing_metadata([("x-from-context", "1")])
            raise error

    class Async(AsyncGreeterService):
        async def say_hello(self, name: str) -> str:
            self.context.set_trailing_metadata([("x-from-context", "1")])
            raise error

    with serving(server_kind, Sync(), Async()) as target, GreeterClient(target) as client:
        with pytest.raises(greeter.FailedPrecondition) as caught:
            client.greet("you")
    assert _x(caught.value.trailing_metadata) == [("x-from-context", "1"), ("x-from-error", "2")]
    assert len(caught.value.details_of_type(error_details_pb2.RetryInfo)) == 1
