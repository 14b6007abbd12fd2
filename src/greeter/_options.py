"""gRPC channel arguments and compression names, shared by clients and servers.

Kept apart from ``ServerConfig`` (``greeter.server._config``) so that a client, which needs
only these, does not build the server's settings class when it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    import grpc

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_LAME_DUCK_SECONDS",
    "DEFAULT_MAX_QUEUED_CALLS",
    "DEFAULT_MAX_QUEUE_WAIT_SHARE",
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "DEFAULT_MAX_WORKERS",
    "ChannelOption",
    "Compression",
    "message_length_options",
    "milliseconds",
    "to_grpc_compression",
]

#: The message compression algorithms gRPC supports.
Compression: TypeAlias = Literal["gzip", "deflate", "none"]
#: ``ServerConfig``'s defaults that the command line shows too: kept here, with no grpc
#: import, so ``greeter serve --help`` reads them before grpc is loaded.
DEFAULT_MAX_WORKERS = 32
DEFAULT_MAX_QUEUED_CALLS = 1024
DEFAULT_MAX_QUEUE_WAIT_SHARE = 0.15
DEFAULT_GRACE_SECONDS = 5.0
DEFAULT_LAME_DUCK_SECONDS = 0.25
#: The largest message grpc accepts unless told otherwise (4 MiB); the web port's too.
DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024
#: A raw gRPC channel argument, e.g. ``("grpc.keepalive_time_ms", 10000)``.
ChannelOption: TypeAlias = tuple[str, str | int]


#: Each compression name's member of ``grpc.Compression``.
_GRPC_COMPRESSION = {"gzip": "Gzip", "deflate": "Deflate", "none": "NoCompression"}


def to_grpc_compression(compression: Compression | None) -> grpc.Compression | None:
    """The ``grpc.Compression`` for a compression name (``None`` stays ``None``)."""
    if compression is None:
        return None
    member = _GRPC_COMPRESSION.get(compression)
    if member is None:
        choices = ", ".join(sorted(_GRPC_COMPRESSION))
        raise ValueError(f"unknown compression {compression!r}; choose one of {choices}")
    # Imported here: the command line reads the names before it lets grpc be imported.
    import grpc

    algorithm: grpc.Compression = getattr(grpc.Compression, member)
    return algorithm


def message_length_options(
    max_send_message_length: int | None, max_receive_message_length: int | None
) -> list[ChannelOption]:
    """Channel arguments for the message size limits that are set."""
    options: list[ChannelOption] = []
    if max_send_message_length is not None:
        options.append(("grpc.max_send_message_length", max_send_message_length))
    if max_receive_message_length is not None:
        options.append(("grpc.max_receive_message_length", max_receive_message_length))
    return options


def milliseconds(seconds: float) -> int:
    """A duration in whole milliseconds, as gRPC's channel arguments take it."""
    return round(seconds * 1000)
