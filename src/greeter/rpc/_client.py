"""``Client`` and ``AsyncClient``: what every generated client class builds on.

A generated ``InventoryClient`` declares one typed method per RPC and calls the helpers
here with the RPC's ``Method``; the channel, the call options and their per-client
defaults, and the mapping of a failed call to a ``greeter.GreeterError`` live here once.
The two classes mirror each other and share their option handling (``_BaseClient``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from greeter._addresses import DEFAULT_TARGET
from greeter._metadata import Metadata, MetadataTuple, metadata_from_grpc, normalize_metadata
from greeter._method import Method, ServiceDefinition
from greeter._options import (
    ChannelOption,
    Compression,
    message_length_options,
    to_grpc_compression,
)
from greeter.errors import error_from_grpc
from greeter.rpc._streams import AsyncResponseStream, Response, ResponseStream

if TYPE_CHECKING:
    # Loaded when a client is made, not when a generated module is imported.
    from typing_extensions import Self

    from greeter._tls import ClientTLS
    from greeter.client._channel import ClientInterceptor, LoadBalancing, RetryPolicy
    from greeter.client._tokens import TokenSource

__all__ = ["AsyncClient", "Client"]

#: Timeouts from this many seconds up (``math.inf`` included) mean "no deadline": grpc
#: takes a timeout past its clock's end as a deadline already passed.
_NO_DEADLINE_SECONDS = 1e9

_Response = TypeVar("_Response", bound=Message)
_T = TypeVar("_T")


class _CallOptions(TypedDict, total=False):
    """The per-call options as grpcio's call methods take them (keyword arguments); one
    left out is grpc's default (``None``; no metadata)."""

    timeout: float | None
    metadata: MetadataTuple
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _only_set(options: _CallOptions) -> _CallOptions:
    """``options`` without those at grpc's own defaults (``None``, no metadata).

    Every keyword argument grpc binds costs instructions on every call (about 400 of a
    sync unary call's): a usual call passes only what it sets, as a raw stub's caller
    does.
    """
    only_set = _CallOptions()
    if options["timeout"] is not None:
        only_set["timeout"] = options["timeout"]
    if options["metadata"]:
        only_set["metadata"] = options["metadata"]
    if options["wait_for_ready"] is not None:
        only_set["wait_for_ready"] = options["wait_for_ready"]
    if options["compression"] is not None:
        only_set["compression"] = options["compression"]
    return only_set


def _grpc_timeout(timeout: float | None) -> float | None:
    """A timeout as grpc takes it: ``None`` for no deadline."""
    if timeout is None:
        return None
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds (math.inf: no deadline), not nan")
    return None if timeout >= _NO_DEADLINE_SECONDS else timeout


