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

from greeter._lazy import lazy_names as _lazy_names

#: True for type checkers only (mypy and pyright read it by name): ``typing`` itself costs
#: more to import than this module, and the names below load when first used. A test
#: holds these imports to ``_PUBLIC``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from greeter._addresses import (
        DEFAULT_ADDRESS as DEFAULT_ADDRESS,
    )
    from greeter._addresses import (
        DEFAULT_TARGET as DEFAULT_TARGET,
    )
    from greeter._metadata import (
        Metadata as Metadata,
    )
    from greeter._metadata import (
        MetadataTuple as MetadataTuple,
    )
    from greeter._options import (
        ChannelOption as ChannelOption,
    )
    from greeter._options import (
        Compression as Compression,
    )
    from greeter._tls import (
        PEM as PEM,
    )
    from greeter._tls import (
        ClientTLS as ClientTLS,
    )
    from greeter._tls import (
        ServerTLS as ServerTLS,
    )
    from greeter.client._asyncio import (
        AsyncGreeterClient as AsyncGreeterClient,
    )
    from greeter.client._calls import (
        AsyncReplyStream as AsyncReplyStream,
    )
    from greeter.client._calls import (
        Reply as Reply,
    )
    from greeter.client._calls import (
        ReplyStream as ReplyStream,
    )
    from greeter.client._channel import (
        RetryPolicy as RetryPolicy,
    )
    from greeter.client._sync import (
        GreeterClient as GreeterClient,
    )
    from greeter.client._tokens import (
        TokenSource as TokenSource,
    )
    from greeter.errors import (
        Aborted as Aborted,
    )
    from greeter.errors import (
        AlreadyExists as AlreadyExists,
    )
    from greeter.errors import (
        Cancelled as Cancelled,
    )
    from greeter.errors import (
        DataLoss as DataLoss,
    )
    from greeter.errors import (
        DeadlineExceeded as DeadlineExceeded,
    )
    from greeter.errors import (
        FailedPrecondition as FailedPrecondition,
    )
    from greeter.errors import (
        GreeterError as GreeterError,
    )
    from greeter.errors import (
        Internal as Internal,
    )
    from greeter.errors import (
        InvalidArgument as InvalidArgument,
    )
    from greeter.errors import (
        NotFound as NotFound,
    )
    from greeter.errors import (
        OutOfRange as OutOfRange,
    )
    from greeter.errors import (
        PermissionDenied as PermissionDenied,
    )
    from greeter.errors import (
        ResourceExhausted as ResourceExhausted,
    )
    from greeter.errors import (
        StatusCode as StatusCode,
    )
    from greeter.errors import (
        Unauthenticated as Unauthenticated,
    )
    from greeter.errors import (
        Unavailable as Unavailable,
    )
    from greeter.errors import (
        Unimplemented as Unimplemented,
    )
    from greeter.errors import (
        Unknown as Unknown,
    )
    from greeter.pipeline._auth import (
        TokenCheck as TokenCheck,
    )
    from greeter.pipeline._auth import (
        bearer_tokens as bearer_tokens,
    )
    from greeter.pipeline._context import (
        AsyncCallContext as AsyncCallContext,
    )
    from greeter.pipeline._context import (
        CallContext as CallContext,
    )
    from greeter.pipeline._hooks import (
        AccessLog as AccessLog,
    )
    from greeter.pipeline._hooks import (
        CallInfo as CallInfo,
    )
    from greeter.pipeline._hooks import (
        CallOutcome as CallOutcome,
    )
    from greeter.pipeline._hooks import (
        ServerHook as ServerHook,
    )
    from greeter.server._config import (
        ServerConfig as ServerConfig,
    )
    from greeter.server._config import (
        ServerInterceptor as ServerInterceptor,
    )
    from greeter.server._server import (
        AsyncGreeterServer as AsyncGreeterServer,
    )
    from greeter.server._server import (
        ExtraService as ExtraService,
    )
    from greeter.server._server import (
        GreeterServer as GreeterServer,
    )
    from greeter.server._service import (
        AsyncGreeterService as AsyncGreeterService,
    )
    from greeter.server._service import (
        GreeterService as GreeterService,
    )

#: The installed distribution's version (read on first use: see ``__getattr__``).
__version__: str

#: The public names, by the module that defines each: the one list that gives
#: ``__all__``, ``dir(greeter)`` and the lazy loading. ``import greeter`` loads none of
#: these modules (nor grpc or protobuf): a name's module is imported when the name is
#: first used, so a program pays for the client, the server or the errors only when it
#: uses them. A public class keeps the ``__module__`` that defines it, so
#: ``inspect.getsource()``, ``typing.get_type_hints()`` and IDEs find it; errors are
#: defined in the public ``greeter.errors``, so a traceback says
#: ``greeter.errors.Unavailable``.
_PUBLIC = {
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
    "greeter.client._calls": (
        "AsyncReplyStream",
        "Reply",
        "ReplyStream",
    ),
    "greeter.client._asyncio": ("AsyncGreeterClient",),
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
    "greeter.server._config": (
        "ServerConfig",
        "ServerInterceptor",
    ),
    "greeter.server._server": (
        "AsyncGreeterServer",
        "ExtraService",
        "GreeterServer",
    ),
    "greeter.server._service": (
        "AsyncGreeterService",
        "GreeterService",
    ),
}

_names, _public_name, __dir__ = _lazy_names(__name__, _PUBLIC, globals())
__all__ = [*_names, "__version__"]


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
        return _public_name(name)
