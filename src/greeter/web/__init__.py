"""Serve a Greeter service to browsers: Connect, gRPC-Web and plain HTTP/JSON.

Needs the ``web`` extra (``pip install "grpc-greeter[web]"``); ``import greeter`` never
loads it. The same ``GreeterService`` or ``AsyncGreeterService`` that answers native
gRPC answers here too, unchanged: the same replies, status codes and details (rich ones
included), ``self.context`` metadata, headers and trailers, and deadlines.

The usual way in is one keyword on the server, which then serves both ports and stops
both gracefully::

    GreeterService().serve("[::]:50051", web="[::]:8080", web_origins=["https://app.example"])

or ``greeter serve --web [::]:8080 --web-origin https://app.example``. To mount the
service in an ASGI app of your own (Starlette, FastAPI), take the app itself::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from greeter.web import asgi_app

    app = Starlette(routes=[Mount("/", asgi_app(GreeterService(), origins=["*"]))])

Then a browser calls it with ``@connectrpc/connect-web`` (``createConnectTransport``
or ``createGrpcWebTransport``), and anything that speaks HTTP with JSON::

    curl -H 'Content-Type: application/json' -d '{"name": "you"}' \\
        http://localhost:8080/helloworld.Greeter/SayHello

Web calls run through the server's own auth check and hooks (``ServerConfig.auth``,
``hooks``, ``access_log``, and so ``greeter.metrics``), as native calls do: a browser
sends its token as an ``Authorization: Bearer ...`` header; a refused call gets the
same status and message as on native gRPC and never reaches the service;
``self.context.identity`` names the caller; hooks see the method
(``/helloworld.Greeter/SayHello``), the request headers as metadata, the client's
address, and after the call its status and duration. With ``ServerConfig.tls`` the web
port serves HTTPS with the same certificate, and requires client certificates when the
native port does (a client CA). Raw grpc interceptors see native calls only.

Unary and server-streaming RPCs work from browsers. Client and bidirectional streaming
need HTTP/2 end to end, which browsers' ``fetch`` does not offer: call those over
native gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, ParamSpec, TypeAlias, TypeVar, cast

import grpc
import grpc.aio
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf.message import Message

from greeter._metadata import MetadataTuple
from greeter._options import DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH
from greeter._proto import helloworld_pb2
from greeter.errors import ResourceExhausted, StatusCode
from greeter.pipeline._pipeline import ActiveCall, CallPipeline, current_call
from greeter.server._config import ServerConfig
from greeter.server._executor import HandlerThreads, handler_threads
from greeter.server._service import AsyncGreeterService, GreeterService
from greeter.server._servicer import AsyncServicer, Servicer
from greeter.web._context import AsyncWebServicerContext, WebServicerContext, status_code
from greeter.web._cors import CORS, ASGIApp as _ASGIApp

__all__ = ["ASGIApp", "asgi_app"]

HelloRequest = helloworld_pb2.HelloRequest
HelloReply = helloworld_pb2.HelloReply
_Context = RequestContext[HelloRequest, HelloReply]
_T = TypeVar("_T")
_P = ParamSpec("_P")
_M = TypeVar("_M", bound=Message)
#: Endpoints by URL path. connectrpc types them with classes it keeps private.
_Endpoints: TypeAlias = Mapping[str, Any]
#: The end of a stream, where ``None`` could be a message.
_END = object()

SERVICE_NAME = "helloworld.Greeter"
#: The status message of a call past its deadline (as grpc's).
DEADLINE_EXCEEDED_DETAILS = "Deadline Exceeded"

ASGIApp: TypeAlias = _ASGIApp
"""An ASGI application: ``await app(scope, receive, send)``, with the ASGI types spelled
as Starlette spells them, so it mounts there (and in FastAPI) as it is."""


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
    if pipeline is not None and not isinstance(service, AsyncGreeterService):
        pipeline.check_threaded()
    return _asgi_app(
        service,
        origins=config.web_origins if origins is None else origins,
        pipeline=pipeline,
        config=config,
    )


def _asgi_app(
    service: GreeterService | AsyncGreeterService,
    *,
    origins: Sequence[str],
    pipeline: CallPipeline | None,
    config: ServerConfig,
    servicer: Servicer | AsyncServicer | None = None,
    threads: HandlerThreads | None = None,
) -> ASGIApp:
    """``asgi_app``, or the web side of a server: sharing its servicer (so a graceful
    stop waits for web calls too), its call pipeline (auth, hooks, access log) and its
    settings (threads, admission, message size). A server passes the ``threads`` a
    threaded service runs on, to shut them down when it stops."""
    endpoints: _Endpoints
    if isinstance(service, AsyncGreeterService):
        if not isinstance(servicer, AsyncServicer):
            servicer = AsyncServicer(service)
        endpoints = _async_endpoints(servicer, pipeline)
    else:
        if not isinstance(servicer, Servicer):
            servicer = Servicer(service)
        if threads is None:
            threads = web_handler_threads(config)
        endpoints = _threaded_endpoints(servicer, threads, pipeline)
    connect = _GreeterApplication(
        service=endpoints,
        endpoints=lambda served: served,
        codecs=[_ProtoBinaryCodec(), google_protobuf_json_codec()],
        read_max_bytes=config.max_receive_message_length or DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    )
    return CORS(connect, origins)


def web_handler_threads(config: ServerConfig) -> HandlerThreads:
    """The threads a web port runs a ``GreeterService``'s handlers on."""
    # Threads of its own, as many as the native port's: a busy web port cannot starve
    # native calls of theirs.
    return handler_threads(config, "greeter-web", HandlerThreads)


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


