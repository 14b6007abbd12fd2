"""A generated service's subclass is checked at its ``class`` statement, as the Greeter's.

A misspelt override would never be called (the RPC would answer UNIMPLEMENTED), and one
of the wrong shape would fail at the first call as INTERNAL; both are a ``TypeError``
when the class is defined, saying what to write. (The classes subclass a generated one
loaded at run time, so mypy sees ``Any`` there: hence the ``type: ignore[misc]``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import pytest

import greeter.rpc
from tests.test_codegen_build import load


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory, "shop.v1.inventory_greeter")


def test_a_misspelt_override_is_a_type_error_with_a_did_you_mean(generated: Any) -> None:
    with pytest.raises(TypeError) as raised:

        class Shop(generated.InventoryService):  # type: ignore[misc]
            def get_itme(self, request: object) -> object:
                return request

    assert str(raised.value) == (
        "Shop.get_itme is not an RPC of shop.v1.Inventory, so it would never be called: "
        "did you mean get_item? The RPC methods are get_item, list_items, add_items, "
        "exchange, ping, forgotten. If it is a helper of your own, give it a name that "
        "does not look like an RPC, e.g. _get_itme."
    )


def test_the_proto_name_as_a_method_is_a_type_error_naming_the_snake_case_one(
    generated: Any,
) -> None:
    with pytest.raises(TypeError, match="did you mean list_items"):

        class Shop(generated.AsyncInventoryService):  # type: ignore[misc]
            async def ListItems(self, request: object) -> AsyncIterator[object]:  # noqa: N802
                yield request


def test_async_def_on_the_threaded_service_is_a_type_error(generated: Any) -> None:
    with pytest.raises(TypeError) as raised:

        class Shop(generated.InventoryService):  # type: ignore[misc]
            async def get_item(self, request: object) -> object:
                return request

    assert str(raised.value) == (
        "Shop.get_item is `async def`, but InventoryService calls its methods on worker "
        "threads and never awaits them. Write `def get_item(self, request: GetItemRequest) "
        "-> Item`, or subclass AsyncInventoryService to write async methods."
    )


def test_a_plain_def_on_the_asyncio_service_is_a_type_error(generated: Any) -> None:
    with pytest.raises(TypeError, match="needs `async def` methods"):

        class Shop(generated.AsyncInventoryService):  # type: ignore[misc]
            def ping(self, request: object) -> object:
                return request


def test_yield_in_an_rpc_with_one_response_is_a_type_error(generated: Any) -> None:
    with pytest.raises(TypeError, match="AddItems sends one response, to `return`"):

        class Shop(generated.InventoryService):  # type: ignore[misc]
            def add_items(self, requests: Iterator[object]) -> Iterator[object]:
                yield from requests


def test_return_in_a_streaming_rpc_of_the_asyncio_service_is_a_type_error(
    generated: Any,
) -> None:
    with pytest.raises(TypeError) as raised:

        class Shop(generated.AsyncInventoryService):  # type: ignore[misc]
            async def exchange(self, requests: AsyncIterator[object]) -> object:
                return requests

    assert "Exchange streams responses, to `yield` one by one" in str(raised.value)
    assert "async def exchange(self, request: AsyncIterator[Item]) -> AsyncIterator[Item]" in (
        str(raised.value)
    )


def test_an_override_that_cannot_take_one_request_is_a_type_error(generated: Any) -> None:
    with pytest.raises(TypeError, match=r"Shop.ping\(self\) cannot be called with one request"):

        class Shop(generated.InventoryService):  # type: ignore[misc]
            def ping(self) -> object:
                return None


def test_helpers_and_attributes_of_a_users_own_are_left_alone(generated: Any) -> None:
    class Shop(generated.InventoryService):  # type: ignore[misc]
        greeting = "hello"

        def format_sku(self, sku: str) -> str:
            return sku.upper()

        def _cache(self) -> None:
            return None

    assert Shop().format_sku("a1") == "A1"


def test_overrides_inherited_from_a_mixin_are_checked_too(generated: Any) -> None:
    class Mixin:
        async def get_item(self, request: object) -> object:
            return request

    with pytest.raises(TypeError, match=r"Mixin.get_item is `async def`"):

        class Shop(Mixin, generated.InventoryService):  # type: ignore[misc]
            pass


def test_a_subclass_of_a_subclass_is_checked_against_the_generated_class(
    generated: Any,
) -> None:
    class Shop(generated.InventoryService):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="did you mean exchange"):

        class Store(Shop):
            def exchang(self, requests: object) -> object:
                return requests


def test_the_bare_runtime_classes_are_not_a_service_or_client() -> None:
    with pytest.raises(TypeError, match="subclass a generated service class"):
        greeter.rpc.Service().method_handlers()
    with pytest.raises(TypeError, match="use a generated client class"):
        greeter.rpc.Client("127.0.0.1:1")
