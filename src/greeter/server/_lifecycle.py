"""What the threaded and the asyncio server do alike over their life, written once.

``ServerLife`` is the base of ``GreeterServer`` and ``AsyncGreeterServer``: where the
server listens (``Bound``), the log lines of starting, a signal and stopping, the lame
duck a signal begins, the deadlines of a graceful stop and the report of the calls it
cut. The servers differ only in how they block or await on these.
"""

from __future__ import annotations

import logging
import signal
import time

from greeter.server._assembly import Assembly
from greeter.server._binding import Bound
from greeter.server._config import ServerConfig
from greeter.server._drain import AHEAD_OF_GRPC_SECONDS
from greeter.server._ports import SidePort

__all__ = ["STOP_MARGIN_SECONDS", "ServerLife", "StopDeadlines"]

logger = logging.getLogger("greeter.server")

#: Extra time, past the grace period, that stopping waits for grpc to wind down.
STOP_MARGIN_SECONDS = 0.5


def _seconds_until(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class StopDeadlines:
    """The clock of one graceful stop.

    The grace period runs from the signal: a lame duck before the stop is part of it,
    so a stop ends within grace + ``STOP_MARGIN_SECONDS`` of the signal.
    """

    def __init__(self, grace: float, lame_duck_began: float | None) -> None:
        #: The grace period in-flight calls get, in seconds.
        self.grace = grace
        began = lame_duck_began or time.monotonic()
        #: What is left of the grace period now: grpc's ``stop(grace)`` argument.
        self.left = max(0.0, began + grace - time.monotonic())
        self._end = began + grace + STOP_MARGIN_SECONDS

    def until_report(self) -> float:
        """Seconds to wait before naming the calls still running (just before grpc cuts them)."""
        return max(0.0, self.left - AHEAD_OF_GRPC_SECONDS)

    def until_end(self) -> float:
        """Seconds left until the stop must be over."""
        return _seconds_until(self._end)


class ServerLife(Bound):
    """The state and the steps both servers share; see the module docstring."""

    # Declared at class level, resolved at run time: typing.get_type_hints() reads them.
    config: ServerConfig
    _assembly: Assembly
    _web: SidePort | None
    #: When a signal's lame duck began (its grace period runs from then).
    _lame_duck_began: float | None = None

    def _stop_deadlines(self, grace_seconds: float | None) -> StopDeadlines:
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        return StopDeadlines(grace, self._lame_duck_began)

    def _report_stragglers(self, deadlines: StopDeadlines) -> None:
        """Log the calls still running as the grace period ends (they are cancelled)."""
        stragglers = self._assembly.in_flight.describe()
        if stragglers:
            logger.warning(
                "Grace period (%.1f s) over; cancelled %d call(s) still running: %s",
                deadlines.grace,
                len(stragglers),
                "; ".join(stragglers),
            )

    def _log_serving(self) -> None:
        # The service the server was made for (first; one that registered none: its kind).
        served = next(iter(self._assembly.service_names), "gRPC")
        for address in self.addresses:
            logger.info("Serving %s on %s", served, address)
        if self._web is not None:
            logger.info(
                "Serving %s to browsers (Connect, gRPC-Web) on %s%s",
                served,
                self._web.address,
                " over TLS" if self._web.scheme == "https" else "",
            )

    def _log_stopped(self) -> None:
        logger.info("Stopped serving on %s", ", ".join(self.addresses))

    def _begin_lame_duck(self, received: signal.Signals) -> float:
        """Log the signal and start its lame duck; returns how long the lame duck lasts.

        In the lame duck, calls already on their way are taken, not cut.
        """
        logger.info(
            "Received %s; stopping (in-flight calls get %.1f s)",
            received.name,
            self.config.grace_seconds,
        )
        self._lame_duck_began = time.monotonic()
        return min(self.config.lame_duck_seconds, self.config.grace_seconds)