class _GreeterApplication(ConnectASGIApplication[_Endpoints]):
    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}"


def _method(name: str, shape: str) -> MethodInfo[Any, Any]:
    """The description of the RPC ``name``, of ``shape`` (``"UNARY"``, ``"SERVER_STREAM"``...)."""
    fields: dict[str, Any] = {
        "name": name,
        "service_name": SERVICE_NAME,
        "input": HelloRequest,
        "output": HelloReply,
        "idempotency_level": IdempotencyLevel.UNKNOWN,
    }
    if any(field.name == "stream_type" for field in dataclasses.fields(MethodInfo)):
        # connectrpc 0.13 (Python 3.11+) names each method's shape; 0.12 (the newest on
        # Python 3.10) reads it from the kind of endpoint.
        from connectrpc.method import StreamType

        fields["stream_type"] = StreamType[shape]
    return MethodInfo(**fields)


# ------------------------------------------------------------ AsyncGreeterService


def _async_endpoints(servicer: AsyncServicer, pipeline: CallPipeline | None) -> _Endpoints:
    async def admit(
        method: str, context: AsyncWebServicerContext, call: _Context
    ) -> ActiveCall | None:
        """Run the auth check and the before-hooks on the loop, as the asyncio server does."""
        if pipeline is None:
            return None
        # The web context answers what the pipeline asks of grpc's: peer, metadata, abort.
        grpc_context = cast("grpc.aio.ServicerContext[Any, Any]", context)
        details = _CallDetails(method, context.invocation_metadata())
        return await _within_deadline(call, pipeline.begin_async(details, grpc_context))

    def unary(
        rpc: str, handler: Callable[[Any, Any], Awaitable[HelloReply]]
    ) -> Callable[[Any, _Context], Awaitable[HelloReply]]:
        method = f"/{SERVICE_NAME}/{rpc}"

        async def call(request: Any, call: _Context) -> HelloReply:
            context = AsyncWebServicerContext(call)
            try:
                admitted = await admit(method, context, call)
                with _finishing(pipeline, admitted, call):
                    return await _within_deadline(
                        call, _as_call(admitted, lambda: handler(request, context))
                    )
            finally:
                context.end()

        return call

    def stream(
        rpc: str, handler: Callable[[Any, Any], AsyncIterator[HelloReply]]
    ) -> Callable[[Any, _Context], AsyncIterator[HelloReply]]:
        method = f"/{SERVICE_NAME}/{rpc}"

        async def call(request: Any, call: _Context) -> AsyncIterator[HelloReply]:
            context = AsyncWebServicerContext(call)
            admitted: ActiveCall | None = None
            replies: AsyncIterator[HelloReply] | None = None
            try:
                admitted = await admit(method, context, call)
                with _finishing(pipeline, admitted, call):
                    replies = handler(request, context)
                    while (
                        reply := await _within_deadline(
                            call, _as_call(admitted, functools.partial(anext, replies, _END))
                        )
                    ) is not _END:
                        assert isinstance(reply, HelloReply)
                        yield reply
            finally:
                context.end()
                if replies is not None:
                    await _as_call(admitted, functools.partial(_aclose, replies))

        return call

    return _endpoints(
        unary("SayHello", servicer.SayHello),
        unary("SayHelloAgain", servicer.SayHelloAgain),
        stream("SayHelloStreamReply", servicer.SayHelloStreamReply),
        unary("SayHelloStreamRequest", servicer.SayHelloStreamRequest),
        stream("SayHelloBidiStream", servicer.SayHelloBidiStream),
    )


@dataclasses.dataclass
class _CallDetails:
    """A web call, as grpc describes a call to server interceptors (``HandlerCallDetails``)."""

    method: str
    invocation_metadata: MetadataTuple


