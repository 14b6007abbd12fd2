"""What a service method can learn about, and do to, the call it is serving.

A service method reaches its call through ``self.context`` (see ``GreeterService``);
methods that do not need it never see it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio

from greeter._metadata import Metadata, MetadataTuple, normalize_metadata
from greeter._options import Compression, to_grpc_compression
from greeter.errors import GreeterError, StatusCode, error_for_status
from greeter.pipeline._pipeline import as_text, current_call

__all__ = ["AsyncCallContext", "CallContext"]

_Value = TypeVar("_Value", str, bytes)
_Context = TypeVar("_Context", "CallContext", "AsyncCallContext")


class _BaseCallContext:
    """The part of a call's context that sync and asyncio servers share."""

    def __init__(self, grpc_context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]):
        self._grpc_context = grpc_context
        self._trailing_metadata: MetadataTuple = ()
        self._initial_metadata_sent = False
        self._each_message_a_call = False

    def _answer_each_message_as_a_call(self) -> None:
        """For a default handler that answers each message of a stream with a method
        written for one-reply calls (the default chat calls ``say_hello``).

        Such a method may send initial metadata, which a call sends once, and set the
        compression, which goes with it: the first message's go out, and the later
        messages' are dropped instead of failing the stream with INTERNAL. Trailing
        metadata is the last message's.
        """
        self._each_message_a_call = True

    def _initial_metadata_is_repeated(self) -> bool:
        return self._initial_metadata_sent and self._each_message_a_call

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
        if self._initial_metadata_is_repeated():
            return
        algorithm = to_grpc_compression(compression)
        assert algorithm is not None
        self._grpc_context.set_compression(algorithm)

    def disable_next_message_compression(self) -> None:
        """Send the next response uncompressed, whatever the call's compression."""
        self._grpc_context.disable_next_message_compression()

    @property
    def identity(self) -> str | None:
        """Who made the call, as the server's token check (``ServerConfig.auth``) said.

        ``None`` when the server checks no tokens (or for health checks).
        """
        call = current_call.get(None)
        return None if call is None else call.identity

    @property
    def peer_identities(self) -> tuple[str, ...]:
        """The client's verified identities: its TLS certificate's SANs (or common name).

        Empty unless the server uses mTLS (``ServerTLS(client_ca=...)``).
        """
        identities = self._grpc_context.peer_identities()
        return tuple(as_text(identity) for identity in identities or ())

    @property
    def peer_identity_key(self) -> str | None:
        """Which ``auth_context`` property the ``peer_identities`` come from, if any."""
        return self._grpc_context.peer_identity_key()

    @property
    def auth_context(self) -> dict[str, tuple[bytes, ...]]:
        """The transport's security facts, e.g. ``transport_security_type``,
        ``x509_subject``, ``x509_common_name``, ``x509_subject_alternative_name``."""
        return {
            key: (values,) if isinstance(values, bytes) else tuple(values)
            for key, values in self._grpc_context.auth_context().items()
        }

    def abort(self, code: StatusCode, details: str = "") -> NoReturn:
        """End the call now with ``code`` and ``details``.

        The same as raising the ``greeter.GreeterError`` subclass for ``code``, which
        reads better and can carry trailing metadata and rich details:
        ``raise greeter.NotFound("no such name")``.
        """
        raise error_for_status(StatusCode(code), details)

    def set_code(self, code: StatusCode) -> None:
        """The status to end the call with when the method returns.

        Prefer raising a ``greeter.GreeterError`` subclass, which ends the call at once.
        """
        self._grpc_context.set_code(StatusCode(code).to_grpc())

    def set_details(self, details: str) -> None:
        """The status message to end the call with (see ``set_code``)."""
        self._grpc_context.set_details(details)


