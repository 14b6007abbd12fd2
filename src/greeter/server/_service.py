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

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from greeter._addresses import DEFAULT_ADDRESS
from greeter.pipeline._context import AsyncCallContext, CallContext, current_context_of
from greeter.server._assembly import ExtraService
from greeter.server._async_server import AsyncGreeterServer
from greeter.server._binding import raise_open_file_limit
from greeter.server._config import ServerConfig
from greeter.server._overrides import check_overrides
from greeter.server._threaded_server import GreeterServer

__all__ = ["AsyncGreeterService", "GreeterService"]

logger = logging.getLogger("greeter.server")


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


#: Serves in this process on an address with a config, until a signal.
_ServeHere: TypeAlias = Callable[[str | Sequence[str], ServerConfig | None], object]


class _Served:
    """What both service classes share: ``serve()``, in this process or in several."""

    def serve(
        self,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
        services: Sequence[ExtraService] = (),
        workers: int = 1,
        web: str | None = None,
    ) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully: the one-line way to serve.

        An ``AsyncGreeterService`` runs an event loop and ``serve_async`` on it. Off the
        main thread, where no signals arrive, it serves until the process ends; to stop
        a server from code, ``start()`` it and call ``stop()``. ``workers=N`` serves
        from N processes sharing the port (``SO_REUSEPORT``); each gets its own copy of
        this service, so keep shared state elsewhere. ``address``, ``services`` and
        ``web`` are as for ``start()``.
        """
        config = _with_web(config, web)
        # Before the server is built: its connection limit follows the open-file limit.
        raise_open_file_limit()
        serve_here = self._serving(services)
        if workers == 1:
            serve_here(address, config)
            return
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not isinstance(address, str):
            raise ValueError("workers > 1 serve one address (HOST:PORT), not a list")
        from greeter.server._workers import serve_in_workers  # only multi-process serving needs it

        worker_config = replace(config or ServerConfig(), reuse_port=True)
        if worker_config.tls is not None:
            worker_config.tls.check()  # one error here, not one from every worker
        status = serve_in_workers(lambda at: serve_here(at, worker_config), address, workers)
        if status != 0:
            raise SystemExit(status)

    def _serving(self, services: Sequence[ExtraService]) -> _ServeHere:
        """How this service serves in this process, with ``services``, until a signal."""
        raise NotImplementedError


class GreeterService(_Served):
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

    #: How many greetings ``say_hello_stream_reply`` sends by default.
    stream_reply_count: int = 3

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_overrides(cls, GreeterService)

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

    @property
    def context(self) -> CallContext:
        """The context of the call being served (only while a method runs).

        Raises ``RuntimeError`` when read outside a call.
        """
        return current_context_of(CallContext, "GreeterService")

    def start(
        self,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
        services: Sequence[ExtraService] = (),
        web: str | None = None,
    ) -> GreeterServer:
        """Start serving in background threads; returns the running server.

        Use the result as a context manager to stop it: ``with service.start(addr) as
        server: ...``. With port 0 the OS picks a free port: read ``server.port``.
        ``address`` may be a list of addresses; ``services`` are served beside the
        Greeter (see ``greeter.ExtraService``). ``web="[::]:8080"`` also serves browsers
        and plain HTTP there (``ServerConfig.web``; see ``greeter.web``).
        """
        server = GreeterServer(self, address, config=_with_web(config, web), services=services)
        return server.start()

    def _serving(self, services: Sequence[ExtraService]) -> _ServeHere:
        return lambda at, config: GreeterServer(self, at, config=config, services=services).serve()


class AsyncGreeterService(_Served):
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

    #: How many greetings ``say_hello_stream_reply`` sends by default.
    stream_reply_count: int = 3

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_overrides(cls, AsyncGreeterService)

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

    @property
    def context(self) -> AsyncCallContext:
        """The context of the call being served (only while a method runs).

        Raises ``RuntimeError`` when read outside a call.
        """
        return current_context_of(AsyncCallContext, "AsyncGreeterService")

    async def start(
        self,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
        services: Sequence[ExtraService] = (),
        web: str | None = None,
    ) -> AsyncGreeterServer:
        """Start serving on the running event loop; returns the running server.

        Stop it with ``await server.stop()``, or use it as an async context manager:
        ``async with await service.start(addr) as server: ...``. ``address``,
        ``services`` and ``web`` are as for ``GreeterService.start``.
        """
        server = AsyncGreeterServer(self, address, config=_with_web(config, web), services=services)
        return await server.start()

    async def serve_async(
        self,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
        services: Sequence[ExtraService] = (),
        web: str | None = None,
    ) -> None:
        """Serve until SIGINT or SIGTERM (or until cancelled), then stop gracefully.

        Run it on the main thread's event loop: that is where signals arrive.
        """
        server = AsyncGreeterServer(self, address, config=_with_web(config, web), services=services)
        await server.serve()

    def _serving(self, services: Sequence[ExtraService]) -> _ServeHere:
        return lambda at, config: _run_to_the_end(
            self.serve_async(at, config=config, services=services)
        )


#: How long the tasks still running once a server has stopped get to end after being
#: cancelled (grpc has cancelled its calls by then), before they are abandoned.
_LEFTOVER_TASK_SECONDS = 0.5


def _run_to_the_end(main: Coroutine[object, object, None]) -> None:
    """``asyncio.run(main)``, except that leftover tasks cannot hold the process.

    Once ``main`` returns, ``asyncio.run`` cancels the tasks still running and waits for
    every one: a handler that swallows its cancellation would keep the process alive
    long past the grace period. Here they get half a second, then are abandoned.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                _, stuck = loop.run_until_complete(
                    asyncio.wait(leftovers, timeout=_LEFTOVER_TASK_SECONDS)
                )
                _abandon(stuck)
            loop.run_until_complete(
                asyncio.wait_for(loop.shutdown_asyncgens(), _LEFTOVER_TASK_SECONDS)
            )
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _abandon(stuck: set[asyncio.Task[Any]]) -> None:
    """Abandon tasks that ignored their cancellation (say so once, not once per task)."""
    logger.warning(
        "%d task(s) still running %.1f s after being cancelled (they ignore "
        "cancellation); abandoned",
        len(stuck),
        _LEFTOVER_TASK_SECONDS,
    )
    for task in stuck:
        task._log_destroy_pending = False  # type: ignore[attr-defined]  # said above


def _with_web(config: ServerConfig | None, web: str | None) -> ServerConfig | None:
    """``config`` serving browsers on ``web`` too (the ``web=`` keyword's one place)."""
    if web is None:
        return config
    return replace(config or ServerConfig(), web=web)
