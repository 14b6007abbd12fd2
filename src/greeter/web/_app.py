"""The ASGI app that serves a Greeter service over Connect and gRPC-Web.

``asgi_app`` is the public way in (``greeter.web``); ``build_app`` is the same app as a
server's web port builds it, sharing the server's servicer, call pipeline and handler
threads. Either way the app is connectrpc's, serving the endpoints of
``greeter.web._endpoints``, inside the CORS layer of ``greeter.web._cors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from connectrpc.compat import google_protobuf_json_codec
from connectrpc.server import ConnectASGIApplication
from google.protobuf.message import Message

from greeter._options import DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH
from greeter.pipeline._pipeline import CallPipeline
from greeter.server._config import ServerConfig
from greeter.server._executor import HandlerThreads
from greeter.server._service import AsyncGreeterService, GreeterService
from greeter.server._servicer import AsyncServicer, Servicer
from greeter.web._cors import CORS, ASGIApp
from greeter.web._endpoints import SERVICE_NAME, Endpoints
from greeter.web._steps import AsyncCallSteps, ThreadedCallSteps, web_handler_threads

__all__ = ["asgi_app", "build_app"]

_M = TypeVar("_M", bound=Message)


def asgi_app(
    service: GreeterService | AsyncGreeterService,
    *,
    origins: Sequence[str] | None = None,
    config: ServerConfig | None = None,
) -> ASGIApp:
    """An ASGI app serving ``service`` over Connect (binary and JSON) and gRPC-Web.

    ``origins`` are the pages allowed to call it from a browser, as CORS origins
    (``"https://app.example"``, or ``"*"`` for any; by default ``config.web_origins``);
    calls without an ``Origin`` header (curl, servers) are always answered. Each
    ``GreeterService`` method runs on a worker thread (``config.max_workers`` of them),
    so the event loop never waits for it; an ``AsyncGreeterService`` runs on the loop.

    ``config`` brings the settings that concern calls, as a server applies them on
    both its ports: ``auth`` (bearer tokens, sent by browsers as an ``Authorization:
    Bearer ...`` header), ``hooks`` and ``access_log``. The settings of a port (``web``,
    ``tls``, ``grace_seconds``, ...) are for whatever serves the app::

        app = asgi_app(service, config=ServerConfig(auth=bearer_tokens([token]), access_log=True))
    """
    config = config or ServerConfig()
    pipeline = config.call_pipeline()
    servicer: Servicer | AsyncServicer
    if isinstance(service, AsyncGreeterService):
        servicer = AsyncServicer(service)
    else:
        servicer = Servicer(service)
        if pipeline is not None:
            pipeline.check_threaded()
    return build_app(
        servicer,
        origins=config.web_origins if origins is None else origins,
        pipeline=pipeline,
        config=config,
    )


def build_app(
    servicer: Servicer | AsyncServicer,
    *,
    origins: Sequence[str],
    pipeline: CallPipeline | None,
    config: ServerConfig,
    threads: HandlerThreads | None = None,
) -> ASGIApp:
    """``asgi_app``, or the web side of a server: sharing its servicer (so a graceful
    stop waits for web calls too), its call pipeline (auth, hooks, access log) and its
    settings (threads, admission, message size). A server passes the ``threads`` a
    threaded service runs on, to shut them down when it stops."""
    endpoints: Endpoints
    if isinstance(servicer, AsyncServicer):
        endpoints = AsyncCallSteps(pipeline).endpoints(servicer)
    else:
        if threads is None:
            threads = web_handler_threads(config)
        endpoints = ThreadedCallSteps(pipeline, threads).endpoints(servicer)
    connect = _GreeterApplication(
        service=endpoints,
        endpoints=lambda served: served,
        codecs=[_ProtoBinaryCodec(), google_protobuf_json_codec()],
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


class _GreeterApplication(ConnectASGIApplication[Endpoints]):
    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}"
