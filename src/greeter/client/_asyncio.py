"""``AsyncGreeterClient``: the asyncio client of ``helloworld.Greeter``, on ``AsyncClient``.

Mirrors ``greeter.client._sync`` method for method over ``greeter.rpc.AsyncClient``'s
generic calls; what differs is only awaiting: unary-reply methods are coroutines,
streams are ``AsyncReplyStream``s, names may come from an async iterable too, and
``close()`` and ``async with`` are awaited. Cancelling the task awaiting a call cancels
the call on both ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING

from greeter._helloworld import GREETER
from greeter.client._base import CLIENT_OPTIONS_DOC, CallOptions, health_status_name
from greeter.client._calls import AsyncReplyStream, Reply
from greeter.client._generic import AsyncClient
from greeter.client._greeter import (
    SAY_HELLO,
    SAY_HELLO_AGAIN,
    SAY_HELLO_BIDI_STREAM,
    SAY_HELLO_STREAM_REPLY,
    SAY_HELLO_STREAM_REQUEST,
    HelloRequest,
    any_hello_requests,
    greeting_reply,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncGreeterClient"]


class AsyncGreeterClient(AsyncClient):
    """An asyncio client of ``helloworld.Greeter``; an async context manager.

    Mirrors ``GreeterClient`` method for method::

        async with AsyncGreeterClient("localhost:50051") as client:
            await client.greet("you")                # "Hello, you!"
            async for reply in client.greet_stream("you"):
                print(reply)

    Cancelling the task awaiting a call cancels the call on both ends.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    definition = GREETER

    async def greet(self, name: str, **options: Unpack[CallOptions]) -> str:
        """SayHello: the greeting for ``name`` (``"Hello, you!"`` from a stock server)."""
        request = HelloRequest(name=name)
        return (await self._unary_unary(SAY_HELLO, request, options)).message

    async def greet_again(self, name: str, **options: Unpack[CallOptions]) -> str:
        """SayHelloAgain: the second greeting for ``name`` (``"Hello again, you!"``)."""
        request = HelloRequest(name=name)
        return (await self._unary_unary(SAY_HELLO_AGAIN, request, options)).message

    async def greet_many(
        self, names: Iterable[str] | AsyncIterable[str], **options: Unpack[CallOptions]
    ) -> str:
        """SayHelloStreamRequest: stream every name, get one greeting for them all.

        ``names`` may be an iterable or an async iterable (e.g. an async generator).
        """
        requests = any_hello_requests(names)
        return (await self._stream_unary(SAY_HELLO_STREAM_REQUEST, requests, options)).message

    def greet_stream(self, name: str, **options: Unpack[CallOptions]) -> AsyncReplyStream:
        """SayHelloStreamReply: ``async for`` over the greetings streamed for ``name``.

        Leaving an ``async with`` block around the stream early cancels the call.
        """
        request = HelloRequest(name=name)
        return AsyncReplyStream(self._open_stream(SAY_HELLO_STREAM_REPLY, request, **options))

    def chat(
        self, names: Iterable[str] | AsyncIterable[str], **options: Unpack[CallOptions]
    ) -> AsyncReplyStream:
        """SayHelloBidiStream: send names, ``async for`` over the replies as they come."""
        requests = any_hello_requests(names)
        return AsyncReplyStream(self._open_stream(SAY_HELLO_BIDI_STREAM, requests, **options))

    async def greet_with_call(self, name: str, **options: Unpack[CallOptions]) -> Reply:
        """SayHello, returning the reply with the server's initial and trailing metadata."""
        request = HelloRequest(name=name)
        return greeting_reply(await self._unary_unary_with_call(SAY_HELLO, request, **options))

    async def greet_again_with_call(self, name: str, **options: Unpack[CallOptions]) -> Reply:
        """SayHelloAgain, returning the reply with the server's metadata."""
        request = HelloRequest(name=name)
        return greeting_reply(
            await self._unary_unary_with_call(SAY_HELLO_AGAIN, request, **options)
        )

    async def greet_many_with_call(
        self, names: Iterable[str] | AsyncIterable[str], **options: Unpack[CallOptions]
    ) -> Reply:
        """SayHelloStreamRequest, returning the reply with the server's metadata."""
        requests = any_hello_requests(names)
        return greeting_reply(
            await self._stream_unary_with_call(SAY_HELLO_STREAM_REQUEST, requests, **options)
        )

    async def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        As ``GreeterClient.check_health``: the status name, e.g. ``"SERVING"``.
        """
        method, request = self._health_check(service)
        answer = await self._unary_unary(method, request, {"timeout": timeout})
        return health_status_name(answer)
