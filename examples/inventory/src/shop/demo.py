"""Serve the inventory on a free port and call each RPC once: ``python -m shop.demo``."""

from __future__ import annotations

from google.protobuf.empty_pb2 import Empty

from greeter import GreeterService, NotFound
from shop.service import ShopInventory
from shop.v1.inventory_greeter import InventoryClient
from shop.v1.inventory_pb2 import GetItemRequest, Restock


def main() -> None:
    """Print what each call answers, one line each."""
    with (
        GreeterService().start("127.0.0.1:0", services=[ShopInventory()]) as server,
        InventoryClient(server.target) as client,
    ):
        print(client.get_item(GetItemRequest(sku="w-1")).name)
        try:
            client.get_item(GetItemRequest(sku="nope"))
        except NotFound as error:
            print(f"NotFound: {error.details}")
        print([item.sku for item in client.list_items(Empty())])
        restocks = [Restock(sku="w-1", added=2), Restock(sku="g-7", added=5)]
        print(client.restock_items(iter(restocks)).units)
        print([item.quantity for item in client.watch(iter([Restock(sku="w-1", added=1)]))])


if __name__ == "__main__":
    main()
