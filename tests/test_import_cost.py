"""``import greeter`` loads only what every program needs.

The version string, rich error details and server reflection are loaded when first
used. (Import *time* is measured by the benchmarks, not asserted here.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

#: Modules ``import greeter`` must leave alone, and why they are costly.
LOADED_WHEN_USED = [
    "importlib.metadata",  # __version__ (reads the installed distribution's metadata)
    "greeter._proto.status_pb2",  # rich error details
    "google.protobuf.any_pb2",  # rich error details
    "greeter.server._reflection",  # loaded by servers that serve reflection
]


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(run.stdout))


@pytest.mark.parametrize("module", LOADED_WHEN_USED)
def test_import_greeter_does_not_load(module: str) -> None:
    assert module not in _modules_after("import greeter")


def test_version_is_read_when_first_asked_for() -> None:
    loaded = _modules_after("import greeter; assert greeter.__version__")
    assert "importlib.metadata" in loaded


def test_version_is_the_installed_distributions() -> None:
    import importlib.metadata

    import greeter

    assert greeter.__version__ == importlib.metadata.version("grpc-greeter")
    assert "__version__" in greeter.__all__


def test_import_greeter_loads_neither_grpc_nor_protobuf() -> None:
    """Public names load their modules when first used (PEP 562)."""
    loaded = _modules_after("import greeter")
    assert (
        not {"grpc", "google.protobuf", "greeter.client._sync", "greeter.server._lifecycle"}
        & loaded
    )


def test_a_client_loads_no_server_code() -> None:
    loaded = _modules_after("from greeter import GreeterClient")
    assert "greeter.client._sync" in loaded
    assert (
        not {
            "greeter.server._lifecycle",
            "greeter.server._config",
            "greeter.server._health",
            "hmac",
        }
        & loaded
    )


@pytest.mark.parametrize("server", ["GreeterServer", "AsyncGreeterServer", "GreeterService"])
def test_a_server_loads_no_client_code(server: str) -> None:
    loaded = _modules_after(f"from greeter import {server}")
    assert "greeter.server._lifecycle" in loaded
    assert not {name for name in loaded if name.startswith("greeter.client")}


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    import greeter

    for name in greeter.__all__:
        assert getattr(greeter, name) is not None
    assert set(greeter.__all__) <= set(dir(greeter))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        greeter.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_an_error_from_a_lazily_loaded_client_prints_under_a_public_name() -> None:
    """Nothing but ``GreeterClient`` was read from ``greeter``, yet its error prints as
    ``greeter.errors.Unavailable`` in the traceback, never as a private ``greeter._x``."""
    code = (
        "from greeter import GreeterClient\nGreeterClient('127.0.0.1:1').greet('you', timeout=5)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].startswith("greeter.errors.Unavailable: UNAVAILABLE")
    assert "greeter._" not in run.stderr


#: For each public class and function: where ``typing`` and ``inspect`` find it, in a
#: fresh interpreter (as pydantic, cattrs, an IDE or a debugger would look it up).
_INTROSPECT = """
import inspect, json, sys, types, typing
import greeter
found = {}
for name in greeter.__all__:
    public = getattr(greeter, name)
    if isinstance(public, types.GenericAlias) or not isinstance(
        public, type | types.FunctionType
    ):
        continue
    typing.get_type_hints(public)
    lines = inspect.getsource(public).lstrip().splitlines()
    found[name] = next(line for line in lines if not line.startswith("@"))
print(json.dumps(found))
"""


def test_every_public_class_and_function_has_type_hints_and_source() -> None:
    """``typing.get_type_hints()`` resolves (no ``NameError``) and ``inspect.getsource()``
    finds the definition, for everything ``greeter`` exports."""
    run = subprocess.run(
        [sys.executable, "-c", _INTROSPECT], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    found: dict[str, str] = json.loads(run.stdout)
    assert {"ServerConfig", "RetryPolicy", "GreeterServer", "Unavailable"} <= set(found)
    for name, first_line in found.items():
        assert re.match(rf"(class|def) {name}\b", first_line), (name, first_line)


@pytest.mark.parametrize("package", ["greeter", "greeter.testing"])
def test_the_lazy_names_are_the_ones_type_checkers_see(package: str) -> None:
    """``_PUBLIC`` (the one list: run time, ``__all__`` and ``dir()``) and the
    ``TYPE_CHECKING`` imports (type checkers) name the same modules for the same names,
    each re-exported under its own name."""
    import ast
    import importlib
    from pathlib import Path

    module = importlib.import_module(package)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    seen_by_type_checkers = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    }
    public: dict[str, tuple[str, ...]] = module._PUBLIC
    defined_in = {name: where for where, names in public.items() for name in names}
    assert seen_by_type_checkers == defined_in
    assert set(module.__all__) - {"__version__"} == set(defined_in)
    assert set(module.__all__) <= set(dir(module))
