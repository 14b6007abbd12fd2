"""``start()`` and ``serve()``: how every service serves itself, threaded or asyncio.

``Service`` and ``AsyncService`` (``server._runtime``), so the Greeter's classes and
every generated one, serve through these: ``start()`` returns a running server,
``serve()`` serves until SIGINT or SIGTERM, in this process or in ``workers``
processes. The servers are imported when a service first serves, not with a
generated module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias

from greeter._addresses import DEFAULT_ADDRESS

if TYPE_CHECKING:
    from greeter.server._assembly import ExtraService
    from greeter.server._async_server import AsyncGreeterServer
    from greeter.server._config import ServerConfig
    from greeter.server._core_log import CoreLogLimit
    from greeter.server._threaded_server import GreeterServer

__all__ = ["AsyncServing", "ThreadedServing"]

logger = logging.getLogger("greeter.server")


#: Serves in this process on an address with a config, until a signal.
_ServeHere: TypeAlias = "Callable[[str | Sequence[str], ServerConfig | None], object]"


class _Served:
    """What both kinds of service share: ``serve()``, in this process or in several."""

    if TYPE_CHECKING:  # what a server serves; ``server._runtime`` defines it

        def add_to_server(self, server: Any, /) -> None: ...

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

        An asyncio service (``AsyncGreeterService``) runs an event loop and
        ``serve_async`` on it. Off the main thread, where no signals arrive, it serves
        until the process ends; to stop
        a server from code, ``start()`` it and call ``stop()``. ``workers=N`` serves
        from N processes sharing the port (``SO_REUSEPORT``); each gets its own copy of
        this service, so keep shared state elsewhere. ``address``, ``services`` and
        ``web`` are as for ``start()``.

        While it serves, grpc core's own log lines (written from C++ to stderr) pass
        each at most once per 10 s, with a count of those left out: some come once per
        bad request. With greeter's log at DEBUG, all of them pass.
        """
        from greeter.server._binding import raise_open_file_limit

        if workers < 1:
            raise ValueError("workers must be at least 1")
        if workers > 1 and not isinstance(address, str):
            raise ValueError("workers > 1 serve one address (HOST:PORT), not a list")
        config = _with_web(config, web)
        # Before the server is built: its connection limit follows the open-file limit.
        raise_open_file_limit()
        core_log = _limit_core_log()
        try:
            self._serve_here_or_in_workers(address, config, services, workers)
        finally:
            if core_log is not None:
                core_log.stop()

    def _serve_here_or_in_workers(
        self,
        address: str | Sequence[str],
        config: ServerConfig | None,
        services: Sequence[ExtraService],
        workers: int,
    ) -> None:
        """``serve()``'s work once its arguments are checked: here, or in ``workers``."""
        from greeter.server._config import ServerConfig

        serve_here = self._serving(services)
        if workers == 1:
            serve_here(address, config)
            return
        assert isinstance(address, str)  # serve() said so
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


class ThreadedServing(_Served):
    """``start()`` and ``serve()`` of a service for the threaded server."""

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
        ``address`` may be a list of addresses; ``services`` are served beside this
        one (see ``greeter.ExtraService``). ``web="[::]:8080"`` also serves browsers
        and plain HTTP there (``ServerConfig.web``; see ``greeter.web``).
        """
        from greeter.server._threaded_server import GreeterServer

        server = GreeterServer(self, address, config=_with_web(config, web), services=services)
        return server.start()

    def _serving(self, services: Sequence[ExtraService]) -> _ServeHere:
        from greeter.server._threaded_server import GreeterServer

        return lambda at, config: GreeterServer(self, at, config=config, services=services).serve()


class AsyncServing(_Served):
    """``start()``, ``serve_async()`` and ``serve()`` of a service for the asyncio server."""

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
        ``services`` and ``web`` are as for the threaded service's ``start``.
        """
        from greeter.server._async_server import AsyncGreeterServer

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
        from greeter.server._async_server import AsyncGreeterServer

        server = AsyncGreeterServer(self, address, config=_with_web(config, web), services=services)
        await server.serve()

    def _serving(self, services: Sequence[ExtraService]) -> _ServeHere:
        return lambda at, config: _run_to_the_end(
            self.serve_async(at, config=config, services=services)
        )


#: How long the tasks still running once a server has stopped get, in all, before they
#: are abandoned: half to end by themselves (grpc has ended their calls), half to end
#: after being cancelled. The threaded server's bound past the grace period is the same.
_LEFTOVER_TASK_SECONDS = 0.5


def _limit_core_log() -> CoreLogLimit | None:
    """grpc core's own log lines, each once per window while ``serve()`` serves
    (``server._core_log``); with greeter's log at DEBUG, every one of them."""
    if logger.isEnabledFor(logging.DEBUG):
        return None
    from greeter.server._core_log import CoreLogLimit

    limit = CoreLogLimit()
    limit.start()
    return limit


def _run_to_the_end(main: Coroutine[object, object, None]) -> None:
    """``asyncio.run(main)``, except that leftover tasks cannot hold the process.

    Once ``main`` returns, ``asyncio.run`` cancels the tasks still running and waits for
    every one: a handler that swallows its cancellation would keep the process alive
    long past the grace period. Here they get a quarter of a second to end by
    themselves, then are cancelled and get a quarter of a second more, then are
    abandoned.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            if leftovers:
                # grpc has ended their calls: most end by themselves at once. Cancelling
                # one still in grpc's own code makes grpc log a traceback for it.
                _, leftovers = loop.run_until_complete(
                    asyncio.wait(leftovers, timeout=_LEFTOVER_TASK_SECONDS / 2)
                )
            for task in leftovers:
                task.cancel()
            if leftovers:
                _, stuck = loop.run_until_complete(
                    asyncio.wait(leftovers, timeout=_LEFTOVER_TASK_SECONDS / 2)
                )
                if stuck:
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
        "%d task(s) still running %.2f s after being cancelled (they ignore "
        "cancellation); abandoned",
        len(stuck),
        _LEFTOVER_TASK_SECONDS / 2,
    )
    for task in stuck:
        task._log_destroy_pending = False  # type: ignore[attr-defined]  # said above


def _with_web(config: ServerConfig | None, web: str | None) -> ServerConfig | None:
    """``config`` serving browsers on ``web`` too (the ``web=`` keyword's one place)."""
    if web is None:
        return config
    from greeter.server._config import ServerConfig

    return replace(config or ServerConfig(), web=web)
