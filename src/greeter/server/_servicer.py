"""The web port's way into the Greeter's handlers, until it serves every service's.

The web port calls a servicer's ``SayHello(request, context)`` & co. with its own
context object. ``Servicer`` and ``AsyncServicer`` are those five methods over the grpc
handlers the server installed for ``helloworld.Greeter`` (so a web call runs the same
handler as a native one, counted for the drain alike), or over a service's own
handlers for an app with no server (``greeter.web.asgi_app``). Nothing else in the
server reads them; they go once the web port takes the server's handlers themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import grpc

from greeter._helloworld import GREETER
from greeter.server._methods import AsyncGreeterMethods, GreeterMethods

__all__ = ["AsyncServicer", "Servicer", "web_servicer"]

_Handlers = Mapping[str, "grpc.RpcMethodHandler[Any, Any]"]


class _HasHandlers(Protocol):
    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]: ...


class Servicer:
    """The Greeter's RPCs as servicer methods, each calling its handler's behaviour."""

    def __init__(self, service: _HasHandlers | _Handlers) -> None:
        """Over ``service``'s own handlers, or over handlers a server installed."""
        self._handlers = service if isinstance(service, Mapping) else service.method_handlers()

    def _behaviour(self, name: str) -> Any:
        handler = self._handlers[name]
        return (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or (handler.stream_stream)
        )

    def SayHello(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._behaviour("SayHello")(request, context)

    def SayHelloAgain(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._behaviour("SayHelloAgain")(request, context)

    def SayHelloStreamReply(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._behaviour("SayHelloStreamReply")(request, context)

    def SayHelloStreamRequest(self, requests: Any, context: Any) -> Any:  # noqa: N802
        return self._behaviour("SayHelloStreamRequest")(requests, context)

    def SayHelloBidiStream(self, requests: Any, context: Any) -> Any:  # noqa: N802
        return self._behaviour("SayHelloBidiStream")(requests, context)


class AsyncServicer(Servicer):
    """As ``Servicer``, over an asyncio service's handlers (the methods return awaitables
    and async iterators)."""


def web_servicer(
    service: object, installed: Mapping[str, _Handlers], *, asyncio: bool
) -> tuple[GreeterMethods | AsyncGreeterMethods, Servicer]:
    """The served Greeter and its servicer over ``installed`` handlers, for the web port.

    Raises ``ValueError`` when the server serves no Greeter: the web port serves only it.
    """
    handlers = installed.get(GREETER.name)
    if handlers is None or not isinstance(service, (GreeterMethods, AsyncGreeterMethods)):
        raise ValueError(f"the web port serves {GREETER.name} only: serve a GreeterService")
    kind = AsyncServicer if asyncio else Servicer
    return service, kind(handlers)
