"""How proto names become Python names: modules, import aliases, methods and docstrings.

The rules, which the generated code's users rely on:

- A file ``shop/v1/inventory.proto`` is the module ``shop.v1.inventory_pb2`` (protoc's
  own rule: ``-`` becomes ``_``), and its greeter module is ``shop.v1.inventory_greeter``.
- A message is referred to through its file's module, imported as protoc imports it:
  ``from shop.v1 import inventory_pb2``; when two files' modules end alike, or the name
  is taken, the alias is protoc's own long form (``shop_dot_v1_dot_inventory__pb2``).
- An RPC's method is its name in snake_case (``GetItem`` -> ``get_item``,
  ``HTTPGet`` -> ``http_get``). A Python keyword (``Import`` -> ``import``), a name the
  base classes use (``close``, ``context``, ``add_to_server``, ...) or a name an earlier
  RPC of the service already took (``GetItem`` and ``get_item``) gets a trailing ``_``
  until it is free, in proto order: so the first RPC keeps the plain name.
- The ``*_with_call`` variant of an RPC with one response is its snake_case name and
  ``_with_call`` (``Import`` -> ``import_with_call``), named once every RPC has its
  method, with a trailing ``_`` if that is taken (``GetItem`` beside an RPC
  ``GetItemWithCall``: ``get_item_with_call_``).
"""

from __future__ import annotations

import keyword
import re

from greeter.rpc import AsyncClient, AsyncService, Client, Service

__all__ = [
    "RESERVED_ATTRIBUTES",
    "docstring_lines",
    "free_name",
    "greeter_module_path",
    "long_alias",
    "method_attribute",
    "pb2_module",
    "snake_case",
]

#: Names on the base classes a generated class cannot use for an RPC (instance
#: attributes included: ``target``).
RESERVED_ATTRIBUTES = frozenset(
    {
        *dir(Client),
        *dir(AsyncClient),
        *dir(Service),
        *dir(AsyncService),
        "target",
    }
)

_BEFORE_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_START = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``GetItem`` -> ``get_item``; ``HTTPGet`` -> ``http_get``; ``getV2`` -> ``get_v2``."""
    spaced = _WORD_START.sub(r"\1_\2", _BEFORE_WORD.sub(r"\1_\2", name))
    return spaced.lower()


def free_name(name: str, taken: set[str]) -> str:
    """``name``, with trailing underscores until it is neither a keyword nor taken."""
    while keyword.iskeyword(name) or name in taken or name in RESERVED_ATTRIBUTES:
        name += "_"
    return name


def method_attribute(rpc_name: str, taken: set[str]) -> str:
    """The Python method name for the RPC ``rpc_name`` (see the module's rules)."""
    return free_name(snake_case(rpc_name), taken)


def _module_base(proto_path: str) -> str:
    return proto_path.removesuffix(".proto").replace("-", "_")


def pb2_module(proto_path: str) -> str:
    """The module protoc's Python output makes of ``proto_path``: ``shop.v1.inventory_pb2``."""
    return _module_base(proto_path).replace("/", ".") + "_pb2"


def greeter_module_path(proto_path: str) -> str:
    """The file the generator writes for ``proto_path``: ``shop/v1/inventory_greeter.py``."""
    return _module_base(proto_path) + "_greeter.py"


def long_alias(module: str) -> str:
    """protoc's alias for a module, unique by construction: ``shop_dot_v1_dot_x__pb2``."""
    return module.replace("_", "__").replace(".", "_dot_")


def docstring_lines(summary: str, comment: str, indent: str) -> list[str]:
    """A docstring of ``summary`` and a proto comment, as indented source lines.

    The comment keeps its own line breaks; backslashes and triple quotes are escaped.
    """
    lines = [summary]
    body = _comment_lines(comment)
    if body:
        lines += ["", *body]
    if len(lines) == 1:
        return [f'{indent}"""{_escape(summary)}"""']
    out = [f'{indent}"""{_escape(lines[0])}']
    out += [f"{indent}{_escape(line)}" if line else "" for line in lines[1:]]
    out.append(f'{indent}"""')
    return out


def _comment_lines(comment: str) -> list[str]:
    """A proto comment's lines, stripped of the space after ``//`` and of blank edges."""
    lines = [line.rstrip() for line in comment.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    margin = min((len(line) - len(line.lstrip()) for line in lines if line), default=0)
    return [line[margin:] for line in lines]


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return text[:-1] + '\\"' if text.endswith('"') else text
