"""``Client`` and ``AsyncClient``: the generic calls every typed client is a thin layer on.

A generated ``InventoryClient`` and the Greeter's ``GreeterClient`` alike declare one
typed method per RPC and call the helpers here with the RPC's ``Method`` (from their
``ServiceDefinition``) and the call options as they came (``**options:
Unpack[CallOptions]``; the single-response helpers take that dict itself, the others
its keywords). The constructor, option handling and channel live once in
``ClientBase``; the two classes here mirror each other and differ only where blocking
and awaiting differ:

- ``_unary_unary`` / ``_stream_unary``: the response (``AsyncClient``: awaited);
- ``_unary_unary_with_call`` / ``_stream_unary_with_call``: a ``Response``, the message
  with the server's metadata (awaited);
- ``_unary_stream`` / ``_stream_stream``: a ``ResponseStream`` (``AsyncResponseStream``);
- ``_open_stream``: grpc's own streaming call, for a typed client whose stream narrows
  the generic one (the Greeter's ``ReplyStream``).

A failed call raises the ``greeter.GreeterError`` of its status. Asyncio request streams
may be iterables or async iterables; cancelling the task awaiting a call cancels it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from greeter._metadata import metadata_from_grpc
from greeter._method import Method
from greeter.client._base import CLIENT_OPTIONS_DOC, CallOptions, ClientBase
from greeter.client._streams import AsyncResponseStream, Response, ResponseStream
from greeter.errors import error_from_grpc

if TYPE_CHECKING:
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only
    from typing_extensions import Self, Unpack

    from greeter.client._channel import ClientInterceptor
    from greeter.client._streams import AsyncStreamCall

__all__ = ["AsyncClient", "Client"]

_Response = TypeVar("_Response", bound=Message)


class Client(ClientBase["ClientInterceptor", grpc.Channel]):
    """The base of every blocking client; a context manager owning its channel.

    A generated ``InventoryClient(target)`` has one method per RPC: unary and
    client-streaming RPCs return the response message (``*_with_call`` variants return a
    ``greeter.rpc.Response`` with the server's metadata too); server-streaming and
    bidirectional RPCs return a ``greeter.rpc.ResponseStream``.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    def _open_channel(self, interceptors: Sequence[ClientInterceptor]) -> grpc.Channel:
        return self._channel_settings.open(interceptors)

    def _bind(self, method: Method[Any, Any]) -> None:
        super()._bind(method)
        if method.shape.streams_requests:
            self._keep_callable(method, _ReadWithNext(self._callables[method.path]))

    # Every unary call's path: the options come as the caller's dict (no repacking), a
    # call with none takes the client's plain values without calling ``_options()``,
    # and grpc gets all four by position, in the order grpc.UnaryUnaryMultiCallable's
    # ``__call__`` documents (credentials None: a client's channel carries its own).
    # Positions bind for ~500 instructions fewer a call than keywords (valgrind).
    def _unary_unary(
        self, method: Method[Any, _Response], request: object, options: CallOptions
    ) -> _Response:
        """One response for one request, or for an iterator of requests."""
        values = self._plain_values
        if options or values is None:
            values = self._call_values(options)
        timeout, metadata, wait_for_ready, compression = values
        try:
            response: _Response = self._calls[method.path](
                request, timeout, metadata, None, wait_for_ready, compression
            )
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    #: A request stream is any iterable: ``_bind`` has grpc read it as an iterator.
    _stream_unary = _unary_unary

    def _unary_unary_with_call(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> Response[_Response]:
        """As ``_unary_unary``, with the server's initial and trailing metadata."""
        call_options = self._options(**options)
        try:
            response, call = self._callables[method.path].with_call(request, **call_options)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return Response(
            message=response,
            initial_metadata=metadata_from_grpc(call.initial_metadata()),
            trailing_metadata=metadata_from_grpc(call.trailing_metadata()),
        )

    _stream_unary_with_call = _unary_unary_with_call

    def _unary_stream(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> ResponseStream[_Response]:
        """The responses to one request, or to an iterator of requests, as they come."""
        return ResponseStream(self._open_stream(method, request, **options))

    _stream_stream = _unary_stream

    def _open_stream(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> _CallIterator[_Response]:
        """grpc's call of a server-streaming or bidi method: its responses, as they come."""
        call: _CallIterator[_Response] = self._calls[method.path](
            request, **self._options(**options)
        )
        return call

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if self._mark_closed():
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _ReadWithNext:
    """grpc's request-streaming multi-callable, taking any iterable of requests: grpc
    reads the stream with ``next()``, so it gets ``iter(requests)``."""

    __slots__ = ("_call", "_multi_callable")

    def __init__(self, call: Any) -> None:
        self._multi_callable = call
        self._call = call.__call__  # bound: see ``ClientBase._calls``

    def __call__(self, requests: Iterable[object], *options: Any, **keywords: Any) -> Any:
        return self._call(iter(requests), *options, **keywords)

    def with_call(self, requests: Iterable[object], **options: Any) -> Any:
        return self._multi_callable.with_call(iter(requests), **options)


class AsyncClient(ClientBase[grpc.aio.ClientInterceptor, grpc.aio.Channel]):
    """The base of every asyncio client; an async context manager owning its channel.

    Mirrors ``Client`` method for method: unary and client-streaming RPCs are ``async
    def`` methods returning the response; streaming responses come as a
    ``greeter.rpc.AsyncResponseStream`` to ``async for`` over. Request streams may be
    iterables or async iterables. Cancelling the task awaiting a call cancels the call.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    def _open_channel(self, interceptors: Sequence[grpc.aio.ClientInterceptor]) -> grpc.aio.Channel:
        return self._channel_settings.open_async(interceptors)

    # As ``Client._unary_unary``: every unary call's path.
    async def _unary_unary(
        self, method: Method[Any, _Response], request: object, options: CallOptions
    ) -> _Response:
        """One response for one request, or for an (async) iterable of requests."""
        values = self._plain_values
        if options or values is None:
            values = self._call_values(options)
        timeout, metadata, wait_for_ready, compression = values
        try:
            response: _Response = await self._calls[method.path](
                request,
                timeout=timeout,
                metadata=metadata,
                wait_for_ready=wait_for_ready,
                compression=compression,
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    #: grpc.aio takes an iterable or an async iterable of requests as they are.
    _stream_unary = _unary_unary

    async def _unary_unary_with_call(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> Response[_Response]:
        """As ``_unary_unary``, with the server's initial and trailing metadata."""
        call = self._calls[method.path](request, **self._options(**options))
        try:
            response: _Response = await call
            initial = metadata_from_grpc(await call.initial_metadata())
            trailing = metadata_from_grpc(await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return Response(message=response, initial_metadata=initial, trailing_metadata=trailing)

    _stream_unary_with_call = _unary_unary_with_call

    def _unary_stream(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> AsyncResponseStream[_Response]:
        """The responses to one request, or to (async) iterable requests, as they come."""
        return AsyncResponseStream(
            self._open_stream(method, request, **options), method.response_type
        )

    _stream_stream = _unary_stream

    def _open_stream(
        self, method: Method[Any, _Response], request: object, **options: Unpack[CallOptions]
    ) -> AsyncStreamCall[_Response]:
        """grpc.aio's call of a server-streaming or bidi method, whose responses are read."""
        call: AsyncStreamCall[_Response] = self._calls[method.path](
            request, **self._options(**options)
        )
        return call

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if self._mark_closed():
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
