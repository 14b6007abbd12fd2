"""The web port of a Greeter server: uvicorn serving ``greeter.web``'s ASGI app.

``ServerConfig.web`` turns it on. It runs in the server's own process, started and
stopped with the native gRPC port: on its own thread and event loop beside the threaded
server, on the running loop beside the asyncio one. Its calls go through the server's
servicer (a graceful stop waits for them as for native calls) and its call pipeline (the
auth check, hooks and access log see them as native calls); uvicorn is told to stop
when the native server is, stops taking connections at once, and gets the same grace.
With ``ServerConfig.tls`` it serves HTTPS with the same certificate, and with a client CA
requires client certificates, as the native port does.

Any client can reach it, so every connection is bounded (uvicorn's own settings where
they fit, ``_GuardedH11`` where they do not):

- a connection with no request for ``IDLE_TIMEOUT_SECONDS`` is closed, from its start
  as after each answer (uvicorn's ``timeout_keep_alive`` starts only after an answer);
- a request's headers and body must arrive within ``REQUEST_TIMEOUT_SECONDS`` of the
  connection being ready for it, and a client that reads nothing of its answer for
  ``WRITE_TIMEOUT_SECONDS`` is cut off (slow senders, and readers that never read);
- headers are at most ``MAX_HEADER_BYTES`` (``h11_max_incomplete_event_size``);
- at most ``max_connections()`` connections are open at once, half the process's file
  limit, accepted ``accept_batch()`` at a time (uvicorn's ``backlog``): past it, the
  longest-idle connection is closed for the new one, or the new one is answered 503 at
  once if every connection has a call in flight, so native gRPC and new web calls
  always find a file descriptor;
- what uvicorn and asyncio log about clients (invalid requests, accept errors at the
  file limit, failed requests) is logged once per window per kind of message
  (``LogOncePerWindow``), however often a client repeats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import resource
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from greeter._addresses import is_loopback, socket_addresses, split_address, split_tcp_address
from greeter._logging import MAX_TRACEBACK, REPEAT_WINDOW_SECONDS, shorten
from greeter._tls import ServerTLS, read_pem
from greeter.pipeline._pipeline import CallPipeline
from greeter.server._config import ServerConfig
from greeter.server._servicer import AsyncServicer, Servicer
from greeter.web._cors import ASGIApp

if TYPE_CHECKING:
    from greeter.server._service import AsyncGreeterService, GreeterService

__all__ = ["WebPort", "web_port"]

logger = logging.getLogger("greeter.server")
#: What clients make the web port say (bounded: once per window per message).
client_logger = logging.getLogger("greeter.web")

#: How long starting may take before it counts as failed.
_START_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.01

#: Seconds a connection may stay open with no request (from its start, or its last answer).
IDLE_TIMEOUT_SECONDS = 5
#: Seconds a request's headers and body may take to arrive.
REQUEST_TIMEOUT_SECONDS = 10.0
#: Seconds a client may leave its answer unread (the server's send buffer full).
WRITE_TIMEOUT_SECONDS = 10.0
#: Most bytes of request headers (native gRPC's default metadata limit is 8 KiB).
MAX_HEADER_BYTES = 16 * 1024
#: Bounds on the connections open at once, whatever the file limit.
_MIN_CONNECTIONS, _MAX_CONNECTIONS = 64, 10_000
#: Answered to a connection beyond the limit when none can make room for it.
_BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 25\r\n\r\ntoo many open connections\n"
)


def _file_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _MAX_CONNECTIONS * 2 if soft == resource.RLIM_INFINITY else soft


def max_connections() -> int:
    """How many connections the web port keeps open at once: a quarter of the file limit
    (``RLIMIT_NOFILE``); the native port keeps half (``ServerConfig.max_connections``),
    and logs and files the rest."""
    return max(_MIN_CONNECTIONS, min(_MAX_CONNECTIONS, _file_limit() // 4))


def accept_batch() -> int:
    """How many connections the web port accepts at a time (asyncio accepts up to its
    listen backlog at once, and each holds a file until the cap closes it): an
    eighth of the file limit, so a burst stays within the limit's other half."""
    return max(8, min(128, _file_limit() // 8))


class LogOncePerWindow(logging.Filter):
    """Lets each kind of record (logger and message template) through once per window,
    with a count of those left out since, and a traceback cut to a bounded size.

    ``prefixes``, if given, limits it to the messages that start with one of them.
    """

    def __init__(self, prefixes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if self._prefixes and not template.startswith(self._prefixes):
            return True
        kind = (record.name, template.partition("\n")[0][:200])
        now = time.monotonic()
        with self._lock:
            last, left_out = self._last.get(kind, (-math.inf, 0))
            if now - last < REPEAT_WINDOW_SECONDS:
                self._last[kind] = (last, left_out + 1)
                return False
            if len(self._last) >= 256:
                del self._last[next(iter(self._last))]
            self._last[kind] = (now, 0)
        if left_out:
            record.msg = f"{template} ({left_out} more like it left out since it was last logged)"
        if record.exc_info and not record.exc_text:
            record.exc_text = shorten(
                logging.Formatter().formatException(record.exc_info), MAX_TRACEBACK
            )
        return True


#: The loggers through which clients could flood the log, and what of theirs is bounded.
_BOUNDED_LOGS = {
    "uvicorn.error": LogOncePerWindow(),
    "greeter.web": LogOncePerWindow(),
    # asyncio logs a traceback each time accept() fails at the file limit.
    "asyncio": LogOncePerWindow(("socket.accept() out of system resource",)),
}


def _bound_logs() -> None:
    for name, bound in _BOUNDED_LOGS.items():
        log = logging.getLogger(name)
        if bound not in log.filters:
            log.addFilter(bound)


class _GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with the bounds uvicorn's settings leave out (see the
    module's docstring): an idle timer from the start, a time limit on receiving each
    request and on a full send buffer, and a cap on the connections open at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._since = self.loop.time()
        self._request_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        limit = max_connections()
        if len(self.connections) > limit and not self._make_room(limit):
            client_logger.warning(
                "The web port has %d connections open, all with a call in flight: "
                "new connections are answered 503 until one ends",
                limit,
            )
            transport.write(_BUSY_ANSWER)
            transport.close()
            return
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )
        self._expect_request()

    def _make_room(self, limit: int) -> bool:
        """Close the connection idle the longest, if any is idle (no call in flight)."""
        idle = [
            other
            for other in self.connections
            if other is not self
            and isinstance(other, _GuardedH11)
            and (other.cycle is None or other.cycle.response_complete)
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda connection: connection._since)
        client_logger.warning(
            "The web port has %d connections open: closing the longest idle for a new one",
            limit,
        )
        oldest.transport.close()
        self.connections.discard(oldest)
        return True

    def _expect_request(self) -> None:
        """Start the clock on the next request's headers and body."""
        self._since = self.loop.time()
        if self._request_timer is not None:
            self._request_timer.cancel()
        self._request_timer = self.loop.call_later(REQUEST_TIMEOUT_SECONDS, self._too_slow)

    def _too_slow(self) -> None:
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):  # still sending its request
            self.transport.close()

    def on_response_complete(self) -> None:
        self._expect_request()
        super().on_response_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(WRITE_TIMEOUT_SECONDS, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._request_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)
        self._unset_keepalive_if_required()


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the Greeter server owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(address: str, *, reuse_port: bool) -> socket.socket:
    """A listening socket on ``address`` (host:port; port 0 picks a free one)."""
    host, port = split_tcp_address(address)
    family, socket_address = socket_addresses(host, port)[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # serve(workers=N): the workers share this port as the native one
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and socket_address[0] == "::":
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(socket_address)
        listener.listen(1024)
    except OSError as exc:
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
        _bound_logs()
        config = _loaded_config(
            tls,
            app=app,
            http=_GuardedH11,
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
    service: GreeterService | AsyncGreeterService,
    servicer: Servicer | AsyncServicer,
    pipeline: CallPipeline | None,
    config: ServerConfig,
) -> WebPort:
    """The web port ``config.web`` asks for, serving through the native server's servicer
    and call pipeline (auth, hooks, access log), so both ports treat calls alike."""
    from greeter.server._service import AsyncGreeterService
    from greeter.web import _asgi_app, web_handler_threads

    assert config.web is not None
    threads = None if isinstance(service, AsyncGreeterService) else web_handler_threads(config)
    app = _asgi_app(
        service,
        origins=config.web_origins,
        pipeline=pipeline,
        config=config,
        servicer=servicer,
        threads=threads,
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
