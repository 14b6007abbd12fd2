"""The shop's inventory, served on the classes generated from protos/shop/v1/."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.empty_pb2 import Empty

from greeter import NotFound
from shop.v1.inventory_greeter import InventoryService
from shop.v1.inventory_pb2 import GetItemRequest, Restock, RestockSummary
from shop.v1.types_pb2 import Item


class ShopInventory(InventoryService):
    """An inventory kept in memory, one instance per server."""

    def __init__(self) -> None:
        self.items = {"w-1": Item(sku="w-1", name="widget", quantity=3)}

    def get_item(self, request: GetItemRequest) -> Item:
        item = self.items.get(request.sku)
        if item is None:
            raise NotFound(f"no item {request.sku!r}")
        return item

    def list_items(self, request: Empty) -> Iterator[Item]:
        yield from self.items.values()

    def restock_items(self, requests: Iterator[Restock]) -> RestockSummary:
        summary = RestockSummary()
        for restock in requests:
            self._add(restock)
            summary.items += 1
            summary.units += restock.added
        return summary

    def watch(self, requests: Iterator[Restock]) -> Iterator[Item]:
        for restock in requests:
            yield self._add(restock)

    def _add(self, restock: Restock) -> Item:
        item = self.items.setdefault(restock.sku, Item(sku=restock.sku, name=restock.sku))
        item.quantity += restock.added
        return item
