"""What the web port needs of the Greeter: its five RPC methods, blocking or async.

The side ports take the Greeter by these protocols (``_ports``, ``_servicer``), so none
of them imports ``_service``, which imports the servers: the imports run one way.
``GreeterService`` satisfies ``GreeterMethods`` and ``AsyncGreeterService`` satisfies
``AsyncGreeterMethods``, as does any subclass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Protocol, runtime_checkable

__all__ = ["AsyncGreeterMethods", "GreeterMethods"]


@runtime_checkable
class GreeterMethods(Protocol):
    """The RPCs of a ``GreeterService``, as the threaded server calls them."""

    def say_hello(self, name: str) -> str:
        """SayHello: one greeting for one name."""
        ...

    def say_hello_again(self, name: str) -> str:
        """SayHelloAgain: another greeting for one name."""
        ...

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        """SayHelloStreamReply: several greetings for one name."""
        ...

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        """SayHelloStreamRequest: one greeting for every name sent."""
        ...

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        """SayHelloBidiStream: a greeting for each name, as it arrives."""
        ...


@runtime_checkable
class AsyncGreeterMethods(Protocol):
    """The RPCs of an ``AsyncGreeterService``, as the asyncio server awaits them."""

    async def say_hello(self, name: str) -> str:
        """SayHello: one greeting for one name."""
        ...

    async def say_hello_again(self, name: str) -> str:
        """SayHelloAgain: another greeting for one name."""
        ...

    def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        """SayHelloStreamReply: several greetings for one name (an async generator)."""
        ...

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        """SayHelloStreamRequest: one greeting for every name sent."""
        ...

    def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
        """SayHelloBidiStream: a greeting for each name, as it arrives (an async generator)."""
        ...