async def _as_call(admitted: ActiveCall | None, step: Callable[[], Awaitable[_T]]) -> _T:
    """Await one step of user code with ``admitted`` as the current call (for
    ``self.context.identity``). ``step`` makes the awaitable only once this runs: a call
    cancelled before then leaves no coroutine behind that was never awaited."""
    if admitted is None:
        return await step()
    token = current_call.set(admitted)
    try:
        return await step()
    finally:
        current_call.reset(token)


def _run_as(admitted: ActiveCall | None, work: Callable[[], _T]) -> _T:
    """Run one step of user code on a worker thread with ``admitted`` as the current call."""
    if admitted is None:
        return work()
    token = current_call.set(admitted)
    try:
        return work()
    finally:
        current_call.reset(token)


def _status_of(raised: BaseException, call: _Context) -> tuple[StatusCode, str]:
    """The status a web call that raised ``raised`` ended with, as its client saw it."""
    if isinstance(raised, ConnectError):
        return status_code(raised.code), raised.message
    if not isinstance(raised, Exception):  # CancelledError or GeneratorExit
        remaining_ms = call.timeout_ms
        if remaining_ms is not None and remaining_ms <= 0:
            # Newer connectrpc releases end a call past its deadline themselves.
            return StatusCode.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_DETAILS
        return StatusCode.CANCELLED, ""  # the client left
    return StatusCode.UNKNOWN, ""


@contextlib.contextmanager
def _finishing(
    pipeline: CallPipeline | None, admitted: ActiveCall | None, call: _Context
) -> Iterator[None]:
    """Run an admitted call's after-hooks once it ends, with the status its client gets."""
    if pipeline is None or admitted is None:
        yield
        return
    try:
        yield
    except BaseException as exc:
        pipeline.end(admitted, *_status_of(exc, call))
        raise
    pipeline.end(admitted, StatusCode.OK, "")


async def _within_deadline(call: _Context, step: Awaitable[_T]) -> _T:
    """Await one step of a call, ending the call with DEADLINE_EXCEEDED if its deadline
    passes first (as native gRPC does; older connectrpc releases leave it to the app)."""
    remaining_ms = call.timeout_ms
    if remaining_ms is None:
        return await step
    try:
        return await asyncio.wait_for(step, max(remaining_ms, 0) / 1000)
    except asyncio.TimeoutError:
        raise ConnectError(Code.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_DETAILS) from None


def _endpoints(
    say_hello: Callable[[HelloRequest, _Context], Awaitable[HelloReply]],
    say_hello_again: Callable[[HelloRequest, _Context], Awaitable[HelloReply]],
    say_hello_stream_reply: Callable[[HelloRequest, _Context], AsyncIterator[HelloReply]],
    say_hello_stream_request: Callable[
        [AsyncIterator[HelloRequest], _Context], Awaitable[HelloReply]
    ],
    say_hello_bidi_stream: Callable[
        [AsyncIterator[HelloRequest], _Context], AsyncIterator[HelloReply]
    ],
) -> _Endpoints:
    """The five Greeter RPCs, by URL path."""
    return {
        f"/{SERVICE_NAME}/SayHello": Endpoint.unary(_method("SayHello", "UNARY"), say_hello),
        f"/{SERVICE_NAME}/SayHelloAgain": Endpoint.unary(
            _method("SayHelloAgain", "UNARY"), say_hello_again
        ),
        f"/{SERVICE_NAME}/SayHelloStreamReply": Endpoint.server_stream(
            _method("SayHelloStreamReply", "SERVER_STREAM"), say_hello_stream_reply
        ),
        f"/{SERVICE_NAME}/SayHelloStreamRequest": Endpoint.client_stream(
            _method("SayHelloStreamRequest", "CLIENT_STREAM"), say_hello_stream_request
        ),
        f"/{SERVICE_NAME}/SayHelloBidiStream": Endpoint.bidi_stream(
            _method("SayHelloBidiStream", "BIDI_STREAM"), say_hello_bidi_stream
        ),
    }


# ----------------------------------------------------------------- GreeterService


