"""A user's own service (``echo.Echo``, from tests/protos/echo.proto) and a generic handler
(``demo.Test``), served beside the Greeter through ``services=``.

``load_echo_code`` compiles echo.proto with plain ``grpc_tools.protoc``, as a user
would, into a temporary directory, and imports the generated
``echo_pb2`` / ``echo_pb2_grpc`` from there (no other module in the tests has those
names). Generated code is untyped: ``EchoCode`` is the small typed face the tests use,
and the servicers implement the generated ``EchoServicer`` by its one method rather
than by subclassing it (an untyped base class).

A test module gets the generated code with a fixture of its own::

    @pytest.fixture(scope="module")
    def echo_code(tmp_path_factory: pytest.TempPathFactory) -> EchoCode:
        return load_echo_code(tmp_path_factory)
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import pytest

from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    ExtraService,
    GreeterServer,
    GreeterService,
    ServerConfig,
)
from tests.conftest import LOOPBACK, serving_async

ECHO_PROTO = Path(__file__).resolve().parent / "protos" / "echo.proto"
ECHO_SERVICE = "echo.Echo"
ECHO_METHOD = "/echo.Echo/Echo"
DEMO_SERVICE = "demo.Test"
DEMO_UPPER_METHOD = "/demo.Test/Upper"
DEMO_COUNT_METHOD = "/demo.Test/Count"
TIMEOUT = 10.0


def protoc(out: Path, proto: Path) -> None:
    """Compile ``proto`` into ``out`` with ``grpc_tools.protoc``: messages and grpc stubs."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={proto.parent}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(proto),
        ],
        check=True,
        timeout=60,
    )


@dataclass(frozen=True)
class EchoCode:
    """The modules generated from echo.proto, with typed entry points."""

    pb2: ModuleType
    pb2_grpc: ModuleType

    def request(self, data: str) -> object:
        """An ``echo.EchoRequest``."""
        request: object = self.pb2.EchoRequest(data=data)
        return request

    def reply(self, data: str) -> object:
        """An ``echo.EchoReply``."""
        reply: object = self.pb2.EchoReply(data=data)
        return reply

    def service(self, servicer: EchoServicer | AsyncEchoServicer) -> ExtraService:
        """``servicer`` as ``services=`` takes it: ``(add_EchoServicer_to_server, servicer)``."""
        return (self.pb2_grpc.add_EchoServicer_to_server, servicer)

    def echo(self, target: str, data: str, *, metadata: tuple[tuple[str, str], ...] = ()) -> str:
        """Call ``echo.Echo/Echo`` with grpc's own generated stub; the reply's data."""
        with grpc.insecure_channel(target) as channel:
            stub = self.pb2_grpc.EchoStub(channel)
            reply = stub.Echo(self.request(data), timeout=TIMEOUT, metadata=metadata)
        return str(reply.data)


class EchoServicer:
    """``echo.Echo`` for the threaded server: sends back the request's data."""

    def __init__(self, code: EchoCode) -> None:
        self._code = code
        self._lock = threading.Lock()
        #: How many times the handler ran.
        self.calls = 0

    def Echo(self, request: Any, context: grpc.ServicerContext) -> object:  # noqa: N802
        with self._lock:
            self.calls += 1
        return self._code.reply(str(request.data))


class AsyncEchoServicer:
    """``echo.Echo`` for the asyncio server: an ``async def`` handler."""

    def __init__(self, code: EchoCode) -> None:
        self._code = code
        #: How many times the handler ran.
        self.calls = 0

    async def Echo(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> object:
        self.calls += 1
        await asyncio.sleep(0)
        return self._code.reply(str(request.data))


def _upper(request: bytes, context: object) -> bytes:
    return request.upper()


def _count(request: bytes, context: object) -> Iterator[bytes]:
    for number in range(1, int(request) + 1):
        yield str(number).encode()


async def _async_upper(request: bytes, context: object) -> bytes:
    await asyncio.sleep(0)
    return request.upper()


async def _async_count(request: bytes, context: object) -> AsyncIterator[bytes]:
    for number in range(1, int(request) + 1):
        await asyncio.sleep(0)
        yield str(number).encode()


def demo_handler(*, asynchronous: bool = False) -> grpc.GenericRpcHandler:
    """``demo.Test``: ``Upper`` (unary, bytes in, upper-cased bytes out) and ``Count``
    (server streaming: ``b"3"`` -> ``b"1"``, ``b"2"``, ``b"3"``), with no proto at all.

    ``asynchronous`` makes the handlers ``async def`` (the usual kind on an asyncio server).
    """
    upper = _async_upper if asynchronous else _upper
    count = _async_count if asynchronous else _count
    return grpc.method_handlers_generic_handler(
        DEMO_SERVICE,
        {
            "Upper": grpc.unary_unary_rpc_method_handler(
                upper, request_deserializer=bytes, response_serializer=bytes
            ),
            "Count": grpc.unary_stream_rpc_method_handler(
                count, request_deserializer=bytes, response_serializer=bytes
            ),
        },
    )


def call_upper(target: str, data: bytes, *, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Call ``demo.Test/Upper`` with a plain grpc channel."""
    with grpc.insecure_channel(target) as channel:
        upper: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DEMO_UPPER_METHOD)
        reply: bytes = upper(data, timeout=TIMEOUT, metadata=metadata)
    return reply


def call_count(target: str, up_to: int) -> list[bytes]:
    """Call ``demo.Test/Count`` with a plain grpc channel; every reply."""
    with grpc.insecure_channel(target) as channel:
        count: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(DEMO_COUNT_METHOD)
        return list(count(str(up_to).encode(), timeout=TIMEOUT))


_loaded: list[EchoCode] = []


def load_echo_code(tmp_path_factory: pytest.TempPathFactory) -> EchoCode:
    """echo.proto compiled by ``grpc_tools.protoc`` and imported as ``echo_pb2(_grpc)``.

    Compiled once per process: a module's ``echo_code`` fixture returns this.
    """
    if not _loaded:
        out = tmp_path_factory.mktemp("echo_code")
        protoc(out, ECHO_PROTO)
        # The generated echo_pb2_grpc imports "echo_pb2" as a top-level module.
        sys.path.insert(0, str(out))
        try:
            pb2 = importlib.import_module("echo_pb2")
            pb2_grpc = importlib.import_module("echo_pb2_grpc")
        finally:
            sys.path.remove(str(out))
        _loaded.append(EchoCode(pb2, pb2_grpc))
    return _loaded[0]


@contextmanager
def serving_with(
    kind: str,
    services: list[ExtraService],
    *,
    address: str | list[str] = LOOPBACK,
    config: ServerConfig | None = None,
    service: GreeterService | None = None,
    async_service: AsyncGreeterService | None = None,
) -> Iterator[GreeterServer | AsyncGreeterServer]:
    """Serve the Greeter plus ``services`` on the threaded (``"sync"``) or asyncio
    (``"async"``) server (on 127.0.0.1 unless told otherwise); yield the running server."""
    if kind == "sync":
        with (service or GreeterService()).start(
            address, config=config, services=services
        ) as server:
            yield server
        return
    with serving_async(
        async_service or AsyncGreeterService(), config, address=address, services=services
    ) as async_server:
        yield async_server
