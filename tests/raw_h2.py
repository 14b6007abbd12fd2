"""A bare HTTP/2 gRPC client (h2): sends what no well-behaved client would.

``grpc`` clients obey the server's SETTINGS and frame their messages correctly; a
hostile client need not. ``raw_call`` opens a fresh connection, sends one request with
the given headers and body exactly as given, and returns how the server ended it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings

__all__ = ["Ending", "frame", "raw_call", "raw_calls", "unread_stream"]


def _client_connection() -> h2.connection.H2Connection:
    """An HTTP/2 client connection that takes frames of the largest size: older grpc
    core sends trailers longer than the default 16 KiB frame (a refusal whose
    grpc-message names a thousand headers)."""
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    largest = 2**24 - 1
    connection.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.MAX_FRAME_SIZE: largest}
    )
    connection.max_inbound_frame_size = largest
    return connection


def frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed)."""
    return struct.pack(">BI", 0, len(message)) + message


def _request_headers(target: str, path: str) -> list[tuple[bytes, bytes]]:
    """A gRPC request's headers, as a well-behaved client sends them."""
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", target.encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]


@dataclass
class Ending:
    """How the server ended a raw call: its status, or a reset, or nothing in time."""

    status: int | None = None
    message: str = ""
    reset: int | None = None
    seconds: float = 0.0
    replies: list[bytes] = field(default_factory=list)


def raw_call(
    target: str,
    path: str,
    body: bytes,
    *,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    timeout: float = 5.0,
) -> Ending:
    """One request on a new connection; ``status`` stays ``None`` if nothing came in time."""
    host, _, port = target.rpartition(":")
    started = time.monotonic()
    ending = Ending()
    connection = _client_connection()
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [*_request_headers(target, path), *headers],
        )
        connection.send_data(stream, body, end_stream=True)
        sock.sendall(connection.data_to_send())
        try:
            while ending.status is None and ending.reset is None:
                data = sock.recv(65536)
                if not data:
                    break
                for event in connection.receive_data(data):
                    _read(event, ending)
                sock.sendall(connection.data_to_send())
        except (TimeoutError, ConnectionResetError):
            pass
    ending.seconds = time.monotonic() - started
    return ending


def _read(event: h2.events.Event, ending: Ending) -> None:
    if isinstance(event, h2.events.DataReceived):
        ending.replies.append(event.data[5:])
    elif isinstance(event, h2.events.StreamReset):
        ending.reset = event.error_code
    elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
        found = dict(event.headers)
        if b"grpc-status" in found:
            ending.status = int(found[b"grpc-status"])
            ending.message = found.get(b"grpc-message", b"").decode()


def raw_calls(
    target: str,
    path: str,
    body: bytes,
    *,
    count: int,
    batch: int = 100,
    timeout: float = 10.0,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
) -> list[Ending]:
    """``count`` requests on one connection, ``batch`` streams open at a time, with
    ``headers`` beside a gRPC request's own; each gets the ``Ending`` the server gave it
    (``status`` ``None`` if none came within ``timeout`` of its batch being sent)."""
    host, _, port = target.rpartition(":")
    connection = _client_connection()
    endings: list[Ending] = []
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        connection.initiate_connection()
        sock.sendall(connection.data_to_send())
        while len(endings) < count:
            open_streams: dict[int, Ending] = {}
            for _ in range(min(batch, count - len(endings))):
                stream = connection.get_next_available_stream_id()
                connection.send_headers(stream, [*_request_headers(target, path), *headers])
                connection.send_data(stream, body, end_stream=True)
                open_streams[stream] = Ending()
            sock.sendall(connection.data_to_send())
            sent = time.monotonic()
            pending = set(open_streams)
            with contextlib.suppress(TimeoutError):
                while pending and time.monotonic() - sent < timeout:
                    data = sock.recv(65536)
                    if not data:
                        break
                    for event in connection.receive_data(data):
                        stream_id = getattr(event, "stream_id", None)
                        if stream_id in open_streams:
                            _read(event, open_streams[stream_id])
                            ending = open_streams[stream_id]
                            if ending.status is not None or ending.reset is not None:
                                pending.discard(stream_id)
                    sock.sendall(connection.data_to_send())
            endings.extend(open_streams.values())
    return endings


def unread_stream(target: str, path: str, request: bytes, *, calls: int = 1) -> socket.socket:
    """``calls`` calls of ``path`` with ``request`` on a connection of their own, whose
    responses are never read: the connection, to close when done."""
    host, _, port = target.rpartition(":")
    connection = _client_connection()
    connection.initiate_connection()
    for _ in range(calls):
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, _request_headers(target, path))
        connection.send_data(stream, frame(request), end_stream=True)
    unread = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
    unread.sendall(connection.data_to_send())
    return unread
