"""Ports served beside the native gRPC port, and how the server finds them.

The server never imports the web port. A side port is a plug-in: a factory registered
under the ``greeter.ports`` entry-point group (grpc-greeter registers ``web``, in
``greeter.web._port``), called with what the server built, so both ports serve the same
servicer through the same call pipeline. Loading it is the only cost a server without a
web port never pays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from greeter.pipeline._pipeline import CallPipeline
    from greeter.server._config import ServerConfig
    from greeter.server._methods import AsyncGreeterMethods, GreeterMethods
    from greeter.server._servicer import AsyncServicer, Servicer

__all__ = ["PORTS_GROUP", "SidePort", "SidePortFactory", "side_port"]

#: The entry-point group side ports register in.
PORTS_GROUP = "greeter.ports"


class SidePort(Protocol):
    """A port served beside the native one, started and stopped with it."""

    @property
    def address(self) -> str:
        """Where it listens, with the real port."""
        ...

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``."""
        ...

    def start_thread(self) -> None:
        """Serve on a thread of its own (the threaded server)."""

    async def start_async(self) -> None:
        """Serve on the running event loop (the asyncio server)."""

    def begin_stop(self) -> None:
        """Refuse new calls and let the ones in flight finish."""

    def wait_stopped(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the calls in flight, then close."""

    async def wait_stopped_async(self, timeout: float) -> None:
        """As ``wait_stopped``, on the event loop."""


class SidePortFactory(Protocol):
    """What a ``greeter.ports`` entry point loads: builds the port ``config`` asks for."""

    def __call__(
        self,
        service: GreeterMethods | AsyncGreeterMethods,
        servicer: Servicer | AsyncServicer,
        pipeline: CallPipeline | None,
        config: ServerConfig,
    ) -> SidePort: ...


def side_port(
    name: str,
    service: GreeterMethods | AsyncGreeterMethods,
    servicer: Servicer | AsyncServicer,
    pipeline: CallPipeline | None,
    config: ServerConfig,
) -> SidePort:
    """The side port registered as ``name``, built for this server.

    Raises ``RuntimeError`` naming the extra to install when nothing provides it (the
    web port's dependencies come with ``grpc-greeter[web]``).
    """
    from importlib.metadata import entry_points

    found = entry_points(group=PORTS_GROUP, name=name)
    if not found:
        raise RuntimeError(
            f"no {name!r} port is installed (entry point group {PORTS_GROUP!r}): "
            "is grpc-greeter installed as a distribution?"
        )
    factory: SidePortFactory = next(iter(found)).load()
    return factory(service, servicer, pipeline, config)
