"""Between ``helloworld`` messages and the plain values a service takes and returns.

Requests are parsed leniently (a request that does not parse is the client's mistake,
INVALID_ARGUMENT, not a server error), names are taken out of requests, and what a
service method produced becomes a ``HelloReply`` (or a ``TypeError`` saying what it
should have produced).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from greeter._proto import helloworld_pb2
from greeter.errors import InvalidArgument

__all__ = [
    "MALFORMED",
    "MALFORMED_REQUEST_DETAILS",
    "HelloReply",
    "HelloRequest",
    "Malformed",
    "lenient_parsing",
    "name_of",
    "names_async",
    "names_of",
    "parse_request",
    "reply_of",
]

logger = logging.getLogger("greeter.server")

HelloRequest = helloworld_pb2.HelloRequest
HelloReply = helloworld_pb2.HelloReply


#: What the client sees when its request does not parse as a ``helloworld.HelloRequest``.
MALFORMED_REQUEST_DETAILS = "the request is not a valid helloworld.HelloRequest"


class Malformed:
    """Stands for a request that did not parse (grpc takes ``None`` as a failure)."""


MALFORMED = Malformed()


def parse_request(data: bytes) -> HelloRequest | Malformed:
    """A request's message, or ``MALFORMED`` if it does not parse (bad bytes, bad UTF-8).

    grpc would log a traceback for every such request, and the asyncio server would tell
    the client the exception's text; with ``MALFORMED``, the servicer answers
    INVALID_ARGUMENT instead: the client's mistake, not the server's.
    """
    try:
        return HelloRequest.FromString(data)
    except DecodeError:
        logger.debug("a request did not parse as helloworld.HelloRequest", exc_info=True)
        return MALFORMED


def lenient_parsing(
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]],
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """The generated Greeter handlers, parsing requests with ``parse_request``."""
    return {
        name: handler._replace(request_deserializer=parse_request)  # type: ignore[attr-defined]
        for name, handler in handlers.items()
    }


def name_of(request: HelloRequest | Malformed) -> str:
    """The name a request carries; INVALID_ARGUMENT for one that did not parse."""
    if isinstance(request, Malformed):
        raise InvalidArgument(MALFORMED_REQUEST_DETAILS)
    return request.name


def names_of(requests: Iterator[HelloRequest | Malformed]) -> Iterator[str]:
    """The names a request stream carries, one by one as they arrive."""
    for request in requests:
        yield name_of(request)


async def names_async(requests: AsyncIterator[HelloRequest | Malformed]) -> AsyncIterator[str]:
    """As ``names_of``, for the asyncio server's request streams."""
    async for request in requests:
        yield name_of(request)


def reply_of(rpc: str, message: object) -> HelloReply:
    """The reply carrying what ``rpc``'s service method produced, which must be a str."""
    if not isinstance(message, str):
        raise TypeError(f"{rpc} must produce str, not {type(message).__name__}")
    return HelloReply(message=message)
