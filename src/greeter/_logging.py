"""Bounds on what one call can write to the server's log.

A client controls what a request holds, so an error message that quotes a request can
be megabytes long, and a client can repeat a failing call as fast as it likes. Both
would let clients flood the log. Here each logged error is cut to a bounded size, and
the same error from the same place is logged at most once per window, with a count of
how many were left out, so a real server bug is still seen, once, with its traceback.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

__all__ = ["forget_logged_errors", "log_unexpected_error", "shorten"]

#: Longest line, in characters, quoted from an error in the log.
MAX_LINE = 500
#: Most characters one logged traceback may take.
MAX_TRACEBACK = 8_000
#: Seconds during which the same error from the same place is logged once.
REPEAT_WINDOW_SECONDS = 10.0

_lock = threading.Lock()
#: For each error signature: when it was last logged, and how many were left out since.
_last_logged: dict[tuple[str, ...], tuple[float, int]] = {}
#: Signatures remembered at most; the oldest are forgotten first.
_MAX_SIGNATURES = 256


def shorten(text: str, limit: int = MAX_LINE) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


def _signature(error: BaseException) -> tuple[str, ...]:
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1] if frames else None
    location = (where.filename, str(where.lineno)) if where else ("", "")
    return (type(error).__qualname__, *location)


def _should_log(signature: tuple[str, ...], now: float) -> int | None:
    """How many were left out since the last time, if this one is to be logged."""
    with _lock:
        last, left_out = _last_logged.get(signature, (float("-inf"), 0))
        if now - last < REPEAT_WINDOW_SECONDS:
            _last_logged[signature] = (last, left_out + 1)
            return None
        if len(_last_logged) >= _MAX_SIGNATURES:
            del _last_logged[next(iter(_last_logged))]
        _last_logged[signature] = (now, 0)
        return left_out


def forget_logged_errors() -> None:
    """Start afresh: the next error of every kind is logged (tests start each this way)."""
    with _lock:
        _last_logged.clear()


def log_unexpected_error(logger: logging.Logger, what: str, error: BaseException) -> None:
    """Log ``error`` at ERROR with a bounded traceback, at most once per window.

    The record carries the exception (``exc_info``), for handlers that report errors
    elsewhere, but its text is the bounded one: formatters print that instead.
    """
    left_out = _should_log(_signature(error), time.monotonic())
    if left_out is None or not logger.isEnabledFor(logging.ERROR):
        return
    lines = [
        shorten(line.rstrip("\n"))
        for line in traceback.format_exception(type(error), error, error.__traceback__)
    ]
    repeated = f" ({left_out} more like it left out since it was last logged)" if left_out else ""
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        "%s%s",
        (shorten(what), repeated),
        (type(error), error, error.__traceback__),
    )
    record.exc_text = shorten("\n".join(lines), MAX_TRACEBACK)
    logger.handle(record)
