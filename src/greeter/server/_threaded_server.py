"""``GreeterServer``: a threaded service (``GreeterService``, a generated one) on grpcio's server.

Its twin, ``AsyncGreeterServer``, is in ``_async_server``; what they share (binding,
registration, the stop's deadlines, the log lines) is in ``_assembly``, ``_binding``
and ``_lifecycle``. Here is only what blocks.

The life of a server: bind every address (a failure releases what was bound), start,
report ``SERVING``; on stop, report ``NOT_SERVING``, refuse new calls, give in-flight
calls the grace period, cancel what is left and log which calls those were.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

from greeter._addresses import DEFAULT_ADDRESS
from greeter._options import to_grpc_compression
from greeter.pipeline._interceptors import HookInterceptor
from greeter.server._assembly import Assembly, ExtraService, Servable
from greeter.server._binding import bind_all, listen_addresses, raise_open_file_limit
from greeter.server._config import ServerConfig
from greeter.server._executor import CallThreads, handler_threads
from greeter.server._health import Health
from greeter.server._lifecycle import STOP_MARGIN_SECONDS, ServerLife
from greeter.server._signals import ShutdownSignals

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["GreeterServer"]


class GreeterServer(ServerLife):
    """A server for one service (and ``services`` beside it), bound to one or more
    addresses; a context manager.

    Binding happens on construction, so ``port`` is known before the server starts
    (useful with port 0, where the OS picks a free port), and a busy port fails the
    constructor. (``AsyncGreeterServer`` checks its addresses on construction and binds
    in ``start()``: grpc.aio needs the running loop.) ``stop()`` before ``start()``
    gives the ports back; the server then never starts::

        with GreeterServer(GreeterService(), "127.0.0.1:0") as server:
            print(GreeterClient(server.target).greet("you"))

    ``address`` may be a list (``["127.0.0.1:0", "[::1]:0", "unix:/tmp/greeter.sock"]``).
    ``service`` is a ``GreeterService`` or a generated threaded service; ``services`` are
    served beside it (see ``ExtraService``). Leaving the block stops the server
    gracefully (see ``ServerConfig.grace_seconds``). ``GreeterService.start()`` and
    ``GreeterService.serve()`` (every service's ``start()`` and ``serve()``) are the
    usual ways in.
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
        addresses = listen_addresses(address)
        assembly = Assembly(service, services, self.config, asyncio=False)
        if assembly.pipeline is not None:
            assembly.pipeline.check_threaded()
        self._assembly = assembly
        self._executor = handler_threads(self.config, "greeter-server", CallThreads)
        self._server = grpc.server(
            self._executor,  # type: ignore[arg-type]  # any Executor works; stubs say ThreadPoolExecutor
            interceptors=assembly.interceptors(HookInterceptor),  # type: ignore[arg-type]
            options=self.config.channel_options(),
            maximum_concurrent_rpcs=self.config.maximum_concurrent_rpcs,
            compression=to_grpc_compression(self.config.compression),
        )
        # Health ends its own Watch streams at stop (``end_watches``), with OK after
        # NOT_SERVING: cancelling them from outside could cut that last status.
        self._health = Health(self._server) if self.config.health else None
        assembly.register(self._server)
        self._bindings = []
        self._web = None
        try:
            self._bindings = bind_all(self._server, addresses, self.config)
            self._web = assembly.web_port()
        except BaseException:
            self._release()
            raise
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._signals: ShutdownSignals | None = None

    def _release(self) -> None:
        """Give back every port after a failed bind or start: nothing is left listening.

        grpc closes its listeners only on the way down from a started server, so a
        server that never started is started and stopped at once.
        """
        with contextlib.suppress(Exception):
            self._server.start()
        self._server.stop(None).wait()
        if self._web is not None:
            self._web.begin_stop()
            self._web.wait_stopped(STOP_MARGIN_SECONDS)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def start(self) -> Self:
        """Start serving calls in background threads; returns ``self``.

        Starting a started server does nothing, so ``with service.start(...)`` works.
        """
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped server cannot be started again")
            if self._started:
                return self
            try:
                self._server.start()
                if self._web is not None:
                    self._web.start_thread()
            except BaseException:
                self._release()
                raise
            self._started = True
        if self._health is not None:
            self._health.serving(self._assembly.service_names)
        self._log_serving()
        return self

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop: report ``NOT_SERVING``, refuse new calls, let in-flight ones finish.

        In-flight calls get ``grace_seconds`` (default: the configured grace period);
        those still running then are cancelled and logged. Returns within the grace
        period plus half a second, even if a handler ignores its cancellation (its
        thread is abandoned, and does not keep the process alive). Safe to call twice,
        and from any thread.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if not started:
            self._release()  # nothing to drain; grpc frees the ports only this way
            return
        deadlines = self._stop_deadlines(grace_seconds)
        if self._health is not None:
            self._health.stopping()
        if self._web is not None:
            self._web.begin_stop()
        # grpc refuses new calls from here on and waits for every call it has accepted,
        # started or not; health watches and reflection streams would never end.
        stopping = self._server.stop(deadlines.left)
        self._assembly.endless.end_all()
        if self._health is not None:
            self._health.end_watches()
        if not stopping.wait(deadlines.until_report()):
            self._report_stragglers(deadlines)
        stopping.wait(deadlines.until_end())
        if self._web is not None:
            self._web.wait_stopped(deadlines.until_end())
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._assembly.writes is not None:
            self._assembly.writes.close()
        if self._signals is not None:
            self._signals.wake()
        self._log_stopped()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops; returns False if ``timeout`` passed first.

        As on ``AsyncGreeterServer``: a server stopped before it started has
        terminated (True at once), and waiting for one that was never started raises
        ``RuntimeError`` instead of blocking for good.
        """
        with self._lock:
            started, stopped = self._started, self._stopped
        if not started:
            if stopped:
                return True
            raise RuntimeError("the server is not started yet: call server.start() first")
        return not self._server.wait_for_termination(timeout)

    def serve(self) -> signal.Signals | None:
        """Start, serve until SIGINT or SIGTERM (or ``stop()``), then stop gracefully.

        On the main thread, SIGINT and SIGTERM start the graceful stop; further signals
        during it are ignored (the grace period bounds it). Off the main thread, where
        Python delivers no signals, it serves until another thread calls ``stop()``.
        Returns the signal that ended serving, or ``None``.
        """
        raise_open_file_limit()
        if threading.current_thread() is not threading.main_thread():
            with self:
                self.wait_for_termination()
            return None
        with ShutdownSignals() as signals:
            self._signals = signals
            with self:
                received = signals.wait()
                if received is not None:
                    lame_duck = self._begin_lame_duck(received)
                    if self._health is not None:
                        self._health.stopping()
                    signals.sleep(lame_duck)
        return received

    #: The older name of ``serve()``.
    serve_until_signal = serve

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
