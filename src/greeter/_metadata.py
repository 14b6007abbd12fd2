"""Metadata: the key/value pairs sent with a call, before and after its messages.

Keys are lowercase ASCII. Values are ``str``, except under keys ending in ``-bin``,
whose values are ``bytes`` (gRPC base64-encodes them on the wire).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

__all__ = ["Metadata", "MetadataTuple"]

#: Metadata as the library accepts it: any sequence of ``(key, value)`` pairs.
Metadata: TypeAlias = Sequence[tuple[str, str | bytes]]
#: Metadata as the library returns it: a tuple of ``(key, value)`` pairs, in wire order.
MetadataTuple: TypeAlias = tuple[tuple[str, str | bytes], ...]


def metadata_from_grpc(metadata: Iterable[tuple[str, str | bytes]] | None) -> MetadataTuple:
    """Metadata received through grpcio (sync tuples or ``grpc.aio.Metadata``), as plain pairs."""
    return tuple((key, value) for key, value in metadata or ())


def normalize_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> MetadataTuple:
    """Check metadata before it is sent, and return it as a tuple of plain pairs.

    Raises ``ValueError`` for a value whose type does not fit its key, so a mistake is
    reported where it is made, not as an opaque failure inside the gRPC core.
    """
    if metadata is None:
        return ()
    pairs: list[tuple[str, str | bytes]] = []
    for key, value in metadata:
        if key.endswith("-bin"):
            if not isinstance(value, bytes):
                raise ValueError(f"metadata key {key!r} ends in -bin, so its value must be bytes")
        elif not isinstance(value, str):
            raise ValueError(f"metadata key {key!r} needs a str value (or a key ending in -bin)")
        pairs.append((key, value))
    return tuple(pairs)
