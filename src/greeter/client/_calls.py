"""What a call returns beyond a plain string: replies with metadata, and reply streams."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from greeter._metadata import MetadataTuple, metadata_from_grpc
from greeter._proto import helloworld_pb2
from greeter.errors import Cancelled, error_from_grpc

if TYPE_CHECKING:
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only
    from typing_extensions import Self

__all__ = ["AsyncReplyStream", "Reply", "ReplyStream"]

HelloReply = helloworld_pb2.HelloReply
_MESSAGE = attrgetter("message")


@dataclass(frozen=True)
class Reply:
    """A reply's message together with the metadata the server sent around it.

    Returned by the ``*_with_call`` client methods.

    Attributes:
        message: the reply's message, e.g. ``"Hello, you!"``.
        initial_metadata: metadata the server sent before the reply.
        trailing_metadata: metadata the server sent with the final status.
    """

    message: str
    initial_metadata: MetadataTuple
    trailing_metadata: MetadataTuple


class ReplyStream:
    """The replies of a streaming call, as an iterator of ``str``; also the call itself.

    Iterate it for the messages. Leaving the ``with`` block (or calling ``cancel()``)
    cancels the call if it is still running, so a consumer that stops early frees the
    call on both ends; a stream dropped unfinished is also cancelled when it is
    garbage-collected. Errors raise the ``greeter.GreeterError`` subclass of the status.
    """

    def __init__(self, call: _CallIterator[HelloReply]) -> None:
        self._call = call

    def __iter__(self) -> Iterator[str]:
        # A generator, not ``self``: a ``for`` loop then resumes it once per reply, which
        # costs less than calling ``__next__`` (a new frame) once per reply.
        try:
            yield from map(_MESSAGE, self._call)
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc

    def __next__(self) -> str:
        try:
            return next(self._call).message
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc

    def cancel(self) -> bool:
        """Cancel the call; True if it was still running."""
        cancel = getattr(self._call, "cancel", None)
        if cancel is None:
            # Some instrumentation (OpenTelemetry's GrpcInstrumentorClient) hands back a
            # plain generator around the call: closing it drops, and so cancels, the call.
            self._call.close()  # type: ignore[attr-defined]
            return True
        result: bool = cancel()
        return result

    def done(self) -> bool:
        """True once the call has ended (completed, failed or cancelled)."""
        is_active = getattr(self._call, "is_active", None)
        return False if is_active is None else not is_active()

    def initial_metadata(self) -> MetadataTuple:
        """The metadata the server sent first (waits for it to arrive)."""
        return metadata_from_grpc(self._call.initial_metadata())

    def trailing_metadata(self) -> MetadataTuple:
        """The metadata the server sent with its status (waits for the call to end)."""
        return metadata_from_grpc(self._call.trailing_metadata())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class AsyncReplyStream:
    """The replies of a streaming asyncio call, as an async iterator of ``str``.

    Mirrors ``ReplyStream``: ``async for`` over it, leave the ``async with`` block (or
    call ``cancel()``) to cancel it early; the metadata accessors are awaitables.
    """

    def __init__(
        self,
        call: grpc.aio.UnaryStreamCall[Any, HelloReply]
        | grpc.aio.StreamStreamCall[Any, HelloReply],
    ) -> None:
        self._call = call
        self._cancelled_by_caller = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._cancelled_by_caller:
            raise Cancelled("the call was cancelled by the caller")
        try:
            reply = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        if reply is grpc.aio.EOF:
            raise StopAsyncIteration
        assert isinstance(reply, HelloReply)
        return reply.message

    def cancel(self) -> bool:
        """Cancel the call; True if it was still running."""
        self._cancelled_by_caller = True
        return self._call.cancel()

    def done(self) -> bool:
        """True once the call has ended (completed, failed or cancelled)."""
        return self._call.done()

    async def initial_metadata(self) -> MetadataTuple:
        """The metadata the server sent first (waits for it to arrive)."""
        return metadata_from_grpc(await self._call.initial_metadata())

    async def trailing_metadata(self) -> MetadataTuple:
        """The metadata the server sent with its status (waits for the call to end)."""
        return metadata_from_grpc(await self._call.trailing_metadata())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()
