"""Call the shop: ``python -m shop.client [HOST:PORT]``, against ``python -m shop.server``.

Calls each of Inventory's four RPC shapes and each of Catalog's twenty RPCs once, with
the clients ``greeter.build`` generated, and prints one line per call.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

from google.protobuf.empty_pb2 import Empty

from greeter import NotFound
from shop.v1.catalog_greeter import CatalogClient
from shop.v1.catalog_pb2 import (
    Category,
    CreateProductRequest,
    DiscountRequest,
    ListProductsRequest,
    MoveToCategoryRequest,
    Price,
    Product,
    ProductRef,
    RenameProductRequest,
    SearchProductsRequest,
    SetPriceRequest,
    TagRequest,
)
from shop.v1.inventory_greeter import InventoryClient
from shop.v1.inventory_pb2 import GetItemRequest, Restock
from shop.v1.types_pb2 import Item

DEFAULT_TARGET = "127.0.0.1:50051"
#: Every call's deadline, set once per client.
TIMEOUT_SECONDS = 10.0


def call_inventory(client: InventoryClient) -> None:
    """One call of each RPC shape: unary, server, client and bidirectional streaming."""
    item = client.get_item(GetItemRequest(sku="w-1"))
    print(f"GetItem: {item.sku} {item.name} x{item.quantity}")
    try:
        client.get_item(GetItemRequest(sku="nope"))
    except NotFound as error:
        print(f"GetItem: NotFound: {error.details}")
    print("ListItems:", ", ".join(item.sku for item in client.list_items(Empty())))
    summary = client.restock_items([Restock(sku="w-1", added=2), Restock(sku="g-7", added=5)])
    print(f"RestockItems: {summary.items} restocks, {summary.units} units")
    for item in client.watch([Restock(sku="w-1", added=1), Restock(sku="g-7", added=1)]):
        print(f"Watch: {item.sku} x{item.quantity}, {updated_when(item)}")


def call_catalog(client: CatalogClient) -> None:
    """Each of the twenty RPCs once, in an order that tells a story."""
    show("GetProduct", client.get_product(ProductRef(sku="w-1")))
    print(f"CountProducts: {client.count_products(Empty()).count}")
    created = client.create_product(CreateProductRequest(product=Product(sku="g-7", name="gadget")))
    show("CreateProduct", created)
    category = client.create_category(Category(name="toys", title="Toys"))
    print(f"CreateCategory: {category.name} ({category.title})")
    names = [category.name for category in client.list_categories(Empty()).categories]
    print(f"ListCategories: {', '.join(names)}")
    show(
        "MoveToCategory", client.move_to_category(MoveToCategoryRequest(sku="g-7", category="toys"))
    )
    show(
        "UpdateProduct",
        client.update_product(Product(sku="g-7", name="gizmo", price_cents=1500, category="toys")),
    )
    show("RenameProduct", client.rename_product(RenameProductRequest(sku="g-7", name="gadget")))
    toys = client.list_products(ListProductsRequest(category="toys")).products
    print(f"ListProducts: {', '.join(product.sku for product in toys)}")
    found = client.search_products(SearchProductsRequest(query="WIDG")).products
    print(f"SearchProducts: {', '.join(product.sku for product in found)}")
    show_price("SetPrice", client.set_price(SetPriceRequest(sku="w-1", price_cents=300)))
    show_price("ApplyDiscount", client.apply_discount(DiscountRequest(sku="w-1", percent=25)))
    show_price("GetPrice", client.get_price(ProductRef(sku="w-1")))
    show_price("RemoveDiscount", client.remove_discount(ProductRef(sku="w-1")))
    client.add_tag(TagRequest(sku="w-1", tag="metal"))
    print(f"AddTag: {', '.join(client.add_tag(TagRequest(sku='w-1', tag='sale')).tags)}")
    print(f"RemoveTag: {', '.join(client.remove_tag(TagRequest(sku='w-1', tag='sale')).tags)}")
    print(f"ListTags: {', '.join(client.list_tags(ProductRef(sku='w-1')).tags)}")
    show("ArchiveProduct", client.archive_product(ProductRef(sku="g-7")))
    show("RestoreProduct", client.restore_product(ProductRef(sku="g-7")))
    client.delete_product(ProductRef(sku="g-7"))
    print(f"DeleteProduct: {client.count_products(Empty()).count} left")


def show(rpc: str, product: Product) -> None:
    """One line for a product: SKU, name, price, category, and whether it is archived."""
    category = product.category or "-"
    archived = " (archived)" if product.archived else ""
    print(f"{rpc}: {product.sku} {product.name}, {product.price_cents}c, {category}{archived}")


def show_price(rpc: str, price: Price) -> None:
    """One line for a price, before and after the discount."""
    print(f"{rpc}: {price.sku} {price.list_cents}c, {price.sale_cents}c on sale")


def updated_when(item: Item) -> str:
    """ "updated just now", or when the item last changed (its Timestamp)."""
    updated = item.updated.ToDatetime(tzinfo=timezone.utc)
    if datetime.now(timezone.utc) - updated < timedelta(minutes=1):
        return "updated just now"
    return f"updated {updated:%Y-%m-%d %H:%M:%S}"


def main(argv: list[str] | None = None) -> None:
    """Call the server at the target given on the command line."""
    args = sys.argv[1:] if argv is None else argv
    target = args[0] if args else DEFAULT_TARGET
    with (
        InventoryClient(target, timeout=TIMEOUT_SECONDS) as inventory,
        CatalogClient(target, timeout=TIMEOUT_SECONDS) as catalog,
    ):
        call_inventory(inventory)
        call_catalog(catalog)


if __name__ == "__main__":
    main()
