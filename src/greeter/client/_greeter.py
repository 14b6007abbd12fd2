"""The Greeter's RPCs as both clients call them: its methods, names in, greetings out.

``GreeterClient`` (``greeter.client._sync``) and ``AsyncGreeterClient``
(``greeter.client._asyncio``) are clients of ``helloworld.Greeter`` on the same runtime
as generated clients (``greeter.rpc.Client`` / ``AsyncClient``), calling the methods of
its table (``greeter._helloworld.GREETER``). Each of their methods is the plain-value
layer over one generic call, with what is here: a name becomes a ``HelloRequest``, a
``HelloReply`` its ``message``.

=========================  ====================  =========================================
method                     RPC                   returns (sync / asyncio)
=========================  ====================  =========================================
``greet(name)``            SayHello              ``str``
``greet_again(name)``      SayHelloAgain         ``str``
``greet_many(names)``      SayHelloStreamRequest ``str``
``greet_stream(name)``     SayHelloStreamReply   ``ReplyStream`` / ``AsyncReplyStream``
``chat(names)``            SayHelloBidiStream    ``ReplyStream`` / ``AsyncReplyStream``
``*_with_call(...)``       (the unary-reply RPCs) ``Reply``: message plus metadata
``check_health(service)``  grpc.health.v1 Check  the status's name, e.g. ``"SERVING"``
=========================  ====================  =========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from greeter._helloworld import GREETER, HelloReply, HelloRequest
from greeter._method import Method
from greeter.client._calls import Reply
from greeter.client._streams import Response

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


def _greeter_method(name: str) -> Method[HelloRequest, HelloReply]:
    """The Greeter's RPC ``name``, from its table."""
    for method in GREETER.methods:
        if method.name == name:
            return method
    raise LookupError(f"helloworld.Greeter has no RPC {name}")


SAY_HELLO = _greeter_method("SayHello")
SAY_HELLO_AGAIN = _greeter_method("SayHelloAgain")
SAY_HELLO_STREAM_REQUEST = _greeter_method("SayHelloStreamRequest")
SAY_HELLO_STREAM_REPLY = _greeter_method("SayHelloStreamReply")
SAY_HELLO_BIDI_STREAM = _greeter_method("SayHelloBidiStream")


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


def greeting_reply(response: Response[HelloReply]) -> Reply:
    """A greeting with the metadata the server sent around it."""
    return Reply(response.message.message, response.initial_metadata, response.trailing_metadata)
