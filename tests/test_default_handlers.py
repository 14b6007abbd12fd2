"""The default handlers that reuse a user's override stay correct whatever it does.

``say_hello_bidi_stream`` answers each name with ``say_hello``, a method written for a
one-reply call. What such a method may do once per call (send initial metadata, set
trailing metadata, pick a compression) must not break the second reply of a stream.
"""

from __future__ import annotations

import asyncio

import pytest

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    GreeterClient,
    GreeterService,
    testing,
)

NAMES = ["Ann", "Bob", "Cy"]


class SendsHeaders(GreeterService):
    """A say_hello written for SayHello: headers and trailers of its own, gzip."""

    def say_hello(self, name: str) -> str:
        self.context.set_compression("gzip")
        self.context.send_initial_metadata([("x-greeted", name)])
        self.context.set_trailing_metadata([("x-last", name)])
        return f"Hi {name}"


class AsyncSendsHeaders(AsyncGreeterService):
    """``SendsHeaders`` for the asyncio server."""

    async def say_hello(self, name: str) -> str:
        self.context.set_compression("gzip")
        await self.context.send_initial_metadata([("x-greeted", name)])
        self.context.set_trailing_metadata([("x-last", name)])
        return f"Hi {name}"


@pytest.mark.parametrize("service", [SendsHeaders(), AsyncSendsHeaders()], ids=["sync", "async"])
def test_the_default_chat_answers_every_name_with_a_say_hello_that_sends_headers(
    service: GreeterService | AsyncGreeterService,
) -> None:
    """The first name's headers go out (headers are sent once per call); the trailing
    metadata is the last name's."""
    with testing.serving(service) as server, GreeterClient(server.target) as client:
        with client.chat(NAMES, timeout=10) as replies:
            assert list(replies) == [f"Hi {name}" for name in NAMES]
            assert ("x-greeted", "Ann") in replies.initial_metadata()
            assert ("x-last", "Cy") in replies.trailing_metadata()
        assert client.greet("Dee") == "Hi Dee"


@pytest.mark.parametrize("service", [SendsHeaders(), AsyncSendsHeaders()], ids=["sync", "async"])
def test_the_default_chat_is_the_same_to_an_async_client(
    service: GreeterService | AsyncGreeterService,
) -> None:
    async def chat(target: str) -> list[str]:
        async with AsyncGreeterClient(target) as client:
            return [reply async for reply in client.chat(NAMES, timeout=10)]

    with testing.serving(service) as server:
        assert asyncio.run(chat(server.target)) == [f"Hi {name}" for name in NAMES]


class SendsHeadersTwice(GreeterService):
    """A handler of its own that sends initial metadata twice: still an error."""

    def say_hello(self, name: str) -> str:
        self.context.send_initial_metadata([("x-one", "1")])
        self.context.send_initial_metadata([("x-two", "2")])
        return name


def test_a_handler_of_its_own_sending_headers_twice_still_fails() -> None:
    with testing.serving(SendsHeadersTwice()) as server, GreeterClient(server.target) as client:
        with pytest.raises(greeter.GreeterError):
            client.greet("you", timeout=10)