def _threaded_endpoints(
    servicer: Servicer, threads: HandlerThreads, pipeline: CallPipeline | None
) -> _Endpoints:
    async def on_thread(work: Callable[[], _T], admitted: ActiveCall | None) -> _T:
        return await asyncio.wrap_future(threads.submit(_run_as, admitted, work))

    async def first_on_thread(
        call: _Context, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """A new call's first step, which admission may refuse (RESOURCE_EXHAUSTED)."""
        remaining_ms = call.timeout_ms
        deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000
        try:
            return await asyncio.wrap_future(threads.submit_call(deadline, work, *args, **kwargs))
        except ResourceExhausted as refused:  # by admission: the work never ran
            raise ConnectError(Code.RESOURCE_EXHAUSTED, refused.details) from None

    async def run(call: _Context, admitted: ActiveCall | None, work: Callable[[], _T]) -> _T:
        """A call's handler: its first step, unless the hooks' step came first."""
        if pipeline is None:
            return await first_on_thread(call, _run_as, admitted, work)
        return await on_thread(work, admitted)

    async def admit(method: str, context: WebServicerContext, call: _Context) -> ActiveCall | None:
        """Run the auth check and the before-hooks on a worker thread (they may block)."""
        if pipeline is None:
            return None
        # The web context answers what the pipeline asks of grpc's: peer, metadata, abort.
        grpc_context = cast("grpc.ServicerContext", context)
        details = _CallDetails(method, context.invocation_metadata())
        admitting = asyncio.ensure_future(
            first_on_thread(call, pipeline.begin, details, grpc_context)
        )
        try:
            admitted = await _within_deadline(call, asyncio.shield(admitting))
        except BaseException as exc:
            _end_once_admitted(pipeline, admitting, _status_of(exc, call))
            raise
        assert admitted is not None, "a refused web call raises ConnectError"
        return admitted

    def unary(
        rpc: str, handler: Callable[[Any, Any], HelloReply]
    ) -> Callable[[Any, _Context], Awaitable[HelloReply]]:
        method = f"/{SERVICE_NAME}/{rpc}"

        async def call(request: Any, call: _Context) -> HelloReply:
            context = WebServicerContext(call)
            arguments = _sync_requests(request) if isinstance(request, AsyncIterator) else request
            try:
                admitted = await admit(method, context, call)
                with _finishing(pipeline, admitted, call):
                    return await _within_deadline(
                        call, run(call, admitted, lambda: handler(arguments, context))
                    )
            finally:
                context.end()

        return call

    def stream(
        rpc: str, handler: Callable[[Any, Any], Iterator[HelloReply]]
    ) -> Callable[[Any, _Context], AsyncIterator[HelloReply]]:
        method = f"/{SERVICE_NAME}/{rpc}"

        async def call(request: Any, call: _Context) -> AsyncIterator[HelloReply]:
            context = WebServicerContext(call)
            arguments = _sync_requests(request) if isinstance(request, AsyncIterator) else request
            admitted: ActiveCall | None = None
            replies: Iterator[HelloReply] | None = None
            try:
                admitted = await admit(method, context, call)
                with _finishing(pipeline, admitted, call):
                    replies = await run(call, admitted, lambda: handler(arguments, context))
                    while (
                        reply := await _within_deadline(
                            call, on_thread(functools.partial(next, replies, _END), admitted)
                        )
                    ) is not _END:
                        assert isinstance(reply, HelloReply)
                        yield reply
            finally:
                context.end()  # the servicer's stream sees it and closes the user's
                if replies is not None:
                    threads.submit(_run_as, admitted, functools.partial(_close_quietly, replies))

        return call

    return _endpoints(
        unary("SayHello", servicer.SayHello),
        unary("SayHelloAgain", servicer.SayHelloAgain),
        stream("SayHelloStreamReply", servicer.SayHelloStreamReply),
        unary("SayHelloStreamRequest", servicer.SayHelloStreamRequest),
        stream("SayHelloBidiStream", servicer.SayHelloBidiStream),
    )


def _end_once_admitted(
    pipeline: CallPipeline,
    admitting: asyncio.Future[ActiveCall | None],
    status: tuple[StatusCode, str],
) -> None:
    """The call ended (the client left, or its deadline passed) while the hooks were still
    admitting it on a thread: once they have, run its after-hooks with that status."""
    code, details = status

    def end(done: asyncio.Future[ActiveCall | None]) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # refused: the pipeline ran the after-hooks itself
        admitted = done.result()
        if admitted is not None:
            pipeline.end(admitted, code, details)

    admitting.add_done_callback(end)


def _sync_requests(requests: AsyncIterator[HelloRequest]) -> Iterator[HelloRequest]:
    """A request stream a worker thread can read: each message comes from the loop."""
    loop = asyncio.get_running_loop()

    async def next_request() -> HelloRequest | object:
        return await anext(requests, _END)

    def read() -> Iterator[HelloRequest]:
        while (
            request := asyncio.run_coroutine_threadsafe(next_request(), loop).result()
        ) is not _END:
            assert isinstance(request, HelloRequest)
            yield request

    return read()


async def _aclose(replies: AsyncIterator[HelloReply]) -> None:
    aclose = getattr(replies, "aclose", None)
    if aclose is not None:
        await aclose()  # runs the servicer's finally: it closes the user's generator


def _close_quietly(replies: Iterator[HelloReply]) -> None:
    close = getattr(replies, "close", None)
    if close is not None:
        # Still running on another thread: it ends by itself, having seen the call end.
        with contextlib.suppress(ValueError):
            close()
