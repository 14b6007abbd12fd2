"""A call over HTTP (Connect, gRPC-Web) seen through grpc's servicer-context interface.

``greeter.web`` serves every service through the grpc handlers it registered with the
server (the Greeter's servicer, a generated service's ``greeter.rpc`` handlers, plain
grpc ones), so errors, ``self.context``, in-flight tracking and reply streams behave
the same on both ports. Those handlers talk to grpc's ``ServicerContext``; the classes
here answer the part of it they use, from a Connect
``RequestContext``: request headers become invocation metadata, trailing metadata
becomes response trailers, and ``abort`` raises the ``ConnectError`` for the status,
with the rich details the error carried.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.request import RequestContext
from protobuf.wkt import Any as AnyDetail

from greeter._addresses import grpc_peer
from greeter._logging import shorten
from greeter._metadata import MetadataTuple
from greeter.errors import RICH_STATUS_KEY, StatusCode

__all__ = ["AsyncWebServicerContext", "WebServicerContext", "connect_code", "status_code"]

logger = logging.getLogger("greeter.web")

# Headers that carry the protocols themselves, not the caller's metadata (grpc hides
# its own likewise: content-type, te, grpc-timeout, ...).
_TRANSPORT_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "connect-accept-encoding",
        "connect-content-encoding",
        "connect-protocol-version",
        "connect-timeout-ms",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "grpc-accept-encoding",
        "grpc-encoding",
        "grpc-timeout",
        "host",
        "te",
        "transfer-encoding",
    }
)


def connect_code(code: grpc.StatusCode) -> Code:
    """The Connect code for a gRPC status code (they differ only in spelling)."""
    return Code[code.name.replace("CANCELLED", "CANCELED")]


def status_code(code: Code) -> StatusCode:
    """The gRPC status code for a Connect code (the inverse of ``connect_code``)."""
    return StatusCode[code.name.replace("CANCELED", "CANCELLED")]


#: Longest header name quoted back in an error.
_MAX_QUOTED_NAME = 100


def _decode_binary(name: str, value: str) -> bytes:
    """A ``-bin`` header's value (unpadded base64, as gRPC sends it)."""
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error:
        # As grpc refuses malformed metadata before any interceptor runs, so the call
        # ends here, before the auth check and the hooks; the caller learns why.
        quoted = shorten(name, _MAX_QUOTED_NAME)
        logger.warning(
            "Refused a web call with INVALID_ARGUMENT: its header %s is not base64", quoted
        )
        raise ConnectError(
            Code.INVALID_ARGUMENT, f"the binary header {quoted} is not valid base64"
        ) from None


class WebServicerContext:
    """A Connect call, as the threaded server's handlers expect their grpc context."""

    def __init__(self, request: RequestContext[Any, Any]) -> None:
        """Raises ``ConnectError`` (INVALID_ARGUMENT) if a ``-bin`` header is not base64."""
        self._request = request
        self._metadata = _metadata(request)
        self._error_details: Sequence[ErrorDetail] = ()
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._ended = False
        self._callbacks: list[Callable[[], None]] = []

    # -- what the call brought

    def invocation_metadata(self) -> MetadataTuple:
        return self._metadata

    def peer(self) -> str:
        address = self._request.client_address
        return "unknown" if address is None else grpc_peer(address)

    def time_remaining(self) -> float | None:
        remaining = self._request.timeout_ms
        return None if remaining is None else max(remaining / 1000, 0.0)

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    # -- what the handler sends back

    def send_initial_metadata(self, metadata: MetadataTuple) -> None:
        for key, value in metadata:
            self._request.response_headers.add(key, _header_value(value))

    def set_trailing_metadata(self, metadata: MetadataTuple) -> None:
        trailers = self._request.response_trailers
        for key, value in metadata:
            if key == RICH_STATUS_KEY and isinstance(value, bytes):
                # Connect carries rich details in its own error body (and writes this
                # trailer itself for gRPC-Web): keep them for abort().
                self._error_details = _rich_details(value)
                continue
            trailers.add(key, _header_value(value))

    def set_compression(self, algorithm: grpc.Compression) -> None:
        # Connect negotiates compression from the client's Accept-Encoding.
        logger.debug("set_compression(%s) has no effect on a web call", algorithm)

    def disable_next_message_compression(self) -> None:
        pass

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def status_set(self) -> ConnectError | None:
        """The error the call ends with because its handler set a status other than OK
        (``set_code``, ``set_details``: plain grpc handlers do), once it returns or raises,
        as grpc ends it; None if it set none."""
        if self._code is None or self._code == grpc.StatusCode.OK:
            return None
        return ConnectError(connect_code(self._code), self._details, details=self._error_details)

    def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise ConnectError(connect_code(code), details, details=self._error_details)

    # -- the call's life

    def is_active(self) -> bool:
        return not self._ended

    def done(self) -> bool:
        return self._ended

    def add_callback(self, callback: Callable[[], None]) -> bool:
        if self._ended:
            return False
        self._callbacks.append(callback)
        return True

    def end(self) -> None:
        """The call is over (answered, failed, cancelled or timed out): run the callbacks."""
        if self._ended:
            return
        self._ended = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a done callback of a web call failed")


class AsyncWebServicerContext(WebServicerContext):
    """A Connect call, as the asyncio server's handlers expect their grpc context."""

    async def send_initial_metadata(self, metadata: MetadataTuple) -> None:  # type: ignore[override]
        super().send_initial_metadata(metadata)

    async def abort(  # type: ignore[override]
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: MetadataTuple = ()
    ) -> NoReturn:
        self.set_trailing_metadata(trailing_metadata)
        super().abort(code, details)

    def add_done_callback(self, callback: Callable[[object], None]) -> None:
        if not self.add_callback(lambda: callback(self)):
            callback(self)


def _metadata(request: RequestContext[Any, Any]) -> MetadataTuple:
    """The request headers that are the caller's metadata, ``-bin`` ones decoded."""
    metadata: list[tuple[str, str | bytes]] = []
    for key, value in request.request_headers.allitems():
        name = key.lower()
        if name in _TRANSPORT_HEADERS:
            continue
        metadata.append((name, _decode_binary(name, value) if name.endswith("-bin") else value))
    return tuple(metadata)


def _header_value(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii").rstrip("=")
    return value


def _rich_details(status_bytes: bytes) -> list[ErrorDetail]:
    """The details of a serialized ``google.rpc.Status``, as Connect error details."""
    from greeter._proto.status_pb2 import Status  # google.rpc.Status's fields, see status.proto

    status = Status.FromString(status_bytes)
    return [
        ErrorDetail(AnyDetail(type_url=detail.type_url, value=detail.value))
        for detail in status.details
    ]
