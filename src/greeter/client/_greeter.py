"""The Greeter's RPCs as both clients call them: method paths, names in, greetings out.

``GreeterClient`` (``greeter.client._sync``) and ``AsyncGreeterClient``
(``greeter.client._asyncio``) mirror each other method for method, each a thin call of
its twin's generic helpers with what is here:

=========================  ====================  =========================================
method                     RPC                   returns (sync / asyncio)
=========================  ====================  =========================================
``greet(name)``            SayHello              ``str``
``greet_again(name)``      SayHelloAgain         ``str``
``greet_many(names)``      SayHelloStreamRequest ``str``
``greet_stream(name)``     SayHelloStreamReply   ``ReplyStream`` / ``AsyncReplyStream``
``chat(names)``            SayHelloBidiStream    ``ReplyStream`` / ``AsyncReplyStream``
``*_with_call(...)``       (the unary-reply RPCs) ``Reply``: message plus metadata
=========================  ====================  =========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from greeter._metadata import MetadataTuple
from greeter._proto import helloworld_pb2
from greeter.client._calls import Reply

__all__ = [
    "SAY_HELLO",
    "SAY_HELLO_AGAIN",
    "SAY_HELLO_BIDI_STREAM",
    "SAY_HELLO_STREAM_REPLY",
    "SAY_HELLO_STREAM_REQUEST",
    "HelloReply",
    "HelloRequest",
    "any_hello_requests",
    "greeting_reply",
    "hello_requests",
]

HelloRequest = helloworld_pb2.HelloRequest
HelloReply = helloworld_pb2.HelloReply

_SERVICE = "/helloworld.Greeter/"
SAY_HELLO = _SERVICE + "SayHello"
SAY_HELLO_AGAIN = _SERVICE + "SayHelloAgain"
SAY_HELLO_STREAM_REQUEST = _SERVICE + "SayHelloStreamRequest"
SAY_HELLO_STREAM_REPLY = _SERVICE + "SayHelloStreamReply"
SAY_HELLO_BIDI_STREAM = _SERVICE + "SayHelloBidiStream"


def hello_requests(names: Iterable[str]) -> Iterator[HelloRequest]:
    """A request for each name, made as the call sends it."""
    for name in names:
        yield HelloRequest(name=name)


async def _async_hello_requests(names: AsyncIterable[str]) -> AsyncIterator[HelloRequest]:
    async for name in names:
        yield HelloRequest(name=name)


def any_hello_requests(
    names: Iterable[str] | AsyncIterable[str],
) -> Iterator[HelloRequest] | AsyncIterator[HelloRequest]:
    """A request for each name of an iterable or an async iterable (the asyncio client)."""
    if isinstance(names, AsyncIterable):
        return _async_hello_requests(names)
    return hello_requests(names)


def greeting_reply(reply: HelloReply, initial: MetadataTuple, trailing: MetadataTuple) -> Reply:
    """A greeting with the metadata the server sent around it."""
    return Reply(message=reply.message, initial_metadata=initial, trailing_metadata=trailing)
