"""``GreeterClient`` and ``AsyncGreeterClient``: typed clients of ``helloworld.Greeter``.

The two mirror each other method for method; they share their option handling
(``_BaseClient``) and differ only where blocking and awaiting differ.

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

import math
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import grpc
import grpc.aio

from greeter._addresses import DEFAULT_TARGET
from greeter._metadata import Metadata, MetadataTuple, metadata_from_grpc, normalize_metadata
from greeter._options import (
    ChannelOption,
    Compression,
    message_length_options,
    to_grpc_compression,
)
from greeter._proto import helloworld_pb2, helloworld_pb2_grpc
from greeter._tls import ClientTLS
from greeter.client._calls import AsyncReplyStream, Reply, ReplyStream
from greeter.client._channel import ChannelSettings, ClientInterceptor, LoadBalancing, RetryPolicy
from greeter.client._tokens import TokenSource, authorization_metadata
from greeter.errors import error_from_grpc

if TYPE_CHECKING:
    from typing_extensions import Self

    from greeter.server._health import HealthCheckResponse

__all__ = ["DEFAULT_TARGET", "AsyncGreeterClient", "GreeterClient", "RetryPolicy"]

#: Timeouts from this many seconds up (``math.inf`` included) mean "no deadline". grpc
#: itself takes ``math.inf``, or any timeout past its clock's end (about 7e9 s from
#: now), as a deadline already passed, and fails the call at once.
_NO_DEADLINE_SECONDS = 1e9

_T = TypeVar("_T")
HelloRequest = helloworld_pb2.HelloRequest
HelloReply = helloworld_pb2.HelloReply


class _CallOptions(TypedDict):
    """The per-call options as grpcio's call methods take them (keyword arguments)."""

    timeout: float | None
    metadata: MetadataTuple
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _grpc_timeout(timeout: float | None) -> float | None:
    """A timeout as grpc takes it: ``None`` for no deadline."""
    if timeout is None:
        return None
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds (math.inf: no deadline), not nan")
    return None if timeout >= _NO_DEADLINE_SECONDS else timeout


def _requests(names: Iterable[str]) -> Iterator[HelloRequest]:
    for name in names:
        yield HelloRequest(name=name)


async def _async_requests(names: AsyncIterable[str]) -> AsyncIterator[HelloRequest]:
    async for name in names:
        yield HelloRequest(name=name)


