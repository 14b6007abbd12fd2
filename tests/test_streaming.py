"""All four RPC shapes, for every pairing of sync/asyncio client and server."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest

import greeter
from greeter import AsyncGreeterClient, AsyncGreeterService, GreeterClient, GreeterService
from tests.conftest import serving

NAMES = ["Ann", "Bob", "Cy"]
EXPECTED = {
    "greet": "Hello, you!",
    "greet_again": "Hello again, you!",
    "greet_stream": ["Hello, you! (1 of 3)", "Hello, you! (2 of 3)", "Hello, you! (3 of 3)"],
    "greet_many": "Hello, Ann, Bob and Cy!",
    "chat": ["Hello, Ann!", "Hello, Bob!", "Hello, Cy!"],
}


def drain(replies: Iterable[str], into: list[str]) -> None:
    for reply in replies:
        into.append(reply)


def every_shape_sync(target: str) -> dict[str, object]:
    with GreeterClient(target, timeout=10) as client:
        return {
            "greet": client.greet("you"),
            "greet_again": client.greet_again("you"),
            "greet_stream": list(client.greet_stream("you")),
            "greet_many": client.greet_many(NAMES),
            "chat": list(client.chat(NAMES)),
        }


async def every_shape_async(target: str) -> dict[str, object]:
    async with AsyncGreeterClient(target, timeout=10) as client:
        return {
            "greet": await client.greet("you"),
            "greet_again": await client.greet_again("you"),
            "greet_stream": [reply async for reply in client.greet_stream("you")],
            "greet_many": await client.greet_many(NAMES),
            "chat": [reply async for reply in client.chat(NAMES)],
        }


def test_sync_client_calls_every_shape(server_kind: str) -> None:
    with serving(server_kind) as target:
        assert every_shape_sync(target) == EXPECTED


def test_async_client_calls_every_shape(server_kind: str) -> None:
    with serving(server_kind) as target:
        assert asyncio.run(every_shape_async(target)) == EXPECTED


@pytest.mark.parametrize(
    ("names", "expected"),
    [([], "Hello!"), (["Ann"], "Hello, Ann!"), (["Ann", "Bob"], "Hello, Ann and Bob!")],
)
def test_greet_many_greets_any_number_of_names(
    server_kind: str, names: list[str], expected: str
) -> None:
    with serving(server_kind) as target, GreeterClient(target) as client:
        assert client.greet_many(iter(names)) == expected


def test_async_greet_many_accepts_an_async_generator(server_kind: str) -> None:
    async def names() -> AsyncIterator[str]:
        for name in NAMES:
            await asyncio.sleep(0)
            yield name

    async def scenario(target: str) -> str:
        async with AsyncGreeterClient(target) as client:
            return await client.greet_many(names())

    with serving(server_kind) as target:
        assert asyncio.run(scenario(target)) == "Hello, Ann, Bob and Cy!"


class Shouting(GreeterService):
    stream_reply_count = 2

    def say_hello(self, name: str) -> str:
        return f"HELLO, {name.upper()}!"

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        return "+".join(names)


class AsyncShouting(AsyncGreeterService):
    stream_reply_count = 2

    async def say_hello(self, name: str) -> str:
        return f"HELLO, {name.upper()}!"

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        return "+".join([name async for name in names])


def test_overrides_take_effect_on_every_shape(server_kind: str) -> None:
    with serving(server_kind, Shouting(), AsyncShouting()) as target:
        with GreeterClient(target) as client:
            assert client.greet("ann") == "HELLO, ANN!"
            assert list(client.greet_stream("x")) == ["Hello, x! (1 of 2)", "Hello, x! (2 of 2)"]
            assert client.greet_many(NAMES) == "Ann+Bob+Cy"
            # The default bidi stream answers with the (overridden) say_hello.
            assert list(client.chat(["ann"])) == ["HELLO, ANN!"]


def test_chat_answers_each_name_before_the_next_is_sent(server_kind: str) -> None:
    """Bidi replies flow while the request stream is still open (strict ping-pong)."""
    answered: queue.Queue[str] = queue.Queue()

    def names() -> Iterator[str]:
        yield "Ann"
        for _ in range(2):
            yield f"after {answered.get(timeout=10)}"

    with serving(server_kind) as target, GreeterClient(target, timeout=20) as client:
        replies = []
        with client.chat(names()) as stream:
            for reply in stream:
                replies.append(reply)
                answered.put(reply.split(", ", 1)[1].rstrip("!"))
    assert replies == ["Hello, Ann!", "Hello, after Ann!", "Hello, after after Ann!"]


def test_an_error_mid_stream_arrives_after_the_replies_before_it(server_kind: str) -> None:
    class Failing(GreeterService):
        def say_hello_stream_reply(self, name: str) -> Iterable[str]:
            yield "one"
            yield "two"
            raise greeter.NotFound(f"no third greeting for {name}")

    class AsyncFailing(AsyncGreeterService):
        async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
            yield "one"
            yield "two"
            raise greeter.NotFound(f"no third greeting for {name}")

    received: list[str] = []
    with serving(server_kind, Failing(), AsyncFailing()) as target, GreeterClient(target) as client:
        with pytest.raises(greeter.NotFound, match="no third greeting for you"):
            drain(client.greet_stream("you"), into=received)
    assert received == ["one", "two"]


class Endless:
    """Shared bookkeeping of an endless (but bounded) reply stream."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = threading.Event()

    def produce(self) -> Iterator[str]:
        try:
            deadline = time.monotonic() + 15  # bounded, even if cancellation failed
            while self.produced < 100_000 and time.monotonic() < deadline:
                self.produced += 1
                yield f"greeting {self.produced}"
                time.sleep(0.01)
        finally:
            self.closed.set()


