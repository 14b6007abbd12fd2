"""gRPC channel arguments and compression names, shared by clients and servers.

Kept apart from ``ServerConfig`` (``greeter._config``) so that a client, which needs
only these, does not build the server's settings class when it is imported.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import grpc

__all__ = [
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "ChannelOption",
    "Compression",
    "message_length_options",
    "milliseconds",
    "to_grpc_compression",
]

#: The message compression algorithms gRPC supports.
Compression: TypeAlias = Literal["gzip", "deflate", "none"]
#: The largest message grpc accepts unless told otherwise (4 MiB); the web port's too.
DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024
#: A raw gRPC channel argument, e.g. ``("grpc.keepalive_time_ms", 10000)``.
ChannelOption: TypeAlias = tuple[str, str | int]

_COMPRESSION = {
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
    "none": grpc.Compression.NoCompression,
}


def to_grpc_compression(compression: Compression | None) -> grpc.Compression | None:
    """The ``grpc.Compression`` for a compression name (``None`` stays ``None``)."""
    if compression is None:
        return None
    try:
        return _COMPRESSION[compression]
    except KeyError:
        choices = ", ".join(sorted(_COMPRESSION))
        raise ValueError(f"unknown compression {compression!r}; choose one of {choices}") from None


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
