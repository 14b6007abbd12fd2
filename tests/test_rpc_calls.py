"""A generated service, served and called: every RPC shape, both clients, both servers.

The service is ``shop.v1.Inventory`` (tests/protos/shop/v1/inventory.proto), generated
by ``greeter.codegen`` and implemented in tests/protos/shop_services.py.in; it is served
beside the Greeter on the threaded server (``Inventory``) and on the asyncio server
(``AsyncInventory``), through ``services=[service]``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import grpc
import pytest

import greeter
import greeter.rpc
from greeter import (
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    GreeterService,
    ServerConfig,
    ServerHook,
    testing,
)
from tests.test_codegen_build import load

SERVERS = ["threaded", "asyncio"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The user code (``shop_services``), with the generated modules it imports."""
    return load(tmp_path_factory, "shop_services")


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The message modules: ``pb.inventory`` and ``pb.types``."""
    inventory = load(tmp_path_factory, "shop.v1.inventory_pb2")
    types = load(tmp_path_factory, "shop.v1.types_pb2")
    return type("Messages", (), {"inventory": inventory, "types": types})


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.inventory_greeter")


def _serving(shop: ModuleType, kind: str, config: ServerConfig | None = None) -> Any:
    if kind == "threaded":
        return testing.serving(
            GreeterService(),
            config=config,
            services=[shop.Inventory()],
        )
    return testing.serving(
        AsyncGreeterService(),
        config=config,
        services=[shop.AsyncInventory()],
    )


@pytest.fixture(scope="module", params=SERVERS)
def target(request: pytest.FixtureRequest, shop: ModuleType) -> Iterator[str]:
    """Where the Inventory is served, on the threaded or the asyncio server."""
    with _serving(shop, request.param) as server:
        yield server.target


@pytest.fixture
def client(generated: ModuleType, target: str) -> Iterator[Any]:
    with generated.InventoryClient(target, timeout=10) as opened:
        yield opened


# ------------------------------------------------------------ the four shapes


def test_unary_returns_the_response_message(client: Any, pb: Any) -> None:
    item = client.get_item(pb.inventory.GetItemRequest(sku="A1"))
    assert isinstance(item, pb.types.Item)
    assert (item.sku, item.name) == ("A1", "Item A1")


def test_server_streaming_yields_each_response(client: Any, pb: Any) -> None:
    with client.list_items(pb.inventory.ListItemsRequest(count=3)) as stream:
        assert [item.sku for item in stream] == ["sku-0", "sku-1", "sku-2"]
        assert stream.done()


def test_client_streaming_reads_every_request(client: Any, pb: Any) -> None:
    items = (pb.types.Item(sku=str(number)) for number in range(5))
    assert client.add_items(items).items == 5


def test_bidirectional_streaming_answers_each_request(client: Any, pb: Any) -> None:
    replies = client.exchange([pb.types.Item(sku="x"), pb.types.Item(sku="y")])
    assert [(item.sku, item.notes[0].text) for item in replies] == [
        ("x", "seen"),
        ("y", "seen"),
    ]


def test_well_known_types_travel_as_messages(client: Any) -> None:
    from google.protobuf import empty_pb2

    assert client.ping(empty_pb2.Empty()) == empty_pb2.Empty()


@pytest.mark.asyncio
async def test_async_client_calls_every_shape(generated: Any, target: str, pb: Any) -> None:
    async with generated.AsyncInventoryClient(target, timeout=10) as client:
        item = await client.get_item(pb.inventory.GetItemRequest(sku="A1"))
        listed = [
            each.sku async for each in client.list_items(pb.inventory.ListItemsRequest(count=2))
        ]

        async def items() -> AsyncIterator[Any]:
            for sku in ("a", "b", "c"):
                yield pb.types.Item(sku=sku)

        counted = await client.add_items(items())
        exchanged = [each.sku async for each in client.exchange([pb.types.Item(sku="z")])]
    assert (item.sku, listed, counted.items, exchanged) == ("A1", ["sku-0", "sku-1"], 3, ["z"])


def test_typed_user_code_calls_every_shape(shop: Any, target: str) -> None:
    calls = shop.call_everything(target)
    served_by = "threaded" if "threaded" in calls else "asyncio"
    assert calls == ["typed", "B2", served_by, "sku-0", "sku-1", "2", "seen"]


@pytest.mark.asyncio
async def test_typed_async_user_code_calls_every_shape(shop: Any, target: str) -> None:
    assert await shop.call_everything_async(target) == ["B2", "sku-0", "sku-1", "1", "A1"]


# ------------------------------------------------------- metadata and context


def test_with_call_returns_the_servers_trailing_metadata(client: Any, pb: Any) -> None:
    response = client.get_item_with_call(pb.inventory.GetItemRequest(sku="A1"))
    assert response.message.sku == "A1"
    assert dict(response.trailing_metadata)["x-served-by"] in ("threaded", "asyncio")


@pytest.mark.asyncio
async def test_async_with_call_returns_the_servers_trailing_metadata(
    generated: Any, target: str, pb: Any
) -> None:
    async with generated.AsyncInventoryClient(target) as client:
        response = await client.add_items_with_call([pb.types.Item()])
    assert response.message.items == 1
    assert isinstance(response.trailing_metadata, tuple)


def test_self_context_reads_the_clients_metadata(client: Any, pb: Any) -> None:
    item = client.get_item(pb.inventory.GetItemRequest(sku="A1"), metadata=[("x-caller", "me")])
    assert item.labels["caller"] == "me"


def test_per_client_default_metadata_is_sent_with_each_call(
    generated: Any, target: str, pb: Any
) -> None:
    with generated.InventoryClient(target, metadata=[("x-caller", "default")]) as client:
        assert client.get_item(pb.inventory.GetItemRequest(sku="A1")).labels["caller"] == (
            "default"
        )


# ----------------------------------------------------------------- errors


def test_a_greeter_error_reaches_the_client_with_its_status(client: Any, pb: Any) -> None:
    with pytest.raises(greeter.NotFound) as raised:
        client.get_item(pb.inventory.GetItemRequest(sku="missing"))
    assert raised.value.details == "no item missing"


@pytest.mark.asyncio
async def test_async_client_raises_the_greeter_error_of_the_status(
    generated: Any, target: str, pb: Any
) -> None:
    async with generated.AsyncInventoryClient(target) as client:
        with pytest.raises(greeter.NotFound):
            await client.get_item(pb.inventory.GetItemRequest(sku="missing"))


def test_any_other_exception_is_internal_with_generic_details(client: Any, pb: Any) -> None:
    with pytest.raises(greeter.Internal) as raised:
        client.get_item(pb.inventory.GetItemRequest(sku="crash"))
    assert raised.value.details == "Internal server error"


def test_an_rpc_not_overridden_answers_unimplemented(client: Any, pb: Any) -> None:
    with pytest.raises(greeter.Unimplemented) as raised:
        client.forgotten(pb.inventory.GetItemRequest())
    assert raised.value.details == ("shop.v1.Inventory/Forgotten is not implemented by this server")


def test_a_malformed_request_answers_invalid_argument(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        get_item: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/shop.v1.Inventory/GetItem"
        )
        with pytest.raises(grpc.RpcError) as raised:
            get_item(b"\xff\xff\xff", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "the request is not a valid shop.v1.GetItemRequest"


def test_the_call_timeout_raises_deadline_exceeded(client: Any, pb: Any) -> None:
    with pytest.raises(greeter.DeadlineExceeded):
        client.get_item(pb.inventory.GetItemRequest(sku="slow"), timeout=0.2)


def test_the_clients_default_timeout_raises_deadline_exceeded(
    generated: Any, target: str, pb: Any
) -> None:
    with generated.InventoryClient(target, timeout=0.2) as client:
        with pytest.raises(greeter.DeadlineExceeded):
            client.get_item(pb.inventory.GetItemRequest(sku="slow"))


@pytest.mark.asyncio
async def test_the_async_clients_default_timeout_raises_deadline_exceeded(
    generated: Any, target: str, pb: Any
) -> None:
    async with generated.AsyncInventoryClient(target, timeout=0.2) as client:
        with pytest.raises(greeter.DeadlineExceeded):
            await client.get_item(pb.inventory.GetItemRequest(sku="slow"))


def test_leaving_a_response_stream_early_cancels_the_call(client: Any, pb: Any) -> None:
    with client.list_items(pb.inventory.ListItemsRequest(count=1000)) as stream:
        assert next(stream).sku == "sku-0"
    assert stream.done()
    with pytest.raises(greeter.Cancelled):
        next(stream)


def test_a_closed_client_refuses_calls(generated: Any, target: str, pb: Any) -> None:
    client = generated.InventoryClient(target)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get_item(pb.inventory.GetItemRequest(sku="A1"))


# ------------------------------------------------------------ the pipeline


class _Recorder(ServerHook):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def before_call(self, call: CallInfo) -> None:
        if call.get_metadata("x-refuse"):
            raise greeter.PermissionDenied("refused by a hook")

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        with self.lock:
            self.calls.append((call.method, outcome.code.name))


@pytest.mark.parametrize("kind", SERVERS)
def test_server_hooks_see_and_can_refuse_every_call_of_the_service(
    shop: ModuleType, generated: Any, pb: Any, kind: str
) -> None:
    hook = _Recorder()
    with _serving(shop, kind, ServerConfig(hooks=[hook])) as server:
        with generated.InventoryClient(server.target, timeout=10) as client:
            client.get_item(pb.inventory.GetItemRequest(sku="A1"))
            assert [item.sku for item in client.list_items(pb.inventory.ListItemsRequest())] == []
            with pytest.raises(greeter.PermissionDenied):
                client.add_items([], metadata=[("x-refuse", "yes")])
    assert hook.calls == [
        ("/shop.v1.Inventory/GetItem", "OK"),
        ("/shop.v1.Inventory/ListItems", "OK"),
        ("/shop.v1.Inventory/AddItems", "PERMISSION_DENIED"),
    ]


def test_self_context_outside_a_call_is_a_runtime_error(shop: Any) -> None:
    with pytest.raises(RuntimeError, match=r"^Inventory\.context is only available"):
        shop.Inventory().context  # noqa: B018
    with pytest.raises(RuntimeError, match=r"^AsyncInventory\.context is only available"):
        shop.AsyncInventory().context  # noqa: B018


@pytest.mark.asyncio
async def test_leaving_an_async_response_stream_early_cancels_the_call(
    generated: Any, target: str, pb: Any
) -> None:
    async with generated.AsyncInventoryClient(target, timeout=10) as client:
        async with client.list_items(pb.inventory.ListItemsRequest(count=1000)) as stream:
            first = await anext(stream)
        assert stream.done()
        with pytest.raises(greeter.Cancelled):
            await anext(stream)
    assert first.sku == "sku-0"


def test_the_add_xservicer_to_server_pair_serves_a_generated_service_too(
    shop: Any, generated: Any, pb: Any
) -> None:
    pair = (greeter.rpc.add_to_server, shop.Inventory())
    with testing.serving(GreeterService(), services=[pair]) as server:
        with generated.InventoryClient(server.target, timeout=10) as client:
            item = client.get_item(pb.inventory.GetItemRequest(sku="pair"))
            assert (item.sku, item.name) == ("pair", "Item pair")


@pytest.mark.parametrize("kind", SERVERS)
def test_a_service_of_the_other_kind_in_services_is_a_type_error(shop: Any, kind: str) -> None:
    threaded = kind == "threaded"
    service, wrong = (
        (GreeterService(), shop.AsyncInventory())
        if threaded
        else (AsyncGreeterService(), shop.Inventory())
    )
    with pytest.raises(TypeError, match="server") as raised:
        with testing.serving(service, services=[wrong]):
            pass
    expected = "the threaded server (GreeterService)" if not threaded else "the asyncio server"
    assert expected in str(raised.value)