def endless_services(endless: Endless) -> tuple[GreeterService, AsyncGreeterService]:
    class Sync(GreeterService):
        def say_hello_stream_reply(self, name: str) -> Iterable[str]:
            return endless.produce()

    class Async(AsyncGreeterService):
        async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
            for greeting in endless.produce():
                yield greeting
                await asyncio.sleep(0)

    return Sync(), Async()


def _assert_stopped(endless: Endless) -> None:
    assert endless.closed.wait(timeout=5), "the server kept producing for a dead call"
    produced = endless.produced
    time.sleep(0.3)
    assert endless.produced == produced
    assert produced < 100


def test_leaving_a_stream_early_cancels_it_on_both_ends(server_kind: str) -> None:
    endless = Endless()
    config = greeter.ServerConfig(max_workers=1)
    with serving(server_kind, *endless_services(endless), config=config) as target:
        with GreeterClient(target, timeout=20) as client:
            with client.greet_stream("you") as replies:
                first = [next(replies) for _ in range(3)]
            assert replies.done()
            _assert_stopped(endless)
            # The only worker thread is free again: the server answers the next call.
            assert client.greet("next", timeout=5) == "Hello, next!"
    assert first == ["greeting 1", "greeting 2", "greeting 3"]


def test_a_stream_dropped_unfinished_is_cancelled(server_kind: str) -> None:
    endless = Endless()
    with serving(server_kind, *endless_services(endless)) as target:
        with GreeterClient(target, timeout=20) as client:
            for reply in client.greet_stream("you"):
                assert reply == "greeting 1"
                break  # the stream object is dropped here
            _assert_stopped(endless)


def test_cancel_ends_an_in_flight_stream_with_cancelled(server_kind: str) -> None:
    endless = Endless()
    with serving(server_kind, *endless_services(endless)) as target:
        with GreeterClient(target, timeout=20) as client:
            replies = client.greet_stream("you")
            assert next(replies) == "greeting 1"
            assert replies.cancel() is True
            with pytest.raises(greeter.Cancelled):
                drain(replies, into=[])
            _assert_stopped(endless)


def test_async_stream_left_early_is_cancelled_on_both_ends(server_kind: str) -> None:
    endless = Endless()

    async def scenario(target: str) -> list[str]:
        async with AsyncGreeterClient(target, timeout=20) as client:
            received = []
            async with client.greet_stream("you") as replies:
                async for reply in replies:
                    received.append(reply)
                    if len(received) == 3:
                        break
            with pytest.raises(greeter.Cancelled):
                await replies.__anext__()
            return received

    with serving(server_kind, *endless_services(endless)) as target:
        assert asyncio.run(scenario(target)) == ["greeting 1", "greeting 2", "greeting 3"]
        _assert_stopped(endless)


def test_cancelling_the_task_of_an_async_call_cancels_it_on_the_server(server_kind: str) -> None:
    entered = threading.Event()
    ended = threading.Event()

    class Waiting(GreeterService):
        def say_hello(self, name: str) -> str:
            entered.set()
            while self.context.is_active():
                time.sleep(0.01)
            ended.set()
            return name

    class AsyncWaiting(AsyncGreeterService):
        async def say_hello(self, name: str) -> str:
            entered.set()
            try:
                await asyncio.sleep(15)
            finally:
                ended.set()
            return name

    async def scenario(target: str) -> None:
        async with AsyncGreeterClient(target) as client:
            task = asyncio.create_task(client.greet("you", timeout=20))
            await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with serving(server_kind, Waiting(), AsyncWaiting()) as target:
        asyncio.run(scenario(target))
        assert ended.wait(timeout=5), "the server kept working on a cancelled call"


def _client_side_threads() -> int:
    # The threaded server keeps a pool of up to max_workers threads by design; count
    # every other thread of this process.
    return sum(1 for t in threading.enumerate() if not t.name.startswith("greeter-server"))


def _settled_thread_count(at_most: int) -> int:
    """The thread count once it drops to ``at_most`` (or after 10 s, whatever it is)."""
    deadline = time.monotonic() + 10
    while _client_side_threads() > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return _client_side_threads()


def test_streams_left_early_leak_no_threads(server_kind: str) -> None:
    with serving(server_kind) as target:
        with GreeterClient(target, timeout=10) as warm_up:
            list(warm_up.chat(["warm", "up"]))  # let grpc start its own lasting threads
        baseline = _client_side_threads()
        with GreeterClient(target, timeout=10) as client:
            for _ in range(20):
                with client.greet_stream("you") as replies:
                    next(replies)
                with client.chat(iter(NAMES)) as chat:
                    next(chat)
        assert _settled_thread_count(at_most=baseline) <= baseline
