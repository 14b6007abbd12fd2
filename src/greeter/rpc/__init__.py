"""The runtime of generated services: typed clients and services for any ``.proto``.

``greeter generate`` (or the ``protoc-gen-greeter`` plugin) writes, beside each
``x_pb2.py``, an ``x_greeter.py`` whose classes are names and types over this module:
``XClient(Client)``, ``AsyncXClient(AsyncClient)``, ``XService(Service)`` and
``AsyncXService(AsyncService)``, each with one method per RPC, in snake_case. Channels,
call options (``CallOptions``), error mapping, handlers and ``self.context`` live here, once::

    from shop.v1.inventory_greeter import InventoryClient, InventoryService

    class MyInventory(InventoryService):
        def get_item(self, request: GetItemRequest) -> Item:
            return Item(sku=request.sku)

    GreeterService().start("[::]:50051", services=[(greeter.rpc.add_to_server, MyInventory())])

    with InventoryClient("localhost:50051") as client:
        item = client.get_item(GetItemRequest(sku="A1"), timeout=2)

Names: an RPC's method is its name in snake_case (``GetItem`` -> ``get_item``). A Python
keyword (``Import`` -> ``import_``), a name the base classes use (``close``,
``context``, ...) or one an earlier RPC of the service took (``GetItem`` and
``get_item``) gets a trailing ``_``, in proto order. Each RPC with one response also
has ``<name>_with_call``, returning a ``Response`` with the server's metadata.
"""

from greeter._metadata import Metadata, MetadataTuple
from greeter._method import Method, ServiceDefinition, Shape
from greeter._options import Compression
from greeter.client._base import CallOptions
from greeter.client._generic import AsyncClient, Client
from greeter.client._streams import AsyncResponseStream, Response, ResponseStream
from greeter.errors import Unimplemented
from greeter.server._runtime import AsyncService, Service, ServiceRegistry, add_to_server

__all__ = [
    "AsyncClient",
    "AsyncResponseStream",
    "AsyncService",
    "CallOptions",
    "Client",
    "Compression",
    "Metadata",
    "MetadataTuple",
    "Method",
    "Response",
    "ResponseStream",
    "Service",
    "ServiceDefinition",
    "ServiceRegistry",
    "Shape",
    "Unimplemented",
    "add_to_server",
]
