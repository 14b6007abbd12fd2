"""Server hooks: small typed callbacks that see every call, before and after it runs.

A ``ServerHook`` sees the method, the client's metadata and peer before the call, and
may reject it by raising a ``greeter.GreeterError``; after the call it sees the status
and the duration. Hooks run on the threaded and the asyncio server alike, for every
service the server carries (the Greeter and any extra ones)::

    class RequireTenant(ServerHook):
        def before_call(self, call: CallInfo) -> None:
            if not call.get_metadata("x-tenant"):
                raise greeter.InvalidArgument("x-tenant metadata is required")

    GreeterService().serve(config=ServerConfig(hooks=[RequireTenant()]))

Token authentication (``ServerConfig.auth``) and the access log run through the same
machinery: one grpc server interceptor, installed only when something needs it, so a
server without hooks pays nothing for them. The web port (``ServerConfig.web``) runs its
calls through the same ``CallPipeline``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from greeter._logging import log_unexpected_error
from greeter._metadata import MetadataTuple, metadata_from_grpc
from greeter.errors import GreeterError, Internal, StatusCode

__all__ = ["AccessLog", "CallInfo", "CallOutcome", "ServerHook"]

_T = TypeVar("_T")

logger = logging.getLogger("greeter.server")
access_logger = logging.getLogger("greeter.access")

#: Longest status message an access-log line quotes; longer ones are cut.
_LOGGED_DETAILS_LIMIT = 200
#: What the client sees when a hook fails (the same as for a failing service method).
INTERNAL_ERROR_DETAILS = "Internal server error"


@dataclass(frozen=True)
class CallInfo:
    """What a hook knows about a call before it runs.

    Attributes:
        method: the full method name, e.g. ``"/helloworld.Greeter/SayHello"``.
        metadata: the metadata the client sent (``-bin`` values are ``bytes``).
        peer: the client's address, e.g. ``"ipv4:127.0.0.1:53412"``.
    """

    method: str
    metadata: MetadataTuple
    peer: str

    @property
    def service(self) -> str:
        """The service's full name, e.g. ``"helloworld.Greeter"``."""
        return self.method.lstrip("/").partition("/")[0]

    @property
    def rpc(self) -> str:
        """The method's short name, e.g. ``"SayHello"``."""
        return self.method.rpartition("/")[2]

    def get_metadata(self, key: str) -> str | None:
        """The first text value the client sent under ``key``, or ``None``."""
        wanted = key.lower()
        for name, value in self.metadata:
            if name == wanted and isinstance(value, str):
                return value
        return None


#: Identifies the caller of a call: returns their identity (``None``: no identity
#: needed for this call), or raises a ``GreeterError`` to reject it. On the asyncio
#: server it may return an awaitable.
Identify = Callable[[CallInfo], str | Awaitable[str | None] | None]


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended, as a hook sees it afterwards.

    Attributes:
        code: the status the call ended with (``StatusCode.OK`` on success).
        details: the status message ("" on success).
        duration: seconds from the call's start (before the hooks) to its end.
    """

    code: StatusCode
    details: str
    duration: float


class ServerHook:
    """A callback object run around every call on a server; override either method.

    Give hooks to a server with ``ServerConfig(hooks=[...])``. They run in order before
    the call and in the same order after it.
    """

    def before_call(self, call: CallInfo) -> Awaitable[None] | None:
        """Runs before the call reaches its handler.

        Raise a ``greeter.GreeterError`` (``greeter.PermissionDenied(...)``) to reject
        the call with that status: its handler then never runs. On the asyncio server
        this may be an ``async def``.
        """
        return None

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        """Runs once the call has ended, however it ended (also after a rejection).

        It runs on the call's thread or task, after the status was decided: keep it
        quick (count, log, record). What it raises is logged and otherwise ignored.
        """
        return


class AccessLog(ServerHook):
    """Logs one line per call at INFO on the ``greeter.access`` logger.

    ``/helloworld.Greeter/SayHello ipv4:127.0.0.1:53412 OK 0.4ms``; a failed call also
    quotes its status message (cut to 200 characters).
    ``ServerConfig(access_log=True)`` (``greeter serve --access-log``) adds one.
    """

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        details = outcome.details
        if len(details) > _LOGGED_DETAILS_LIMIT:
            details = details[:_LOGGED_DETAILS_LIMIT] + "..."
        access_logger.info(
            "%s %s %s %.1fms%s",
            call.method,
            call.peer,
            outcome.code.name,
            outcome.duration * 1000,
            f" {details!r}" if details else "",
        )


class ActiveCall:
    """A call in progress that the hooks have admitted: what it is, who made it, since when."""

    __slots__ = ("identity", "info", "started")

    def __init__(self, info: CallInfo, started: float) -> None:
        self.info = info
        self.started = started
        #: The caller's identity, as the server's ``auth`` check returned it.
        self.identity: str | None = None


#: The admitted call whose handler code is running in this thread or task.
current_call: ContextVar[ActiveCall] = ContextVar("greeter_active_call")


def _call_info(details: grpc.HandlerCallDetails, peer: str) -> CallInfo:
    return CallInfo(details.method, metadata_from_grpc(details.invocation_metadata), peer)


def _status_code(raw: object) -> StatusCode | None:
    """A status as grpc's contexts report it (``grpc.StatusCode``, int or None)."""
    if isinstance(raw, grpc.StatusCode):
        return StatusCode.from_grpc(raw)
    if isinstance(raw, int):
        return StatusCode(raw)
    return None


