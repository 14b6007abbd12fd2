"""Running a Greeter server: binding, starting, graceful stop, and SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from types import TracebackType
from typing import TYPE_CHECKING

import grpc

from greeter._config import ServerConfig, to_grpc_compression
from greeter._proto import helloworld_pb2_grpc
from greeter._servicer import Servicer

if TYPE_CHECKING:
    from typing_extensions import Self

    from greeter._service import GreeterService

__all__ = ["DEFAULT_ADDRESS", "GreeterServer"]

logger = logging.getLogger("greeter.server")

#: Where ``serve()`` listens unless told otherwise: every interface, port 50051.
DEFAULT_ADDRESS = "[::]:50051"

_WILDCARD_HOSTS = {"[::]", "0.0.0.0", ""}


def _dialable(host: str, port: int) -> str:
    """A target a client on this machine can dial for a server bound to ``host``."""
    return f"{'localhost' if host in _WILDCARD_HOSTS else host}:{port}"


class GreeterServer:
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
        host = address.rpartition(":")[0]
        try:
            #: The port the server listens on (the OS's pick when asked for port 0).
            self.port: int = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            self._executor.shutdown(wait=False)
            raise OSError(f"cannot listen on {address}: {exc}") from None
        #: The address the server listens on, with the real port.
        self.address = f"{host}:{self.port}"
        #: An address a client on this machine can dial (``localhost`` for wildcards).
        self.target = _dialable(host, self.port)
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
        Returns the signal that ended the wait.
        """
        with self:
            received = wait_for_shutdown_signal()
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


def wait_for_shutdown_signal() -> signal.Signals:
    """Block until SIGINT or SIGTERM arrives; the previous handlers are restored after."""
    received: list[signal.Signals] = []
    arrived = threading.Event()

    def handler(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum))
        arrived.set()

    shutdown_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, handler) for sig in shutdown_signals}
    try:
        arrived.wait()
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
    return received[0]
