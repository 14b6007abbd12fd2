"""A user's script: everything it does with greeter must type-check under
``mypy --strict --disallow-any-expr`` with no casts (tests/test_typing.py checks it),
so no ``Any`` from generated or grpc code leaks through the public API.

It also runs (tests/test_typing.py runs it), so it cannot drift from the real API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator

from google.protobuf import duration_pb2

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterServer,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    Reply,
    ServerConfig,
    StatusCode,
)


class Polite(GreeterService):
    stream_reply_count = 2

    def say_hello(self, name: str) -> str:
        user_agent = dict(self.context.invocation_metadata).get("user-agent", "")
        remaining: float | None = self.context.time_remaining()
        peer: str = self.context.peer
        self.context.set_trailing_metadata([("x-seen-by", "polite")])
        if not name:
            raise greeter.InvalidArgument(
                "name must not be empty", error_details=[duration_pb2.Duration(seconds=1)]
            )
        return f"Good day, {name} ({peer != ''}, {remaining is not None}, {bool(user_agent)})"

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        self.context.send_initial_metadata([("x-stream", "yes")])
        self.context.set_compression("gzip")
        yield from super().say_hello_stream_reply(name)

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        return " & ".join(names)

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        for name in names:
            if self.context.is_active():
                yield name.upper()


class AsyncPolite(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        await self.context.send_initial_metadata([("x-async", "yes")])
        return f"Async day, {name}"

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        async for greeting in super().say_hello_stream_reply(name):
            yield greeting.lower()

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        return "/".join([name async for name in names])

    async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
        async for name in names:
            yield name[::-1]


def sync_part() -> None:
    config = ServerConfig(max_workers=4, grace_seconds=1.0, compression="gzip")
    with Polite().start("127.0.0.1:0", config=config) as server:
        port: int = server.port
        with GreeterClient(
            server.target, timeout=5.0, metadata=[("x-app", "typing")], compression="gzip"
        ) as client:
            reply: str = client.greet("you", timeout=2.0, metadata=[("x-trace-bin", b"\x01")])
            again: str = client.greet_again("you", wait_for_ready=True)
            with_call: Reply = client.greet_with_call("you")
            many: str = client.greet_many(["a", "b"], compression="deflate")
            many_call: Reply = client.greet_many_with_call(iter(["c"]))
            again_call: Reply = client.greet_again_with_call("x")
            with client.greet_stream("s") as stream:
                initial: greeter.MetadataTuple = stream.initial_metadata()
                streamed: list[str] = list(stream)
                done: bool = stream.done()
            chatted: list[str] = list(client.chat(["x", "y"]))
            try:
                client.greet("")
            except greeter.GreeterError as error:
                code: StatusCode = error.code
                details: str = error.details
                trailing: greeter.MetadataTuple = error.trailing_metadata
                durations = error.details_of_type(duration_pb2.Duration)
                seconds: int = durations[0].seconds
                print(code.name, details, ("x-seen-by", "polite") in trailing, seconds)
        print(port > 0, reply, again, with_call.message == reply, many, many_call.message)
        print(again_call.trailing_metadata == (), initial[0], streamed, done, chatted)


async def async_part() -> None:
    async with AsyncGreeterServer(AsyncPolite(), "127.0.0.1:0") as server:
        async with AsyncGreeterClient(server.target, timeout=5.0) as client:
            reply: str = await client.greet("you", compression="gzip")
            with_call: Reply = await client.greet_with_call("you")
            again: str = await client.greet_again("you")
            again_call: Reply = await client.greet_again_with_call("you")
            many: str = await client.greet_many(["a", "b"])
            many_call: Reply = await client.greet_many_with_call(["c"])
            stream = client.greet_stream("S")
            streamed = [line async for line in stream]
            trailing: greeter.MetadataTuple = await stream.trailing_metadata()
            chatted = [line async for line in client.chat(["ab", "cd"])]
            cancelled: bool = client.greet_stream("T").cancel()
    print(reply, with_call.initial_metadata[0], again, again_call.message, many)
    print(many_call.message, streamed, trailing == (), chatted, cancelled)


if __name__ == "__main__":
    sync_part()
    asyncio.run(async_part())
