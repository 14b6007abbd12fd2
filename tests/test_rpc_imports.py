"""Importing a generated module costs little: what serving or calling needs loads later.

A generated module defines its classes at import, so ``greeter.rpc``'s base classes load
with it; the channel, TLS, call pipeline, handlers and override checks load when a
client is made, a service is served or subclassed. (Import *time* is the benchmarks'.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_codegen_build import generated_tree

#: Loaded when first needed, not by ``import shop.v1.inventory_greeter``.
LOADED_WHEN_USED = {
    "greeter.client._channel",  # a client's channel
    "greeter._tls",
    "greeter.pipeline._context",  # self.context, while serving
    "greeter.pipeline._hooks",
    "greeter.server._handlers",  # serving
    "greeter.server._overrides",  # a subclass of a generated service
}

#: The server code a generated module loads: the service base classes, no server.
SERVICE_BASES = {
    "greeter.server",
    "greeter.server._runtime",
    "greeter.server._serving",
    "greeter.server._values",
}


def _modules_after(tree: Path, statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    return set(json.loads(run.stdout))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_tree(tmp_path_factory)


def test_importing_a_generated_module_loads_neither_channel_nor_pipeline(tree: Path) -> None:
    loaded = _modules_after(tree, "import shop.v1.inventory_greeter")
    assert "greeter.rpc" in loaded
    assert not LOADED_WHEN_USED & loaded
    assert {module for module in loaded if module.startswith("greeter.server")} <= SERVICE_BASES


def test_a_generated_client_loads_no_server_code(tree: Path) -> None:
    loaded = _modules_after(
        tree,
        "from shop.v1.inventory_greeter import InventoryClient; "
        "InventoryClient('127.0.0.1:1').close()",
    )
    assert "greeter.client._channel" in loaded
    assert {module for module in loaded if module.startswith("greeter.server")} <= SERVICE_BASES
    assert "greeter.server._handlers" not in loaded
