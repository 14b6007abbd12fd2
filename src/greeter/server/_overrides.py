"""Checks a service subclass's RPC overrides when the class is defined, not at the first call.

``GreeterService`` and ``AsyncGreeterService`` call ``check_overrides`` from
``__init_subclass__``. Without it, a misspelt override (``say_helo``) is silently never
called, and an override of the wrong shape (``async def`` on the threaded service, a
generator where one reply is expected) fails only when a client first calls it, as an
INTERNAL error far from the mistake. Both become a ``TypeError`` at the ``class`` line
that says what to write instead.

A method whose name does not look like an RPC (``format_name``, ``_cache``,
``greeting_for``) is the user's own helper and is left alone, as is every attribute that
is not a function (``stream_reply_count = 5``, properties).
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RPCS", "Rpc", "check_overrides"]


@dataclass(frozen=True)
class Rpc:
    """One RPC of ``helloworld.Greeter``, as a service method."""

    method: str  #: the service method: ``say_hello``
    proto_name: str  #: the name in the proto and the generated code: ``SayHello``
    parameter: str  #: ``name`` (one request) or ``names`` (a request stream)
    streams_replies: bool  #: True: yields replies; False: returns one

    def signature(self, *, is_async: bool) -> str:
        """The ``def`` line an override should have on the sync or the async service."""
        iterator = "AsyncIterator[str]" if is_async else "Iterator[str]"
        request = iterator if self.parameter == "names" else "str"
        reply = iterator if self.streams_replies else "str"
        keyword = "async def" if is_async else "def"
        return f"{keyword} {self.method}(self, {self.parameter}: {request}) -> {reply}"


#: The five RPCs of ``helloworld.Greeter``, in proto order.
RPCS = (
    Rpc("say_hello", "SayHello", "name", streams_replies=False),
    Rpc("say_hello_again", "SayHelloAgain", "name", streams_replies=False),
    Rpc("say_hello_stream_reply", "SayHelloStreamReply", "name", streams_replies=True),
    Rpc("say_hello_stream_request", "SayHelloStreamRequest", "names", streams_replies=False),
    Rpc("say_hello_bidi_stream", "SayHelloBidiStream", "names", streams_replies=True),
)
_BY_METHOD = {rpc.method: rpc for rpc in RPCS}

#: Every RPC method starts with this, so a method that does is taken for an RPC override.
_RPC_PREFIX = "say_"
#: How alike (difflib ratio) a name must be to an RPC's to be taken for a misspelling.
#: 0.8 catches ``sayhello`` and ``hello_again`` but not ``hello`` or ``stream_reply``.
_MISSPELLING_CUTOFF = 0.8


class _Kind(enum.Enum):
    """What calling a function gives: the four shapes ``def`` can have."""

    FUNCTION = "a plain `def`"
    GENERATOR = "a generator (`def` with `yield`)"
    COROUTINE = "`async def`"
    ASYNC_GENERATOR = "an async generator (`async def` with `yield`)"


# ------------------------------------------------------------------ entry point


def check_overrides(cls: type, base: type) -> None:
    """Raise ``TypeError`` if ``cls`` (a subclass of ``base``) overrides an RPC wrongly.

    ``base`` is ``GreeterService`` or ``AsyncGreeterService``. Checked: methods whose
    name looks like an RPC but is none (``say_helo``, ``SayHello``), and each RPC
    override's shape: sync or async, generator or not, one request parameter.
    """
    # The base's own say_hello is the reference: async def means the base awaits them all.
    is_async = inspect.iscoroutinefunction(vars(base)["say_hello"])
    for name, value in vars(cls).items():
        if name not in _BY_METHOD and _function_of(value) is not None:
            _check_name(cls, base, name)
    for rpc in RPCS:
        klass = _overriding_class(cls, base, rpc.method)
        if klass is not None:
            _check_shape(cls, klass, base, rpc, is_async=is_async)


# ------------------------------------------------------- names that are no RPC


def _check_name(cls: type, base: type, name: str) -> None:
    if name.startswith("_") or hasattr(base, name):
        return  # private helpers, and the base's own API (start, serve, context, ...)
    rpc = _rpc_looked_like(name)
    if rpc is None:
        return
    if name == rpc.proto_name:
        raise TypeError(
            f"{cls.__name__}.{name} would never be called: {name} is the RPC's name in the "
            f"proto, and {base.__name__} methods are snake_case: did you mean {rpc.method}?"
        )
    raise TypeError(
        f"{cls.__name__}.{name} is not an RPC of helloworld.Greeter, so it would never be "
        f"called: did you mean {rpc.method}? The RPC methods are "
        f"{', '.join(each.method for each in RPCS)}. If it is a helper of your own, give it "
        f"a name that does not look like an RPC, e.g. _{name}."
    )


def _rpc_looked_like(name: str) -> Rpc | None:
    """The RPC that ``name`` looks like a misspelling of, or None if it looks like none."""
    squashed = _squash(name)
    for rpc in RPCS:
        if squashed == _squash(rpc.method):
            return rpc  # SayHello, sayhello, Say_Hello, say_helloagain ...
    import difflib  # here: only a subclass with a method of its own needs it

    lowered = name.lower()
    cutoff = 0.0 if lowered.startswith(_RPC_PREFIX) else _MISSPELLING_CUTOFF
    closest = difflib.get_close_matches(lowered, _BY_METHOD, n=1, cutoff=cutoff)
    return _BY_METHOD[closest[0]] if closest else None


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


# --------------------------------------------------------- shape of overrides


def _overriding_class(cls: type, base: type, method: str) -> type | None:
    """The class whose ``method`` ``cls`` serves, unless it is the base's own."""
    for klass in cls.__mro__:
        if klass in base.__mro__:
            return None  # the base's own implementation: nothing to check
        if method in vars(klass):
            return klass
    return None


