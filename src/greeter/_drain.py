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

    def _settled(self, quiet_since: float | None, now: float) -> float | None:
        """When the server was last seen with no call in flight, if it still has none."""
        if self._calls:
            return None
        return now if quiet_since is None else quiet_since

    def wait_until_empty(self, timeout: float) -> bool:
        """Block until no call has been in flight for a moment; False if ``timeout`` passed.

        "A moment" (two polls) covers a call grpc has accepted whose handler has not
        started yet.
        """
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            quiet_since = self._settled(quiet_since, now)
            if quiet_since is not None and now - quiet_since >= _SETTLE_SECONDS:
                return True
            if now >= deadline:
                return False
            threading.Event().wait(_POLL_SECONDS)

    async def wait_until_empty_async(self, timeout: float) -> bool:
        """Wait until no call has been in flight for a moment; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            quiet_since = self._settled(quiet_since, now)
            if quiet_since is not None and now - quiet_since >= _SETTLE_SECONDS:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)


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
