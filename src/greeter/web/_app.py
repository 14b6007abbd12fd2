"""The ASGI app that serves services over Connect and gRPC-Web.

``asgi_app`` is the public way in (``greeter.web``); ``build_app`` is the same app as a
server's web port builds it, serving the handlers every service registered with the
server, through its call pipeline and on its handler threads. Either way the app is
connectrpc's, its endpoints made per URL path by ``greeter.web._routes`` and run by
``greeter.web._endpoints``, inside the CORS layer of ``greeter.web._cors``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeAlias, TypeVar

from connectrpc.code import Code
from connectrpc.codec import Codec
from connectrpc.compat import google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.server import ConnectASGIApplication
from google.protobuf.message import Message

from greeter._options import DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH
from greeter.pipeline._pipeline import CallPipeline
from greeter.server._config import ServerConfig
from greeter.server._executor import HandlerThreads
from greeter.server._ports import RegisteredHandlers
from greeter.server._runtime import AsyncService, Service
from greeter.web._cors import CORS, ASGIApp
from greeter.web._endpoints import CallSteps, Endpoints
from greeter.web._routes import Routes
from greeter.web._steps import AsyncCallSteps, ThreadedCallSteps, web_handler_threads

__all__ = ["WebService", "asgi_app", "build_app", "registered_handlers"]

logger = logging.getLogger("greeter.web")

_M = TypeVar("_M", bound=Message)

#: A service ``asgi_app`` serves: the Greeter, or a generated service, threaded or asyncio.
WebService: TypeAlias = Service | AsyncService


def asgi_app(
    service: WebService,
    *,
    origins: Sequence[str] | None = None,
    config: ServerConfig | None = None,
) -> ASGIApp:
    """An ASGI app serving ``service`` over Connect (binary and JSON) and gRPC-Web.

    ``service`` is a ``GreeterService`` or a generated service (``greeter generate``:
    ``InventoryService``), or their asyncio twins. ``origins`` are the pages allowed to
    call it from a browser, as CORS origins (``"https://app.example"``, or ``"*"`` for
    any; by default ``config.web_origins``); calls without an ``Origin`` header (curl,
    servers) are always answered. Each method of a threaded service runs on a worker
    thread (``config.max_workers`` of them), so the event loop never waits for it; an
    asyncio service runs on the loop.

    ``config`` brings the settings that concern calls, as a server applies them on
    both its ports: ``auth`` (bearer tokens, sent by browsers as an ``Authorization:
    Bearer ...`` header), ``hooks`` and ``access_log``. The settings of a port (``web``,
    ``tls``, ``grace_seconds``, ...) are for whatever serves the app::

        app = asgi_app(service, config=ServerConfig(auth=bearer_tokens([token]), access_log=True))
    """
    config = config or ServerConfig()
    pipeline = config.call_pipeline()
    handlers = registered_handlers(service)
    if pipeline is not None and not handlers.asyncio:
        pipeline.check_threaded()
    return build_app(
        handlers,
        origins=config.web_origins if origins is None else origins,
        pipeline=pipeline,
        config=config,
    )


def registered_handlers(service: WebService) -> RegisteredHandlers:
    """The grpc handlers ``service`` registers with a server, as it registers them there."""
    handlers = RegisteredHandlers(asyncio=isinstance(service, AsyncService))
    service.add_to_server(handlers)
    return handlers


def build_app(
    handlers: RegisteredHandlers,
    *,
    origins: Sequence[str],
    pipeline: CallPipeline | None,
    config: ServerConfig,
    threads: HandlerThreads | None = None,
) -> ASGIApp:
    """``asgi_app``, or the web side of a server: serving the ``handlers`` its services
    registered (counted as its native calls are, for a graceful stop's report), through
    its call pipeline (auth, hooks, access log) and with its settings (threads,
    admission, message size). A server passes the ``threads`` a threaded service runs
    on, to shut them down when it stops."""
    steps: CallSteps[Any, Any]
    if handlers.asyncio:
        steps = AsyncCallSteps(pipeline)
    else:
        if threads is None:
            threads = web_handler_threads(config)
        steps = ThreadedCallSteps(pipeline, threads)
    routes: Endpoints = Routes(handlers, steps)
    connect = _ServedApplication(
        service=routes,
        endpoints=lambda served: served,
        codecs=[_ValidRequests(_ProtoBinaryCodec()), _ValidRequests(google_protobuf_json_codec())],
        read_max_bytes=config.max_receive_message_length or DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    )
    return CORS(connect, origins)


class _ProtoBinaryCodec:
    """protobuf's binary format, as connectrpc's own codec, but handing the parser
    ``bytes``: connectrpc reads gRPC-Web frames into a ``bytearray``, which protobuf's
    ``FromString`` refuses in older releases, such as 5.27 ("expected bytes, bytearray
    found")."""

    def name(self) -> str:
        return "proto"

    def encode(self, message: Message) -> bytes:
        return message.SerializeToString()

    def decode(self, data: bytes | bytearray, message_class: type[_M]) -> _M:
        return message_class.FromString(bytes(data))


class _ValidRequests:
    """A codec that refuses a request which does not parse, or lacks a proto2 ``required``
    field, with INVALID_ARGUMENT, as a generated service's handler does on native gRPC
    (connectrpc 0.12 answers UNKNOWN to the first, and neither release checks the second).
    """

    def __init__(self, codec: Codec) -> None:
        self._codec = codec

    def name(self) -> str:
        return self._codec.name()

    def encode(self, message: Any) -> bytes:
        return self._codec.encode(message)

    def decode(self, data: bytes | bytearray, message_class: type[_M]) -> _M:
        request: _M | None
        try:
            request = self._codec.decode(data, message_class)
        except ConnectError:
            raise
        except Exception:  # whatever the codec's parser raises: DecodeError, ParseError...
            logger.debug("a web request did not parse", exc_info=True)
            request = None
        if request is None or not request.IsInitialized():
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"the request is not a valid {message_class.DESCRIPTOR.full_name}",
            )
        return request


class _ServedApplication(ConnectASGIApplication[Endpoints]):
    """connectrpc's app over every service served: its endpoints are all under ``/``."""

    @property
    def path(self) -> str:
        return "/"
