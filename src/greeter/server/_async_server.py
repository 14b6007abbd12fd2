"""``AsyncGreeterServer``: an asyncio service (``AsyncGreeterService``, a generated one) on
grpc's asyncio server.

The twin of ``GreeterServer`` (in ``_threaded_server``), sharing its binding,
registration, stop deadlines and log lines (``_assembly``, ``_binding``,
``_lifecycle``); here is only what awaits. Binding needs the running loop, so it
happens in ``start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc.aio

from greeter._addresses import DEFAULT_ADDRESS
from greeter._options import to_grpc_compression
from greeter.pipeline._interceptors import AsyncHookInterceptor
from greeter.server._assembly import Assembly, ExtraService, Servable
from greeter.server._binding import bind_all, listen_addresses, raise_open_file_limit
from greeter.server._config import ServerConfig
from greeter.server._health import AsyncHealth
from greeter.server._lifecycle import STOP_MARGIN_SECONDS, ServerLife
from greeter.server._signals import SHUTDOWN_SIGNALS

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncGreeterServer"]


class AsyncGreeterServer(ServerLife):
    """A server for one asyncio service on the event loop; an async context manager.

    Binding needs the running loop, so it happens in ``start()`` (or on entering the
    ``async with`` block); ``port``, ``address`` and ``target`` are known from then on::

        async with AsyncGreeterServer(AsyncGreeterService(), "127.0.0.1:0") as server:
            async with AsyncGreeterClient(server.target) as client:
                print(await client.greet("you"))

    ``address`` and ``services`` are as for ``GreeterServer``. Leaving the block stops
    the server gracefully. ``AsyncGreeterService.start()``, ``serve_async()`` and
    ``serve()`` are the usual ways in. ``ServerConfig.max_workers`` does not apply:
    calls run as asyncio tasks.
    """

    def __init__(
        self,
        service: Servable,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
        services: Sequence[ExtraService] = (),
    ) -> None:
        self.config = config or ServerConfig()
        self._addresses = listen_addresses(address)  # a bad address fails here
        self._assembly = Assembly(service, services, self.config, asyncio=True)
        self._server: grpc.aio.Server | None = None
        self._health: AsyncHealth | None = None
        self._bindings = []
        self._web = None
        self._stopping = False
        self._stopped_before_start = False
        self._stopped: asyncio.Event | None = None
        self._end_serving: asyncio.Event | None = None
        self._start_lock = asyncio.Lock()

    async def start(self) -> Self:
        """Bind and start serving on the running loop; returns ``self``. Idempotent."""
        async with self._start_lock:  # a second start() waits, then finds it started
            return await self._start()

    async def _start(self) -> Self:
        if self._stopping or self._stopped_before_start:
            raise RuntimeError("a stopped server cannot be started again")
        if self._server is not None:
            return self
        server = grpc.aio.server(
            interceptors=self._assembly.interceptors(AsyncHookInterceptor),  # type: ignore[arg-type]
            options=self.config.channel_options(),
            maximum_concurrent_rpcs=self.config.maximum_concurrent_rpcs,
            compression=to_grpc_compression(self.config.compression),
        )
        health = None
        if self.config.health:
            health = AsyncHealth(server)  # ends its own watches, as on the threaded server
        self._assembly.register(server)
        web = None
        try:
            self._bindings = bind_all(server, self._addresses, self.config)
            await server.start()
            web = self._assembly.web_port()
            if web is not None:
                await web.start_async()
        except BaseException:
            # grpc closes listeners only when a started server stops (see GreeterServer).
            with contextlib.suppress(Exception):
                await server.start()
            await server.stop(None)
            if web is not None:
                web.begin_stop()
                await web.wait_stopped_async(STOP_MARGIN_SECONDS)
            raise
        self._web = web
        self._server, self._health = server, health
        self._stopped, self._end_serving = asyncio.Event(), asyncio.Event()
        if health is not None:
            await health.serving(self._assembly.service_names)
        self._log_serving()
        return self

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop: report ``NOT_SERVING``, refuse new calls, let in-flight ones finish.

        In-flight calls get ``grace_seconds`` (default: the configured grace period);
        those still running then are cancelled and logged. Returns within the grace
        period plus half a second. Safe to call twice.
        """
        if self._server is None:
            self._stopped_before_start = True  # so it never starts, as a GreeterServer
            return
        if self._stopping:
            return
        self._stopping = True
        assert self._end_serving is not None
        self._end_serving.set()
        deadlines = self._stop_deadlines(grace_seconds)
        if self._health is not None:
            await self._health.stopping()
        if self._web is not None:
            self._web.begin_stop()
        # As on the threaded server: grpc waits for every call it has accepted.
        stopping = asyncio.ensure_future(self._server.stop(deadlines.left))
        self._assembly.endless.end_all()
        if self._health is not None:
            await self._health.end_watches()
        done, _ = await asyncio.wait({stopping}, timeout=deadlines.until_report())
        if not done:
            self._report_stragglers(deadlines)
        done, _ = await asyncio.wait({stopping}, timeout=deadlines.until_end())
        if stopping in done:
            stopping.result()
        if self._web is not None:
            await self._web.wait_stopped_async(deadlines.until_end())
        if self._assembly.writes is not None:
            self._assembly.writes.close()
        assert self._stopped is not None
        self._stopped.set()
        self._log_stopped()

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Wait until the server stops; returns False if ``timeout`` passed first.

        As on ``GreeterServer``: a server stopped before it started has terminated
        (True at once), and waiting for one that was never started raises
        ``RuntimeError`` instead of returning as if it had stopped.
        """
        if self._stopped is None:
            if self._stopped_before_start:
                return True
            raise RuntimeError("the server is not started yet: await server.start() first")
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def serve(self) -> signal.Signals | None:
        """Start, serve until SIGINT or SIGTERM (or ``stop()``), then stop gracefully.

        On the main thread's loop, SIGINT and SIGTERM start the graceful stop; further
        signals during it are ignored (the grace period bounds it), as on the threaded
        server. On any other thread it serves until ``stop()``. Cancelling the task
        running it also stops the server gracefully, then lets the cancellation
        propagate. Returns the signal that ended serving, or ``None``.
        """
        raise_open_file_limit()
        loop = asyncio.get_running_loop()
        received: list[signal.Signals] = []
        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.getsignal(sig) for sig in SHUTDOWN_SIGNALS}
        try:
            async with self:
                assert self._end_serving is not None
                end_serving = self._end_serving

                def handler(sig: signal.Signals) -> None:
                    received.append(sig)
                    end_serving.set()

                if on_main_thread:
                    for sig in SHUTDOWN_SIGNALS:
                        loop.add_signal_handler(sig, handler, sig)
                await end_serving.wait()
                if received:
                    await self._lame_duck(received[0])
        finally:
            # Only now, once the stop is over: a second signal must not end the drain.
            if on_main_thread:
                for sig in SHUTDOWN_SIGNALS:
                    loop.remove_signal_handler(sig)
                    # asyncio restores the default, not what was there before.
                    signal.signal(sig, previous[sig])
        return received[0] if received else None

    async def _lame_duck(self, received: signal.Signals) -> None:
        """Report NOT_SERVING and take the calls on their way, unless a stop has begun."""
        lame_duck = self._begin_lame_duck(received)
        if self._health is not None:
            await self._health.stopping()
        if not self._stopping:  # stop() was called meanwhile: its clock runs already
            await asyncio.sleep(lame_duck)

    #: The older name of ``serve()``.
    serve_until_signal = serve

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
