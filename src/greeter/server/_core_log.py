"""grpc core's own log lines, bounded: each source line at most once per window.

grpc core writes its log from C++ straight to file descriptor 2, beyond Python's
``logging``, and some of its lines come once per bad request a client sends (a request
with a thousand headers on an open connection: "Ignoring key value pair due to size
limit", 190 bytes each). ``serve()``, the one-line way to serve (and ``greeter serve``,
which calls it), owns its process while it serves, so it puts a pipe in front of
descriptor 2 and a thread behind it that passes every line on, except a grpc core line
from the same place in grpc's source (``hpack_encoder.cc:618``) within
``REPEAT_WINDOW_SECONDS`` of the last one it passed: those are counted, and the count is
said with the next one passed (or when the server stops). ``start()`` and
``serve_async()``, which serve inside a program of the user's, leave stderr alone.

Python's own output (``sys.stderr``, log handlers that write to it, faulthandler) keeps
writing to the real stderr, so a crash report never waits on the thread. grpc core in
worker processes forked after ``start()`` writes through the same pipe. One limit is in
front of descriptor 2 at a time: a second ``start()`` (a ``serve()`` from another
thread) does nothing.
"""

from __future__ import annotations

import faulthandler
import io
import logging
import os
import re
import sys
import threading
import time
from typing import TextIO

from greeter._logging import REPEAT_WINDOW_SECONDS

__all__ = ["CoreLogLimit"]

#: A grpc core (absl) log line: severity and date, time, thread id, then ``file:line]``.
_CORE_LINE = re.compile(rb"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ([\w./-]+:\d+)\] ")
#: The longest line kept whole; a longer one is passed on in pieces.
_MAX_LINE_BYTES = 64 * 1024


class CoreLogLimit:
    """A pipe in front of file descriptor 2 that lets each grpc core source line
    through once per window; ``start()`` and ``stop()`` it around serving."""

    #: The limit in front of descriptor 2 now, if any.
    _active: CoreLogLimit | None = None

    def __init__(self, window_seconds: float = REPEAT_WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._stderr = -1  # the real stderr, once started
        self._python_stderr: TextIO = sys.stderr  # what start() replaces
        self._moved_handlers: list[logging.StreamHandler[TextIO]] = []
        self._reader: threading.Thread | None = None
        self._passed_at: dict[bytes, float] = {}
        self._left_out: dict[bytes, int] = {}

    def start(self) -> None:
        """Put the pipe in front of descriptor 2; Python's own output goes around it.

        Without a stderr to put it in front of (descriptor 2 closed), or with a limit
        in front of it already, nothing changes.
        """
        if sys.stderr is None or CoreLogLimit._active is not None:
            return
        sys.stderr.flush()
        try:
            self._stderr = os.dup(2)
        except OSError:
            return
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        CoreLogLimit._active = self
        self._python_stderr = sys.stderr
        sys.stderr = io.TextIOWrapper(
            io.FileIO(self._stderr, "w", closefd=False),
            encoding=sys.stderr.encoding,
            errors="backslashreplace",
            line_buffering=True,
        )
        # Log handlers set up before (``logging.basicConfig()``) follow it: a worker's
        # last lines must not depend on this process's thread being alive to pass them.
        self._moved_handlers = _handlers_writing_to(self._python_stderr)
        for handler in self._moved_handlers:
            handler.setStream(sys.stderr)
        if faulthandler.is_enabled():
            faulthandler.enable(file=sys.stderr)
        self._reader = threading.Thread(
            target=self._forward, args=(read,), name="greeter-core-log", daemon=True
        )
        self._reader.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Give descriptor 2 back to the real stderr; pass on what is left in the pipe."""
        if self._reader is None:
            return
        sys.stderr.flush()
        os.dup2(self._stderr, 2)  # closes the pipe's last writer: the thread reads to EOF
        self._reader.join(timeout)
        self._reader = None
        CoreLogLimit._active = None
        # Python's stderr as it was; what holds the one made in start() (a log handler
        # set up since) keeps writing through it to the real stderr's copy, left open.
        ours, sys.stderr = sys.stderr, self._python_stderr
        for handler in self._moved_handlers:
            if handler.stream is ours:
                handler.setStream(sys.stderr)
        self._moved_handlers = []
        if faulthandler.is_enabled():
            faulthandler.enable(file=sys.stderr)

    def _forward(self, read: int) -> None:
        pending = b""
        with open(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    self._pass(line + b"\n")
                if len(pending) > _MAX_LINE_BYTES:
                    self._pass(pending)
                    pending = b""
        if pending:
            self._pass(pending)
        for source, count in self._left_out.items():
            self._write(self._note(source, count))
        self._left_out.clear()

    def _pass(self, line: bytes) -> None:
        match = _CORE_LINE.match(line)
        if match is None:
            self._write(line)
            return
        source, now = match.group(1), time.monotonic()
        if now - self._passed_at.get(source, float("-inf")) < self._window:
            self._left_out[source] = self._left_out.get(source, 0) + 1
            return
        self._passed_at[source] = now
        count = self._left_out.pop(source, 0)
        self._write((self._note(source, count) if count else b"") + line)

    def _write(self, data: bytes) -> None:
        while data:
            try:
                data = data[os.write(self._stderr, data) :]
            except OSError:
                return  # stderr is gone: nothing more can be said

    def _note(self, source: bytes, count: int) -> bytes:
        return b"greeter: left out %d more grpc core line(s) from %s (one per %g s)\n" % (
            count,
            source,
            self._window,
        )


def _handlers_writing_to(stream: TextIO) -> list[logging.StreamHandler[TextIO]]:
    """The log handlers, of every logger, that write to ``stream``."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [
        handler
        for each in loggers
        if isinstance(each, logging.Logger)
        for handler in each.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream
    ]
