"""The blocking clients: ``ServiceClient`` for any service, and ``GreeterClient`` on it.

``ServiceClient`` adds to ``ClientBase`` what blocking changes: the channel is a
``grpc.Channel``, a call returns when it ends, and ``close()`` and ``with`` are plain.
Its three call helpers take the call shape, the method path, the request (or an
iterable of requests), the response type and the call options:

- ``_call``: the one response of a unary or client-streaming call;
- ``_call_with_metadata``: that response with the server's initial and trailing metadata;
- ``_open_stream``: grpc's call of a server-streaming or bidi call, an iterator of
  responses (``ReplyStream`` wraps it).

The asyncio twins are in ``greeter.client._asyncio``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

import grpc

from greeter._metadata import Metadata, MetadataTuple, metadata_from_grpc
from greeter._options import Compression
from greeter.client._base import (
    CLIENT_OPTIONS_DOC,
    HEALTH_CHECK_PATH,
    CallOptions,
    CallShape,
    ClientBase,
    health_check_request,
    health_status_name,
)
from greeter.client._calls import Reply, ReplyStream
from greeter.client._channel import ClientInterceptor
from greeter.client._greeter import (
    SAY_HELLO,
    SAY_HELLO_AGAIN,
    SAY_HELLO_BIDI_STREAM,
    SAY_HELLO_STREAM_REPLY,
    SAY_HELLO_STREAM_REQUEST,
    HelloReply,
    HelloRequest,
    greeting_reply,
    hello_requests,
)
from greeter.errors import error_from_grpc

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only
    from typing_extensions import Self

__all__ = ["GreeterClient", "ServiceClient"]

_Response = TypeVar("_Response", bound="Message")


class ServiceClient(ClientBase[ClientInterceptor, grpc.Channel]):
    """A blocking client of any gRPC service; a context manager owning its channel.

    A typed client subclasses it and makes each method a call of one helper, e.g.
    ``self._call("unary_unary", "/pkg.Service/Method", request, Response, options)``.
    """

    def _open_channel(self, interceptors: Sequence[ClientInterceptor]) -> grpc.Channel:
        return self._channel_settings.open(interceptors)

    def _call(
        self,
        shape: CallShape,
        path: str,
        request: Message | Iterable[Message],
        response_type: type[_Response],
        options: CallOptions,
    ) -> _Response:
        """The response of a unary or client-streaming call; errors by their status."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        try:
            response: _Response = method(request, **options)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    def _call_with_metadata(
        self,
        shape: CallShape,
        path: str,
        request: Message | Iterable[Message],
        response_type: type[_Response],
        options: CallOptions,
    ) -> tuple[_Response, MetadataTuple, MetadataTuple]:
        """As ``_call``, with the server's initial and trailing metadata."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        try:
            response, call = method.with_call(request, **options)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        initial = metadata_from_grpc(call.initial_metadata())
        return response, initial, metadata_from_grpc(call.trailing_metadata())

    def _open_stream(
        self,
        shape: CallShape,
        path: str,
        request: Message | Iterable[Message],
        response_type: type[_Response],
        options: CallOptions,
    ) -> _CallIterator[_Response]:
        """grpc's call of a server-streaming or bidi call: its responses, as they come."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        stream: _CallIterator[_Response] = method(request, **options)
        return stream

    def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        Returns the status name: ``"SERVING"``, ``"NOT_SERVING"``, ... (grpc's
        ``grpc.health.v1.Health/Check``). An unknown service raises ``greeter.NotFound``;
        a server without the health service, ``greeter.Unimplemented``.
        """
        options = self._options(timeout, None, None, None)
        request, answer_type = health_check_request(service)
        answer = self._call("unary_unary", HEALTH_CHECK_PATH, request, answer_type, options)
        return health_status_name(answer)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class GreeterClient(ServiceClient):
    """A blocking client of ``helloworld.Greeter``; a context manager owning its channel.

    ::

        with GreeterClient("localhost:50051") as client:
            client.greet("you")                      # "Hello, you!"
            for reply in client.greet_stream("you"):
                print(reply)
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    def greet(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """SayHello: the greeting for ``name`` (``"Hello, you!"`` from a stock server)."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        reply = self._call("unary_unary", SAY_HELLO, request, HelloReply, options)
        return reply.message

    def greet_with_call(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> Reply:
        """SayHello, returning the reply with the server's initial and trailing metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        return greeting_reply(
            *self._call_with_metadata("unary_unary", SAY_HELLO, request, HelloReply, options)
        )

    def greet_again(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """SayHelloAgain: the second greeting for ``name`` (``"Hello again, you!"``)."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        reply = self._call("unary_unary", SAY_HELLO_AGAIN, request, HelloReply, options)
        return reply.message

    def greet_again_with_call(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> Reply:
        """SayHelloAgain, returning the reply with the server's metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        return greeting_reply(
            *self._call_with_metadata("unary_unary", SAY_HELLO_AGAIN, request, HelloReply, options)
        )

    def greet_many(
        self,
        names: Iterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """SayHelloStreamRequest: stream every name, get one greeting for them all.

        ``names`` may be any iterable, including a generator producing names over time.
        """
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = hello_requests(names)
        reply = self._call("stream_unary", SAY_HELLO_STREAM_REQUEST, requests, HelloReply, options)
        return reply.message

    def greet_many_with_call(
        self,
        names: Iterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> Reply:
        """SayHelloStreamRequest, returning the reply with the server's metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = hello_requests(names)
        return greeting_reply(
            *self._call_with_metadata(
                "stream_unary", SAY_HELLO_STREAM_REQUEST, requests, HelloReply, options
            )
        )

    def greet_stream(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> ReplyStream:
        """SayHelloStreamReply: iterate the greetings the server streams for ``name``.

        ::

            with client.greet_stream("you") as replies:
                for reply in replies:
                    ...

        Leaving the ``with`` block early cancels the call on both ends.
        """
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        return ReplyStream(
            self._open_stream("unary_stream", SAY_HELLO_STREAM_REPLY, request, HelloReply, options)
        )

    def chat(
        self,
        names: Iterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> ReplyStream:
        """SayHelloBidiStream: send names, iterate the replies as they come back.

        ``names`` is consumed in a background thread, so a generator may produce names
        while replies arrive. Leaving the ``with`` block early cancels the call; a
        generator blocked inside ``next()`` is not interrupted, though: it keeps that
        thread until it yields or returns.
        """
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = hello_requests(names)
        return ReplyStream(
            self._open_stream("stream_stream", SAY_HELLO_BIDI_STREAM, requests, HelloReply, options)
        )
