"""``GreeterService``: the base class a user subclasses to implement the Greeter."""

from __future__ import annotations

from greeter._config import ServerConfig
from greeter._context import CallContext, current_context
from greeter._server import DEFAULT_ADDRESS, GreeterServer

__all__ = ["GreeterService"]


class GreeterService:
    """The ``helloworld.Greeter`` service, with the canonical greetings as defaults.

    An unmodified ``GreeterService()`` is a working server. Subclass it and override the
    RPCs you want to change; each takes and returns plain Python values::

        class Polite(GreeterService):
            def say_hello(self, name: str) -> str:
                return f"Good day, {name}."

        Polite().serve("[::]:50051")

    Raise a ``greeter.GreeterError`` subclass (``greeter.NotFound("...")``) to end a call
    with that status; any other exception becomes INTERNAL with a generic message, and
    its traceback is logged on the server. ``self.context`` gives the call's metadata,
    peer and deadline while a method runs.
    """

    def say_hello(self, name: str) -> str:
        """SayHello: one greeting for one name."""
        return f"Hello, {name}!"

    def say_hello_again(self, name: str) -> str:
        """SayHelloAgain: another greeting for one name."""
        return f"Hello again, {name}!"

    @property
    def context(self) -> CallContext:
        """The context of the call being served (only while a method runs).

        Raises ``RuntimeError`` when read outside a call.
        """
        context = current_context.get(None)
        if not isinstance(context, CallContext):
            raise RuntimeError("GreeterService.context is only available while serving a call")
        return context

    def start(
        self, address: str = DEFAULT_ADDRESS, *, config: ServerConfig | None = None
    ) -> GreeterServer:
        """Start serving in the background; returns the running server.

        Use the result as a context manager to stop it: ``with service.start(addr) as
        server: ...``. With port 0 the OS picks a free port: read ``server.port``.
        """
        return GreeterServer(self, address, config=config).start()

    def serve(self, address: str = DEFAULT_ADDRESS, *, config: ServerConfig | None = None) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully. Call from the main thread."""
        GreeterServer(self, address, config=config).serve_until_signal()
