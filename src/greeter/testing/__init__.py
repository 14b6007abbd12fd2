"""Test helpers: serve a Greeter service in-process for the length of a test.

``serving(service)`` starts your ``GreeterService`` or ``AsyncGreeterService`` (a
subclass, or the stock one) on a free port of 127.0.0.1, hands back the running server
and stops it when the ``with`` block ends. Connect any client to ``server.target``::

    from greeter import GreeterClient, GreeterService
    from greeter.testing import serving


    class Polite(GreeterService):
        def say_hello(self, name: str) -> str:
            return f"Good day, {name}."


    def test_polite() -> None:
        with serving(Polite()) as server, GreeterClient(server.target) as client:
            assert client.greet("Ada") == "Good day, Ada."

An ``AsyncGreeterService`` is served on an event loop of its own, in a background
thread, so the server never shares a loop with the test: a blocking ``GreeterClient``
can call it, and so can an ``AsyncGreeterClient`` on the test's own loop (under
pytest-asyncio, or in ``asyncio.run``).

With pytest there is nothing to import: installing grpc-greeter registers the
``greeter`` pytest plugin, whose fixtures (``greeter_service``, ``greeter_server``,
``greeter_client``, ``async_greeter_client``) are built on ``serving``.
"""

from greeter._lazy import lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from greeter.testing._serving import serving as serving

#: The public names, by the module that defines them: loaded when first used, so the
#: pytest plugin (``greeter.testing._plugin``) costs no grpc import until a fixture runs.
_PUBLIC = {"greeter.testing._serving": ("serving",)}

__all__, __getattr__, __dir__ = lazy_names(__name__, _PUBLIC, globals())