class _BaseClient:
    """What the sync and asyncio clients share: the target, defaults and option merging."""

    #: The service this client calls; each generated client class sets it.
    definition: ClassVar[ServiceDefinition]

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
        max_send_message_length: int | None,
        max_receive_message_length: int | None,
        options: Iterable[ChannelOption],
        tls: ClientTLS | None,
        token: TokenSource | None,
        unsafe_plaintext_token: bool,
        load_balancing: LoadBalancing | None,
        retries: RetryPolicy | None,
        keepalive_seconds: float | None,
    ) -> None:
        if not isinstance(getattr(type(self), "definition", None), ServiceDefinition):
            raise TypeError(
                f"{type(self).__name__} calls no service: use a generated client class "
                "(InventoryClient), not greeter.rpc.Client itself"
            )
        from greeter.client._channel import ChannelSettings

        self._defaults = _CallOptions(
            timeout=_grpc_timeout(timeout),
            metadata=normalize_metadata(metadata),
            wait_for_ready=wait_for_ready,
            compression=to_grpc_compression(compression),
        )
        #: What a call with no per-call options passes to grpc.
        self._usual_options = _only_set(self._defaults)
        self._channel_settings = ChannelSettings.build(
            target,
            options=[
                *message_length_options(max_send_message_length, max_receive_message_length),
                *options,
            ],
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
            load_balancing=load_balancing,
            retries=retries,
            keepalive_seconds=keepalive_seconds,
        )
        #: The grpc target the channel connects to.
        self.target = self._channel_settings.target
        self._closed = False
        #: Each method's grpc multi-callable, by path (made once, as a generated stub does).
        self._callables: dict[str, Any] = {}

    def _open_callables(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for method in self.definition.methods:
            self._callables[method.path] = getattr(channel, method.shape.value)(
                method.path,
                request_serializer=method.request_type.SerializeToString,
                response_deserializer=method.response_type.FromString,
                _registered_method=True,
            )

    def _options(
        self,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _CallOptions:
        """Per-call options over the client's defaults; per-call metadata is appended."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        defaults = self._defaults
        if (
            timeout is None
            and metadata is None
            and wait_for_ready is None
            and compression is None
            and self._channel_settings.plaintext_token is None
        ):
            return self._usual_options  # nothing to merge (grpc never changes it)
        token = self._channel_settings.plaintext_token
        if token is not None:
            from greeter.client._tokens import authorization_metadata
        return _CallOptions(
            timeout=defaults["timeout"] if timeout is None else _grpc_timeout(timeout),
            metadata=(
                defaults["metadata"]
                + normalize_metadata(metadata)
                + (() if token is None else authorization_metadata(token))
            ),
            wait_for_ready=defaults["wait_for_ready"] if wait_for_ready is None else wait_for_ready,
            compression=(
                defaults["compression"] if compression is None else to_grpc_compression(compression)
            ),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


CLIENT_OPTIONS_DOC = """
    Constructor keywords set per-client defaults for every call: ``timeout`` (seconds;
    on expiry a call raises ``greeter.DeadlineExceeded``; ``None`` or ``math.inf``: no
    deadline), ``metadata`` (sent with each call; per-call metadata is added to it),
    ``wait_for_ready`` (queue calls until the server is reachable instead of failing
    fast with ``greeter.Unavailable``) and ``compression`` (``"gzip"`` or
    ``"deflate"``). ``max_send_message_length``, ``max_receive_message_length`` and
    ``options`` (raw gRPC channel arguments) shape the channel; ``tls``, ``token``,
    ``load_balancing``, ``retries``, ``keepalive_seconds`` and ``interceptors`` are as
    on ``greeter.GreeterClient``.

    Every method takes the same four call options, keyword-only, to override the
    defaults for one call; ``None`` keeps the default. Failed calls raise the
    ``greeter.GreeterError`` subclass for their status.
"""


class Client(_BaseClient):
    """The base of every generated blocking client; a context manager owning its channel.

    A generated ``InventoryClient(target)`` has one method per RPC: unary and
    client-streaming RPCs return the response message (``*_with_call`` variants return a
    ``greeter.rpc.Response`` with the server's metadata too); server-streaming and
    bidirectional RPCs return a ``greeter.rpc.ResponseStream``.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
        max_send_message_length: int | None = None,
        max_receive_message_length: int | None = None,
        options: Iterable[ChannelOption] = (),
        tls: ClientTLS | None = None,
        token: TokenSource | None = None,
        unsafe_plaintext_token: bool = False,
        load_balancing: LoadBalancing | None = None,
        retries: RetryPolicy | None = None,
        keepalive_seconds: float | None = None,
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        super().__init__(
            target,
            timeout=timeout,
            metadata=metadata,
            wait_for_ready=wait_for_ready,
            compression=compression,
            max_send_message_length=max_send_message_length,
            max_receive_message_length=max_receive_message_length,
            options=options,
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
            load_balancing=load_balancing,
            retries=retries,
            keepalive_seconds=keepalive_seconds,
        )
        self._channel = self._channel_settings.open(interceptors)
        self._open_callables(self._channel)

    def _unary_unary(
        self,
        method: Method[Any, _Response],
        request: object,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _Response:
        """One response for one request, or for an iterable of requests."""
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
        """The responses to one request, or to an iterable of requests, as they come."""
        options = self._options(timeout, metadata, wait_for_ready, compression)
        return ResponseStream(self._callables[method.path](request, **options))

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

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """The base of every generated asyncio client; an async context manager.

    Mirrors ``Client`` method for method: unary and client-streaming RPCs are ``async
    def`` methods returning the response; streaming responses come as a
    ``greeter.rpc.AsyncResponseStream`` to ``async for`` over. Request streams may be
    iterables or async iterables. Cancelling the task awaiting a call cancels the call.
    """

    __doc__ = (__doc__ or "") + CLIENT_OPTIONS_DOC

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
        max_send_message_length: int | None = None,
        max_receive_message_length: int | None = None,
        options: Iterable[ChannelOption] = (),
        tls: ClientTLS | None = None,
        token: TokenSource | None = None,
        unsafe_plaintext_token: bool = False,
        load_balancing: LoadBalancing | None = None,
        retries: RetryPolicy | None = None,
        keepalive_seconds: float | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        super().__init__(
            target,
            timeout=timeout,
            metadata=metadata,
            wait_for_ready=wait_for_ready,
            compression=compression,
            max_send_message_length=max_send_message_length,
            max_receive_message_length=max_receive_message_length,
            options=options,
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
            load_balancing=load_balancing,
            retries=retries,
            keepalive_seconds=keepalive_seconds,
        )
        self._channel = self._channel_settings.open_async(interceptors)
        self._open_callables(self._channel)

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
        # Awaited here, not through ``_completed``: one coroutine less on every call's
        # way down and up (about 1 % of a unary call's client instructions).
        try:
            response: _Response = await self._callables[method.path](request, **options)
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        return response

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

        async def complete() -> Response[_Response]:
            response: _Response = await call
            return Response(
                message=response,
                initial_metadata=metadata_from_grpc(await call.initial_metadata()),
                trailing_metadata=metadata_from_grpc(await call.trailing_metadata()),
            )

        return await _completed(complete())

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
        options = self._options(timeout, metadata, wait_for_ready, compression)
        call = self._callables[method.path](request, **options)
        return AsyncResponseStream(call, method.response_type)

    _stream_stream = _unary_stream

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _completed(call: Awaitable[_T]) -> _T:
    """The result of ``call``; a failed call raises the greeter error for its status."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise error_from_grpc(exc) from exc
