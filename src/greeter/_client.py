"""``GreeterClient``: the typed client of ``helloworld.Greeter``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import grpc

from greeter._config import ChannelOption, Compression, message_length_options, to_grpc_compression
from greeter._exceptions import error_from_grpc
from greeter._metadata import Metadata, MetadataTuple, normalize_metadata
from greeter._proto import helloworld_pb2, helloworld_pb2_grpc

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["DEFAULT_TARGET", "GreeterClient"]

#: Where clients connect unless told otherwise.
DEFAULT_TARGET = "localhost:50051"


@dataclass(frozen=True)
class _CallOptions:
    """The per-call options, after per-client defaults were applied."""

    timeout: float | None
    metadata: MetadataTuple
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _BaseClient:
    """What the sync and asyncio clients share: the target, defaults and option merging."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
        max_send_message_length: int | None,
        max_receive_message_length: int | None,
        options: Sequence[ChannelOption],
    ) -> None:
        self.target = target
        self._defaults = _CallOptions(
            timeout=timeout,
            metadata=normalize_metadata(metadata),
            wait_for_ready=wait_for_ready,
            compression=to_grpc_compression(compression),
        )
        self._channel_options = [
            *message_length_options(max_send_message_length, max_receive_message_length),
            *options,
        ]

    def _call_options(
        self,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> _CallOptions:
        """Per-call options over the client's defaults; per-call metadata is appended."""
        defaults = self._defaults
        return _CallOptions(
            timeout=defaults.timeout if timeout is None else timeout,
            metadata=defaults.metadata + normalize_metadata(metadata),
            wait_for_ready=defaults.wait_for_ready if wait_for_ready is None else wait_for_ready,
            compression=(
                defaults.compression if compression is None else to_grpc_compression(compression)
            ),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


class GreeterClient(_BaseClient):
    """A blocking client of ``helloworld.Greeter``; a context manager owning its channel.

    ::

        with GreeterClient("localhost:50051") as client:
            client.greet("you")          # "Hello, you!"

    Constructor keywords set per-client defaults for every call: ``timeout`` (seconds),
    ``metadata`` (sent with each call; per-call metadata is added to it),
    ``wait_for_ready`` (queue calls until the server is reachable instead of failing
    fast) and ``compression`` (``"gzip"`` or ``"deflate"``). ``max_send_message_length``,
    ``max_receive_message_length`` and ``options`` (raw gRPC channel arguments) shape
    the channel. Each method takes the same call options, keyword-only, to override
    the defaults for one call.

    Failed calls raise the ``greeter.GreeterError`` subclass for their status, e.g.
    ``greeter.Unavailable`` when no server answers, ``greeter.DeadlineExceeded`` when
    ``timeout`` expires.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
        max_send_message_length: int | None = None,
        max_receive_message_length: int | None = None,
        options: Sequence[ChannelOption] = (),
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
        )
        self._channel = grpc.insecure_channel(target, options=self._channel_options)
        self._stub = helloworld_pb2_grpc.GreeterStub(self._channel)
        self._closed = False

    def greet(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """Call SayHello; return the greeting (``"Hello, you!"`` from a stock server)."""
        options = self._call_options(timeout, metadata, wait_for_ready, compression)
        return self._unary(self._stub.SayHello, name, options)

    def greet_again(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> str:
        """Call SayHelloAgain; return the greeting (``"Hello again, you!"``)."""
        options = self._call_options(timeout, metadata, wait_for_ready, compression)
        return self._unary(self._stub.SayHelloAgain, name, options)

    def _unary(
        self,
        method: grpc.UnaryUnaryMultiCallable[
            helloworld_pb2.HelloRequest, helloworld_pb2.HelloReply
        ],
        name: str,
        options: _CallOptions,
    ) -> str:
        self._check_open()
        try:
            reply = method(
                helloworld_pb2.HelloRequest(name=name),
                timeout=options.timeout,
                metadata=options.metadata,
                wait_for_ready=options.wait_for_ready,
                compression=options.compression,
            )
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc
        return reply.message

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

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
