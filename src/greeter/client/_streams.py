"""What a client's calls return beyond a plain message, for any service: a response with
its metadata, and response streams with call control.

``ResponseStream`` and ``AsyncResponseStream`` are the one implementation of a streamed
call on the client: iteration, ``cancel()``, ``done()``, the server's metadata, the
context manager and the mapping of a failed call to ``greeter.GreeterError``. What an
item is may be narrowed by a subclass: the Greeter's ``ReplyStream`` and
``AsyncReplyStream`` (``greeter.client._calls``) yield each reply's ``message``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import grpc
import grpc.aio

from greeter._metadata import MetadataTuple, metadata_from_grpc
from greeter.errors import Cancelled, error_from_grpc

if TYPE_CHECKING:
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only
    from typing_extensions import Self

__all__ = ["AsyncResponseStream", "AsyncStreamCall", "Response", "ResponseStream"]

_T = TypeVar("_T")

#: grpc.aio's call of a server-streaming or bidi method, whose responses are read.
AsyncStreamCall: TypeAlias = (
    "grpc.aio.UnaryStreamCall[Any, _T] | grpc.aio.StreamStreamCall[Any, _T]"
)


@dataclass(frozen=True)
class Response(Generic[_T]):
    """A response message together with the metadata the server sent around it.

    Returned by the ``*_with_call`` methods of generated clients.

    Attributes:
        message: the response message.
        initial_metadata: metadata the server sent before the response.
        trailing_metadata: metadata the server sent with the final status.
    """

    message: _T
    initial_metadata: MetadataTuple
    trailing_metadata: MetadataTuple


class ResponseStream(Generic[_T]):
    """The responses of a streaming call, as an iterator of messages; also the call itself.

    Iterate it for the messages. Leaving the ``with`` block (or calling ``cancel()``)
    cancels the call if it is still running, so a consumer that stops early frees the
    call on both ends; a stream dropped unfinished is also cancelled when it is
    garbage-collected. Errors raise the ``greeter.GreeterError`` subclass of the status.
    """

    def __init__(self, call: _CallIterator[_T]) -> None:
        self._call: _CallIterator[Any] = call
        #: What iterating yields: the call's responses (a subclass may map them).
        self._items: Iterator[_T] = call

    def __iter__(self) -> Iterator[_T]:
        # A generator, not ``self``: a ``for`` loop then resumes it once per response,
        # which costs less than calling ``__next__`` (a new frame) once per response.
        try:
            yield from self._items
        except grpc.RpcError as exc:
            raise error_from_grpc(exc) from exc

    def __next__(self) -> _T:
        try:
            return next(self._items)
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


class AsyncResponseStream(Generic[_T]):
    """The responses of a streaming asyncio call, as an async iterator of messages.

    Mirrors ``ResponseStream``: ``async for`` over it, leave the ``async with`` block (or
    call ``cancel()``) to cancel it early; the metadata accessors are awaitables.
    """

    def __init__(self, call: AsyncStreamCall[_T], response_type: type[_T]) -> None:
        self._call: AsyncStreamCall[Any] = call
        self._response_type = response_type
        self._cancelled_by_caller = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _T:
        if self._cancelled_by_caller:
            raise Cancelled("the call was cancelled by the caller")
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise error_from_grpc(exc) from exc
        if response is grpc.aio.EOF:
            raise StopAsyncIteration
        return self._item(response)

    def _item(self, response: object) -> _T:
        """What iterating yields for one response: the response (a subclass may map it)."""
        assert isinstance(response, self._response_type)
        return response

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
