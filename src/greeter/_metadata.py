"""Metadata: the key/value pairs sent with a call, before and after its messages.

Keys are lowercase ASCII: letters, digits, ``-``, ``_`` and ``.``; keys starting with
``grpc-`` are gRPC's own. Values are printable ASCII ``str``, except under keys ending
in ``-bin``, whose values are ``bytes`` (gRPC base64-encodes them on the wire).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import TypeAlias

__all__ = ["Metadata", "MetadataTuple"]

#: The key of the metadata carrying a call's credentials (``Bearer <token>``).
AUTHORIZATION_KEY = "authorization"
#: Metadata as the library accepts it: any sequence of ``(key, value)`` pairs.
Metadata: TypeAlias = Sequence[tuple[str, str | bytes]]
#: Metadata as the library returns it: a tuple of ``(key, value)`` pairs, in wire order.
MetadataTuple: TypeAlias = tuple[tuple[str, str | bytes], ...]

#: What grpc accepts in a key (HTTP/2 header names, lowercase); it refuses the call
#: with INTERNAL "Invalid metadata" (and logs a core error) for anything else.
_KEY_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-_.")
#: What grpc accepts in a text value: printable ASCII, space included, tab excluded.
_TEXT_VALUE_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F))
#: gRPC keeps these keys for itself (grpc-timeout, grpc-status, ...); grpc drops some
#: silently and passes others on, so they are refused here, whatever grpc would do.
_RESERVED_PREFIX = "grpc-"


def metadata_from_grpc(metadata: Iterable[tuple[str, str | bytes]] | None) -> MetadataTuple:
    """Metadata received through grpcio (sync tuples or ``grpc.aio.Metadata``), as plain pairs."""
    return tuple((key, value) for key, value in metadata or ())


def check_metadata(key: str, value: str | bytes) -> None:
    """Raise ``ValueError``, naming ``key``, for a pair that gRPC would refuse to send."""
    if not key:
        raise ValueError("a metadata key cannot be empty")
    if not _KEY_CHARACTERS.issuperset(key):
        raise ValueError(
            f"metadata key {key!r} is not allowed: keys are lowercase ASCII letters, "
            "digits, '-', '_' and '.'"
        )
    if key.startswith(_RESERVED_PREFIX):
        raise ValueError(
            f"metadata key {key!r} is reserved: keys starting with {_RESERVED_PREFIX!r} "
            "belong to gRPC itself"
        )
    if key.endswith("-bin"):
        if not isinstance(value, bytes):
            raise ValueError(f"metadata key {key!r} ends in -bin, so its value must be bytes")
    elif not isinstance(value, str):
        raise ValueError(f"metadata key {key!r} needs a str value (or a key ending in -bin)")
    elif not _TEXT_VALUE_CHARACTERS.issuperset(value):
        raise ValueError(
            f"the value of metadata key {key!r} must be printable ASCII (no control or "
            f"non-ASCII characters), not {value!r}; send other data as bytes under a key "
            "ending in -bin"
        )


def normalize_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> MetadataTuple:
    """Check metadata before it is sent, and return it as a tuple of plain pairs.

    Raises ``ValueError`` naming the key for anything gRPC would refuse (see
    ``check_metadata``), so a mistake is reported where it is made, before any network
    traffic, not as ``INTERNAL: Invalid metadata`` and a log line from the gRPC core.
    """
    if metadata is None:
        return ()
    pairs: list[tuple[str, str | bytes]] = []
    for key, value in metadata:
        check_metadata(key, value)
        pairs.append((key, value))
    return tuple(pairs)