#: How close to its deadline a call the client left counts as ended by the deadline. The
#: server's deadline runs behind the client's by the time the request took to be read
#: (longer on a busy machine), so the client's cancel arrives a little before it.
_DEADLINE_SLACK_SECONDS = 0.25


def _client_left(context: object, raised: BaseException | None) -> bool:
    """Whether the call ended because the client went away or its deadline passed."""
    if raised is not None and not isinstance(raised, Exception):
        return True  # GeneratorExit or CancelledError: grpc ended the handler
    # The threaded server's contexts say so (and grpc.aio's blocking ones). grpc.aio
    # cancels a coroutine handler instead; but a client that cancels while its handler
    # waits for the next request may end that handler's request iterator as if it had
    # finished sending, and grpc.aio's context cannot tell the two apart.
    is_active = getattr(context, "is_active", None)
    return is_active is not None and not is_active()


def _why_the_client_left(context: object) -> StatusCode:
    """DEADLINE_EXCEEDED if the call's deadline has passed, else CANCELLED."""
    time_remaining = getattr(context, "time_remaining", None)
    remaining = None if time_remaining is None else time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK_SECONDS:
        return StatusCode.DEADLINE_EXCEEDED
    return StatusCode.CANCELLED


def _text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else ""


def _blocking(result: _T | Awaitable[_T], loop: asyncio.AbstractEventLoop | None) -> _T:
    """``result``, awaited on ``loop`` from this (worker) thread if it is awaitable."""
    if not inspect.isawaitable(result):
        return result
    assert loop is not None, "check_threaded() refuses async hooks on the threaded server"

    async def wait() -> _T:
        return await result

    return asyncio.run_coroutine_threadsafe(wait(), loop).result()


