"""The Greeter's method table: ``helloworld.Greeter``'s RPCs, described as every service is.

The Greeter is one service among others: its client and service classes sit on the same
runtime as generated ones, with plain values (a name in, a message out) as a thin layer
on top. This table is what that runtime reads, as it reads a generated module's.
"""

from __future__ import annotations

from greeter._method import Method, ServiceDefinition, Shape
from greeter._proto.helloworld_pb2 import HelloReply, HelloRequest

__all__ = ["GREETER", "HelloReply", "HelloRequest"]

_SERVICE = "helloworld.Greeter"


def _method(name: str, attribute: str, shape: Shape) -> Method[HelloRequest, HelloReply]:
    return Method(f"/{_SERVICE}/{name}", attribute, shape, HelloRequest, HelloReply)


#: ``helloworld.Greeter``, its five RPCs in proto order.
GREETER = ServiceDefinition(
    _SERVICE,
    (
        _method("SayHello", "say_hello", Shape.UNARY_UNARY),
        _method("SayHelloAgain", "say_hello_again", Shape.UNARY_UNARY),
        _method("SayHelloStreamReply", "say_hello_stream_reply", Shape.UNARY_STREAM),
        _method("SayHelloStreamRequest", "say_hello_stream_request", Shape.STREAM_UNARY),
        _method("SayHelloBidiStream", "say_hello_bidi_stream", Shape.STREAM_STREAM),
    ),
)
