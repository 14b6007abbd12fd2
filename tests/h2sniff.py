"""A TCP proxy on 127.0.0.1 that reads the HTTP/2 passing through it.

gRPC hides ``grpc-encoding`` from metadata on both sides, so to prove that compression
was negotiated, the tests look at the wire: this proxy decodes each direction's HEADERS
(with hpack) and the 5-byte prefix of every gRPC message in DATA frames, whose first
byte says whether that message is compressed.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

from hpack import Decoder

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _CONTINUATION = 0x0, 0x1, 0x9
_END_HEADERS, _PADDED, _PRIORITY = 0x4, 0x8, 0x20


@dataclass
class Direction:
    """What one side sent: its header blocks and its messages' compressed flags."""

    headers: list[dict[str, str]] = field(default_factory=list)
    compressed_flags: list[int] = field(default_factory=list)

    def header_values(self, name: str) -> list[str]:
        return [block[name] for block in self.headers if name in block]


class _Parser:
    def __init__(self, seen: Direction, expect_preface: bool) -> None:
        self._seen = seen
        self._buffer = b""
        self._preface_left = len(_PREFACE) if expect_preface else 0
        self._decoder = Decoder()
        self._decoder.max_allowed_table_size = 1 << 20
        self._header_block = b""
        self._messages: dict[int, bytes] = {}

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if self._preface_left:
            skipped = min(self._preface_left, len(self._buffer))
            self._buffer = self._buffer[skipped:]
            self._preface_left -= skipped
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            frame_type, flags = self._buffer[3], self._buffer[4]
            stream = struct.unpack(">I", self._buffer[5:9])[0] & 0x7FFFFFFF
            payload = self._buffer[9 : 9 + length]
            self._buffer = self._buffer[9 + length :]
            self._frame(frame_type, flags, stream, payload)

    def _frame(self, frame_type: int, flags: int, stream: int, payload: bytes) -> None:
        if frame_type in (_DATA, _HEADERS) and flags & _PADDED:
            payload = payload[1 : len(payload) - payload[0]]
        if frame_type == _HEADERS and flags & _PRIORITY:
            payload = payload[5:]
        if frame_type in (_HEADERS, _CONTINUATION):
            self._header_block += payload
            if flags & _END_HEADERS:
                decoded = self._decoder.decode(self._header_block)
                self._seen.headers.append({str(k): str(v) for k, v in decoded})
                self._header_block = b""
        elif frame_type == _DATA:
            pending = self._messages.get(stream, b"") + payload
            while len(pending) >= 5:
                size = int.from_bytes(pending[1:5], "big")
                if len(pending) < 5 + size:
                    break
                self._seen.compressed_flags.append(pending[0])
                pending = pending[5 + size :]
            self._messages[stream] = pending


class SniffingProxy:
    """Forward 127.0.0.1:``port`` to ``upstream_port``, recording both directions."""

    def __init__(self, upstream_port: int) -> None:
        self.requests = Direction()  # what the client sent (what the server saw)
        self.responses = Direction()  # what the server sent (what the client saw)
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, run: object, *args: object) -> None:
        thread = threading.Thread(target=run, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            self._sockets += [client, upstream]
            self._start(self._pump, client, upstream, _Parser(self.requests, True))
            self._start(self._pump, upstream, client, _Parser(self.responses, False))

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, parser: _Parser) -> None:
        try:
            while data := source.recv(65536):
                parser.feed(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # shutdown() wakes threads blocked in accept()/recv(); close() alone does not.
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
