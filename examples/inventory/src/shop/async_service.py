"""The shop served on the asyncio server: ``AsyncGreeterService().start(..., services=[...])``.

The twins of ``shop.service``, with ``async def`` methods over the same rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf.empty_pb2 import Empty

from shop.catalog import Catalog
from shop.stock import Stock
from shop.v1 import catalog_pb2
from shop.v1.catalog_greeter import AsyncCatalogService
from shop.v1.inventory_greeter import AsyncInventoryService
from shop.v1.inventory_pb2 import GetItemRequest, Restock, RestockSummary
from shop.v1.types_pb2 import Item


class AsyncShopInventory(AsyncInventoryService):
    """``shop.v1.Inventory`` on the event loop: all four RPC shapes over one ``Stock``."""

    def __init__(self, stock: Stock | None = None) -> None:
        self.stock = stock or Stock()

    async def get_item(self, request: GetItemRequest) -> Item:
        return self.stock.get(request.sku)

    async def list_items(self, request: Empty) -> AsyncIterator[Item]:
        for item in self.stock.items():
            yield item

    async def restock_items(self, requests: AsyncIterator[Restock]) -> RestockSummary:
        summary = RestockSummary()
        async for restock in requests:
            self.stock.restock(restock)
            summary.items += 1
            summary.units += restock.added
        return summary

    async def watch(self, requests: AsyncIterator[Restock]) -> AsyncIterator[Item]:
        async for restock in requests:
            yield self.stock.restock(restock)


class AsyncShopCatalog(AsyncCatalogService):
    """``shop.v1.Catalog`` on the event loop: twenty unary RPCs over one ``Catalog``."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()

    async def get_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.get_product(request)

    async def list_products(self, request: catalog_pb2.ListProductsRequest) -> catalog_pb2.Products:
        return self.catalog.list_products(request)

    async def search_products(
        self, request: catalog_pb2.SearchProductsRequest
    ) -> catalog_pb2.Products:
        return self.catalog.search_products(request)

    async def count_products(self, request: Empty) -> catalog_pb2.ProductCount:
        return self.catalog.count_products(request)

    async def create_product(
        self, request: catalog_pb2.CreateProductRequest
    ) -> catalog_pb2.Product:
        return self.catalog.create_product(request)

    async def update_product(self, request: catalog_pb2.Product) -> catalog_pb2.Product:
        return self.catalog.update_product(request)

    async def delete_product(self, request: catalog_pb2.ProductRef) -> Empty:
        return self.catalog.delete_product(request)

    async def rename_product(
        self, request: catalog_pb2.RenameProductRequest
    ) -> catalog_pb2.Product:
        return self.catalog.rename_product(request)

    async def archive_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.archive_product(request)

    async def restore_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.restore_product(request)

    async def get_price(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Price:
        return self.catalog.get_price(request)

    async def set_price(self, request: catalog_pb2.SetPriceRequest) -> catalog_pb2.Price:
        return self.catalog.set_price(request)

    async def apply_discount(self, request: catalog_pb2.DiscountRequest) -> catalog_pb2.Price:
        return self.catalog.apply_discount(request)

    async def remove_discount(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Price:
        return self.catalog.remove_discount(request)

    async def add_tag(self, request: catalog_pb2.TagRequest) -> catalog_pb2.Tags:
        return self.catalog.add_tag(request)

    async def remove_tag(self, request: catalog_pb2.TagRequest) -> catalog_pb2.Tags:
        return self.catalog.remove_tag(request)

    async def list_tags(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Tags:
        return self.catalog.list_tags(request)

    async def create_category(self, request: catalog_pb2.Category) -> catalog_pb2.Category:
        return self.catalog.create_category(request)

    async def list_categories(self, request: Empty) -> catalog_pb2.Categories:
        return self.catalog.list_categories(request)

    async def move_to_category(
        self, request: catalog_pb2.MoveToCategoryRequest
    ) -> catalog_pb2.Product:
        return self.catalog.move_to_category(request)
