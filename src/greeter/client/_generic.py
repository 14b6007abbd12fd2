"""``Client`` and ``AsyncClient``: the generic calls every typed client is a thin layer on.

A generated ``InventoryClient`` and the Greeter's ``GreeterClient`` alike declare one
typed method per RPC and call the helpers here with the RPC's ``Method`` (from their
``ServiceDefinition``) and the four call options. The constructor, option handling and
channel live once in ``ClientBase``; the two classes here mirror each other and differ
only where blocking and awaiting differ:

==================================  =======================  ============================
helper                              ``Client`` returns        ``AsyncClient`` returns
==================================  =======================  ============================
``_unary_unary``, ``_stream_unary``  the response             awaitable: the response
``*_with_call``                     ``Response``             awaitable: ``Response``
``_unary_stream``, ``_stream_stream``  ``ResponseStream``     ``AsyncResponseStream``
==================================  =======================  ============================

A failed call raises the ``greeter.GreeterError`` of its status. Asyncio request streams
may be iterables or async iterables; cancelling the task awaiting a call cancels it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from greeter._metadata import Metadata, metadata_from_grpc
from greeter._method import Method
from greeter._options import Compression
from greeter.client._base import CLIENT_OPTIONS_DOC, ClientBase
from greeter.client._streams import AsyncResponseStream, Response, ResponseStream
from greeter.errors import error_from_grpc

if TYPE_CHECKING:
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only
    from typing_extensions import Self

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

    def _unary_unary(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _Response:
        """One response for one request, or for an iterator of requests."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        try:
            response: _Response = self._callables[method.path](request, **options)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    def _stream_unary(
        self,
        method: Method[Any, _Response],
        requests: Iterable[object],
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _Response:
        """One response for an iterable of requests (grpc reads them with ``next()``)."""
        options = (timeout, metadata, wait_for_ready, compression)
        return self._unary_unary(method, iter(requests), *options)

    def _unary_unary_with_call(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> Response[_Response]:
        """As ``_unary_unary``, with the server's initial and trailing metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        try:
            response, call = self._callables[method.path].with_call(request, **options)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return Response(
            message=response,
            initial_metadata=metadata_from_grpc(call.initial_metadata()),
            trailing_metadata=metadata_from_grpc(call.trailing_metadata()),
        )

    def _stream_unary_with_call(
        self,
        method: Method[Any, _Response],
        requests: Iterable[object],
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> Response[_Response]:
        """As ``_stream_unary``, with the server's initial and trailing metadata."""
        options = (timeout, metadata, wait_for_ready, compression)
        return self._unary_unary_with_call(method, iter(requests), *options)

    def _unary_stream(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> ResponseStream[_Response]:
        """The responses to one request, or to an iterator of requests, as they come."""
        options = (timeout, metadata, wait_for_ready, compression)
        return ResponseStream(self._open_stream(method, request, *options))

    def _stream_stream(
        self,
        method: Method[Any, _Response],
        requests: Iterable[object],
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> ResponseStream[_Response]:
        """The responses to an iterable of requests, as they come."""
        options = (timeout, metadata, wait_for_ready, compression)
        return self._unary_stream(method, iter(requests), *options)

    def _open_stream(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _CallIterator[_Response]:
        """grpc's call of a server-streaming or bidi method: its responses, as they come."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        call: _CallIterator[_Response] = self._callables[method.path](request, **options)
        return call

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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

    async def _unary_unary(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _Response:
        """One response for one request, or for an (async) iterable of requests."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        try:
            response: _Response = await self._callables[method.path](request, **options)
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

    #: grpc.aio takes an iterable or an async iterable of requests as they are.
    _stream_unary = _unary_unary

    async def _unary_unary_with_call(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> Response[_Response]:
        """As ``_unary_unary``, with the server's initial and trailing metadata."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        call = self._callables[method.path](request, **options)
        try:
            response: _Response = await call
            initial = metadata_from_grpc(await call.initial_metadata())
            trailing = metadata_from_grpc(await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return Response(message=response, initial_metadata=initial, trailing_metadata=trailing)

    _stream_unary_with_call = _unary_unary_with_call

    def _unary_stream(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> AsyncResponseStream[_Response]:
        """The responses to one request, or to (async) iterable requests, as they come."""
        options = (timeout, metadata, wait_for_ready, compression)
        call = self._open_stream(method, request, *options)
        return AsyncResponseStream(call, method.response_type)

    _stream_stream = _unary_stream

    def _open_stream(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> AsyncStreamCall[_Response]:
        """grpc.aio's call of a server-streaming or bidi method, whose responses are read."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        call: AsyncStreamCall[_Response] = self._callables[method.path](request, **options)
        return call

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