class _BaseClient:
    """What the sync and asyncio clients share: the target, defaults and option merging."""

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
        self._defaults = _CallOptions(
            timeout=_grpc_timeout(timeout),
            metadata=normalize_metadata(metadata),
            wait_for_ready=wait_for_ready,
            compression=to_grpc_compression(compression),
        )
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
            return defaults  # the usual call: nothing to merge (grpc never changes it)
        return _CallOptions(
            timeout=defaults["timeout"] if timeout is None else _grpc_timeout(timeout),
            metadata=defaults["metadata"] + normalize_metadata(metadata) + self._token_metadata(),
            wait_for_ready=defaults["wait_for_ready"] if wait_for_ready is None else wait_for_ready,
            compression=(
                defaults["compression"] if compression is None else to_grpc_compression(compression)
            ),
        )

    def _token_metadata(self) -> MetadataTuple:
        token = self._channel_settings.plaintext_token
        return () if token is None else authorization_metadata(token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


_CLIENT_OPTIONS_DOC = """
    Constructor keywords set per-client defaults for every call: ``timeout`` (seconds;
    on expiry a call raises ``greeter.DeadlineExceeded``; ``None`` or ``math.inf``: no
    deadline), ``metadata`` (sent with each call; per-call metadata is added to it; a
    key or value gRPC would refuse raises ``ValueError`` before anything is sent),
    ``wait_for_ready`` (queue calls until the server is reachable instead of failing
    fast with ``greeter.Unavailable``) and ``compression`` (``"gzip"`` or
    ``"deflate"``). ``max_send_message_length``, ``max_receive_message_length`` and
    ``options`` (raw gRPC channel arguments) shape the channel.

    Security: ``tls=ClientTLS(...)`` calls over TLS (mTLS with a client certificate);
    ``token`` (a string, or a function returning the current token) is sent as
    ``authorization: Bearer ...`` with every call, over TLS only unless
    ``unsafe_plaintext_token=True``. Several servers: ``target`` may be a list of
    ``HOST:PORT`` IP addresses (or one ``dns:///NAME:PORT``) with
    ``load_balancing="round_robin"``; ``retries=RetryPolicy()`` retries ``UNAVAILABLE``;
    ``keepalive_seconds`` pings the server to notice dead connections. ``interceptors``
    are raw grpc client interceptors.

    Every method takes the same four call options, keyword-only, to override the
    defaults for one call; ``None`` keeps the default, so to lift the client's default
    timeout for one call, pass ``timeout=math.inf``.

    Failed calls raise the ``greeter.GreeterError`` subclass for their status.
"""


class GreeterClient(_BaseClient):
    """A blocking client of ``helloworld.Greeter``; a context manager owning its channel.

    ::

        with GreeterClient("localhost:50051") as client:
            client.greet("you")                      # "Hello, you!"
            for reply in client.greet_stream("you"):
                print(reply)
    """

    __doc__ = (__doc__ or "") + _CLIENT_OPTIONS_DOC

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
        self._stub = helloworld_pb2_grpc.GreeterStub(self._channel)

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
        return _call(self._stub.SayHello, HelloRequest(name=name), options).message

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
        return _reply(_call(self._stub.SayHello.with_call, HelloRequest(name=name), options))

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
        return _call(self._stub.SayHelloAgain, HelloRequest(name=name), options).message

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
        return _reply(_call(self._stub.SayHelloAgain.with_call, HelloRequest(name=name), options))

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
        return _call(self._stub.SayHelloStreamRequest, _requests(names), options).message

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
        return _reply(_call(self._stub.SayHelloStreamRequest.with_call, _requests(names), options))

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
        return ReplyStream(self._stub.SayHelloStreamReply(HelloRequest(name=name), **options))

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
        return ReplyStream(self._stub.SayHelloBidiStream(_requests(names), **options))

    def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        Returns the status name: ``"SERVING"``, ``"NOT_SERVING"``, ... (grpc's
        ``grpc.health.v1.Health/Check``). An unknown service raises ``greeter.NotFound``;
        a server without the health service, ``greeter.Unimplemented``.
        """
        # grpc's health package loads here, on first use: most clients never ask.
        from greeter.server._health import (
            HEALTH_CHECK_CODECS,
            HEALTH_CHECK_METHOD,
            HealthCheckRequest,
        )

        options = self._options(timeout, None, None, None)
        check = self._channel.unary_unary(HEALTH_CHECK_METHOD, **HEALTH_CHECK_CODECS)
        reply = _call(check, HealthCheckRequest(service=service), options)
        return _status_name(reply)

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


def _call(method: Callable[..., _T], request: object, options: _CallOptions) -> _T:
    """``method(request, **options)``; a failed call raises the greeter error for its status."""
    try:
        return method(request, **options)
    except grpc.RpcError as exc:
        raise error_from_grpc(exc) from exc


def _reply(reply_and_call: tuple[HelloReply, grpc.Call]) -> Reply:
    reply, call = reply_and_call
    return Reply(
        message=reply.message,
        initial_metadata=metadata_from_grpc(call.initial_metadata()),
        trailing_metadata=metadata_from_grpc(call.trailing_metadata()),
    )


class AsyncGreeterClient(_BaseClient):
    """An asyncio client of ``helloworld.Greeter``; an async context manager.

    Mirrors ``GreeterClient`` method for method::

        async with AsyncGreeterClient("localhost:50051") as client:
            await client.greet("you")                # "Hello, you!"
            async for reply in client.greet_stream("you"):
                print(reply)

    Cancelling the task awaiting a call cancels the call on both ends.
    """

    __doc__ = (__doc__ or "") + _CLIENT_OPTIONS_DOC

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
        self._stub = helloworld_pb2_grpc.GreeterStub(self._channel)

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
        reply = await _await_call(self._stub.SayHello(HelloRequest(name=name), **options))
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
        return await _await_reply(self._stub.SayHello(HelloRequest(name=name), **options))

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
        reply = await _await_call(self._stub.SayHelloAgain(HelloRequest(name=name), **options))
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
        return await _await_reply(self._stub.SayHelloAgain(HelloRequest(name=name), **options))

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
        requests = _any_requests(names)
        reply = await _await_call(self._stub.SayHelloStreamRequest(requests, **options))
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
        return await _await_reply(self._stub.SayHelloStreamRequest(_any_requests(names), **options))

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
        return AsyncReplyStream(self._stub.SayHelloStreamReply(HelloRequest(name=name), **options))

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
        return AsyncReplyStream(self._stub.SayHelloBidiStream(_any_requests(names), **options))

    async def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """Ask the server's health service how ``service`` is ("": the whole server).

        As ``GreeterClient.check_health``: the status name, e.g. ``"SERVING"``.
        """
        from greeter.server._health import (
            HEALTH_CHECK_CODECS,
            HEALTH_CHECK_METHOD,
            HealthCheckRequest,
        )

        options = self._options(timeout, None, None, None)
        check = self._channel.unary_unary(HEALTH_CHECK_METHOD, **HEALTH_CHECK_CODECS)
        reply = await _await_call(check(HealthCheckRequest(service=service), **options))
        return _status_name(reply)

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


def _status_name(reply: HealthCheckResponse) -> str:
    return reply.ServingStatus.Name(reply.status)


def _any_requests(
    names: Iterable[str] | AsyncIterable[str],
) -> Iterator[HelloRequest] | AsyncIterator[HelloRequest]:
    if isinstance(names, AsyncIterable):
        return _async_requests(names)
    return _requests(names)


async def _await_call(call: Awaitable[_T]) -> _T:
    """The result of ``call``; a failed call raises the greeter error for its status."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise error_from_grpc(exc) from exc


async def _await_reply(
    call: grpc.aio.UnaryUnaryCall[Any, HelloReply] | grpc.aio.StreamUnaryCall[Any, HelloReply],
) -> Reply:
    async def complete() -> Reply:
        reply = await call
        return Reply(
            message=reply.message,
            initial_metadata=metadata_from_grpc(await call.initial_metadata()),
            trailing_metadata=metadata_from_grpc(await call.trailing_metadata()),
        )

    return await _await_call(complete())
