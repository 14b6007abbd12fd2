"""Running a Greeter server: binding, starting, graceful stop, and SIGINT/SIGTERM.

``GreeterServer`` runs a ``GreeterService`` on grpcio's threaded server;
``AsyncGreeterServer`` runs an ``AsyncGreeterService`` on the asyncio server. They share
their configuration (``ServerConfig``) and differ only where blocking and awaiting do.
"""

from __future__ import annotations

import asyncio
import logging
import select
import signal
import socket
from concurrent import futures
from types import TracebackType
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from greeter._config import ServerConfig, to_grpc_compression
from greeter._proto import helloworld_pb2_grpc
from greeter._servicer import AsyncServicer, Servicer

if TYPE_CHECKING:
    from typing_extensions import Self

    from greeter._service import AsyncGreeterService, GreeterService

__all__ = ["DEFAULT_ADDRESS", "AsyncGreeterServer", "GreeterServer"]

_SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)

logger = logging.getLogger("greeter.server")

#: Where ``serve()`` listens unless told otherwise: every interface, port 50051.
DEFAULT_ADDRESS = "[::]:50051"

_WILDCARD_HOSTS = {"[::]", "0.0.0.0", ""}


class _Binding:
    """Where a server listens: the bound port, its address and a target to dial."""

    def __init__(self, server: grpc.Server | grpc.aio.Server, address: str) -> None:
        host = address.rpartition(":")[0]
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {address}: {exc}") from None
        #: The port the server listens on (the OS's pick when asked for port 0).
        self.port: int = port
        #: The address the server listens on, with the real port.
        self.address = f"{host}:{port}"
        #: An address a client on this machine can dial (``localhost`` for wildcards).
        self.target = f"{'localhost' if host in _WILDCARD_HOSTS else host}:{port}"


class _Bound:
    """``port``, ``address`` and ``target``, read from where the server is bound."""

    _binding: _Binding | None

    def _bound(self) -> _Binding:
        if self._binding is None:
            raise RuntimeError("the server is not started yet: await server.start() first")
        return self._binding

    @property
    def port(self) -> int:
        """The port the server listens on (the OS's pick when asked for port 0)."""
        return self._bound().port

    @property
    def address(self) -> str:
        """The address the server listens on, with the real port."""
        return self._bound().address

    @property
    def target(self) -> str:
        """An address a client on this machine can dial (``localhost`` for wildcards)."""
        return self._bound().target