class CallContext(_BaseCallContext):
    """The context of a call served by a sync ``GreeterService``."""

    _grpc_context: grpc.ServicerContext
    _cancelled: threading.Event | None = None

    def send_initial_metadata(self, metadata: Metadata) -> None:
        """Send metadata to the client now, before the first response."""
        if self._initial_metadata_is_repeated():
            return
        self._grpc_context.send_initial_metadata(normalize_metadata(metadata))
        self._initial_metadata_sent = True

    def is_active(self) -> bool:
        """False once the call has ended: cancelled, timed out or completed."""
        return self._grpc_context.is_active()

    @property
    def cancelled(self) -> threading.Event:
        """Set once the call has ended: cancelled, deadline passed, or server stopping.

        A handler that works for long checks it between steps, or waits on it instead of
        sleeping, and gives up once it is set (its result could not reach anyone)::

            def say_hello(self, name: str) -> str:
                for step in range(30):
                    if self.context.cancelled.wait(timeout=0.1):
                        raise greeter.Cancelled("the client is gone")
                return f"Hello, {name}!"

        A handler that never checks runs to its end, holding its worker thread, and its
        result is dropped.
        """
        if self._cancelled is None:
            self._cancelled = threading.Event()
            self.add_done_callback(self._cancelled.set)
        return self._cancelled

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on a grpc thread) when the call ends, however it ends.

        Useful to stop work for a client that cancelled or whose deadline passed. If
        the call has already ended, the callback runs at once.
        """
        if not self._grpc_context.add_callback(callback):
            callback()


class AsyncCallContext(_BaseCallContext):
    """The context of a call served by an ``AsyncGreeterService``."""

    _grpc_context: grpc.aio.ServicerContext[Any, Any]

    def __init__(self, grpc_context: grpc.aio.ServicerContext[Any, Any]) -> None:
        super().__init__(grpc_context)
        self._compression_pending = False
        self._cancelled: asyncio.Event | None = None
        self._ended = False
        # grpc.aio's done() stays False for good once the client has cancelled, so the
        # call's own done callback, which runs however the call ends, says it ended.
        grpc_context.add_done_callback(self._end)  # type: ignore[arg-type]

    def _end(self, _context: object) -> None:
        self._ended = True

    async def send_initial_metadata(self, metadata: Metadata) -> None:
        """Send metadata to the client now, before the first response."""
        if self._initial_metadata_is_repeated():
            return
        await self._grpc_context.send_initial_metadata(normalize_metadata(metadata))
        self._initial_metadata_sent = True
        self._compression_pending = False

    def set_compression(self, compression: Compression) -> None:
        """Compress this call's responses with ``"gzip"`` or ``"deflate"`` (or ``"none"``).

        Call it before ``send_initial_metadata`` (if you send any): the algorithm is
        announced in the initial metadata.
        """
        if self._initial_metadata_is_repeated():
            return
        super().set_compression(compression)
        self._compression_pending = not self._initial_metadata_sent

    async def _apply_pending_compression(self) -> None:
        # grpc.aio applies set_compression() only when initial metadata is sent
        # explicitly (grpc/grpc#34690), so send it before the first response goes out.
        if self._compression_pending:
            await self.send_initial_metadata(())

    def is_active(self) -> bool:
        """False once the call has ended: cancelled, timed out or completed."""
        return not self._ended and not self._grpc_context.done()

    @property
    def cancelled(self) -> asyncio.Event:
        """Set once the call has ended: cancelled, deadline passed, or server stopping.

        An ``async def`` method is cancelled (``asyncio.CancelledError``) when its call
        ends, so it rarely needs this; it is here for work the method hands to other
        tasks, which can wait on it.
        """
        if self._cancelled is None:
            self._cancelled = asyncio.Event()
            if self._ended:
                self._cancelled.set()
            else:
                self.add_done_callback(self._cancelled.set)
        return self._cancelled

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the event loop) when the call ends, however it ends."""

        def done(_context: object) -> None:
            callback()

        # The stubs type the callback as a class of theirs; any callable works.
        self._grpc_context.add_done_callback(done)  # type: ignore[arg-type]


# The context of the call being served in this thread (sync) or task (asyncio).
current_context: ContextVar[_BaseCallContext] = ContextVar("greeter_call_context")


def current_context_of(kind: type[_Context], owner: str) -> _Context:
    """The context of the call being served, for a service of ``owner``'s kind."""
    context = current_context.get(None)
    if not isinstance(context, kind):
        raise RuntimeError(f"{owner}.context is only available while serving a call")
    return context
