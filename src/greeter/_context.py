"""What a service method can learn about, and do to, the call it is serving.

A service method reaches its call through ``self.context`` (see ``GreeterService``);
methods that do not need it never see it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, TypeVar

import grpc
import grpc.aio

from greeter._config import Compression, to_grpc_compression
from greeter._exceptions import GreeterError
from greeter._metadata import Metadata, MetadataTuple, normalize_metadata

__all__ = ["AsyncCallContext", "CallContext"]

_Value = TypeVar("_Value", str, bytes)
_Context = TypeVar("_Context", "CallContext", "AsyncCallContext")


class _BaseCallContext:
    """The part of a call's context that sync and asyncio servers share."""

    def __init__(self, grpc_context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]):
        self._grpc_context = grpc_context
        self._trailing_metadata: MetadataTuple = ()

    @property
    def invocation_metadata(self) -> MetadataTuple:
        """The metadata the client sent with the call (``-bin`` values are ``bytes``)."""
        return tuple((key, value) for key, value in self._grpc_context.invocation_metadata() or ())

    def get_metadata(self, key: str) -> str | None:
        """The first value the client sent under the text key ``key``, or ``None``."""
        if key.endswith("-bin"):
            raise ValueError(f"{key!r} is a binary key: use get_binary_metadata()")
        return self._first(key, str)

    def get_binary_metadata(self, key: str) -> bytes | None:
        """The first value the client sent under the ``-bin`` key ``key``, or ``None``."""
        if not key.endswith("-bin"):
            raise ValueError(f"{key!r} is a text key: use get_metadata()")
        return self._first(key, bytes)

    def _first(self, key: str, kind: type[_Value]) -> _Value | None:
        wanted = key.lower()
        for name, value in self.invocation_metadata:
            if name == wanted and isinstance(value, kind):
                return value
        return None

    @property
    def peer(self) -> str:
        """The client's address, e.g. ``"ipv4:127.0.0.1:53412"``."""
        return self._grpc_context.peer()

    def time_remaining(self) -> float | None:
        """Seconds left before the client's deadline, or ``None`` if it set none."""
        remaining = self._grpc_context.time_remaining()
        # gRPC reports "no deadline" as a huge number of seconds.
        return None if remaining is None or remaining > 10**8 else remaining

    def set_trailing_metadata(self, metadata: Metadata) -> None:
        """Metadata to send after the last response, with the status.

        If the method then raises a ``GreeterError``, the error's own trailing
        metadata is sent after this.
        """
        self._trailing_metadata = normalize_metadata(metadata)
        self._grpc_context.set_trailing_metadata(self._trailing_metadata)

    def _trailing_metadata_for(self, error: GreeterError) -> MetadataTuple:
        """What to send with ``error``: this call's trailing metadata, then the error's."""
        return self._trailing_metadata + error.to_trailing_metadata()

    def set_compression(self, compression: Compression) -> None:
        """Compress this call's responses with ``"gzip"`` or ``"deflate"`` (or ``"none"``)."""
        algorithm = to_grpc_compression(compression)
        assert algorithm is not None
        self._grpc_context.set_compression(algorithm)


class CallContext(_BaseCallContext):
    """The context of a call served by a sync ``GreeterService``."""

    _grpc_context: grpc.ServicerContext

    def send_initial_metadata(self, metadata: Metadata) -> None:
        """Send metadata to the client now, before the first response."""
        self._grpc_context.send_initial_metadata(normalize_metadata(metadata))

    def is_active(self) -> bool:
        """False once the call has ended: cancelled, timed out or completed."""
        return self._grpc_context.is_active()


class AsyncCallContext(_BaseCallContext):
    """The context of a call served by an ``AsyncGreeterService``."""

    _grpc_context: grpc.aio.ServicerContext[Any, Any]

    def __init__(self, grpc_context: grpc.aio.ServicerContext[Any, Any]) -> None:
        super().__init__(grpc_context)
        self._initial_metadata_sent = False
        self._compression_pending = False

    async def send_initial_metadata(self, metadata: Metadata) -> None:
        """Send metadata to the client now, before the first response."""
        await self._grpc_context.send_initial_metadata(normalize_metadata(metadata))
        self._initial_metadata_sent = True
        self._compression_pending = False

    def set_compression(self, compression: Compression) -> None:
        """Compress this call's responses with ``"gzip"`` or ``"deflate"`` (or ``"none"``).

        Call it before ``send_initial_metadata`` (if you send any): the algorithm is
        announced in the initial metadata.
        """
        super().set_compression(compression)
        self._compression_pending = not self._initial_metadata_sent

    async def _apply_pending_compression(self) -> None:
        # grpc.aio applies set_compression() only when initial metadata is sent
        # explicitly (grpc/grpc#34690), so send it before the first response goes out.
        if self._compression_pending:
            await self.send_initial_metadata(())

    def is_active(self) -> bool:
        """False once the call has ended: cancelled, timed out or completed."""
        return not self._grpc_context.done()


# The context of the call being served in this thread (sync) or task (asyncio).
current_context: ContextVar[_BaseCallContext] = ContextVar("greeter_call_context")


def current_context_of(kind: type[_Context], owner: str) -> _Context:
    """The context of the call being served, for a service of ``owner``'s kind."""
    context = current_context.get(None)
    if not isinstance(context, kind):
        raise RuntimeError(f"{owner}.context is only available while serving a call")
    return context