class CallPipeline:
    """Runs the identity check and the hooks around one call; shared by both servers
    and their web ports (``greeter.web`` calls ``begin``/``begin_async`` and ``end``)."""

    def __init__(self, hooks: Sequence[ServerHook], identify: Identify | None) -> None:
        self._hooks = tuple(hooks)
        self._identify = identify

    def check_threaded(self) -> None:
        """Refuse async hooks on the threaded server, where nothing could await them."""
        for hook in self._hooks:
            if inspect.iscoroutinefunction(hook.before_call):
                raise TypeError(
                    f"{type(hook).__name__}.before_call is async: use the asyncio server "
                    "(AsyncGreeterService), or make it a plain def"
                )
        if getattr(self._identify, "is_async", False):
            raise TypeError("an async auth check needs the asyncio server (AsyncGreeterService)")

    def begin(
        self,
        details: grpc.HandlerCallDetails,
        context: grpc.ServicerContext,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> ActiveCall | None:
        """Admit a call served on a thread, or end it with the error a hook raised.

        ``loop`` is the asyncio server's loop when grpc.aio runs a plain-def handler in a
        worker thread: async hooks then run on that loop while this thread waits.
        ``None`` means the call was refused and its status sent, but ``abort`` returned
        instead of raising (grpc.aio before 1.85, grpc/grpc#37518): the caller returns at
        once without running the handler, and grpc.aio ends the call as aborted.
        """
        call = ActiveCall(_call_info(details, context.peer()), time.perf_counter())
        try:
            if self._identify is not None:
                call.identity = _blocking(self._identify(call.info), loop)
            for hook in self._hooks:
                _blocking(hook.before_call(call.info), loop)
        except Exception as exc:
            error = self._reject(call, exc)
            context.set_trailing_metadata(error.to_trailing_metadata())
            context.abort(error.code.to_grpc(), error.details)
            return None
        return call

    async def begin_async(
        self, details: grpc.HandlerCallDetails, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ActiveCall:
        """Admit a call on the asyncio server, or end it with the error a hook raised."""
        call = ActiveCall(_call_info(details, context.peer()), time.perf_counter())
        try:
            if self._identify is not None:
                identity = self._identify(call.info)
                call.identity = await identity if inspect.isawaitable(identity) else identity
            for hook in self._hooks:
                result = hook.before_call(call.info)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            error = self._reject(call, exc)
            await context.abort(error.code.to_grpc(), error.details, error.to_trailing_metadata())
        return call

    def _reject(self, call: ActiveCall, raised: Exception) -> GreeterError:
        """The error that ends a call a hook (or the auth check) refused, or failed on.

        A ``GreeterError`` is the refusal itself. Anything else is a bug in the hook: it
        is logged, and the call is refused with INTERNAL and a generic message (as when a
        service method fails), so the hook's exception text never reaches the client.
        """
        if isinstance(raised, GreeterError):
            error = raised
        else:
            log_unexpected_error(
                logger, f"The auth check or a hook failed on {call.info.method}", raised
            )
            error = Internal(INTERNAL_ERROR_DETAILS)
        self.end(call, error.code, error.details)
        return error

    def finish(
        self,
        call: ActiveCall,
        context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any],
        raised: BaseException | None,
    ) -> None:
        """Work out how the call ended, from its context, then run the after-hooks.

        One event, one status, on both servers: a call the client left (or whose
        deadline passed) ends CANCELLED (or DEADLINE_EXCEEDED), as the client saw it,
        whether its handler then returned (the threaded server's health Watch), raised
        (reading requests that will never come) or was cancelled (the asyncio server).
        """
        # ServicerContext.code() and .details() exist since grpcio 1.38; the sync
        # context's type stubs lack them.
        reported_code, reported_details = context.code(), context.details()  # type: ignore[union-attr]
        code = _status_code(reported_code)
        if code is None:
            if _client_left(context, raised):
                code = _why_the_client_left(context)
            elif raised is None:
                code = StatusCode.OK
            else:
                code = StatusCode.UNKNOWN
        self.end(call, code, _text(reported_details))

    def end(self, call: ActiveCall, code: StatusCode, details: str) -> None:
        """Run every hook's ``after_call``; a failing hook is logged, never raised."""
        outcome = CallOutcome(code, details, time.perf_counter() - call.started)
        for hook in self._hooks:
            try:
                hook.after_call(call.info, outcome)
            except Exception as exc:
                log_unexpected_error(logger, f"{type(hook).__name__}.after_call failed", exc)


# ---------------------------------------------------------------- threaded server


class HookInterceptor(grpc.ServerInterceptor):
    """Wraps every handler of a threaded server in a ``CallPipeline``."""

    def __init__(self, pipeline: CallPipeline) -> None:
        self._pipeline = pipeline

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        pipeline, details = self._pipeline, handler_call_details
        stream = handler.unary_stream
        if stream is not None and getattr(stream, "experimental_non_blocking", False):
            wrapped = _NonBlockingStream(pipeline, details, stream)
            return handler._replace(unary_stream=wrapped)  # type: ignore[attr-defined, no-any-return]
        return rewrap_handler(
            handler,
            lambda inner: _threaded_unary(pipeline, details, inner),
            lambda inner: _threaded_stream(pipeline, details, inner),
        )


class _NonBlockingStream:
    """A reply stream that grpc's threaded server feeds through a ``send`` callback
    (``experimental_non_blocking``: the health ``Watch``), wrapped in ``pipeline`` and
    still holding no worker thread. The call finishes when the stream is ended with
    ``send(None)``, or when grpc ends the call otherwise (the client left, the server
    stopped)."""

    experimental_non_blocking = True

    def __init__(
        self, pipeline: CallPipeline, details: grpc.HandlerCallDetails, inner: Callable[..., Any]
    ) -> None:
        self._pipeline = pipeline
        self._details = details
        self._inner = inner

    def __call__(
        self, request: Any, context: grpc.ServicerContext, send: Callable[[Any], object]
    ) -> None:
        context = _with_status(context)
        call = self._pipeline.begin(self._details, context)
        if call is None:
            return
        finished = threading.Lock()

        def finish(raised: BaseException | None) -> None:
            if finished.acquire(blocking=False):  # once, whichever way the call ends
                self._pipeline.finish(call, context, raised)

        def send_then_finish(reply: Any) -> None:
            send(reply)
            if reply is None:
                finish(None)

        # Ended by grpc, not by the stream: reported as the client leaving.
        context.add_callback(lambda: finish(GeneratorExit()))
        token = current_call.set(call)
        try:
            self._inner(request, context, send_then_finish)
        except BaseException as exc:
            finish(exc)
            raise
        finally:
            current_call.reset(token)


class _StatusRecordingContext:
    """A blocking context that remembers the status its handler sets.

    grpc.aio hands plain-def handlers a blocking context without ``code()`` and
    ``details()``; this one records them on the way through, for the after-hooks.
    """

    def __init__(self, context: Any) -> None:
        self._context = context
        self._code: grpc.StatusCode | None = None
        self._details = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._details = details
        self._context.set_details(details)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details
        self._context.abort(code, details)

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details


def _with_status(context: grpc.ServicerContext) -> grpc.ServicerContext:
    """``context``, able to report the status its handler sets (see above)."""
    if hasattr(context, "code"):
        return context
    recording: Any = _StatusRecordingContext(context)
    return recording  # type: ignore[no-any-return]


def _threaded_unary(
    pipeline: CallPipeline,
    details: grpc.HandlerCallDetails,
    inner: Callable[[Any, grpc.ServicerContext], Any],
    loop: asyncio.AbstractEventLoop | None = None,
) -> Callable[[Any, grpc.ServicerContext], Any]:
    """A single-reply behavior run on a thread, wrapped in ``pipeline``."""

    def behavior(request: Any, context: grpc.ServicerContext) -> Any:
        context = _with_status(context)
        call = pipeline.begin(details, context, loop)
        if call is None:
            return None
        token = current_call.set(call)
        raised: BaseException | None = None
        try:
            return inner(request, context)
        except BaseException as exc:
            raised = exc
            raise
        finally:
            current_call.reset(token)
            pipeline.finish(call, context, raised)

    return behavior


def _threaded_stream(
    pipeline: CallPipeline,
    details: grpc.HandlerCallDetails,
    inner: Callable[[Any, grpc.ServicerContext], Any],
    loop: asyncio.AbstractEventLoop | None = None,
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    """A streaming-reply behavior run on a thread, wrapped in ``pipeline``."""

    def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        context = _with_status(context)
        call = pipeline.begin(details, context, loop)
        if call is None:
            return iter(())
        token = current_call.set(call)
        try:
            replies = iter(inner(request, context))
        except BaseException as exc:
            pipeline.finish(call, context, exc)
            raise
        finally:
            current_call.reset(token)
        return _replies_as(call, context, replies, pipeline)

    return behavior


def _replies_as(
    call: ActiveCall, context: grpc.ServicerContext, replies: Iterator[Any], pipeline: CallPipeline
) -> Iterator[Any]:
    """Produce each reply with ``call`` as the current call; finish it at the end."""
    raised: BaseException | None = None
    try:
        while True:
            token = current_call.set(call)
            try:
                reply = next(replies)
            except StopIteration:
                return
            finally:
                current_call.reset(token)
            yield reply
    except BaseException as exc:
        raised = exc
        raise
    finally:
        pipeline.finish(call, context, raised)


def rewrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
    unary_response: Callable[[Any], Any],
    stream_response: Callable[[Any], Any],
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler, with its behavior wrapped by the function for its shape."""
    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary_response(handler.unary_unary), **serializers
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream_response(handler.unary_stream), **serializers
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            unary_response(handler.stream_unary), **serializers
        )
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(
        stream_response(handler.stream_stream), **serializers
    )


# ---------------------------------------------------------------- asyncio server


class AsyncHookInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of an asyncio server in a ``CallPipeline``."""

    def __init__(self, pipeline: CallPipeline) -> None:
        self._pipeline = pipeline

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        pipeline = self._pipeline
        details = handler_call_details
        loop = asyncio.get_running_loop()

        def unary_response(inner: Callable[..., Any]) -> Any:
            if not inspect.iscoroutinefunction(inner):
                # grpc.aio runs a plain def in a worker thread, with a blocking context.
                return _threaded_unary(pipeline, details, inner, loop)

            async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                call = await pipeline.begin_async(details, context)
                token = current_call.set(call)
                raised: BaseException | None = None
                try:
                    return await inner(request, context)
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    current_call.reset(token)
                    pipeline.finish(call, context, raised)

            return behavior

        def stream_response(inner: Callable[..., Any]) -> Any:
            if inspect.iscoroutinefunction(inner):
                return unary_response(inner)  # a coroutine that writes with context.write()
            if not inspect.isasyncgenfunction(inner):
                return _threaded_stream(pipeline, details, inner, loop)

            async def behavior(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                call = await pipeline.begin_async(details, context)
                token = current_call.set(call)
                raised: BaseException | None = None
                try:
                    async for reply in inner(request, context):
                        yield reply
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    current_call.reset(token)
                    pipeline.finish(call, context, raised)

            return behavior

        return rewrap_handler(handler, unary_response, stream_response)
