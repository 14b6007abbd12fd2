"""``greeter serve --service MODULE:CLASS``: the command serves your generated services
beside the Greeter, with every flag it has, on the threaded and the asyncio server."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from greeter import GreeterClient
from tests.conftest import GREETER_SERVE, LOOPBACK, ServerProcess, run_cli
from tests.test_codegen_build import generated_tree, load

SERVING = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop protos generated, with the user code (``shop_services``) beside them."""
    return generated_tree(tmp_path_factory)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.inventory_greeter")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load(tmp_path_factory, "shop.v1.inventory_pb2")


def _environment(tree: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.mark.parametrize(
    ("service", "flags"),
    [("shop_services:Inventory", []), ("shop_services:AsyncInventory", ["--async"])],
    ids=["threaded", "asyncio"],
)
def test_serve_serves_a_generated_service_beside_the_greeter_and_health_knows_it(
    tree: Path, generated: Any, inventory: Any, service: str, flags: list[str]
) -> None:
    command = [
        *GREETER_SERVE,
        *("--address", LOOPBACK, "--workers", "1", "--service", service, *flags),
    ]
    server = ServerProcess(command, SERVING, env=_environment(tree))
    try:
        target = f"127.0.0.1:{server.port}"
        with generated.InventoryClient(target, timeout=10) as client:
            item = client.get_item(inventory.GetItemRequest(sku="A1"))
        assert (item.sku, item.name) == ("A1", "Item A1")
        with GreeterClient(target, timeout=10) as greeter:
            assert greeter.greet("you") == "Hello, you!"
            assert greeter.check_health("shop.v1.Inventory") == "SERVING"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--service", "shop_services"], "--service shop_services: expected MODULE:CLASS"),
        (["--service", "no_such_module:X"], "--service no_such_module:X: cannot import"),
        (["--service", "shop_services:Nope"], "has no generated service class 'Nope'"),
        (["--service", "shop_services:SLOW_SECONDS"], "has no generated service class"),
        (
            ["--service", "shop_services:AsyncInventory"],
            "an asyncio service: serve it with --async",
        ),
        (
            ["--async", "--service", "shop_services:Inventory"],
            "a threaded service: serve it without --async",
        ),
    ],
)
def test_a_service_that_cannot_be_served_is_a_usage_error_saying_why(
    tree: Path, arguments: list[str], message: str
) -> None:
    result = run_cli(
        "serve", "--address", LOOPBACK, "--workers", "1", *arguments, env=_environment(tree)
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.splitlines()[-1]
