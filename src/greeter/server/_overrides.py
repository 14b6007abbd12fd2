"""Checks a service subclass's RPC overrides when the class is defined, not at the first call.

Every service base (``GreeterService``, a generated ``InventoryService``, their asyncio
twins) calls ``check_overrides`` from ``__init_subclass__``, with its method table.
Without it, a misspelt override (``say_helo``, ``get_itme``) is silently never called,
and an override of the wrong shape (``async def`` on a threaded service, ``yield`` where
one response is expected) fails only when a client calls it, as an INTERNAL error far
from the mistake. Both become a ``TypeError`` at the ``class`` line saying what to write
instead, in the words of the base (``MethodForms``: the Greeter's methods take names and
send replies, a generated service's take requests and send responses).

A method whose name does not look like one of the service's RPCs is the user's own
helper and is left alone, as is every attribute that is not a function.
"""

from __future__ import annotations

import difflib
import enum
import inspect
from collections.abc import Callable
from typing import Any

from greeter._method import Method, ServiceDefinition
from greeter.server._values import MethodForms

__all__ = ["check_overrides", "generated_base"]

#: How alike (difflib ratio) a name must be to an RPC's to be taken for a misspelling.
_MISSPELLING_CUTOFF = 0.8


class _Kind(enum.Enum):
    """What calling a function gives: the four shapes ``def`` can have."""

    FUNCTION = "a plain `def`"
    GENERATOR = "a generator (`def` with `yield`)"
    COROUTINE = "`async def`"
    ASYNC_GENERATOR = "an async generator (`async def` with `yield`)"


def generated_base(cls: type) -> type | None:
    """The generated class ``cls`` derives from: the nearest one declaring ``definition``."""
    for klass in cls.__mro__:
        if isinstance(vars(klass).get("definition"), ServiceDefinition):
            return klass
    return None


def check_overrides(cls: type, forms: MethodForms, *, is_async: bool) -> None:
    """Raise ``TypeError`` if ``cls`` overrides an RPC of its service's base wrongly.

    Checked: methods whose name looks like an RPC but is none (``get_itme``,
    ``GetItem``), and each RPC override's shape: sync or async, generator or not, one
    request parameter. The base (the class declaring ``definition``: a generated class,
    ``GreeterService``) is the reference, and is not checked.
    """
    base = generated_base(cls)
    if base is None or base is cls:
        return
    definition: ServiceDefinition = vars(base)["definition"]
    by_attribute = {method.attribute: method for method in definition.methods}
    for name, value in vars(cls).items():
        if name not in by_attribute and _function_of(value) is not None:
            _check_name(cls, base, definition, forms, name)
    for method in definition.methods:
        klass = _overriding_class(cls, base, method.attribute)
        if klass is not None:
            _check_shape(cls, klass, base, method, forms, is_async=is_async)


def _check_name(
    cls: type, base: type, definition: ServiceDefinition, forms: MethodForms, name: str
) -> None:
    if name.startswith("_") or hasattr(base, name):
        return  # private helpers, and the base's own API (context, start, serve, ...)
    method = _method_looked_like(definition, forms, name)
    if method is None:
        return
    if name == method.name:
        raise TypeError(
            f"{cls.__name__}.{name} would never be called: {name} is the RPC's name in the "
            f"proto, and {base.__name__} methods are snake_case: did you mean "
            f"{method.attribute}?"
        )
    raise TypeError(
        f"{cls.__name__}.{name} is not an RPC of {definition.name}, so it would never be "
        f"called: did you mean {method.attribute}? The RPC methods are "
        f"{', '.join(each.attribute for each in definition.methods)}. If it is a helper of "
        f"your own, give it a name that does not look like an RPC, e.g. _{name}."
    )


