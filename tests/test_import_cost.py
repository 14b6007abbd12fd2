"""``import greeter`` loads only what every program needs.

The version string, rich error details and server reflection are loaded when first
used. (Import *time* is measured by the benchmarks, not asserted here.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Modules ``import greeter`` must leave alone, and why they are costly.
LOADED_WHEN_USED = [
    "importlib.metadata",  # __version__ (reads the installed distribution's metadata)
    "greeter._proto.status_pb2",  # rich error details
    "google.protobuf.any_pb2",  # rich error details
    "greeter._reflection",  # loaded by servers that serve reflection
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
    assert not {"grpc", "google.protobuf", "greeter._client", "greeter._server"} & loaded


def test_a_client_loads_no_server_code() -> None:
    loaded = _modules_after("from greeter import GreeterClient")
    assert "greeter._client" in loaded
    assert not {"greeter._server", "greeter._config", "greeter._health", "hmac"} & loaded


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    import greeter

    for name in greeter.__all__:
        assert getattr(greeter, name) is not None
    assert set(greeter.__all__) <= set(dir(greeter))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        greeter.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_an_error_from_a_lazily_loaded_client_prints_as_greeters() -> None:
    """Nothing but ``GreeterClient`` was read from ``greeter``, yet its error is
    ``greeter.Unavailable`` in the traceback, not ``greeter._exceptions.Unavailable``."""
    code = (
        "from greeter import GreeterClient\n"
        "try:\n"
        "    GreeterClient('127.0.0.1:1').greet('you', timeout=5)\n"
        "except Exception as error:\n"
        "    print(type(error).__module__, type(error).__qualname__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.split() == ["greeter", "Unavailable"]


def test_the_lazy_names_are_the_ones_type_checkers_see() -> None:
    """``_DEFINED_IN`` (run time) and the ``TYPE_CHECKING`` imports (type checkers)
    name the same modules for the same names, and together make up ``__all__``."""
    import ast
    from pathlib import Path

    import greeter

    tree = ast.parse(Path(greeter.__file__).read_text())
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
    }
    assert seen_by_type_checkers == greeter._DEFINED_IN
    assert {*greeter._DEFINED_IN, "__version__"} == set(greeter.__all__)
