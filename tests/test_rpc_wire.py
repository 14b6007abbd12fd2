"""Wire compatibility: generated classes and grpcio's own stubs talk to each other.

A stock ``InventoryStub`` (``grpc_tools.protoc --grpc_python_out``) calls the generated
service, served by greeter; a generated ``InventoryClient`` calls a raw grpcio
``InventoryServicer`` on a plain ``grpc.server``. Nothing greeter-specific is on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

import greeter
import greeter.rpc
from greeter import AsyncGreeterService, GreeterService, testing
from tests.test_codegen_build import load


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The generated, stock and message modules of shop/v1/inventory.proto."""
    names = {
        "generated": "shop.v1.inventory_greeter",
        "stock": "shop.v1.inventory_pb2_grpc",
        "inventory": "shop.v1.inventory_pb2",
        "types": "shop.v1.types_pb2",
        "shop": "shop_services",
    }
    loaded = {key: load(tmp_path_factory, module) for key, module in names.items()}
    return type("Modules", (), loaded)


@pytest.mark.parametrize("kind", ["threaded", "asyncio"])
def test_a_stock_grpcio_stub_calls_the_generated_service(modules: Any, kind: str) -> None:
    service = modules.shop.Inventory() if kind == "threaded" else modules.shop.AsyncInventory()
    greeter_service = GreeterService() if kind == "threaded" else AsyncGreeterService()
    registration = (greeter.rpc.add_to_server, service)
    with testing.serving(greeter_service, services=[registration]) as server:
        with grpc.insecure_channel(server.target) as channel:
            stub = modules.stock.InventoryStub(channel)
            item = stub.GetItem(modules.inventory.GetItemRequest(sku="A1"), timeout=10)
            listed = stub.ListItems(modules.inventory.ListItemsRequest(count=2), timeout=10)
            counted = stub.AddItems(iter([modules.types.Item()] * 3), timeout=10)
            exchanged = stub.Exchange(iter([modules.types.Item(sku="x")]), timeout=10)
            assert (item.sku, [each.sku for each in listed], counted.items) == (
                "A1",
                ["sku-0", "sku-1"],
                3,
            )
            assert [each.notes[0].text for each in exchanged] == ["seen"]
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetItem(modules.inventory.GetItemRequest(sku="missing"), timeout=10)
            assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def _raw_servicer(modules: Any) -> Any:
    types = modules.types
    inventory = modules.inventory

    class RawInventory(modules.stock.InventoryServicer):  # type: ignore[misc]
        """A servicer as grpcio's tutorial writes one: untyped request, context."""

        def GetItem(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
            if request.sku == "missing":
                context.abort(grpc.StatusCode.NOT_FOUND, "raw: no such item")
            context.set_trailing_metadata((("x-raw", "yes"),))
            return types.Item(sku=request.sku)

        def ListItems(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: N802
            for number in range(request.count):
                yield types.Item(sku=f"raw-{number}")

        def AddItems(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:  # noqa: N802
            return inventory.Count(items=sum(1 for _ in requests))

        def Exchange(  # noqa: N802
            self, requests: Iterator[Any], context: grpc.ServicerContext
        ) -> Iterator[Any]:
            for item in requests:
                yield types.Item(sku=item.sku.upper())

    return RawInventory()


@pytest.fixture(scope="module")
def raw_target(modules: Any) -> Iterator[str]:
    """A raw grpcio server with the stock servicer, on a port of 127.0.0.1."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    modules.stock.add_InventoryServicer_to_server(_raw_servicer(modules), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def test_a_generated_client_calls_a_raw_grpcio_servicer(modules: Any, raw_target: str) -> None:
    with modules.generated.InventoryClient(raw_target, timeout=10) as client:
        response = client.get_item_with_call(modules.inventory.GetItemRequest(sku="A1"))
        listed = client.list_items(modules.inventory.ListItemsRequest(count=2))
        assert [each.sku for each in listed] == ["raw-0", "raw-1"]
        assert client.add_items([modules.types.Item()] * 4).items == 4
        exchanged = client.exchange([modules.types.Item(sku="x")])
        assert [each.sku for each in exchanged] == ["X"]
        with pytest.raises(greeter.NotFound) as raised:
            client.get_item(modules.inventory.GetItemRequest(sku="missing"))
    assert (response.message.sku, response.trailing_metadata) == ("A1", (("x-raw", "yes"),))
    assert raised.value.details == "raw: no such item"


@pytest.mark.asyncio
async def test_a_generated_async_client_calls_a_raw_grpcio_servicer(
    modules: Any, raw_target: str
) -> None:
    async with modules.generated.AsyncInventoryClient(raw_target, timeout=10) as client:
        item = await client.get_item(modules.inventory.GetItemRequest(sku="A1"))
        listed = client.list_items(modules.inventory.ListItemsRequest(count=1))
        assert [each.sku async for each in listed] == ["raw-0"]
        exchanged = client.exchange([modules.types.Item(sku="y")])
        assert [each.sku async for each in exchanged] == ["Y"]
        with pytest.raises(greeter.Unimplemented):
            await client.ping(empty_pb2.Empty())  # the raw servicer leaves Ping out
    assert item.sku == "A1"


def test_a_generated_service_registers_with_a_raw_grpc_server(modules: Any) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    modules.shop.Inventory().add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with modules.generated.InventoryClient(f"127.0.0.1:{port}", timeout=10) as client:
            assert client.get_item(modules.inventory.GetItemRequest(sku="raw")).sku == "raw"
    finally:
        server.stop(None)


@pytest.mark.asyncio
async def test_a_service_added_to_the_wrong_kind_of_server_is_a_type_error(
    modules: Any,
) -> None:
    threaded = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    with pytest.raises(TypeError) as to_threaded:
        modules.shop.AsyncInventory().add_to_server(threaded)
    asyncio_server = grpc.aio.server()
    with pytest.raises(TypeError) as to_asyncio:
        modules.shop.Inventory().add_to_server(asyncio_server)
    threaded.stop(None)
    await asyncio_server.stop(None)
    assert str(to_threaded.value) == (
        "AsyncInventory is an asyncio service: add it to a grpc.aio.Server, or subclass "
        "InventoryService instead"
    )
    assert str(to_asyncio.value) == (
        "Inventory is a threaded service: add it to a threaded grpc.Server, or subclass "
        "AsyncInventoryService instead"
    )
