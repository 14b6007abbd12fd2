"""The example project (``examples/inventory``), installed as a user would and called
from outside.

``pip install ./examples/inventory`` runs into one fresh environment for the module (with
grpc-greeter from a wheel of this tree, as ``test_build_backend_installs.py`` does), and
greeter.build generates ``shop.v1`` there. The example's own server then runs as a process
of that environment, threaded and asyncio, and is called by the example's own client, by
stock grpcio stubs (``grpc_tools.protoc --grpc_python_out``), by Node's ``@grpc/grpc-js``
(``npm ci --prefix tests/interop/node`` installs it and ``@bufbuild/buf``), by
``buf curl`` through reflection alone, and through health and reflection.
(``install_example`` also installs it with its ``web`` extra, for
test_example_inventory_browser.py, where Chromium calls it.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.builds import copy_clean_tree, fresh_venv, pip_install, run
from tests.conftest import REPO_ROOT, ServerProcess

# Real builds in a fresh environment take a while on a loaded machine.
pytestmark = pytest.mark.timeout(600)

EXAMPLE = REPO_ROOT / "examples" / "inventory"
PROTOS = EXAMPLE / "protos"
NODE_MODULES = REPO_ROOT / "tests" / "interop" / "node" / "node_modules"
INVENTORY = "shop.v1.Inventory"
CATALOG = "shop.v1.Catalog"
TIMEOUT = 10.0
#: Every RPC of ``service Catalog``, as catalog.proto declares them.
CATALOG_RPCS = re.findall(r"^\s*rpc (\w+)\(", (PROTOS / "shop/v1/catalog.proto").read_text(), re.M)
#: The modules greeter.build generates into the installed ``shop`` package.
GENERATED = sorted(
    [
        *(f"v1/{stem}_greeter.py" for stem in ("catalog", "inventory")),
        *(f"v1/{stem}{suffix}" for stem in ("catalog", "inventory", "types") for suffix in (
            "_pb2.py", "_pb2.pyi"
        )),
    ]
)  # fmt: skip

#: ``python -m shop.client`` (and ``shop.async_client``): Inventory's four shapes, then
#: each Catalog RPC once.
CLIENT_OUTPUT = """\
GetItem: w-1 widget x3
GetItem: NotFound: no item 'nope'
ListItems: w-1
RestockItems: 2 restocks, 7 units
Watch: w-1 x6, updated just now
Watch: g-7 x6, updated just now
GetProduct: w-1 widget, 250c, tools
CountProducts: 1
CreateProduct: g-7 gadget, 0c, -
CreateCategory: toys (Toys)
ListCategories: tools, toys
MoveToCategory: g-7 gadget, 0c, toys
UpdateProduct: g-7 gizmo, 1500c, toys
RenameProduct: g-7 gadget, 1500c, toys
ListProducts: g-7
SearchProducts: w-1
SetPrice: w-1 300c, 300c on sale
ApplyDiscount: w-1 300c, 225c on sale
GetPrice: w-1 300c, 225c on sale
RemoveDiscount: w-1 300c, 300c on sale
AddTag: metal, sale
RemoveTag: metal
ListTags: metal
ArchiveProduct: g-7 gadget, 1500c, toys (archived)
RestoreProduct: g-7 gadget, 1500c, toys
DeleteProduct: 1 left
"""

#: A client made only of grpcio and the stubs grpc_tools.protoc generates from the
#: example's protos: it never imports greeter, nor the example's own package.
STOCK_CLIENT = """\
import sys

import grpc
from google.protobuf.empty_pb2 import Empty

from shop.v1 import catalog_pb2, catalog_pb2_grpc, inventory_pb2, inventory_pb2_grpc

restocks = [inventory_pb2.Restock(sku="w-1", added=2), inventory_pb2.Restock(sku="g-7", added=5)]
with grpc.insecure_channel(sys.argv[1]) as channel:
    inventory = inventory_pb2_grpc.InventoryStub(channel)
    catalog = catalog_pb2_grpc.CatalogStub(channel)
    item = inventory.GetItem(inventory_pb2.GetItemRequest(sku="w-1"), timeout=10)
    print("GetItem:", item.sku, item.name, item.quantity)
    try:
        inventory.GetItem(inventory_pb2.GetItemRequest(sku="nope"), timeout=10)
    except grpc.RpcError as error:
        print("GetItem:", error.code().name, error.details())
    print("ListItems:", [item.sku for item in inventory.ListItems(Empty(), timeout=10)])
    summary = inventory.RestockItems(iter(restocks), timeout=10)
    print("RestockItems:", summary.items, summary.units)
    watched = inventory.Watch(iter(restocks), timeout=10)
    print("Watch:", [(i.sku, i.quantity, i.HasField("updated")) for i in watched])
    price = catalog.ApplyDiscount(catalog_pb2.DiscountRequest(sku="w-1", percent=10), timeout=10)
    print("ApplyDiscount:", price.list_cents, price.sale_cents)