def _method_looked_like(
    definition: ServiceDefinition, forms: MethodForms, name: str
) -> Method[Any, Any] | None:
    """The RPC that ``name`` looks like a misspelling of, or None if it looks like none."""
    squashed = _squash(name)
    for method in definition.methods:
        if squashed in (_squash(method.attribute), _squash(method.name)):
            return method  # GetItem, getitem, Get_Item ...
    by_attribute = {method.attribute: method for method in definition.methods}
    lowered = name.lower()
    prefixed = forms.rpc_prefix is not None and lowered.startswith(forms.rpc_prefix)
    cutoff = 0.0 if prefixed else _MISSPELLING_CUTOFF
    closest = difflib.get_close_matches(lowered, by_attribute, n=1, cutoff=cutoff)
    return by_attribute[closest[0]] if closest else None


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def _overriding_class(cls: type, base: type, attribute: str) -> type | None:
    """The class whose ``attribute`` ``cls`` serves, unless it is the generated base's."""
    for klass in cls.__mro__:
        if klass in base.__mro__:
            return None  # the generated method (UNIMPLEMENTED): nothing to check
        if attribute in vars(klass):
            return klass
    return None


def _check_shape(
    cls: type,
    klass: type,
    base: type,
    method: Method[Any, Any],
    forms: MethodForms,
    *,
    is_async: bool,
) -> None:
    """Check the override of ``method`` that ``cls`` inherits from ``klass`` (or defines)."""
    value = vars(klass)[method.attribute]
    where = f"{klass.__name__}.{method.attribute}"  # where the fix goes: maybe a mixin of cls
    fix = f"Write `{forms.signature(method, is_async=is_async)}`"
    if is_async and method.shape.streams_responses:
        # (A threaded one may return any iterable, a list too.)
        fix += f" with `yield` for each {forms.sends}"
    function = _function_of(value)
    if function is None:
        if not callable(value) and not hasattr(value, "__get__"):
            raise TypeError(f"{where} is {value!r}, not a method. {fix}.")
        return  # a callable object or a descriptor: nothing to inspect
    kind = _kind(function)
    problem, alternative = _wrong_kind(base, method, forms, kind, is_async=is_async)
    if problem:
        raise TypeError(f"{where} is {kind.value}, but {problem}. {fix}{alternative}.")
    leading = () if isinstance(value, staticmethod) else (cls,)  # for self, or cls
    signature = inspect.signature(function)
    parameter = forms.parameter(method)
    try:
        signature.bind(*leading, parameter)
    except TypeError:
        raise TypeError(
            f"{where}{_parameters(signature)} cannot be called with one request: an RPC "
            f"method takes self and one parameter ({parameter}). {fix}."
        ) from None


def _wrong_kind(
    base: type, method: Method[Any, Any], forms: MethodForms, kind: _Kind, *, is_async: bool
) -> tuple[str, str]:
    """Why ``kind`` does not suit ``method`` on ``base`` (empty if it does), and what else."""
    awaits = kind in (_Kind.COROUTINE, _Kind.ASYNC_GENERATOR)
    if not is_async and awaits:
        problem = f"{base.__name__} calls its methods on worker threads and never awaits them"
        return problem, f", or subclass Async{base.__name__} to write async methods"
    if is_async and not awaits:
        problem = f"{base.__name__} runs on an event loop and needs `async def` methods"
        blocking = base.__name__.removeprefix("Async")
        return problem, f", or subclass {blocking} to write blocking methods"
    streams = method.shape.streams_responses
    if not streams and kind in (_Kind.GENERATOR, _Kind.ASYNC_GENERATOR):
        return f"{method.name} sends one {forms.sends}, to `return`, not `yield`", ""
    if is_async and streams and kind is _Kind.COROUTINE:
        return f"{method.name} streams {forms.sends_many}, to `yield` one by one", ""
    return "", ""


def _parameters(signature: inspect.Signature) -> str:
    """``(self, request, *, extra)``: the parameters without their annotations."""
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
        return _kind(wrapped)  # a plain decorator returns what the function it wraps does
    return _Kind.FUNCTION
