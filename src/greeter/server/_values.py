"""What a service's RPC methods take and give: the messages, or the Greeter's plain values.

A generated service's method takes the request message and gives the response; a
``GreeterService`` method takes a name and gives a string. ``Conversion`` is how the
handlers (``server._handlers``) get from one to the other; ``MethodForms`` is how the
override checks (``server._overrides``) describe such a method in their errors. Both
are read by the service classes (``server._runtime``), so this module stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from greeter._method import Method

__all__ = ["Conversion", "MethodForms"]


class Conversion(NamedTuple):
    """What a service's method takes and gives, against the messages on the wire.

    ``argument`` turns one received request (or ``server._handlers.MALFORMED``: it
    raises ``malformed_request(method)`` then) into what the method takes; ``response``
    turns what the method produced into the response message, or raises ``TypeError``
    saying what it should have produced. A generated service takes and gives the
    messages (``messages_as_they_are``); the Greeter takes names and gives strings.
    """

    argument: Callable[[Any], Any]
    response: Callable[[Any], Message]


class MethodForms:
    """How a base class's RPC methods are written, in the words its errors use.

    A generated service's method takes the request message and sends responses; the
    Greeter's (``server._messages``) takes a name and sends replies.
    """

    #: What one RPC sends: a "response" (or a "reply"), and many of them.
    sends = "response"
    sends_many = "responses"
    #: A method named with this prefix is taken for a misspelt RPC, however unlike.
    rpc_prefix: str | None = None

    def parameter(self, method: Method[Any, Any]) -> str:
        """The name of an RPC method's one parameter."""
        return "request"

    def signature(self, method: Method[Any, Any], *, is_async: bool) -> str:
        """The ``def`` line an override should have."""
        return method.signature(is_async=is_async)
