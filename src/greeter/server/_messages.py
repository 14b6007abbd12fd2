"""The Greeter's plain values: a name in, a string out, over ``helloworld`` messages.

``GreeterService`` methods take a name (or an iterator of names) and give a string (or
an iterable of them); the generic handlers (``server._handlers``) serve them through
the ``Conversion`` of each RPC here, as they serve a generated service's messages. The
override checks read ``PLAIN_FORMS`` to say what such a method looks like.
"""

from __future__ import annotations

from typing import Any

from greeter._helloworld import GREETER, HelloReply, HelloRequest
from greeter._method import Method
from greeter.server._handlers import MALFORMED, malformed_request
from greeter.server._values import Conversion, MethodForms

__all__ = ["CONVERSIONS", "PLAIN_FORMS", "HelloReply", "HelloRequest"]


def _plain_values(method: Method[HelloRequest, HelloReply]) -> Conversion:
    rpc = method.name

    def name_of(request: Any) -> str:
        if request is MALFORMED:
            raise malformed_request(method)
        name: str = request.name
        return name

    def reply_of(message: object) -> HelloReply:
        if not isinstance(message, str):
            raise TypeError(f"{rpc} must produce str, not {type(message).__name__}")
        return HelloReply(message=message)

    return Conversion(name_of, reply_of)


#: Each Greeter RPC's conversion, by method path.
CONVERSIONS = {method.path: _plain_values(method) for method in GREETER.methods}


class _PlainForms(MethodForms):
    """A Greeter method takes ``name: str`` (or ``names``, a stream) and gives ``str``."""

    sends = "reply"
    sends_many = "replies"
    rpc_prefix = "say_"  # every Greeter RPC starts so: ``say_goodbye`` is taken for one

    def parameter(self, method: Method[Any, Any]) -> str:
        return "names" if method.shape.streams_requests else "name"

    def signature(self, method: Method[Any, Any], *, is_async: bool) -> str:
        iterator = "AsyncIterator[str]" if is_async else "Iterator[str]"
        request = iterator if method.shape.streams_requests else "str"
        reply = iterator if method.shape.streams_responses else "str"
        keyword = "async def" if is_async else "def"
        parameter = self.parameter(method)
        return f"{keyword} {method.attribute}(self, {parameter}: {request}) -> {reply}"


#: How the override checks describe a Greeter method.
PLAIN_FORMS = _PlainForms()
