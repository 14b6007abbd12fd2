"""Server hooks: small typed callbacks that see every call, before and after it runs.

A ``ServerHook`` sees the method, the client's metadata and peer before the call, and
may reject it by raising a ``greeter.GreeterError``; after the call it sees the status
and the duration. Hooks run on the threaded and the asyncio server alike, for every
service the server carries (the Greeter and any extra ones)::

    class RequireTenant(ServerHook):
        def before_call(self, call: CallInfo) -> None:
            if not call.get_metadata("x-tenant"):
                raise greeter.InvalidArgument("x-tenant metadata is required")

    GreeterService().serve(config=ServerConfig(hooks=[RequireTenant()]))

Token authentication (``ServerConfig.auth``) and the access log run through the same
machinery: one grpc server interceptor, installed only when something needs it, so a
server without hooks pays nothing for them. The web port (``ServerConfig.web``) runs its
calls through the same pipeline.
"""

# The types a hook is written with. ``_pipeline`` runs hooks around a call, and
# ``_interceptors`` puts the pipeline around every handler of a server.

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from greeter._metadata import MetadataTuple
from greeter.errors import StatusCode

__all__ = ["AccessLog", "CallInfo", "CallOutcome", "ServerHook"]

access_logger = logging.getLogger("greeter.access")

#: Longest status message an access-log line quotes; longer ones are cut.
_LOGGED_DETAILS_LIMIT = 200


@dataclass(frozen=True)
class CallInfo:
    """What a hook knows about a call before it runs.

    Attributes:
        method: the full method name, e.g. ``"/helloworld.Greeter/SayHello"``.
        metadata: the metadata the client sent (``-bin`` values are ``bytes``).
        peer: the client's address, e.g. ``"ipv4:127.0.0.1:53412"``.
    """

    method: str
    metadata: MetadataTuple
    peer: str

    @property
    def service(self) -> str:
        """The service's full name, e.g. ``"helloworld.Greeter"``."""
        return self.method.lstrip("/").partition("/")[0]

    @property
    def rpc(self) -> str:
        """The method's short name, e.g. ``"SayHello"``."""
        return self.method.rpartition("/")[2]

    def get_metadata(self, key: str) -> str | None:
        """The first text value the client sent under ``key``, or ``None``."""
        wanted = key.lower()
        for name, value in self.metadata:
            if name == wanted and isinstance(value, str):
                return value
        return None


#: Identifies the caller of a call: returns their identity (``None``: no identity
#: needed for this call), or raises a ``GreeterError`` to reject it. On the asyncio
#: server it may return an awaitable.
Identify = Callable[[CallInfo], str | Awaitable[str | None] | None]


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended, as a hook sees it afterwards.

    Attributes:
        code: the status the call ended with (``StatusCode.OK`` on success).
        details: the status message ("" on success).
        duration: seconds from the call's start (before the hooks) to its end.
    """

    code: StatusCode
    details: str
    duration: float


class ServerHook:
    """A callback object run around every call on a server; override either method.

    Give hooks to a server with ``ServerConfig(hooks=[...])``. They run in order before
    the call and in the same order after it.
    """

    def before_call(self, call: CallInfo) -> Awaitable[None] | None:
        """Runs before the call reaches its handler.

        Raise a ``greeter.GreeterError`` (``greeter.PermissionDenied(...)``) to reject
        the call with that status: its handler then never runs. On the asyncio server
        this may be an ``async def``.
        """
        return None

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        """Runs once the call has ended, however it ended (also after a rejection).

        It runs on the call's thread or task, after the status was decided: keep it
        quick (count, log, record). What it raises is logged and otherwise ignored.
        """
        return


class AccessLog(ServerHook):
    """Logs one line per call at INFO on the ``greeter.access`` logger.

    ``/helloworld.Greeter/SayHello ipv4:127.0.0.1:53412 OK 0.4ms``; a failed call also
    quotes its status message (cut to 200 characters).
    ``ServerConfig(access_log=True)`` (``greeter serve --access-log``) adds one.
    """

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        details = outcome.details
        if len(details) > _LOGGED_DETAILS_LIMIT:
            details = details[:_LOGGED_DETAILS_LIMIT] + "..."
        access_logger.info(
            "%s %s %s %.1fms%s",
            call.method,
            call.peer,
            outcome.code.name,
            outcome.duration * 1000,
            f" {details!r}" if details else "",
        )
