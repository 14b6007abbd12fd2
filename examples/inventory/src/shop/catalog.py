"""The shop's catalog, kept in memory: the rules both catalog services share.

Each method takes the RPC's request message and returns its response message, so the
threaded and asyncio services are one line per RPC.
"""

from __future__ import annotations

import threading

from google.protobuf.empty_pb2 import Empty

from greeter import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from shop.v1.catalog_pb2 import (
    Categories,
    Category,
    CreateProductRequest,
    DiscountRequest,
    ListProductsRequest,
    MoveToCategoryRequest,
    Price,
    Product,
    ProductCount,
    ProductRef,
    Products,
    RenameProductRequest,
    SearchProductsRequest,
    SetPriceRequest,
    TagRequest,
    Tags,
)


class Catalog:
    """Products by SKU and categories by name. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._categories = {"tools": Category(name="tools", title="Tools")}
        self._products = {
            "w-1": Product(sku="w-1", name="widget", price_cents=250, category="tools")
        }

    def get_product(self, request: ProductRef) -> Product:
        """One product; ``NotFound`` for an unknown SKU (as every RPC naming a SKU)."""
        with self._lock:
            return _copy(self._product(request.sku))

    def list_products(self, request: ListProductsRequest) -> Products:
        """The products of ``request.category``, or every product."""
        with self._lock:
            return Products(
                products=[
                    product
                    for product in self._products.values()
                    if request.category in ("", product.category)
                ]
            )

    def search_products(self, request: SearchProductsRequest) -> Products:
        """The products whose names contain the query, ignoring case."""
        query = request.query.casefold()
        with self._lock:
            found = [p for p in self._products.values() if query in p.name.casefold()]
            return Products(products=found)

    def count_products(self, request: Empty) -> ProductCount:
        """How many products there are, archived ones included."""
        with self._lock:
            return ProductCount(count=len(self._products))

    def create_product(self, request: CreateProductRequest) -> Product:
        """Add a product: ``AlreadyExists`` for a known SKU, and its category must exist."""
        product = request.product
        if not product.sku:
            raise InvalidArgument("a product needs a SKU")
        with self._lock:
            if product.sku in self._products:
                raise AlreadyExists(f"product {product.sku!r} exists already")
            self._check_category(product.category)
            self._products[product.sku] = _copy(product)
            return _copy(product)

    def update_product(self, request: Product) -> Product:
        """Replace a product's name, price, category and tags."""
        with self._lock:
            product = self._product(request.sku)
            self._check_category(request.category)
            product.name, product.category = request.name, request.category
            product.price_cents = request.price_cents
            product.tags[:] = request.tags
            return _copy(product)

    def delete_product(self, request: ProductRef) -> Empty:
        """Remove a product for good."""
        with self._lock:
            self._product(request.sku)
            del self._products[request.sku]
        return Empty()

    def rename_product(self, request: RenameProductRequest) -> Product:
        """Give a product a new (non-empty) name."""
        if not request.name:
            raise InvalidArgument("a product's name cannot be empty")
        with self._lock:
            product = self._product(request.sku)
            product.name = request.name
            return _copy(product)

    def archive_product(self, request: ProductRef) -> Product:
        """Stop selling a product, keeping it in the catalog."""
        return self._set_archived(request.sku, archived=True)

    def restore_product(self, request: ProductRef) -> Product:
        """Sell an archived product again."""
        return self._set_archived(request.sku, archived=False)

    def get_price(self, request: ProductRef) -> Price:
        """A product's list price and sale price."""
        with self._lock:
            return _price(self._product(request.sku))

    def set_price(self, request: SetPriceRequest) -> Price:
        """Change a product's list price (never negative)."""
        if request.price_cents < 0:
            raise InvalidArgument(f"a price cannot be negative: {request.price_cents}")
        with self._lock:
            product = self._product(request.sku)
            product.price_cents = request.price_cents
            return _price(product)

    def apply_discount(self, request: DiscountRequest) -> Price:
        """Take 1 to 100 percent off a product's list price."""
        if not 1 <= request.percent <= 100:
            raise InvalidArgument(f"a discount is 1 to 100 percent, not {request.percent}")
        with self._lock:
            product = self._product(request.sku)
            product.discount_percent = request.percent
            return _price(product)

    def remove_discount(self, request: ProductRef) -> Price:
        """Sell a product at its list price again."""
        with self._lock:
            product = self._product(request.sku)
            product.discount_percent = 0
            return _price(product)

    def add_tag(self, request: TagRequest) -> Tags:
        """Tag a product (once); its tags."""
        with self._lock:
            product = self._product(request.sku)
            if request.tag not in product.tags:
                product.tags.append(request.tag)
            return Tags(tags=product.tags)

    def remove_tag(self, request: TagRequest) -> Tags:
        """Remove a tag from a product, if it has it; its tags."""
        with self._lock:
            product = self._product(request.sku)
            if request.tag in product.tags:
                product.tags.remove(request.tag)
            return Tags(tags=product.tags)

    def list_tags(self, request: ProductRef) -> Tags:
        """A product's tags, in the order they were added."""
        with self._lock:
            return Tags(tags=self._product(request.sku).tags)

    def create_category(self, request: Category) -> Category:
        """Add a category: ``AlreadyExists`` for a known name."""
        if not request.name:
            raise InvalidArgument("a category needs a name")
        with self._lock:
            if request.name in self._categories:
                raise AlreadyExists(f"category {request.name!r} exists already")
            self._categories[request.name] = Category(name=request.name, title=request.title)
            return Category(name=request.name, title=request.title)

    def list_categories(self, request: Empty) -> Categories:
        """Every category, in the order they were created."""
        with self._lock:
            return Categories(categories=self._categories.values())

    def move_to_category(self, request: MoveToCategoryRequest) -> Product:
        """Move a product to a category; ``FailedPrecondition`` if there is none."""
        with self._lock:
            product = self._product(request.sku)
            self._check_category(request.category)
            product.category = request.category
            return _copy(product)

    def _product(self, sku: str) -> Product:
        product = self._products.get(sku)
        if product is None:
            raise NotFound(f"no product {sku!r}")
        return product

    def _check_category(self, name: str) -> None:
        if name and name not in self._categories:
            raise FailedPrecondition(f"no category {name!r}: create it first")

    def _set_archived(self, sku: str, *, archived: bool) -> Product:
        with self._lock:
            product = self._product(sku)
            product.archived = archived
            return _copy(product)


def _price(product: Product) -> Price:
    sale_cents = product.price_cents * (100 - product.discount_percent) // 100
    return Price(sku=product.sku, list_cents=product.price_cents, sale_cents=sale_cents)


def _copy(product: Product) -> Product:
    # Replies are serialized after the lock is released: never hand out the stored one.
    copy = Product()
    copy.CopyFrom(product)
    return copy
