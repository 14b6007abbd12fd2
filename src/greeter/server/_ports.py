"""Ports served beside the native gRPC port, and how the server finds them.

The server never imports the web port. A side port is a plug-in: a factory registered
under the ``greeter.ports`` entry-point group (grpc-greeter registers ``web``, in
``greeter.web._port``), called with what the server built: the grpc handlers of every
service it registered (``RegisteredHandlers``), so both ports serve the same services
through the same call pipeline. Loading it is the only cost a server without a web
port never pays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import grpc

if TYPE_CHECKING:
    from greeter.pipeline._pipeline import CallPipeline
    from greeter.server._config import ServerConfig

__all__ = ["PORTS_GROUP", "RegisteredHandlers", "SidePort", "SidePortFactory", "side_port"]

#: The entry-point group side ports register in.
PORTS_GROUP = "greeter.ports"

# Generic only in grpc's type stubs, so a string here.
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
#: What a handler found for a method path is served as (``track`` counts its calls).
_Rewrap: TypeAlias = Callable[[_Handler, str], _Handler]


class _CallDetails(grpc.HandlerCallDetails):
    """A method path, as grpc asks a generic handler for the handler of a call."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class RegisteredHandlers:
    """The grpc handlers of the services a server registered, found by method path.

    It stands in for a grpc server while services register (``add_to_server``,
    ``add_XServicer_to_server``), and finds a call's handler as grpc does: among the
    handlers registered by service and method name first, then by asking each generic
    handler. ``asyncio`` says which kind of server the handlers are for.
    """

    def __init__(self, *, asyncio: bool) -> None:
        self.asyncio = asyncio
        self._by_path: dict[str, _Handler] = {}
        self._generic: list[tuple[grpc.GenericRpcHandler, _Rewrap | None]] = []

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, _Handler]
    ) -> None:
        self.add(service_name, method_handlers)

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]
    ) -> None:
        self.add_generic(generic_rpc_handlers)

    def add(
        self,
        service_name: str,
        method_handlers: Mapping[str, _Handler],
        rewrap: _Rewrap | None = None,
    ) -> None:
        """Serve ``method_handlers`` as ``service_name``'s, each passed through ``rewrap``."""
        for name, handler in method_handlers.items():
            path = f"/{service_name}/{name}"
            self._by_path[path] = handler if rewrap is None else rewrap(handler, path)

    def add_generic(
        self, handlers: Iterable[grpc.GenericRpcHandler], rewrap: _Rewrap | None = None
    ) -> None:
        """Serve what ``handlers`` find, each handler found passed through ``rewrap``."""
        self._generic.extend((handler, rewrap) for handler in handlers)

    def find(self, method: str) -> _Handler | None:
        """The handler of ``method`` (``"/pkg.Service/Method"``), or None if none serves it."""
        handler = self._by_path.get(method)
        if handler is not None:
            return handler
        for generic, rewrap in self._generic:
            found = generic.service(_CallDetails(method))
            if found is not None:
                return found if rewrap is None else rewrap(found, method)
        return None


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
    """What a ``greeter.ports`` entry point loads: builds the port ``config`` asks for,
    serving the server's ``handlers`` through its call ``pipeline``."""

    def __call__(
        self,
        handlers: RegisteredHandlers,
        pipeline: CallPipeline | None,
        config: ServerConfig,
    ) -> SidePort: ...


def side_port(
    name: str,
    handlers: RegisteredHandlers,
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
    return factory(handlers, pipeline, config)
