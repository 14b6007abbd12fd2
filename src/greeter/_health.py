"""The gRPC health service (``grpc.health.v1.Health``), from grpc's own package.

Load balancers and Kubernetes' gRPC probes ask it whether to route calls here. A
server reports ``SERVING`` for the empty name (the whole server) and every service it
carries once it has started, and ``NOT_SERVING`` for all of them the moment it begins
to stop, before it refuses calls, so traffic is moved away while calls still drain.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

__all__ = [
    "HEALTH_CHECK_CODECS",
    "HEALTH_CHECK_METHOD",
    "HEALTH_SERVICE",
    "AsyncHealth",
    "Health",
    "HealthCheckRequest",
    "HealthCheckResponse",
]

#: The full name of the health service.
HEALTH_SERVICE: str = health.SERVICE_NAME
#: The health service's one-shot check, as a client calls it.
HEALTH_CHECK_METHOD = f"/{HEALTH_SERVICE}/Check"
HealthCheckRequest = health_pb2.HealthCheckRequest
HealthCheckResponse = health_pb2.HealthCheckResponse
#: The health check's message codecs, as ``channel.unary_unary(HEALTH_CHECK_METHOD, ...)``
#: takes them.
HEALTH_CHECK_CODECS: dict[str, Any] = {
    "request_serializer": HealthCheckRequest.SerializeToString,
    "response_deserializer": HealthCheckResponse.FromString,
}

_SERVING = health_pb2.HealthCheckResponse.SERVING


class Health:
    """Health reporting on the threaded server."""

    def __init__(self, server: grpc.Server) -> None:
        # Watch streams are served by callbacks, so a watching load balancer holds
        # no worker thread.
        self._servicer = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    def serving(self, services: Iterable[str]) -> None:
        """Report ``SERVING`` for the server as a whole and for each of ``services``."""
        for service in ("", *services):
            self._servicer.set(service, _SERVING)

    def stopping(self) -> None:
        """Report ``NOT_SERVING`` for everything, for good."""
        self._servicer.enter_graceful_shutdown()


class AsyncHealth:
    """Health reporting on the asyncio server."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    async def serving(self, services: Iterable[str]) -> None:
        """Report ``SERVING`` for the server as a whole and for each of ``services``."""
        for service in ("", *services):
            await self._servicer.set(service, _SERVING)

    async def stopping(self) -> None:
        """Report ``NOT_SERVING`` for everything, for good."""
        await self._servicer.enter_graceful_shutdown()
