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
from greeter._public import PUBLIC as _PUBLIC

#: True for type checkers only (mypy and pyright read it by name): ``typing`` itself costs
#: more to import than this module, and the names below load when first used. A test
#: holds these imports to ``_PUBLIC`` (``greeter._public``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from greeter._addresses import (
        DEFAULT_ADDRESS as DEFAULT_ADDRESS,
        DEFAULT_TARGET as DEFAULT_TARGET,
    )
    from greeter._metadata import (
        Metadata as Metadata,
        MetadataTuple as MetadataTuple,
    )
    from greeter._options import (
        ChannelOption as ChannelOption,
        Compression as Compression,
    )
    from greeter._tls import (
        PEM as PEM,
        ClientTLS as ClientTLS,
        ServerTLS as ServerTLS,
    )
    from greeter.client._asyncio import (
        AsyncGreeterClient as AsyncGreeterClient,
    )
    from greeter.client._base import (
        CallOptions as CallOptions,
    )
    from greeter.client._calls import (
        AsyncReplyStream as AsyncReplyStream,
        Reply as Reply,
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
        AlreadyExists as AlreadyExists,
        Cancelled as Cancelled,
        DataLoss as DataLoss,
        DeadlineExceeded as DeadlineExceeded,
        FailedPrecondition as FailedPrecondition,
        GreeterError as GreeterError,
        Internal as Internal,
        InvalidArgument as InvalidArgument,
        NotFound as NotFound,
        OutOfRange as OutOfRange,
        PermissionDenied as PermissionDenied,
        ResourceExhausted as ResourceExhausted,
        StatusCode as StatusCode,
        Unauthenticated as Unauthenticated,
        Unavailable as Unavailable,
        Unimplemented as Unimplemented,
        Unknown as Unknown,
    )
    from greeter.pipeline._auth import (
        TokenCheck as TokenCheck,
        bearer_tokens as bearer_tokens,
    )
    from greeter.pipeline._context import (
        AsyncCallContext as AsyncCallContext,
        CallContext as CallContext,
    )
    from greeter.pipeline._hooks import (
        AccessLog as AccessLog,
        CallInfo as CallInfo,
        CallOutcome as CallOutcome,
        ServerHook as ServerHook,
    )
    from greeter.server._assembly import (
        ExtraService as ExtraService,
    )
    from greeter.server._async_server import (
        AsyncGreeterServer as AsyncGreeterServer,
    )
    from greeter.server._config import (
        ServerConfig as ServerConfig,
        ServerInterceptor as ServerInterceptor,
    )
    from greeter.server._service import (
        AsyncGreeterService as AsyncGreeterService,
        GreeterService as GreeterService,
    )
    from greeter.server._threaded_server import (
        GreeterServer as GreeterServer,
    )

#: The installed distribution's version (read on first use: see ``__getattr__``).
__version__: str

# The public names come from the one table in greeter._public.
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
