"""Public names that load their modules when first used (PEP 562).

A package lists its public names once, by the module that defines each; that one list
gives its ``__all__``, its ``__dir__`` and the ``__getattr__`` that imports a name's
module on first use, so ``import greeter`` loads neither grpc nor protobuf, and a program
pays for the client, the server or the web port only when it uses them. Type checkers
read the package's ``if TYPE_CHECKING:`` imports instead, which a test holds to the list.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping, Sequence

__all__ = ["lazy_names"]


def lazy_names(
    package: str,
    public: Mapping[str, Sequence[str]],
    namespace: MutableMapping[str, object],
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose ``public``
    names are given by defining module; a loaded name is kept in ``namespace`` (the
    package's ``globals()``), so it is looked up once."""
    defined_in = {name: module for module, names in public.items() for name in names}

    def __getattr__(name: str) -> object:  # noqa: N807 (the module hook, PEP 562)
        module = defined_in.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *defined_in})

    return sorted(defined_in), __getattr__, __dir__
