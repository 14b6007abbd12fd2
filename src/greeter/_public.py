"""The public names of ``greeter``, by the module that defines each.

The one list: it gives ``greeter.__all__``, ``dir(greeter)`` and the lazy loading (see
``greeter._lazy``), and ``greeter.errors`` takes its own ``__all__`` from it. It lives
apart from ``greeter/__init__.py`` so that a module can read it without importing the
package's ``TYPE_CHECKING`` imports of everything. A test holds those imports to it.
"""

from __future__ import annotations

__all__ = ["PUBLIC"]

#: ``import greeter`` loads none of these modules (nor grpc or protobuf): a name's module
#: is imported when the name is first used, so a program pays for the client, the server
#: or the errors only when it uses them. A public class keeps the ``__module__`` that
#: defines it, so ``inspect.getsource()``, ``typing.get_type_hints()`` and IDEs find it;
#: errors are defined in the public ``greeter.errors``, so a traceback says
#: ``greeter.errors.Unavailable``.
PUBLIC: dict[str, tuple[str, ...]] = {
    "greeter._addresses": (
        "DEFAULT_ADDRESS",
        "DEFAULT_TARGET",
    ),
    "greeter._metadata": (
        "Metadata",
        "MetadataTuple",
    ),
    "greeter._options": (
        "ChannelOption",
        "Compression",
    ),
    "greeter._tls": (
        "ClientTLS",
        "PEM",
        "ServerTLS",
    ),
    "greeter.client._asyncio": ("AsyncGreeterClient",),
    "greeter.client._base": ("CallOptions",),
    "greeter.client._calls": (
        "AsyncReplyStream",
        "Reply",
        "ReplyStream",
    ),
    "greeter.client._channel": ("RetryPolicy",),
    "greeter.client._sync": ("GreeterClient",),
    "greeter.client._tokens": ("TokenSource",),
    "greeter.errors": (
        "Aborted",
        "AlreadyExists",
        "Cancelled",
        "DataLoss",
        "DeadlineExceeded",
        "FailedPrecondition",
        "GreeterError",
        "Internal",
        "InvalidArgument",
        "NotFound",
        "OutOfRange",
        "PermissionDenied",
        "ResourceExhausted",
        "StatusCode",
        "Unauthenticated",
        "Unavailable",
        "Unimplemented",
        "Unknown",
    ),
    "greeter.pipeline._auth": (
        "TokenCheck",
        "bearer_tokens",
    ),
    "greeter.pipeline._context": (
        "AsyncCallContext",
        "CallContext",
    ),
    "greeter.pipeline._hooks": (
        "AccessLog",
        "CallInfo",
        "CallOutcome",
        "ServerHook",
    ),
    "greeter.server._assembly": ("ExtraService",),
    "greeter.server._async_server": ("AsyncGreeterServer",),
    "greeter.server._config": (
        "ServerConfig",
        "ServerInterceptor",
    ),
    "greeter.server._service": (
        "AsyncGreeterService",
        "GreeterService",
    ),
    "greeter.server._threaded_server": ("GreeterServer",),
}
