"""Options shared by the sync and asyncio clients and servers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import grpc

__all__ = ["ChannelOption", "Compression", "ServerConfig"]

#: The message compression algorithms gRPC supports.
Compression: TypeAlias = Literal["gzip", "deflate", "none"]
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


@dataclass(frozen=True)
class ServerConfig:
    """How a Greeter server runs; shared by the sync and asyncio servers.

    Attributes:
        max_workers: threads serving calls at once (sync server only).
        grace_seconds: on stop, how long in-flight calls may take to finish before
            they are cancelled. New calls are refused from the moment stop begins.
        compression: default compression of responses (``"gzip"``, ``"deflate"``).
        max_send_message_length: largest message the server sends, in bytes.
        max_receive_message_length: largest message the server accepts, in bytes;
            a larger request fails with ``RESOURCE_EXHAUSTED``.
        reuse_port: let several servers (processes) listen on the same port, with the
            kernel spreading connections among them (``SO_REUSEPORT``). Off by default,
            so a port that is already taken is an error instead of silently shared.
        options: any other gRPC channel arguments, passed through unchanged.
    """

    max_workers: int = 10
    grace_seconds: float = 5.0
    compression: Compression | None = None
    max_send_message_length: int | None = None
    max_receive_message_length: int | None = None
    reuse_port: bool = False
    options: Sequence[ChannelOption] = ()

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if self.grace_seconds < 0:
            raise ValueError("grace_seconds must not be negative")
        to_grpc_compression(self.compression)  # rejects an unknown name now, not at start

    def channel_options(self) -> list[ChannelOption]:
        """All gRPC channel arguments this configuration implies."""
        limits = message_length_options(
            self.max_send_message_length, self.max_receive_message_length
        )
        return [("grpc.so_reuseport", int(self.reuse_port)), *limits, *self.options]
