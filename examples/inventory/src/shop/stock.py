"""The shop's stock, kept in memory: the rules both inventory services share."""

from __future__ import annotations

import threading

from greeter import InvalidArgument, NotFound
from shop.v1.inventory_pb2 import Restock
from shop.v1.types_pb2 import Item


class Stock:
    """Items by SKU. Safe to share between the threads of a threaded server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items = {"w-1": Item(sku="w-1", name="widget", quantity=3)}

    def get(self, sku: str) -> Item:
        """A copy of one item; ``NotFound`` for an unknown SKU."""
        with self._lock:
            item = self._items.get(sku)
            if item is None:
                raise NotFound(f"no item {sku!r}")
            return _copy(item)

    def items(self) -> list[Item]:
        """A copy of every item, in the order they were first stocked."""
        with self._lock:
            return [_copy(item) for item in self._items.values()]

    def restock(self, restock: Restock) -> Item:
        """Add units of an item (a new SKU is a new item); the item as it is now."""
        if restock.added < 1:
            raise InvalidArgument(f"a restock adds at least one unit, not {restock.added}")
        with self._lock:
            item = self._items.setdefault(restock.sku, Item(sku=restock.sku, name=restock.sku))
            item.quantity += restock.added
            item.updated.GetCurrentTime()
            return _copy(item)


def _copy(item: Item) -> Item:
    # Replies are serialized after the lock is released: never hand out the stored one.
    copy = Item()
    copy.CopyFrom(item)
    return copy
