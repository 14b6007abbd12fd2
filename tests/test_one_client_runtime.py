"""One client runtime: ``GreeterClient`` is a ``greeter.rpc.Client`` of the Greeter's table.

The Greeter's clients are the plain-value layer (a name in, a message out) over the same
generic calls a generated client makes; their replies and streams are the generic ones
narrowed to ``str``. Here both faces call one real server on 127.0.0.1 and agree.
"""

from __future__ import annotations

import asyncio

import greeter
import greeter.rpc
from greeter import AsyncGreeterClient, GreeterClient, GreeterServer
from greeter._helloworld import GREETER, HelloReply, HelloRequest

TIMEOUT = 10.0
(SAY_HELLO,) = (method for method in GREETER.methods if method.name == "SayHello")
STREAMED = ["Hello, you! (1 of 3)", "Hello, you! (2 of 3)", "Hello, you! (3 of 3)"]


class PlainGreeterClient(greeter.rpc.Client):
    """A client of ``helloworld.Greeter`` as ``greeter generate`` would write one."""

    definition = GREETER

    def say_hello(self, request: HelloRequest) -> HelloReply:
        reply: HelloReply = self._unary_unary(SAY_HELLO, request, {"timeout": TIMEOUT})
        return reply


def test_greeter_client_is_a_generic_client_of_the_greeters_table(server: GreeterServer) -> None:
    with GreeterClient(server.target, timeout=TIMEOUT) as client:
        assert isinstance(client, greeter.rpc.Client)
        assert client.definition.name == "helloworld.Greeter"
        reply = client.greet_with_call("you")
        with client.greet_stream("you") as stream:
            streamed = list(stream)
    assert isinstance(reply, greeter.rpc.Response)
    assert reply.message == "Hello, you!"
    assert isinstance(stream, greeter.rpc.ResponseStream)
    assert streamed == STREAMED
    assert stream.done()


def test_greeter_client_answers_as_a_generic_client_of_the_same_table(
    server: GreeterServer,
) -> None:
    with GreeterClient(server.target, timeout=TIMEOUT) as client:
        greeting = client.greet("you")
    with PlainGreeterClient(server.target) as plain:
        reply = plain.say_hello(HelloRequest(name="you"))
    assert isinstance(reply, HelloReply)
    assert reply.message == greeting == "Hello, you!"


def test_async_greeter_client_is_a_generic_asyncio_client(server: GreeterServer) -> None:
    async def call() -> tuple[AsyncGreeterClient, object, list[str]]:
        async with AsyncGreeterClient(server.target, timeout=TIMEOUT) as client:
            stream = client.greet_stream("you")
            async with stream:
                streamed = [reply async for reply in stream]
            return client, stream, streamed

    client, stream, streamed = asyncio.run(call())
    assert isinstance(client, greeter.rpc.AsyncClient)
    assert isinstance(stream, greeter.rpc.AsyncResponseStream)
    assert streamed == STREAMED
