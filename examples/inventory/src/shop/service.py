"""The shop served on the threaded server: ``GreeterService().start(..., services=[...])``.

Each class subclasses the one ``greeter.build`` generated from ``protos/shop/v1/`` and
overrides every RPC; the rules live in ``shop.stock`` and ``shop.catalog``, shared with
the asyncio twins in ``shop.async_service``.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.empty_pb2 import Empty

from shop.catalog import Catalog
from shop.stock import Stock
from shop.v1 import catalog_pb2
from shop.v1.catalog_greeter import CatalogService
from shop.v1.inventory_greeter import InventoryService
from shop.v1.inventory_pb2 import GetItemRequest, Restock, RestockSummary
from shop.v1.types_pb2 import Item


class ShopInventory(InventoryService):
    """``shop.v1.Inventory``: all four RPC shapes over one ``Stock``."""

    def __init__(self, stock: Stock | None = None) -> None:
        self.stock = stock or Stock()

    def get_item(self, request: GetItemRequest) -> Item:
        return self.stock.get(request.sku)

    def list_items(self, request: Empty) -> Iterator[Item]:
        yield from self.stock.items()

    def restock_items(self, requests: Iterator[Restock]) -> RestockSummary:
        summary = RestockSummary()
        for restock in requests:
            self.stock.restock(restock)
            summary.items += 1
            summary.units += restock.added
        return summary

    def watch(self, requests: Iterator[Restock]) -> Iterator[Item]:
        for restock in requests:
            yield self.stock.restock(restock)


class ShopCatalog(CatalogService):
    """``shop.v1.Catalog``: twenty unary RPCs over one ``Catalog``."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()

    def get_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.get_product(request)

    def list_products(self, request: catalog_pb2.ListProductsRequest) -> catalog_pb2.Products:
        return self.catalog.list_products(request)

    def search_products(self, request: catalog_pb2.SearchProductsRequest) -> catalog_pb2.Products:
        return self.catalog.search_products(request)

    def count_products(self, request: Empty) -> catalog_pb2.ProductCount:
        return self.catalog.count_products(request)

    def create_product(self, request: catalog_pb2.CreateProductRequest) -> catalog_pb2.Product:
        return self.catalog.create_product(request)

    def update_product(self, request: catalog_pb2.Product) -> catalog_pb2.Product:
        return self.catalog.update_product(request)

    def delete_product(self, request: catalog_pb2.ProductRef) -> Empty:
        return self.catalog.delete_product(request)

    def rename_product(self, request: catalog_pb2.RenameProductRequest) -> catalog_pb2.Product:
        return self.catalog.rename_product(request)

    def archive_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.archive_product(request)

    def restore_product(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Product:
        return self.catalog.restore_product(request)

    def get_price(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Price:
        return self.catalog.get_price(request)

    def set_price(self, request: catalog_pb2.SetPriceRequest) -> catalog_pb2.Price:
        return self.catalog.set_price(request)

    def apply_discount(self, request: catalog_pb2.DiscountRequest) -> catalog_pb2.Price:
        return self.catalog.apply_discount(request)

    def remove_discount(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Price:
        return self.catalog.remove_discount(request)

    def add_tag(self, request: catalog_pb2.TagRequest) -> catalog_pb2.Tags:
        return self.catalog.add_tag(request)

    def remove_tag(self, request: catalog_pb2.TagRequest) -> catalog_pb2.Tags:
        return self.catalog.remove_tag(request)

    def list_tags(self, request: catalog_pb2.ProductRef) -> catalog_pb2.Tags:
        return self.catalog.list_tags(request)

    def create_category(self, request: catalog_pb2.Category) -> catalog_pb2.Category:
        return self.catalog.create_category(request)

    def list_categories(self, request: Empty) -> catalog_pb2.Categories:
        return self.catalog.list_categories(request)

    def move_to_category(self, request: catalog_pb2.MoveToCategoryRequest) -> catalog_pb2.Product:
        return self.catalog.move_to_category(request)
