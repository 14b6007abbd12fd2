"""The asyncio clients: ``AsyncServiceClient`` for any service, ``AsyncGreeterClient`` on it.

Mirrors ``greeter.client._sync`` helper for helper and method for method; what differs
is only awaiting: the channel is a ``grpc.aio.Channel``, ``_call`` and
``_call_with_metadata`` are coroutines, ``_open_stream`` returns grpc.aio's call (an
async iterator of responses, which ``AsyncReplyStream`` wraps), requests may come from an
async iterable too, and ``close()`` and ``async with`` are awaited. Cancelling the task
awaiting a call cancels the call on both ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import grpc
import grpc.aio

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
from greeter.client._calls import AsyncReplyStream, Reply
from greeter.client._greeter import (
    SAY_HELLO,
    SAY_HELLO_AGAIN,
    SAY_HELLO_BIDI_STREAM,
    SAY_HELLO_STREAM_REPLY,
    SAY_HELLO_STREAM_REQUEST,
    HelloReply,
    HelloRequest,
    any_hello_requests,
    greeting_reply,
)
from greeter.errors import error_from_grpc

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from typing_extensions import Self

__all__ = ["AsyncGreeterClient", "AsyncServiceClient"]

_Response = TypeVar("_Response", bound="Message")
#: What an asyncio call may send: one request, or requests from an iterable or an async
#: iterable.
_Requests: TypeAlias = "Message | Iterable[Message] | AsyncIterable[Message]"
#: grpc.aio's call of a server-streaming or bidi method, whose responses are read.
_StreamCall: TypeAlias = (
    "grpc.aio.UnaryStreamCall[Any, _Response] | grpc.aio.StreamStreamCall[Any, _Response]"
)


class AsyncServiceClient(ClientBase[grpc.aio.ClientInterceptor, grpc.aio.Channel]):
    """An asyncio client of any gRPC service; an async context manager owning its channel.

    A typed client subclasses it and makes each method a call of one helper, e.g.
    ``await self._call("unary_unary", "/pkg.Service/Method", request, Response, options)``.
    """

    def _open_channel(self, interceptors: Sequence[grpc.aio.ClientInterceptor]) -> grpc.aio.Channel:
        return self._channel_settings.open_async(interceptors)

    async def _call(
        self,
        shape: CallShape,
        path: str,
        request: _Requests,
        response_type: type[_Response],
        options: CallOptions,
    ) -> _Response:
        """The response of a unary or client-streaming call; errors by their status."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        try:
            response: _Response = await method(request, **options)
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    async def _call_with_metadata(
        self,
        shape: CallShape,
        path: str,
        request: _Requests,
        response_type: type[_Response],
        options: CallOptions,
    ) -> tuple[_Response, MetadataTuple, MetadataTuple]:
        """As ``_call``, with the server's initial and trailing metadata."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        call = method(request, **options)
        try:
            response: _Response = await call
            initial = metadata_from_grpc(await call.initial_metadata())
            return response, initial, metadata_from_grpc(await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc

    def _open_stream(
        self,
        shape: CallShape,
        path: str,
        request: _Requests,
        response_type: type[_Response],
        options: CallOptions,
    ) -> _StreamCall[_Response]:
        """grpc.aio's call of a server-streaming or bidi call: its responses, as they come."""
        method = self._methods.get(path) or self._bind(shape, path, response_type)
        stream: _StreamCall[_Response] = method(request, **options)
        return stream

    async def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        As ``GreeterClient.check_health``: the status name, e.g. ``"SERVING"``.
        """
        options = self._options(timeout, None, None, None)
        request, answer_type = health_check_request(service)
        answer = await self._call("unary_unary", HEALTH_CHECK_PATH, request, answer_type, options)
        return health_status_name(answer)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class AsyncGreeterClient(AsyncServiceClient):
    """An asyncio client of ``helloworld.Greeter``; an async context manager.

    Mirrors ``GreeterClient`` method for method::

        async with AsyncGreeterClient("localhost:50051") as client:
            await client.greet("you")                # "Hello, you!"
            async for reply in client.greet_stream("you"):
                print(reply)

    Cancelling the task awaiting a call cancels the call on both ends.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    async def greet(
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
        reply = await self._call("unary_unary", SAY_HELLO, request, HelloReply, options)
        return reply.message

    async def greet_with_call(
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
            *await self._call_with_metadata("unary_unary", SAY_HELLO, request, HelloReply, options)
        )

    async def greet_again(
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
        reply = await self._call("unary_unary", SAY_HELLO_AGAIN, request, HelloReply, options)
        return reply.message

    async def greet_again_with_call(
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
            *await self._call_with_metadata(
                "unary_unary", SAY_HELLO_AGAIN, request, HelloReply, options
            )
        )

    async def greet_many(
        self,
        names: Iterable[str] | AsyncIterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """SayHelloStreamRequest: stream every name, get one greeting for them all.

        ``names`` may be an iterable or an async iterable (e.g. an async generator).
        """
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = any_hello_requests(names)
        reply = await self._call(
            "stream_unary", SAY_HELLO_STREAM_REQUEST, requests, HelloReply, options
        )
        return reply.message

    async def greet_many_with_call(
        self,
        names: Iterable[str] | AsyncIterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> Reply:
        """SayHelloStreamRequest, returning the reply with the server's metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = any_hello_requests(names)
        return greeting_reply(
            *await self._call_with_metadata(
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
    ) -> AsyncReplyStream:
        """SayHelloStreamReply: ``async for`` over the greetings streamed for ``name``.

        Leaving an ``async with`` block around the stream early cancels the call.
        """
        options = self._options(timeout, metadata, wait_for_ready, compression)
        request = HelloRequest(name=name)
        return AsyncReplyStream(
            self._open_stream("unary_stream", SAY_HELLO_STREAM_REPLY, request, HelloReply, options)
        )

    def chat(
        self,
        names: Iterable[str] | AsyncIterable[str],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> AsyncReplyStream:
        """SayHelloBidiStream: send names, ``async for`` over the replies as they come."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        requests = any_hello_requests(names)
        return AsyncReplyStream(
            self._open_stream("stream_stream", SAY_HELLO_BIDI_STREAM, requests, HelloReply, options)
        )
