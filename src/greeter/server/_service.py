"""The base classes a user subclasses: ``GreeterService`` and ``AsyncGreeterService``.

Both implement all five RPCs of ``helloworld.Greeter`` with these defaults:

=======================  ======================  ==========================================
RPC                      shape                   default
=======================  ======================  ==========================================
SayHello                 unary                   ``"Hello, you!"``
SayHelloAgain            unary                   ``"Hello again, you!"``
SayHelloStreamReply      server streaming        ``stream_reply_count`` greetings for one
                                                 name: ``"Hello, you! (1 of 3)"``, ...
SayHelloStreamRequest    client streaming        one greeting for every name sent:
                                                 ``"Hello, Ann, Bob and Cy!"``
SayHelloBidiStream       bidirectional           ``say_hello(name)`` for each name, as it
                                                 arrives
=======================  ======================  ==========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

# The servers load with the service classes: a service is there to be served, and
# its first start() then imports nothing.
import greeter.server._async_server
import greeter.server._threaded_server  # noqa: F401
from greeter._helloworld import GREETER
from greeter.server._messages import CONVERSIONS, PLAIN_FORMS
from greeter.server._runtime import AsyncService, Service

__all__ = ["AsyncGreeterService", "GreeterService"]


def greet_everyone(names: list[str]) -> str:
    """One greeting for many names: ``"Hello, Ann, Bob and Cy!"`` (``"Hello!"`` for none)."""
    if not names:
        return "Hello!"
    if len(names) == 1:
        return f"Hello, {names[0]}!"
    return f"Hello, {', '.join(names[:-1])} and {names[-1]}!"


def numbered_greetings(name: str, count: int) -> Iterator[str]:
    """``count`` greetings for one name, numbered: ``"Hello, you! (1 of 3)"``, ..."""
    for number in range(1, count + 1):
        yield f"Hello, {name}! ({number} of {count})"


class GreeterService(Service):
    """The ``helloworld.Greeter`` service for the threaded (sync) server.

    An unmodified ``GreeterService()`` is a working server with the canonical greetings.
    Subclass it and override the RPCs you want to change; each takes and returns plain
    Python values, and streams are iterables::

        class Polite(GreeterService):
            def say_hello(self, name: str) -> str:
                return f"Good day, {name}."

        Polite().serve("[::]:50051")

    Raise a ``greeter.GreeterError`` subclass (``greeter.NotFound("...")``) to end a call
    with that status; any other exception becomes INTERNAL with a generic message, and
    its traceback is logged on the server. ``self.context`` gives the running call's
    metadata, peer and deadline, and lets a method set trailing metadata or compression.

    For ``async def`` methods, subclass ``AsyncGreeterService`` instead.
    """

    definition = GREETER
    _conversions = CONVERSIONS
    _forms = PLAIN_FORMS

    #: How many greetings ``say_hello_stream_reply`` sends by default.
    stream_reply_count: int = 3

    def say_hello(self, name: str) -> str:
        """SayHello: one greeting for one name."""
        return f"Hello, {name}!"

    def say_hello_again(self, name: str) -> str:
        """SayHelloAgain: another greeting for one name."""
        return f"Hello again, {name}!"

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        """SayHelloStreamReply: several greetings for one name, sent as they are produced.

        Return any iterable; a generator lets replies go out one by one. If the client
        goes away, the generator is closed (its ``finally`` blocks run) and no more
        replies are produced.
        """
        return numbered_greetings(name, self.stream_reply_count)

    def say_hello_stream_request(self, names: Iterator[str]) -> str:
        """SayHelloStreamRequest: read every name the client sends; one greeting for all."""
        return greet_everyone(list(names))

    def say_hello_bidi_stream(self, names: Iterator[str]) -> Iterable[str]:
        """SayHelloBidiStream: answer each name as it arrives (with ``say_hello``).

        Each name is answered as a SayHello call would be; initial metadata that
        ``say_hello`` sends goes out once, with the first reply.
        """
        self.context._answer_each_message_as_a_call()
        for name in names:
            yield self.say_hello(name)


class AsyncGreeterService(AsyncService):
    """The ``helloworld.Greeter`` service for the asyncio server: ``async def`` methods.

    Mirrors ``GreeterService`` method for method; streams are async iterables::

        class Polite(AsyncGreeterService):
            async def say_hello(self, name: str) -> str:
                await asyncio.sleep(0)  # call other async code freely
                return f"Good day, {name}."

        Polite().serve("[::]:50051")   # or: await Polite().serve_async(...)

    Errors, ``self.context`` (an ``AsyncCallContext``) and shutdown behave as in
    ``GreeterService``.
    """

    definition = GREETER
    _conversions = CONVERSIONS
    _forms = PLAIN_FORMS

    #: How many greetings ``say_hello_stream_reply`` sends by default.
    stream_reply_count: int = 3

    async def say_hello(self, name: str) -> str:
        """SayHello: one greeting for one name."""
        return f"Hello, {name}!"

    async def say_hello_again(self, name: str) -> str:
        """SayHelloAgain: another greeting for one name."""
        return f"Hello again, {name}!"

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        """SayHelloStreamReply: several greetings for one name (an async generator).

        If the client goes away, the generator is closed and no more replies are made.
        """
        for greeting in numbered_greetings(name, self.stream_reply_count):
            yield greeting

    async def say_hello_stream_request(self, names: AsyncIterator[str]) -> str:
        """SayHelloStreamRequest: read every name the client sends; one greeting for all."""
        return greet_everyone([name async for name in names])

    async def say_hello_bidi_stream(self, names: AsyncIterator[str]) -> AsyncIterator[str]:
        """SayHelloBidiStream: answer each name as it arrives (with ``say_hello``).

        Each name is answered as a SayHello call would be; initial metadata that
        ``say_hello`` sends goes out once, with the first reply.
        """
        self.context._answer_each_message_as_a_call()
        async for name in names:
            yield await self.say_hello(name)