def _check_shape(cls: type, klass: type, base: type, rpc: Rpc, *, is_async: bool) -> None:
    """Check the override of ``rpc`` that ``cls`` inherits from ``klass`` (or defines)."""
    value = vars(klass)[rpc.method]
    where = f"{klass.__name__}.{rpc.method}"  # where the fix goes: maybe a mixin of cls
    fix = f"Write `{rpc.signature(is_async=is_async)}`"
    if is_async and rpc.streams_replies:
        fix += " with `yield` for each reply"
    function = _function_of(value)
    if function is None:
        if not callable(value) and not hasattr(value, "__get__"):
            # Plain data (None, a string): calling it would fail on every request.
            raise TypeError(f"{where} is {value!r}, not a method. {fix}.")
        return  # a callable object or a descriptor: nothing to inspect
    kind = _kind(function)
    problem, alternative = _wrong_kind(base, rpc, kind, is_async=is_async)
    if problem:
        raise TypeError(f"{where} is {kind.value}, but {problem}. {fix}{alternative}.")
    leading = () if isinstance(value, staticmethod) else (cls,)  # for self, or cls
    signature = inspect.signature(function)
    try:
        signature.bind(*leading, rpc.parameter)
    except TypeError:
        raise TypeError(
            f"{where}{_parameters(signature)} cannot be called with one request: "
            f"an RPC method takes self and one parameter ({rpc.parameter}). {fix}."
        ) from None


def _wrong_kind(base: type, rpc: Rpc, kind: _Kind, *, is_async: bool) -> tuple[str, str]:
    """Why ``kind`` does not suit ``rpc`` on ``base`` (empty if it does), and an alternative."""
    awaits = kind in (_Kind.COROUTINE, _Kind.ASYNC_GENERATOR)
    if not is_async and awaits:
        problem = f"{base.__name__} calls its methods on worker threads and never awaits them"
        return problem, ", or subclass AsyncGreeterService to write async methods"
    if is_async and not awaits:
        problem = f"{base.__name__} runs on an event loop and needs `async def` methods"
        return problem, ", or subclass GreeterService to write blocking methods"
    if not rpc.streams_replies and kind in (_Kind.GENERATOR, _Kind.ASYNC_GENERATOR):
        return f"{rpc.proto_name} sends one reply, to `return`, not `yield`", ""
    if is_async and rpc.streams_replies and kind is _Kind.COROUTINE:
        return f"{rpc.proto_name} streams replies, to `yield` one by one", ""
    return "", ""


def _parameters(signature: inspect.Signature) -> str:
    """``(self, name, *, greeting)``: the parameters without their annotations."""
    bare = [
        parameter.replace(annotation=parameter.empty) for parameter in signature.parameters.values()
    ]
    return str(signature.replace(parameters=bare, return_annotation=signature.empty))


def _function_of(value: object) -> Callable[..., object] | None:
    """The function behind a class attribute, or None if the attribute is no function."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return value if inspect.isfunction(value) else None


def _kind(function: Callable[..., object]) -> _Kind:
    if inspect.isasyncgenfunction(function):
        return _Kind.ASYNC_GENERATOR
    if inspect.iscoroutinefunction(function):
        return _Kind.COROUTINE
    if inspect.isgeneratorfunction(function):
        return _Kind.GENERATOR
    wrapped = inspect.unwrap(function)
    if wrapped is not function:
        # A plain decorator (functools.wraps) returns what the function it wraps returns.
        return _kind(wrapped)
    return _Kind.FUNCTION
