"""Draining: which calls a stopping server waits for, and how long.

A graceful stop waits for the calls that do work (the Greeter's and any extra
service's) and for nothing else: a load balancer's health ``Watch`` stream never ends
on its own, and waiting for it would hold every stop for its whole grace period. So a
server counts its working calls in an ``InFlight``; once none is left (or the grace
period is over) it cuts whatever remains, health watches included, and stops.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import grpc.aio

from greeter._hooks import rewrap_handler

__all__ = ["InFlight", "TrackedHandler"]

#: How often a draining server looks whether its working calls are done.
_POLL_SECONDS = 0.02
#: How long before the end of the grace period a drain gives up and names the stragglers.
_AHEAD_OF_GRPC_SECONDS = 0.05
#: How long no call must be in flight before the server counts as drained.
_SETTLE_SECONDS = 0.04


class InFlight:
    """The working calls a server is running: which method, for which peer, since when."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[str, Callable[[], str], float]] = {}

    def add(self, method: str, peer: Callable[[], str]) -> int:
        """Record a call that starts now; returns the key to ``remove`` it with."""
        key = id(peer)
        self._calls[key] = (method, peer, time.monotonic())
        return key

    def remove(self, key: int) -> None:
        """Forget a call that has ended."""
        self._calls.pop(key, None)

    def __len__(self) -> int:
        return len(self._calls)

    def describe(self) -> list[str]:
        """One line per call still running: ``/helloworld.Greeter/SayHello from ... (3.2 s)``."""
        now = time.monotonic()
        return [
            f"{method} from {peer()} (running {now - started:.1f} s)"
            for method, peer, started in list(self._calls.values())
        ]

    def wait_until_empty(self, timeout: float) -> list[str]:
        """Block until no call has been in flight for a moment, or ``timeout`` passed.

        Returns the calls still running at the end (``describe()``), so ``[]`` when
        drained. "A moment" (two polls) covers a call grpc has accepted whose handler has
        not started yet.
        """
        waiting = _Waiting(timeout)
        while not waiting.over(self):
            threading.Event().wait(_POLL_SECONDS)
        return waiting.still_running

    async def wait_until_empty_async(self, timeout: float) -> list[str]:
        """As ``wait_until_empty``, on the event loop."""
        waiting = _Waiting(timeout)
        while not waiting.over(self):
            await asyncio.sleep(_POLL_SECONDS)
        return waiting.still_running


class _Waiting:
    """One wait for an ``InFlight`` to empty: when it ends, and what was last seen."""

    def __init__(self, timeout: float) -> None:
        # Give up just before grpc cancels the calls at the end of the grace period,
        # so what is still running then is seen (and reported) before it is cancelled.
        self._deadline = time.monotonic() + max(0.0, timeout - _AHEAD_OF_GRPC_SECONDS)
        self._quiet_since: float | None = None
        self.still_running: list[str] = []

    def over(self, in_flight: InFlight) -> bool:
        now = time.monotonic()
        if len(in_flight):
            self._quiet_since = None
            if now < self._deadline:
                self.still_running = in_flight.describe()
                return False
            return True
        self.still_running = []
        if self._quiet_since is None:
            self._quiet_since = now
        return now - self._quiet_since >= _SETTLE_SECONDS or now >= self._deadline


class TrackedHandler(grpc.GenericRpcHandler):
    """A user's generic handler whose calls count as in flight (threaded or asyncio)."""

    def __init__(self, handler: grpc.GenericRpcHandler, in_flight: InFlight) -> None:
        self._handler = handler
        self._in_flight = in_flight

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._handler.service(handler_call_details)
        if handler is None:
            return None
        return track(handler, handler_call_details.method, self._in_flight)


def track(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, in_flight: InFlight
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler, counting each of its calls in ``in_flight`` while it runs."""

    def unary_response(inner: Callable[..., Any]) -> Any:
        if inspect.iscoroutinefunction(inner):

            async def behavior_async(request: Any, context: Any) -> Any:
                key = in_flight.add(method, context.peer)
                try:
                    return await inner(request, context)
                finally:
                    in_flight.remove(key)

            return behavior_async

        def behavior(request: Any, context: Any) -> Any:
            key = in_flight.add(method, context.peer)
            try:
                return inner(request, context)
            finally:
                in_flight.remove(key)

        return behavior

    def stream_response(inner: Callable[..., Any]) -> Any:
        if inspect.isasyncgenfunction(inner):

            async def replies_async(request: Any, context: Any) -> AsyncIterator[Any]:
                key = in_flight.add(method, context.peer)
                try:
                    async for reply in inner(request, context):
                        yield reply
                finally:
                    in_flight.remove(key)

            return replies_async
        if inspect.iscoroutinefunction(inner):
            return unary_response(inner)  # writes its replies with context.write()

        def replies(request: Any, context: Any) -> Iterator[Any]:
            key = in_flight.add(method, context.peer)
            try:
                yield from inner(request, context)
            finally:
                in_flight.remove(key)

        return replies

    return rewrap_handler(handler, unary_response, stream_response)