class GreeterServer(_Bound):
    """A Greeter server bound to an address; a context manager that starts and stops it.

    Binding happens on construction, so ``port`` is known before the server starts
    (useful with port 0, where the OS picks a free port)::

        with GreeterServer(GreeterService(), "127.0.0.1:0") as server:
            print(GreeterClient(server.target).greet("you"))

    Leaving the block stops the server gracefully (see ``ServerConfig.grace_seconds``).
    ``GreeterService.start()`` and ``GreeterService.serve()`` are the usual ways in.
    """

    def __init__(
        self,
        service: GreeterService,
        address: str = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self._executor = futures.ThreadPoolExecutor(
            max_workers=self.config.max_workers, thread_name_prefix="greeter-server"
        )
        self._server = grpc.server(
            self._executor,
            options=self.config.channel_options(),
            compression=to_grpc_compression(self.config.compression),
        )
        helloworld_pb2_grpc.add_GreeterServicer_to_server(Servicer(service), self._server)
        try:
            self._binding = _Binding(self._server, address)
        except OSError:
            self._executor.shutdown(wait=False)
            raise
        self._started = False

    def start(self) -> Self:
        """Start serving calls in background threads; returns ``self``.

        Starting a started server does nothing, so ``with service.start(...)`` works.
        """
        if not self._started:
            self._server.start()
            self._started = True
            logger.info("Serving helloworld.Greeter on %s", self.address)
        return self

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop: refuse new calls, give in-flight ones ``grace_seconds`` to finish.

        Calls still running when the grace period ends are cancelled. Blocks until the
        server has stopped. ``grace_seconds`` defaults to the configured one.
        """
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        self._server.stop(grace).wait()
        self._executor.shutdown(wait=False, cancel_futures=True)
        logger.info("Stopped serving on %s", self.address)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops; returns False if ``timeout`` passed first."""
        return not self._server.wait_for_termination(timeout)

    def serve_until_signal(self) -> signal.Signals:
        """Start, block until SIGINT or SIGTERM, then stop gracefully.

        Must be called from the main thread (Python delivers signals only there).
        Further signals during the graceful stop are ignored; the grace period bounds
        it. Returns the signal that ended the wait.
        """
        with ShutdownSignals() as signals, self:
            received = signals.wait()
            logger.info(
                "Received %s; stopping (in-flight calls get %.1f s)",
                received.name,
                self.config.grace_seconds,
            )
        return received

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ShutdownSignals:
    """Catches SIGINT and SIGTERM while in use; ``wait()`` blocks until one arrives.

    The handler only records the signal: it takes no lock, so a second signal arriving
    at any moment cannot deadlock the main thread (``threading.Event.set()`` in a signal
    handler can). The main thread wakes through ``signal.set_wakeup_fd``. Signals that
    arrive after the first (say, during a graceful stop) are recorded and ignored.
    The previous handlers are restored on exit. Use from the main thread only.
    """

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []

    def __enter__(self) -> Self:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {sig: signal.signal(sig, self._record) for sig in _SHUTDOWN_SIGNALS}
        return self

    def _record(self, signum: int, frame: object) -> None:
        self.received.append(signal.Signals(signum))

    def wait(self) -> signal.Signals:
        """Block until SIGINT or SIGTERM has arrived; return the first one."""
        while not self.received:
            select.select([self._reader], [], [])
            self._reader.recv(1024)  # drain the wakeup bytes
        return self.received[0]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._reader.close()
        self._writer.close()


class AsyncGreeterServer(_Bound):
    """A Greeter server on the asyncio event loop; an async context manager.

    Binding needs the running loop, so it happens in ``start()`` (or on entering the
    ``async with`` block); ``port``, ``address`` and ``target`` are known from then on::

        async with AsyncGreeterServer(AsyncGreeterService(), "127.0.0.1:0") as server:
            async with AsyncGreeterClient(server.target) as client:
                print(await client.greet("you"))

    Leaving the block stops the server gracefully (see ``ServerConfig.grace_seconds``).
    ``AsyncGreeterService.start()``, ``serve_async()`` and ``serve()`` are the usual
    ways in. ``ServerConfig.max_workers`` does not apply: calls run as asyncio tasks.
    """

    def __init__(
        self,
        service: AsyncGreeterService,
        address: str = DEFAULT_ADDRESS,
        *,
        config: ServerConfig | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self._service = service
        self._requested_address = address
        self._server: grpc.aio.Server | None = None
        self._binding = None

    async def start(self) -> Self:
        """Bind and start serving on the running loop; returns ``self``. Idempotent."""
        if self._server is None:
            server = grpc.aio.server(
                options=self.config.channel_options(),
                compression=to_grpc_compression(self.config.compression),
            )
            helloworld_pb2_grpc.add_GreeterServicer_to_server(AsyncServicer(self._service), server)
            self._binding = _Binding(server, self._requested_address)
            await server.start()
            self._server = server
            logger.info("Serving helloworld.Greeter on %s", self.address)
        return self

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop: refuse new calls, give in-flight ones ``grace_seconds`` to finish.

        Calls still running when the grace period ends are cancelled. Returns once the
        server has stopped. ``grace_seconds`` defaults to the configured one.
        """
        if self._server is None:
            return
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        await self._server.stop(grace)
        logger.info("Stopped serving on %s", self.address)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Wait until the server stops; returns False if ``timeout`` passed first."""
        if self._server is None:
            return True
        return not await self._server.wait_for_termination(timeout)

    async def serve_until_signal(self) -> signal.Signals:
        """Start, wait for SIGINT or SIGTERM, then stop gracefully.

        Must run on the main thread's event loop (Python delivers signals only there).
        Returns the signal that ended the wait. Cancelling the task running it also
        stops the server gracefully, then lets the cancellation propagate.
        """
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()
        received: list[signal.Signals] = []

        def handler(sig: signal.Signals) -> None:
            received.append(sig)
            arrived.set()

        for sig in _SHUTDOWN_SIGNALS:
            loop.add_signal_handler(sig, handler, sig)
        try:
            async with self:
                await arrived.wait()
                logger.info(
                    "Received %s; stopping (in-flight calls get %.1f s)",
                    received[0].name,
                    self.config.grace_seconds,
                )
        finally:
            for sig in _SHUTDOWN_SIGNALS:
                loop.remove_signal_handler(sig)
        return received[0]

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