print("greeter or shop imported:", {"greeter", "shop.service"} & set(sys.modules))
"""
STOCK_OUTPUT = """\
GetItem: w-1 widget 3
GetItem: NOT_FOUND no item 'nope'
ListItems: ['w-1']
RestockItems: 2 7
Watch: [('w-1', 7, True), ('g-7', 10, True)]
ApplyDiscount: 250 225
greeter or shop imported: set()
"""

#: ``node examples/inventory/node/client.js``: Inventory's four shapes and two Catalog RPCs.
NODE_OUTPUT = {
    "GetItem": "w-1 x3 widget",
    "GetItemUnknown": {"code": "NOT_FOUND", "details": "no item 'nope'"},
    "ListItems": ["w-1 x3"],
    "RestockItems": {"items": 2, "units": 7},
    "Watch": ["w-1 x7 (updated)", "g-7 x10 (updated)"],
    "GetPrice": {"sku": "w-1", "list_cents": 250, "sale_cents": 250},
    "CountProducts": {"count": 1},
}


def install_example(tmp_path_factory: pytest.TempPathFactory, extras: str = "") -> Path:
    """A fresh environment where ``pip install ./examples/inventory[EXTRAS]`` installed
    the example (and grpc-greeter, from a wheel of this tree); its interpreter."""
    scratch = tmp_path_factory.mktemp("example-inventory")
    tree = copy_clean_tree(scratch / "grpc-greeter")
    wheels = scratch / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, tree)
    python = fresh_venv(scratch / "venv")
    example = tree / "examples" / "inventory"
    pip_install(python, "--find-links", wheels, f"{example}[{extras}]" if extras else example)
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, installed as ``pip install ./examples/inventory`` does; its interpreter."""
    return install_example(tmp_path_factory)


@pytest.fixture(params=["threaded", "asyncio"])
def shop_server(request: pytest.FixtureRequest, installed: Path) -> Iterator[ServerProcess]:
    """``python -m shop.server`` on port 0, on the threaded or the asyncio server."""
    flags = ["--asyncio"] if request.param == "asyncio" else []
    command = [str(installed), "-m", "shop.server", "--address", "127.0.0.1:0", *flags]
    process = ServerProcess(command, r"shop serving on 127\.0\.0\.1:(\d+)")
    try:
        yield process
        assert process.stop() == 0, process.log()  # SIGTERM stops it gracefully
    finally:
        process.kill()


def site_packages(python: Path) -> Path:
    where = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    return Path(where.strip())


