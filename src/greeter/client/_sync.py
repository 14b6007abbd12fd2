"""``GreeterClient``: the blocking client of ``helloworld.Greeter``, on ``greeter.rpc.Client``.

It is a client of the Greeter's method table like any generated client
(``greeter.client._generic.Client``, ``definition = GREETER``); each method is the
plain-value layer over one generic call (``greeter.client._greeter``): a name in, the
reply's message out. The asyncio twin is ``greeter.client._asyncio``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from greeter._helloworld import GREETER
from greeter.client._base import CLIENT_OPTIONS_DOC, CallOptions, health_status_name
from greeter.client._calls import Reply, ReplyStream
from greeter.client._generic import Client
from greeter.client._greeter import (
    SAY_HELLO,
    SAY_HELLO_AGAIN,
    SAY_HELLO_BIDI_STREAM,
    SAY_HELLO_STREAM_REPLY,
    SAY_HELLO_STREAM_REQUEST,
    HelloRequest,
    greeting_reply,
    hello_requests,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["GreeterClient"]


class GreeterClient(Client):
    """A blocking client of ``helloworld.Greeter``; a context manager owning its channel.

    ::

        with GreeterClient("localhost:50051") as client:
            client.greet("you")                      # "Hello, you!"
            for reply in client.greet_stream("you"):
                print(reply)
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    definition = GREETER

    def greet(self, name: str, **options: Unpack[CallOptions]) -> str:
        """SayHello: the greeting for ``name`` (``"Hello, you!"`` from a stock server)."""
        request = HelloRequest(name=name)
        return self._unary_unary(SAY_HELLO, request, options).message

    def greet_again(self, name: str, **options: Unpack[CallOptions]) -> str:
        """SayHelloAgain: the second greeting for ``name`` (``"Hello again, you!"``)."""
        request = HelloRequest(name=name)
        return self._unary_unary(SAY_HELLO_AGAIN, request, options).message

    def greet_many(self, names: Iterable[str], **options: Unpack[CallOptions]) -> str:
        """SayHelloStreamRequest: stream every name, get one greeting for them all.

        ``names`` may be any iterable, including a generator producing names over time.
        """
        requests = hello_requests(names)
        return self._stream_unary(SAY_HELLO_STREAM_REQUEST, requests, options).message

    def greet_stream(self, name: str, **options: Unpack[CallOptions]) -> ReplyStream:
        """SayHelloStreamReply: iterate the greetings the server streams for ``name``.

        ::

            with client.greet_stream("you") as replies:
                for reply in replies:
                    ...

        Leaving the ``with`` block early cancels the call on both ends.
        """
        request = HelloRequest(name=name)
        return ReplyStream(self._open_stream(SAY_HELLO_STREAM_REPLY, request, **options))

    def chat(self, names: Iterable[str], **options: Unpack[CallOptions]) -> ReplyStream:
        """SayHelloBidiStream: send names, iterate the replies as they come back.

        ``names`` is consumed in a background thread, so a generator may produce names
        while replies arrive. Leaving the ``with`` block early cancels the call; a
        generator blocked inside ``next()`` is not interrupted, though: it keeps that
        thread until it yields or returns.
        """
        requests = hello_requests(names)
        return ReplyStream(self._open_stream(SAY_HELLO_BIDI_STREAM, requests, **options))

    def greet_with_call(self, name: str, **options: Unpack[CallOptions]) -> Reply:
        """SayHello, returning the reply with the server's initial and trailing metadata."""
        request = HelloRequest(name=name)
        return greeting_reply(self._unary_unary_with_call(SAY_HELLO, request, **options))

    def greet_again_with_call(self, name: str, **options: Unpack[CallOptions]) -> Reply:
        """SayHelloAgain, returning the reply with the server's metadata."""
        request = HelloRequest(name=name)
        return greeting_reply(self._unary_unary_with_call(SAY_HELLO_AGAIN, request, **options))

    def greet_many_with_call(self, names: Iterable[str], **options: Unpack[CallOptions]) -> Reply:
        """SayHelloStreamRequest, returning the reply with the server's metadata."""
        requests = hello_requests(names)
        return greeting_reply(
            self._stream_unary_with_call(SAY_HELLO_STREAM_REQUEST, requests, **options)
        )

    def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        Returns the status name: ``"SERVING"``, ``"NOT_SERVING"``, ... (grpc's
        ``grpc.health.v1.Health/Check``). An unknown service raises ``greeter.NotFound``;
        a server without the health service, ``greeter.Unimplemented``.
        """
        method, request = self._health_check(service)
        return health_status_name(self._unary_unary(method, request, {"timeout": timeout}))
