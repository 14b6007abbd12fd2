"""Call the shop from asyncio: ``python -m shop.async_client [HOST:PORT]``.

The twin of ``shop.client`` with the generated asyncio clients: the same calls, the same
lines printed.
"""

from __future__ import annotations

import asyncio
import sys

from google.protobuf.empty_pb2 import Empty

from greeter import NotFound
from shop.client import DEFAULT_TARGET, TIMEOUT_SECONDS, show, show_price, updated_when
from shop.v1.catalog_greeter import AsyncCatalogClient
from shop.v1.catalog_pb2 import (
    Category,
    CreateProductRequest,
    DiscountRequest,
    ListProductsRequest,
    MoveToCategoryRequest,
    Product,
    ProductRef,
    RenameProductRequest,
    SearchProductsRequest,
    SetPriceRequest,
    TagRequest,
)
from shop.v1.inventory_greeter import AsyncInventoryClient
from shop.v1.inventory_pb2 import GetItemRequest, Restock


async def call_inventory(client: AsyncInventoryClient) -> None:
    """One call of each RPC shape: unary, server, client and bidirectional streaming."""
    item = await client.get_item(GetItemRequest(sku="w-1"))
    print(f"GetItem: {item.sku} {item.name} x{item.quantity}")
    try:
        await client.get_item(GetItemRequest(sku="nope"))
    except NotFound as error:
        print(f"GetItem: NotFound: {error.details}")
    skus = [item.sku async for item in client.list_items(Empty())]
    print("ListItems:", ", ".join(skus))
    restocks = [Restock(sku="w-1", added=2), Restock(sku="g-7", added=5)]
    summary = await client.restock_items(restocks)
    print(f"RestockItems: {summary.items} restocks, {summary.units} units")
    async for item in client.watch([Restock(sku="w-1", added=1), Restock(sku="g-7", added=1)]):
        print(f"Watch: {item.sku} x{item.quantity}, {updated_when(item)}")


async def call_catalog(client: AsyncCatalogClient) -> None:
    """Each of the twenty RPCs once, in the order ``shop.client`` calls them."""
    show("GetProduct", await client.get_product(ProductRef(sku="w-1")))
    print(f"CountProducts: {(await client.count_products(Empty())).count}")
    gadget = Product(sku="g-7", name="gadget")
    show("CreateProduct", await client.create_product(CreateProductRequest(product=gadget)))
    category = await client.create_category(Category(name="toys", title="Toys"))
    print(f"CreateCategory: {category.name} ({category.title})")
    categories = (await client.list_categories(Empty())).categories
    print(f"ListCategories: {', '.join(category.name for category in categories)}")
    moved = await client.move_to_category(MoveToCategoryRequest(sku="g-7", category="toys"))
    show("MoveToCategory", moved)
    gizmo = Product(sku="g-7", name="gizmo", price_cents=1500, category="toys")
    show("UpdateProduct", await client.update_product(gizmo))
    renamed = await client.rename_product(RenameProductRequest(sku="g-7", name="gadget"))
    show("RenameProduct", renamed)
    toys = (await client.list_products(ListProductsRequest(category="toys"))).products
    print(f"ListProducts: {', '.join(product.sku for product in toys)}")
    found = (await client.search_products(SearchProductsRequest(query="WIDG"))).products
    print(f"SearchProducts: {', '.join(product.sku for product in found)}")
    show_price("SetPrice", await client.set_price(SetPriceRequest(sku="w-1", price_cents=300)))
    discount = DiscountRequest(sku="w-1", percent=25)
    show_price("ApplyDiscount", await client.apply_discount(discount))
    show_price("GetPrice", await client.get_price(ProductRef(sku="w-1")))
    show_price("RemoveDiscount", await client.remove_discount(ProductRef(sku="w-1")))
    await client.add_tag(TagRequest(sku="w-1", tag="metal"))
    tags = (await client.add_tag(TagRequest(sku="w-1", tag="sale"))).tags
    print(f"AddTag: {', '.join(tags)}")
    tags = (await client.remove_tag(TagRequest(sku="w-1", tag="sale"))).tags
    print(f"RemoveTag: {', '.join(tags)}")
    print(f"ListTags: {', '.join((await client.list_tags(ProductRef(sku='w-1'))).tags)}")
    show("ArchiveProduct", await client.archive_product(ProductRef(sku="g-7")))
    show("RestoreProduct", await client.restore_product(ProductRef(sku="g-7")))
    await client.delete_product(ProductRef(sku="g-7"))
    print(f"DeleteProduct: {(await client.count_products(Empty())).count} left")


async def call_shop(target: str) -> None:
    """Call every RPC of both services at ``target``."""
    async with (
        AsyncInventoryClient(target, timeout=TIMEOUT_SECONDS) as inventory,
        AsyncCatalogClient(target, timeout=TIMEOUT_SECONDS) as catalog,
    ):
        await call_inventory(inventory)
        await call_catalog(catalog)


def main(argv: list[str] | None = None) -> None:
    """Call the server at the target given on the command line."""
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(call_shop(args[0] if args else DEFAULT_TARGET))


if __name__ == "__main__":
    main()
