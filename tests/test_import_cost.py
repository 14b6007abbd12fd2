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
    "google.rpc.status_pb2",  # rich error details
    "grpc_status",  # rich error details
    "google.protobuf.any_pb2",  # rich error details
    "grpc_reflection.v1alpha.reflection",  # loaded by servers that serve reflection
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
