"""The call pipeline: the auth check and the hooks run around one call, and the call
whose handler is running now.

``CallPipeline`` admits a call (the identity check, then each hook's ``before_call``),
works out how it ended, and runs the ``after_call`` hooks. Both servers and their web
ports use it: the interceptors (``_interceptors``) for native calls, ``greeter.web``
(``begin``/``begin_async`` and ``end``) for web ones. ``current_call`` holds the
admitted call while its handler runs, for ``self.context.identity``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import grpc
import grpc.aio

from greeter._logging import log_unexpected_error
from greeter._metadata import metadata_from_grpc
from greeter.errors import INTERNAL_ERROR_DETAILS, GreeterError, Internal, StatusCode
from greeter.pipeline._hooks import CallInfo, CallOutcome, Identify, ServerHook

__all__ = ["ActiveCall", "CallPipeline", "as_text", "current_call"]

_T = TypeVar("_T")

logger = logging.getLogger("greeter.server")

#: How close to its deadline a call the client left counts as ended by the deadline. The
#: server's deadline runs behind the client's by the time the request took to be read
#: (longer on a busy machine), so the client's cancel arrives a little before it.
_DEADLINE_SLACK_SECONDS = 0.25


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


def as_text(raw: object) -> str:
    """A value grpc reports as ``str`` or ``bytes`` (status details, peer identities) as
    text; anything else (``None``) as ``""``."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else ""


def _call_info(details: grpc.HandlerCallDetails, peer: str) -> CallInfo:
    return CallInfo(details.method, metadata_from_grpc(details.invocation_metadata), peer)


def _status_code(raw: object) -> StatusCode | None:
    """A status as grpc's contexts report it (``grpc.StatusCode``, int or None)."""
    if isinstance(raw, grpc.StatusCode):
        return StatusCode.from_grpc(raw)
    if isinstance(raw, int):
        return StatusCode(raw)
    return None


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
        self.end(call, code, as_text(reported_details))

    def end(self, call: ActiveCall, code: StatusCode, details: str) -> None:
        """Run every hook's ``after_call``; a failing hook is logged, never raised."""
        outcome = CallOutcome(code, details, time.perf_counter() - call.started)
        for hook in self._hooks:
            try:
                hook.after_call(call.info, outcome)
            except Exception as exc:
                log_unexpected_error(logger, f"{type(hook).__name__}.after_call failed", exc)
