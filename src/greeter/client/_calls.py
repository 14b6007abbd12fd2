"""What the Greeter's calls return beyond a plain string: replies with metadata, and
reply streams.

Each is the generic result of ``greeter.client._streams`` narrowed to the Greeter's plain
values: a ``Reply`` is a ``Response[str]``, a ``ReplyStream`` a ``ResponseStream[str]``
over the call's ``HelloReply`` messages, yielding each one's ``message``. Call control,
metadata and error mapping are the generic streams', unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from greeter._helloworld import HelloReply
from greeter.client._streams import AsyncResponseStream, Response, ResponseStream

if TYPE_CHECKING:
    from grpc import _CallIterator  # the stubs' name for a streaming call; type-only

    from greeter.client._streams import AsyncStreamCall

__all__ = ["AsyncReplyStream", "Reply", "ReplyStream"]

_MESSAGE = attrgetter("message")


@dataclass(frozen=True)
class Reply(Response[str]):
    """A reply's message together with the metadata the server sent around it.

    Returned by the ``*_with_call`` client methods.

    Attributes:
        message: the reply's message, e.g. ``"Hello, you!"``.
        initial_metadata: metadata the server sent before the reply.
        trailing_metadata: metadata the server sent with the final status.
    """


class ReplyStream(ResponseStream[str]):
    """The replies of a streaming call, as an iterator of ``str``; also the call itself.

    A ``greeter.rpc.ResponseStream`` yielding each reply's message: iterate it, and
    leave its ``with`` block (or call ``cancel()``) to cancel the call on both ends
    once you have read enough; one dropped unfinished is cancelled when collected.
    A failed call raises the ``greeter.GreeterError`` subclass of its status.
    """

    def __init__(self, call: _CallIterator[HelloReply]) -> None:
        self._call: _CallIterator[Any] = call
        self._items = map(_MESSAGE, call)


class AsyncReplyStream(AsyncResponseStream[str]):
    """The replies of a streaming asyncio call, as an async iterator of ``str``.

    Mirrors ``ReplyStream``: ``async for`` over it, leave the ``async with`` block (or
    call ``cancel()``) to cancel it early; the metadata accessors are awaitables.
    """

    def __init__(self, call: AsyncStreamCall[HelloReply]) -> None:
        self._call: AsyncStreamCall[Any] = call
        self._cancelled_by_caller = False

    def _item(self, response: object) -> str:
        assert isinstance(response, HelloReply)
        return response.message
