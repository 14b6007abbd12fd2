"""grpc-greeter: a typed library around the canonical gRPC Greeter service.

Call a Greeter server::

    from greeter import GreeterClient

    with GreeterClient("localhost:50051") as client:
        print(client.greet("you"))   # Hello, you!

Or serve one, overriding what you need::

    from greeter import GreeterService

    class Mine(GreeterService):
        def say_hello(self, name: str) -> str:
            return f"Hi {name}"

    Mine().serve("[::]:50051")
"""

from importlib import import_module as _import_module

#: True for type checkers only (mypy and pyright read it by name): ``typing`` itself costs
#: more to import than this module, and the names below load when first used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from greeter._addresses import DEFAULT_ADDRESS, DEFAULT_TARGET
    from greeter._auth import TokenCheck, TokenSource, bearer_tokens
    from greeter._calls import AsyncReplyStream, Reply, ReplyStream
    from greeter._client import AsyncGreeterClient, GreeterClient, RetryPolicy
    from greeter._config import ServerConfig, ServerInterceptor
    from greeter._context import AsyncCallContext, CallContext
    from greeter._hooks import AccessLog, CallInfo, CallOutcome, ServerHook
    from greeter._metadata import Metadata, MetadataTuple
    from greeter._options import ChannelOption, Compression
    from greeter._server import AsyncGreeterServer, ExtraService, GreeterServer
    from greeter._service import AsyncGreeterService, GreeterService
    from greeter._tls import PEM, ClientTLS, ServerTLS
    from greeter.errors import (
        Aborted,
        AlreadyExists,
        Cancelled,
        DataLoss,
        DeadlineExceeded,
        FailedPrecondition,
        GreeterError,
        Internal,
        InvalidArgument,
        NotFound,
        OutOfRange,
        PermissionDenied,
        ResourceExhausted,
        StatusCode,
        Unauthenticated,
        Unavailable,
        Unimplemented,
        Unknown,
    )

#: The installed distribution's version (read on first use: see ``__getattr__``).
__version__: str

#: Where each public name is defined. ``import greeter`` loads none of these modules (nor
#: grpc or protobuf): a name's module is imported when the name is first used, so a
#: program pays for the client, the server or the errors only when it uses them.
#:
#: A public class keeps the ``__module__`` that defines it, so ``inspect.getsource()``,
#: ``typing.get_type_hints()`` and IDEs find it. Errors are defined in the public
#: ``greeter.errors``, so a traceback says ``greeter.errors.Unavailable``.
_DEFINED_IN = {
    "TokenCheck": "greeter._auth",
    "TokenSource": "greeter._auth",
    "bearer_tokens": "greeter._auth",
    "AsyncReplyStream": "greeter._calls",
    "Reply": "greeter._calls",
    "ReplyStream": "greeter._calls",
    "DEFAULT_TARGET": "greeter._addresses",
    "AsyncGreeterClient": "greeter._client",
    "GreeterClient": "greeter._client",
    "RetryPolicy": "greeter._client",
    "ChannelOption": "greeter._options",
    "Compression": "greeter._options",
    "ServerConfig": "greeter._config",
    "ServerInterceptor": "greeter._config",
    "AsyncCallContext": "greeter._context",
    "CallContext": "greeter._context",
    "Aborted": "greeter.errors",
    "AlreadyExists": "greeter.errors",
    "Cancelled": "greeter.errors",
    "DataLoss": "greeter.errors",
    "DeadlineExceeded": "greeter.errors",
    "FailedPrecondition": "greeter.errors",
    "GreeterError": "greeter.errors",
    "Internal": "greeter.errors",
    "InvalidArgument": "greeter.errors",
    "NotFound": "greeter.errors",
    "OutOfRange": "greeter.errors",
    "PermissionDenied": "greeter.errors",
    "ResourceExhausted": "greeter.errors",
    "StatusCode": "greeter.errors",
    "Unauthenticated": "greeter.errors",
    "Unavailable": "greeter.errors",
    "Unimplemented": "greeter.errors",
    "Unknown": "greeter.errors",
    "AccessLog": "greeter._hooks",
    "CallInfo": "greeter._hooks",
    "CallOutcome": "greeter._hooks",
    "ServerHook": "greeter._hooks",
    "Metadata": "greeter._metadata",
    "MetadataTuple": "greeter._metadata",
    "DEFAULT_ADDRESS": "greeter._addresses",
    "AsyncGreeterServer": "greeter._server",
    "ExtraService": "greeter._server",
    "GreeterServer": "greeter._server",
    "AsyncGreeterService": "greeter._service",
    "GreeterService": "greeter._service",
    "PEM": "greeter._tls",
    "ClientTLS": "greeter._tls",
    "ServerTLS": "greeter._tls",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute

    def __getattr__(name: str) -> object:
        """A public name, imported when first used (PEP 562); ``__version__`` likewise.

        ``importlib.metadata`` costs more to import than the rest of ``greeter``, and
        most programs never read the version.
        """
        if name == "__version__":
            from importlib.metadata import version

            global __version__
            __version__ = version("grpc-greeter")
            return __version__
        module_name = _DEFINED_IN.get(name)
        if module_name is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        public = getattr(_import_module(module_name), name)
        globals()[name] = public
        return public


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TARGET",
    "PEM",
    "Aborted",
    "AccessLog",
    "AlreadyExists",
    "AsyncCallContext",
    "AsyncGreeterClient",
    "AsyncGreeterServer",
    "AsyncGreeterService",
    "AsyncReplyStream",
    "CallContext",
    "CallInfo",
    "CallOutcome",
    "Cancelled",
    "ChannelOption",
    "ClientTLS",
    "Compression",
    "DataLoss",
    "DeadlineExceeded",
    "ExtraService",
    "FailedPrecondition",
    "GreeterClient",
    "GreeterError",
    "GreeterServer",
    "GreeterService",
    "Internal",
    "InvalidArgument",
    "Metadata",
    "MetadataTuple",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "Reply",
    "ReplyStream",
    "ResourceExhausted",
    "RetryPolicy",
    "ServerConfig",
    "ServerHook",
    "ServerInterceptor",
    "ServerTLS",
    "StatusCode",
    "TokenCheck",
    "TokenSource",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "__version__",
    "bearer_tokens",
]
