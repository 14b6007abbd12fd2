"""How each kind of service runs the steps of a web call.

An asyncio service (``AsyncGreeterService``, a generated ``AsyncXService``, any
``grpc.aio`` handler) runs on the event loop, as on the asyncio server: each step is
awaited there. A threaded one (``GreeterService``, ``XService``) blocks, so each step
runs on the web port's own handler threads, which admission guards as the native port's
are (a new call past the queue's bounds is refused with RESOURCE_EXHAUSTED), and its
request stream is read from the loop one message at a time. In both, every step of user
code runs with the admitted call as the current one (for ``self.context.identity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar, cast

import grpc
import grpc.aio
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from google.protobuf.message import Message

from greeter.errors import ResourceExhausted, StatusCode
from greeter.pipeline._pipeline import ActiveCall, CallPipeline, current_call
from greeter.server._config import ServerConfig
from greeter.server._executor import HandlerThreads, handler_threads
from greeter.web._context import AsyncWebServicerContext, WebServicerContext
from greeter.web._endpoints import (
    END,
    CallDetails,
    CallSteps,
    WebCall,
    status_of,
    within_deadline,
)

__all__ = ["AsyncCallSteps", "ThreadedCallSteps", "web_handler_threads"]

_T = TypeVar("_T")
_P = ParamSpec("_P")


# ------------------------------------------------------------ asyncio services


class AsyncCallSteps(CallSteps[Awaitable[Message], AsyncIterator[Message]]):
    """The steps of an asyncio service's web calls, each awaited on the loop."""

    def context(self, call: WebCall) -> WebServicerContext:
        return AsyncWebServicerContext(call)

    def arguments(self, request: Any) -> Any:
        return request

    async def begin(
        self, pipeline: CallPipeline, method: str, context: WebServicerContext, call: WebCall
    ) -> ActiveCall:
        # The web context answers what the pipeline asks of grpc's: peer, metadata, abort.
        grpc_context = cast("grpc.aio.ServicerContext[Any, Any]", context)
        details = CallDetails(method, context.invocation_metadata())
        return await within_deadline(call, pipeline.begin_async(details, grpc_context))

    def reply(
        self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], Awaitable[Message]]
    ) -> Awaitable[Message]:
        return _as_call(admitted, work)

    async def open(
        self,
        call: WebCall,
        admitted: ActiveCall | None,
        work: Callable[[], AsyncIterator[Message]],
    ) -> AsyncIterator[Message]:
        return work()  # runs nothing of the user's before the first reply is asked for

    def next_reply(
        self, admitted: ActiveCall | None, replies: AsyncIterator[Message]
    ) -> Awaitable[object]:
        return _as_call(admitted, functools.partial(anext, replies, END))

    async def close(self, admitted: ActiveCall | None, replies: AsyncIterator[Message]) -> None:
        await _as_call(admitted, functools.partial(_aclose, replies))


async def _as_call(admitted: ActiveCall | None, step: Callable[[], Awaitable[_T]]) -> _T:
    """Await one step of user code with ``admitted`` as the current call. ``step`` makes
    the awaitable only once this runs: a call cancelled before then leaves no coroutine
    behind that was never awaited."""
    if admitted is None:
        return await step()
    token = current_call.set(admitted)
    try:
        return await step()
    finally:
        current_call.reset(token)


async def _aclose(replies: AsyncIterator[Message]) -> None:
    aclose = getattr(replies, "aclose", None)
    if aclose is not None:
        await aclose()  # runs the handler's finally: it closes the user's generator


# ----------------------------------------------------------------- threaded services


def web_handler_threads(config: ServerConfig) -> HandlerThreads:
    """The threads a web port runs a threaded service's handlers on."""
    # Threads of its own, as many as the native port's: a busy web port cannot starve
    # native calls of theirs.
    return handler_threads(config, "greeter-web", HandlerThreads)


