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

from types import FunctionType as _FunctionType
from types import GenericAlias as _GenericAlias

from greeter._auth import TokenCheck, TokenSource, bearer_tokens
from greeter._calls import AsyncReplyStream, Reply, ReplyStream
from greeter._client import DEFAULT_TARGET, AsyncGreeterClient, GreeterClient, RetryPolicy
from greeter._config import ChannelOption, Compression, ServerConfig, ServerInterceptor
from greeter._context import AsyncCallContext, CallContext
from greeter._exceptions import (
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
from greeter._hooks import AccessLog, CallInfo, CallOutcome, ServerHook
from greeter._metadata import Metadata, MetadataTuple
from greeter._server import DEFAULT_ADDRESS, AsyncGreeterServer, ExtraService, GreeterServer
from greeter._service import AsyncGreeterService, GreeterService
from greeter._tls import PEM, ClientTLS, ServerTLS

#: The installed distribution's version (read on first use: see ``__getattr__``).
__version__: str


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed distribution when first asked for.

    ``importlib.metadata`` costs more to import than the rest of ``greeter`` beside
    grpc, and most programs never read the version, so ``import greeter`` does not pay.
    """
    if name == "__version__":
        from importlib.metadata import version

        global __version__
        __version__ = version("grpc-greeter")
        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

# Public classes and functions say they are greeter's, as httpx's do: tracebacks, reprs
# and pickles show ``greeter.Unavailable``, never the private module that defines it.
for _name in __all__:
    _public = globals().get(_name)
    # On Python 3.10 a generic alias (``Metadata``) passes isinstance(..., type) too.
    if isinstance(_public, type | _FunctionType) and not isinstance(_public, _GenericAlias):
        _public.__module__ = __name__
del _name, _public