def test_the_example_tree_keeps_generated_code_out_of_git() -> None:
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    if inside.stdout.strip() != "true":
        pytest.skip("needs a git checkout of the repository")
    generated = [f"examples/inventory/src/shop/{name}" for name in GENERATED]
    ignored = subprocess.run(
        ["git", "check-ignore", *generated],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    assert ignored.stdout.splitlines() == generated
    tracked = run("git", "ls-files", "examples/inventory", cwd=REPO_ROOT).splitlines()
    assert "examples/inventory/protos/shop/v1/catalog.proto" in tracked
    assert not [name for name in tracked if name.endswith(("_pb2.py", "_pb2.pyi", "_greeter.py"))]


def test_catalog_proto_declares_twenty_rpcs() -> None:
    assert len(CATALOG_RPCS) == len(set(CATALOG_RPCS)) == 20


def test_pip_install_generates_the_examples_modules_beside_its_own_code(installed: Path) -> None:
    shop = site_packages(installed) / "shop"
    names = ("*_pb2.py", "*_pb2.pyi", "*_greeter.py")
    found = sorted(p.relative_to(shop).as_posix() for n in names for p in shop.rglob(n))
    assert found == GENERATED
    for module in ("service", "async_service", "server", "client", "async_client", "stock"):
        assert (shop / f"{module}.py").is_file(), module


def test_the_installed_example_passes_mypy_strict_with_its_generated_code(
    installed: Path, tmp_path: Path
) -> None:
    # What pip installed, the generated modules and stubs with it, checked as user code.
    shutil.copytree(site_packages(installed) / "shop", tmp_path / "shop")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "shop"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("client", ["shop.client", "shop.async_client"])
def test_the_examples_own_client_calls_every_shape_and_each_catalog_rpc(
    installed: Path, shop_server: ServerProcess, client: str, tmp_path: Path
) -> None:
    output = run(installed, "-m", client, shop_server.target, cwd=tmp_path)
    assert output == CLIENT_OUTPUT
    called = {line.split(":")[0] for line in output.splitlines()}
    assert set(CATALOG_RPCS) <= called


def test_the_readmes_python_example_runs_as_shown(installed: Path, tmp_path: Path) -> None:
    readme = (EXAMPLE / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    expected = "".join(f"{line}\n" for line in re.findall(r"\)  # (\w+)$", code, re.M))
    assert expected == "widget\n"
    assert run(installed, "-c", code, cwd=tmp_path) == expected


@pytest.fixture(scope="module")
def stock_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stock client script beside what grpc_tools.protoc generates for the protos."""
    out = tmp_path_factory.mktemp("stock-shop")
    protos = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    run(sys.executable, "-m", "grpc_tools.protoc", "-I", PROTOS, f"--python_out={out}",
        f"--grpc_python_out={out}", *protos, cwd=PROTOS)  # fmt: skip
    script = out / "stock_client.py"
    script.write_text(STOCK_CLIENT)
    return script


def test_a_stock_grpcio_stub_calls_every_shape_of_the_examples_server(
    stock_client: Path, shop_server: ServerProcess
) -> None:
    output = run(sys.executable, stock_client, shop_server.target, cwd=stock_client.parent)
    assert output == STOCK_OUTPUT


@pytest.fixture(scope="module")
def node() -> str:
    """The ``node`` executable, once the pinned npm packages are installed."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("Node.js is required for the interop tests: install node (>= 18)")
    if not (NODE_MODULES / "@grpc" / "grpc-js").is_dir():
        pytest.fail(
            "the Node interop packages are missing: run `npm ci --prefix tests/interop/node`"
        )
    return executable


def test_node_grpc_js_calls_every_shape_of_the_examples_server(
    node: str, shop_server: ServerProcess
) -> None:
    # The example's own Node client, with the test suite's pinned grpc-js.
    result = subprocess.run(
        [node, str(EXAMPLE / "node" / "client.js"), shop_server.target],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == NODE_OUTPUT


def test_reflection_lists_and_describes_the_examples_services(
    shop_server: ServerProcess,
) -> None:
    with grpc.insecure_channel(shop_server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert {INVENTORY, CATALOG} <= set(database.get_services())
        pool = DescriptorPool(database)
        inventory = pool.FindServiceByName(INVENTORY)
        catalog = pool.FindServiceByName(CATALOG)
    shapes = {
        method.name: (method.client_streaming, method.server_streaming)
        for method in inventory.methods
    }
    assert shapes == {
        "GetItem": (False, False),
        "ListItems": (False, True),
        "RestockItems": (True, False),
        "Watch": (True, True),
    }
    assert inventory.file.name == "shop/v1/inventory.proto"
    # Types from the other file and the well-known ones resolve, as a tool needs them.
    get_item = inventory.methods_by_name["GetItem"]
    assert get_item.output_type.file.name == "shop/v1/types.proto"
    updated = get_item.output_type.fields_by_name["updated"].message_type
    assert updated is not None
    assert updated.full_name == "google.protobuf.Timestamp"
    assert inventory.methods_by_name["ListItems"].input_type.full_name == "google.protobuf.Empty"
    assert [method.name for method in catalog.methods] == CATALOG_RPCS


def test_a_call_built_from_reflection_alone_answers(shop_server: ServerProcess) -> None:
    # What buf curl or grpcurl do: message classes from the server's descriptors only.
    with grpc.insecure_channel(shop_server.target) as channel:
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        method = pool.FindServiceByName(INVENTORY).methods_by_name["GetItem"]
        request = message_factory.GetMessageClass(method.input_type)()
        json_format.ParseDict({"sku": "w-1"}, request)
        reply_type = message_factory.GetMessageClass(method.output_type)
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{INVENTORY}/GetItem"
        )
        reply = reply_type.FromString(call(request.SerializeToString(), timeout=TIMEOUT))
    assert json_format.MessageToDict(reply) == {
        "sku": "w-1",
        "name": "widget",
        "quantity": 3,
    }


def test_buf_curl_lists_and_calls_the_examples_services_through_reflection(
    shop_server: ServerProcess, tmp_path: Path
) -> None:
    # buf (Go, no code shared with grpcio) knows the services only from reflection.
    buf = NODE_MODULES / ".bin" / "buf"
    if not buf.exists():
        pytest.skip("buf is not installed: run `npm ci --prefix tests/interop/node`")

    def buf_curl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(buf), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "BUF_CACHE_DIR": str(tmp_path / "buf-cache")},
        )  # fmt: skip

    listed = buf_curl("--list-services", f"http://{shop_server.target}")
    assert listed.returncode == 0, listed.stderr
    assert {INVENTORY, CATALOG} <= set(listed.stdout.split())
    called = buf_curl("-d", '{"sku": "w-1"}', f"http://{shop_server.target}/{INVENTORY}/GetItem")
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"sku": "w-1", "name": "widget", "quantity": 3}


def test_health_reports_each_example_service_serving_by_its_full_name(
    shop_server: ServerProcess,
) -> None:
    with grpc.insecure_channel(shop_server.target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=HealthCheckRequest.SerializeToString,
            response_deserializer=HealthCheckResponse.FromString,
        )
        statuses = {
            service: HealthCheckResponse.ServingStatus.Name(
                check(HealthCheckRequest(service=service), timeout=TIMEOUT).status
            )
            for service in ("", INVENTORY, CATALOG)
        }
    assert statuses == {"": "SERVING", INVENTORY: "SERVING", CATALOG: "SERVING"}
