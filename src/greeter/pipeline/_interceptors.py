"""The grpc server interceptors that run every call of a server through its
``CallPipeline``: ``HookInterceptor`` on the threaded server, ``AsyncHookInterceptor``
on the asyncio one.

Both wrap a method's behavior alike: admit the call (the auth check, the before-hooks),
make it the current call while its handler runs (``_Current``), and finish it, the
after-hooks, however it ends (``_Finishing``). What differs is only blocking vs
awaiting; grpc.aio runs a plain-def handler in a worker thread, and that one is wrapped
as the threaded server's are.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import grpc.aio

from greeter.pipeline._handlers import (
    AsyncHandlerInterceptor,
    HandlerInterceptor,
    rewrap_handler,
)
from greeter.pipeline._pipeline import ActiveCall, CallPipeline, current_call

__all__ = ["AsyncHookInterceptor", "HookInterceptor"]

_Context = grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]
#: What ``next()`` returns once a handler's replies have run out.
_NO_MORE_REPLIES = object()


class _Current:
    """``with _Current(call):`` the handler code in the block sees ``call`` as its own."""

    __slots__ = ("_call", "_token")

    def __init__(self, call: ActiveCall) -> None:
        self._call = call

    def __enter__(self) -> None:
        self._token = current_call.set(self._call)

    def __exit__(self, *exc_info: object) -> None:
        current_call.reset(self._token)


class _Finishing:
    """``with _Finishing(...):`` the call is finished when the block ends, with however
    it ended (returned, raised, cancelled): the pipeline's after-hooks run."""

    __slots__ = ("_call", "_context", "_pipeline")

    def __init__(self, pipeline: CallPipeline, call: ActiveCall, context: _Context) -> None:
        self._pipeline = pipeline
        self._call = call
        self._context = context

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, raised: BaseException | None, traceback: object) -> None:
        self._pipeline.finish(self._call, self._context, raised)


# ---------------------------------------------------------------- threaded server


class HookInterceptor(HandlerInterceptor):
    """Wraps every handler of a threaded server in a ``CallPipeline``."""

    def __init__(self, pipeline: CallPipeline) -> None:
        self._pipeline = pipeline

    def wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        pipeline = self._pipeline
        stream = handler.unary_stream
        if stream is not None and getattr(stream, "experimental_non_blocking", False):
            wrapped = _NonBlockingStream(pipeline, details, stream)
            return handler._replace(unary_stream=wrapped)  # type: ignore[attr-defined, no-any-return]
        return rewrap_handler(
            handler,
            lambda inner: _threaded_unary(pipeline, details, inner),
            lambda inner: _threaded_stream(pipeline, details, inner),
        )


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
        with _Finishing(pipeline, call, context), _Current(call):
            return inner(request, context)

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
        try:
            with _Current(call):
                replies = iter(inner(request, context))
        except BaseException as exc:
            pipeline.finish(call, context, exc)
            raise
        return _replies_as(call, replies, _Finishing(pipeline, call, context))

    return behavior


def _replies_as(call: ActiveCall, replies: Iterator[Any], finishing: _Finishing) -> Iterator[Any]:
    """Produce each reply with ``call`` as the current call; finish it at the end.

    The call is current only while a reply is made: grpc.aio makes each one in a
    worker thread of its own.
    """
    with finishing:
        while True:
            with _Current(call):
                reply = next(replies, _NO_MORE_REPLIES)
            if reply is _NO_MORE_REPLIES:
                return
            yield reply


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
        try:
            with _Current(call):
                self._inner(request, context, send_then_finish)
        except BaseException as exc:
            finish(exc)
            raise


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


# ---------------------------------------------------------------- asyncio server


class AsyncHookInterceptor(AsyncHandlerInterceptor):
    """Wraps every handler of an asyncio server in a ``CallPipeline``."""

    def __init__(self, pipeline: CallPipeline) -> None:
        self._pipeline = pipeline

    def wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        pipeline = self._pipeline
        loop = asyncio.get_running_loop()
        return rewrap_handler(
            handler,
            lambda inner: _async_unary(pipeline, details, inner, loop),
            lambda inner: _async_stream(pipeline, details, inner, loop),
        )


def _async_unary(
    pipeline: CallPipeline,
    details: grpc.HandlerCallDetails,
    inner: Callable[..., Any],
    loop: asyncio.AbstractEventLoop,
) -> Callable[..., Any]:
    """A single-reply behavior on the asyncio server, wrapped in ``pipeline``."""
    if not inspect.iscoroutinefunction(inner):
        # grpc.aio runs a plain def in a worker thread, with a blocking context.
        return _threaded_unary(pipeline, details, inner, loop)

    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = await pipeline.begin_async(details, context)
        with _Finishing(pipeline, call, context), _Current(call):
            return await inner(request, context)

    return behavior


def _async_stream(
    pipeline: CallPipeline,
    details: grpc.HandlerCallDetails,
    inner: Callable[..., Any],
    loop: asyncio.AbstractEventLoop,
) -> Callable[..., Any]:
    """A streaming-reply behavior on the asyncio server, wrapped in ``pipeline``."""
    if inspect.iscoroutinefunction(inner):
        # A coroutine that writes its replies with context.write().
        return _async_unary(pipeline, details, inner, loop)
    if not inspect.isasyncgenfunction(inner):
        return _threaded_stream(pipeline, details, inner, loop)

    async def behavior(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        call = await pipeline.begin_async(details, context)
        with _Finishing(pipeline, call, context), _Current(call):
            async for reply in inner(request, context):
                yield reply

    return behavior
