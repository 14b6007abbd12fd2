"""The web port of a server: uvicorn serving ``greeter.web``'s ASGI app.

``ServerConfig.web`` turns it on. It runs in the server's own process, started and
stopped with the native gRPC port: on its own thread and event loop beside the threaded
server, on the running loop beside the asyncio one. It serves every service the server
registered, through the same grpc handlers (a graceful stop reports them as it does
native calls) and its call pipeline (the auth check, hooks and access log see them as
native calls); uvicorn is told to stop when the native server is, stops taking
connections at once, and gets the same grace.
With ``ServerConfig.tls`` it serves HTTPS with the same certificate, and with a client CA
requires client certificates, as the native port does.

Any client can reach it, so what a client can make it do is bounded: see
``greeter.web._bounds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from greeter._addresses import (
    bound_socket,
    is_loopback,
    socket_addresses,
    split_address,
    split_tcp_address,
)
from greeter._tls import ServerTLS, read_pem
from greeter.pipeline._pipeline import CallPipeline
from greeter.server._config import ServerConfig
from greeter.server._ports import RegisteredHandlers
from greeter.web._app import build_app
from greeter.web._bounds import (
    IDLE_TIMEOUT_SECONDS,
    MAX_HEADER_BYTES,
    GuardedH11,
    accept_batch,
    bound_logs,
)
from greeter.web._cors import ASGIApp
from greeter.web._steps import web_handler_threads

if TYPE_CHECKING:
    from greeter.server._ports import SidePortFactory

__all__ = ["WebPort", "web_port"]

logger = logging.getLogger("greeter.server")

#: How long starting may take before it counts as failed.
_START_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.01


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the Greeter server owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(address: str, *, reuse_port: bool) -> socket.socket:
    """A listening socket on ``address`` (host:port; port 0 picks a free one)."""
    host, port = split_tcp_address(address)
    family, socket_address = socket_addresses(host, port)[0]
    listener: socket.socket | None = None
    try:
        # serve(workers=N): the workers share this port as they share the native one.
        listener = bound_socket(family, socket_address, reuse_port=reuse_port)
        listener.listen(1024)
    except OSError as exc:
        if listener is not None:
            listener.close()
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(f"cannot listen on {address} (--web): {reason}") from None
    listener.setblocking(False)
    return listener


def _write_private(path: Path, data: bytes) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return str(path)


def _loaded_config(tls: ServerTLS | None, **settings: Any) -> uvicorn.Config:
    """A loaded uvicorn config; with ``tls``, serving it (mTLS if it has a client CA).

    uvicorn (as Python's ``ssl``) reads certificates and keys from files only, while
    ``ServerTLS`` may hold the PEM bytes: they are written to a directory only this user
    can read, loaded into uvicorn's ``SSLContext``, and removed at once.
    """
    if tls is None:
        config = uvicorn.Config(**settings)
        config.load()
        return config
    with tempfile.TemporaryDirectory(prefix="greeter-web-tls-") as directory:  # mode 0700
        files = Path(directory)
        settings["ssl_certfile"] = _write_private(
            files / "chain.pem", read_pem(tls.certificate_chain, "TLS certificate chain")
        )
        settings["ssl_keyfile"] = _write_private(
            files / "key.pem", read_pem(tls.private_key, "TLS private key")
        )
        if tls.client_ca is not None:
            # As on the native port: every client presents a certificate the CA signed.
            settings["ssl_ca_certs"] = _write_private(
                files / "client-ca.pem", read_pem(tls.client_ca, "client CA certificate")
            )
            settings["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        config = uvicorn.Config(**settings)
        config.load()
    return config


class WebPort:
    """One address serving an ASGI app with uvicorn, bound on construction."""

    def __init__(
        self,
        app: ASGIApp,
        address: str,
        *,
        grace_seconds: float,
        reuse_port: bool = False,
        tls: ServerTLS | None = None,
        threads: futures.Executor | None = None,
    ) -> None:
        bound_logs()
        config = _loaded_config(
            tls,
            app=app,
            http=GuardedH11,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=math.ceil(grace_seconds),
            timeout_keep_alive=IDLE_TIMEOUT_SECONDS,
            backlog=accept_batch(),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
        self._threads = threads
        self._socket = _listen(address, reuse_port=reuse_port)
        host, _ = split_tcp_address(address)
        #: The address served, with the real port (port 0 is replaced).
        self.address = f"{host}:{self._socket.getsockname()[1]}"
        #: ``https`` with ``ServerConfig.tls``, else ``http``.
        self.scheme = "https" if tls is not None else "http"
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port served (the real one, with port 0)."""
        return int(self._socket.getsockname()[1])

    def _starting(self) -> bool:
        ended = (self._task is not None and self._task.done()) or (
            self._thread is not None and not self._thread.is_alive()
        )
        return not ended and not self._server.started

    def _check_started(self) -> None:
        if not self._server.started:
            self.begin_stop()
            raise RuntimeError(f"the web port {self.address} failed to start")

    # -- beside the threaded server

    def start_thread(self) -> None:
        """Serve on a thread of its own; returns once uvicorn is listening."""
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._server.serve(sockets=[self._socket]),),
            name=f"greeter-web {self.address}",
            daemon=True,  # as the handler threads: a stuck call must not hold the exit
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while self._starting() and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        self._check_started()

    def begin_stop(self) -> None:
        """Stop taking connections; in-flight calls get the grace period. Any thread."""
        self._server.should_exit = True

    def wait_stopped(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for the thread to finish its stop."""
        if self._thread is not None:
            self._thread.join(timeout)
        self._release()

    def _release(self) -> None:
        """Close the port's socket and end its idle handler threads (a stuck one ends
        when its handler returns)."""
        self._socket.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)

    # -- beside the asyncio server

    async def start_async(self) -> None:
        """Serve on the running loop; returns once uvicorn is listening."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while self._starting() and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        self._check_started()

    async def wait_stopped_async(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for uvicorn to finish its stop."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)
            if not self._task.done():
                self._task.cancel()
        self._release()


def web_port(
    handlers: RegisteredHandlers, pipeline: CallPipeline | None, config: ServerConfig
) -> WebPort:
    """The web port ``config.web`` asks for, serving the ``handlers`` of every service
    the native server registered, through its call pipeline (auth, hooks, access log),
    so both ports treat calls alike."""
    assert config.web is not None
    threads = None if handlers.asyncio else web_handler_threads(config)
    app = build_app(
        handlers, origins=config.web_origins, pipeline=pipeline, config=config, threads=threads
    )
    if (
        config.tls is None
        and config.auth is not None
        and not is_loopback(split_address(config.web)[0])
    ):
        logger.warning(
            "The web port %s checks bearer tokens over plaintext, reachable from other "
            "machines: put a TLS terminator in front of it, or serve TLS with "
            "ServerConfig(tls=ServerTLS(...)) (greeter serve --tls-cert FILE --tls-key FILE).",
            config.web,
        )
    return WebPort(
        app,
        config.web,
        grace_seconds=config.grace_seconds,
        reuse_port=config.reuse_port,
        tls=config.tls,
        threads=threads,
    )


if TYPE_CHECKING:
    # The server loads web_port through the greeter.ports entry point: mypy holds it to
    # the interface the server calls it by.
    _LOADED_AS: SidePortFactory = web_port