class ThreadedCallSteps(CallSteps[Message, Iterator[Message]]):
    """The steps of a threaded service's web calls, each run on a handler thread."""

    def __init__(self, pipeline: CallPipeline | None, threads: HandlerThreads) -> None:
        super().__init__(pipeline)
        self._threads = threads

    def context(self, call: WebCall) -> WebServicerContext:
        return WebServicerContext(call)

    def arguments(self, request: Any) -> Any:
        return _sync_requests(request) if isinstance(request, AsyncIterator) else request

    async def begin(
        self, pipeline: CallPipeline, method: str, context: WebServicerContext, call: WebCall
    ) -> ActiveCall:
        # On a worker thread: the auth check and the hooks may block.
        grpc_context = cast("grpc.ServicerContext", context)
        details = CallDetails(method, context.invocation_metadata())
        admitting = asyncio.ensure_future(
            self._first_step(call, pipeline.begin, details, grpc_context)
        )
        try:
            admitted = await within_deadline(call, asyncio.shield(admitting))
        except BaseException as exc:
            _end_once_admitted(pipeline, admitting, status_of(exc, call))
            raise
        assert admitted is not None, "a refused web call raises ConnectError"
        return admitted

    def reply(
        self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], Message]
    ) -> Awaitable[Message]:
        return self._run(call, admitted, work)

    async def open(
        self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], Iterator[Message]]
    ) -> Iterator[Message]:
        return await self._run(call, admitted, work)

    def next_reply(
        self, admitted: ActiveCall | None, replies: Iterator[Message]
    ) -> Awaitable[object]:
        return self._on_thread(admitted, functools.partial(next, replies, END))

    async def close(self, admitted: ActiveCall | None, replies: Iterator[Message]) -> None:
        # Not waited for: a thread still in the user's code ends it by itself, having
        # seen the call end.
        self._threads.submit(_run_as, admitted, functools.partial(_close_quietly, replies))

    async def _run(self, call: WebCall, admitted: ActiveCall | None, work: Callable[[], _T]) -> _T:
        """A call's handler: its first step, unless the hooks' step came first."""
        if self.pipeline is None:
            return await self._first_step(call, _run_as, admitted, work)
        return await self._on_thread(admitted, work)

    async def _on_thread(self, admitted: ActiveCall | None, work: Callable[[], _T]) -> _T:
        return await asyncio.wrap_future(self._threads.submit(_run_as, admitted, work))

    async def _first_step(
        self, call: WebCall, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """A new call's first step, which admission may refuse (RESOURCE_EXHAUSTED)."""
        remaining_ms = call.timeout_ms
        deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000
        try:
            return await asyncio.wrap_future(
                self._threads.submit_call(deadline, work, *args, **kwargs)
            )
        except ResourceExhausted as refused:  # by admission: the work never ran
            raise ConnectError(Code.RESOURCE_EXHAUSTED, refused.details) from None


def _run_as(admitted: ActiveCall | None, work: Callable[[], _T]) -> _T:
    """Run one step of user code on a worker thread with ``admitted`` as the current call."""
    if admitted is None:
        return work()
    token = current_call.set(admitted)
    try:
        return work()
    finally:
        current_call.reset(token)


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


def _sync_requests(requests: AsyncIterator[Message]) -> Iterator[Message]:
    """A request stream a worker thread can read: each message comes from the loop."""
    loop = asyncio.get_running_loop()

    async def next_request() -> Message | object:
        return await anext(requests, END)

    def read() -> Iterator[Message]:
        while (
            request := asyncio.run_coroutine_threadsafe(next_request(), loop).result()
        ) is not END:
            assert isinstance(request, Message)
            yield request

    return read()


def _close_quietly(replies: Iterator[Message]) -> None:
    close = getattr(replies, "close", None)
    if close is not None:
        # Still running on another thread: it ends by itself, having seen the call end.
        with contextlib.suppress(ValueError):
            close()
