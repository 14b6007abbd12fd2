"""``Service`` and ``AsyncService``: what every service class builds on, the Greeter's too.

A generated ``InventoryService`` declares one typed method per RPC, each answering
UNIMPLEMENTED until a subclass overrides it; ``GreeterService`` declares the Greeter's,
with plain values. Registering a service with a grpc server, the call's
``self.context``, error mapping, the check of overrides at the ``class`` statement and
``start()``/``serve()`` live here (and in the modules it names) once, for every service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import grpc
import grpc.aio

from greeter._method import ServiceDefinition
from greeter.server._serving import AsyncServing, ThreadedServing
from greeter.server._values import Conversion, MethodForms

if TYPE_CHECKING:
    from greeter.pipeline._context import AsyncCallContext, CallContext

# The call pipeline, the handlers, the override checks and the servers are imported
# where they are first needed (serving, a subclass of a service class), not with a
# generated module.

__all__ = ["AsyncService", "Service", "ServiceRegistry", "add_to_server"]


class ServiceRegistry(Protocol):
    """Where a service registers: a ``grpc.Server``, a ``grpc.aio.Server``, or greeter's
    own servers' ``services=`` (which take ``(greeter.rpc.add_to_server, service)``)."""

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        """Register handlers found by method name (any client)."""

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Register handlers for clients that registered their methods (faster)."""


class _BaseService:
    """What the sync and asyncio services share: the definition and registration."""

    #: The service served; each generated service class (and ``GreeterService``) sets it.
    definition: ClassVar[ServiceDefinition]
    _is_async: ClassVar[bool] = False
    #: What the RPC methods take and give, by method path, where it is not the messages
    #: themselves (the Greeter's plain values: ``server._messages``).
    _conversions: ClassVar[Mapping[str, Conversion]] = {}
    #: How the override checks describe an RPC method (None: as taking a request).
    _forms: ClassVar[MethodForms | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__ or isinstance(vars(cls).get("definition"), ServiceDefinition):
            return  # Service, AsyncService, or a generated class: the reference for checks
        from greeter.server._overrides import check_overrides

        check_overrides(cls, cls._forms or MethodForms(), is_async=cls._is_async)

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        """A grpc handler for each RPC, by its name in the proto (``"GetItem"``)."""
        from greeter.server._handlers import async_method_handler, method_handler
        from greeter.server._overrides import generated_base

        if generated_base(type(self)) is None:
            raise TypeError(
                f"{type(self).__name__} serves no service: subclass a generated service "
                "class (InventoryService), not greeter.rpc.Service itself"
            )
        make = async_method_handler if self._is_async else method_handler
        conversions = self._conversions
        return {
            method.name: make(method, getattr(self, method.attribute), conversions.get(method.path))
            for method in self.definition.methods
        }

    def add_to_server(self, server: ServiceRegistry) -> None:
        """Register this service's RPCs with ``server``, as ``add_XServicer_to_server`` does.

        ``server`` is a ``grpc.Server`` (a ``grpc.aio.Server`` for an ``AsyncService``).
        greeter's servers call it for each service in their ``services=``.
        """
        _check_server_kind(self, server)
        handlers = self.method_handlers()
        name = self.definition.name
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
        server.add_registered_method_handlers(name, handlers)


class Service(_BaseService, ThreadedServing):
    """The base of every generated service for the threaded server.

    Subclass the generated class (``InventoryService``) and override the RPCs you serve;
    each takes the request message and returns the response message; server streaming
    methods yield responses, client streaming ones receive an iterator of requests. An
    RPC not overridden answers UNIMPLEMENTED. Raise a ``greeter.GreeterError`` subclass
    (``greeter.NotFound("...")``) to end a call with that status; any other exception
    becomes INTERNAL with a generic message, and its traceback is logged on the server.
    ``self.context`` gives the running call's metadata, peer and deadline.
    ``start()`` and ``serve()`` serve it, as ``GreeterService``'s serve the Greeter.
    """

    @property
    def context(self) -> CallContext:
        """The context of the call being served (only while a method runs).

        Raises ``RuntimeError`` when read outside a call.
        """
        from greeter.pipeline._context import CallContext, current_context_of

        return current_context_of(CallContext, type(self).__name__)


class AsyncService(_BaseService, AsyncServing):
    """The base of every generated service for the asyncio server: ``async def`` methods.

    Mirrors ``Service``: server streaming methods are async generators, client
    streaming ones receive an async iterator; ``self.context`` is an
    ``AsyncCallContext``; ``start()`` is awaited, and ``serve_async()`` serves on the
    running loop.
    """

    _is_async = True

    @property
    def context(self) -> AsyncCallContext:
        """The context of the call being served (only while a method runs).

        Raises ``RuntimeError`` when read outside a call.
        """
        from greeter.pipeline._context import AsyncCallContext, current_context_of

        return current_context_of(AsyncCallContext, type(self).__name__)


def _check_server_kind(service: _BaseService, server: ServiceRegistry) -> None:
    """A threaded service on a grpc.aio server (or the reverse) would fail every call."""
    # greeter's own servers register through a stand-in that says which kind it is for.
    stand_in_asyncio = getattr(server, "asyncio", None)
    wrong = grpc.Server if service._is_async else grpc.aio.Server
    if isinstance(stand_in_asyncio, bool):
        if stand_in_asyncio == service._is_async:
            return
    elif not isinstance(server, wrong):
        return
    from greeter.server._overrides import generated_base

    base = (generated_base(type(service)) or type(service)).__name__
    twin = base.removeprefix("Async") if service._is_async else f"Async{base}"
    kind = "an asyncio" if service._is_async else "a threaded"
    if isinstance(stand_in_asyncio, bool):
        other = (
            "the asyncio server (AsyncGreeterService)"
            if service._is_async
            else ("the threaded server (GreeterService)")
        )
    else:
        other = "a grpc.aio.Server" if service._is_async else "a threaded grpc.Server"
    raise TypeError(
        f"{type(service).__name__} is {kind} service: add it to {other}, or subclass {twin} instead"
    )


def add_to_server(service: Service | AsyncService, server: ServiceRegistry) -> None:
    """``service.add_to_server(server)``, in the shape of ``add_XServicer_to_server``.

    For code that takes ``(add_XServicer_to_server, servicer)`` pairs; greeter's own
    servers take the service itself: ``services=[MyInventory()]``.
    """
    service.add_to_server(server)
