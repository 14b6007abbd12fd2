"""The bounds on what any client can make the web port do.

Any client can reach the web port, so every connection is bounded (uvicorn's own
settings where they fit, ``GuardedH11`` where they do not):

- a connection with no request for ``IDLE_TIMEOUT_SECONDS`` is closed, from its start
  as after each answer (uvicorn's ``timeout_keep_alive`` starts only after an answer);
- a request's headers and body must arrive within ``REQUEST_TIMEOUT_SECONDS`` of the
  connection being ready for it, and a client that reads nothing of its answer for
  ``WRITE_TIMEOUT_SECONDS`` is cut off (slow senders, and readers that never read);
- headers are at most ``MAX_HEADER_BYTES`` (``h11_max_incomplete_event_size``);
- at most ``max_connections()`` connections are open at once, a quarter of the process's
  file limit, accepted ``accept_batch()`` at a time (uvicorn's ``backlog``): past it, the
  longest-idle connection is closed for the new one, or the new one is answered 503 at
  once if every connection has a call in flight, so native gRPC and new web calls
  always find a file descriptor;
- what uvicorn and asyncio log about clients (invalid requests, accept errors at the
  file limit, failed requests) is logged once per window per kind of message
  (``LogOncePerWindow``), however often a client repeats it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import threading
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from greeter._logging import MAX_TRACEBACK, REPEAT_WINDOW_SECONDS, shorten

__all__ = [
    "IDLE_TIMEOUT_SECONDS",
    "MAX_HEADER_BYTES",
    "REQUEST_TIMEOUT_SECONDS",
    "WRITE_TIMEOUT_SECONDS",
    "GuardedH11",
    "LogOncePerWindow",
    "accept_batch",
    "bound_logs",
    "max_connections",
]

#: What clients make the web port say (bounded: once per window per message).
client_logger = logging.getLogger("greeter.web")

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


def bound_logs() -> None:
    for name, bound in _BOUNDED_LOGS.items():
        log = logging.getLogger(name)
        if bound not in log.filters:
            log.addFilter(bound)


class GuardedH11(H11Protocol):
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
            and isinstance(other, GuardedH11)
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
