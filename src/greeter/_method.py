"""The method table of a generated service: what each RPC is called, its shape, its types.

A generated module holds one ``ServiceDefinition`` per ``service`` in the proto; its
client and service classes are names and types over it, and ``greeter.rpc`` does the
rest (channels, call options, handlers, errors) once, for every service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

__all__ = ["Method", "ServiceDefinition", "Shape"]

_Request = TypeVar("_Request", bound=Message)
_Response = TypeVar("_Response", bound=Message)


class Shape(enum.Enum):
    """The four shapes of an RPC, named as grpc names them (``channel.unary_stream``)."""

    UNARY_UNARY = "unary_unary"  #: one request, one response
    UNARY_STREAM = "unary_stream"  #: one request, a stream of responses (server streaming)
    STREAM_UNARY = "stream_unary"  #: a stream of requests, one response (client streaming)
    STREAM_STREAM = "stream_stream"  #: streams both ways (bidirectional streaming)

    @property
    def streams_requests(self) -> bool:
        """True if the client sends a stream of requests."""
        return self.value.startswith("stream_")

    @property
    def streams_responses(self) -> bool:
        """True if the server sends a stream of responses."""
        return self.value.endswith("_stream")


@dataclass(frozen=True, eq=False)
class Method(Generic[_Request, _Response]):
    """One RPC: its path on the wire, its Python method name, shape and message types.

    Attributes:
        path: the full method path, ``"/shop.v1.Inventory/GetItem"``.
        attribute: the method's name on the generated classes, ``"get_item"``.
        shape: one of the four ``Shape`` members.
        request_type: the request message class.
        response_type: the response message class.
    """

    path: str
    attribute: str
    shape: Shape
    request_type: type[_Request]
    response_type: type[_Response]

    @property
    def name(self) -> str:
        """The RPC's name in the proto, ``"GetItem"``."""
        return self.path.rpartition("/")[2]

    @property
    def service(self) -> str:
        """The full name of the service, ``"shop.v1.Inventory"``."""
        return self.path[1:].partition("/")[0]

    def signature(self, *, is_async: bool) -> str:
        """The ``def`` line a service method for this RPC has (in error messages)."""
        request = self.request_type.__name__
        response = self.response_type.__name__
        if self.shape.streams_requests:
            request = f"{'AsyncIterator' if is_async else 'Iterator'}[{request}]"
        if self.shape.streams_responses:
            response = f"{'AsyncIterator' if is_async else 'Iterator'}[{response}]"
        keyword = "async def" if is_async else "def"
        return f"{keyword} {self.attribute}(self, request: {request}) -> {response}"


@dataclass(frozen=True)
class ServiceDefinition:
    """A service's full name and its methods, in proto order.

    Attributes:
        name: the service's full name, ``"shop.v1.Inventory"``.
        methods: every RPC of the service.
    """

    name: str
    methods: tuple[Method[Any, Any], ...]

    def __post_init__(self) -> None:
        for method in self.methods:
            if method.service != self.name:
                raise ValueError(f"{method.path} is not a method of {self.name}")
