"""The ``greeter`` pytest plugin: fixtures that serve your Greeter service to a test.

Installing grpc-greeter registers it (entry point ``greeter`` in the ``pytest11`` group),
so the fixtures are there in every test with nothing to import. Override
``greeter_service`` to serve your own service; the others are built on it::

    import pytest

    from greeter import GreeterClient, GreeterService


    class Polite(GreeterService):
        def say_hello(self, name: str) -> str:
            return f"Good day, {name}."


    @pytest.fixture
    def greeter_service() -> Polite:
        return Polite()


    def test_polite(greeter_client: GreeterClient) -> None:
        assert greeter_client.greet("Ada") == "Good day, Ada."

=========================  ================================================================
fixture                    what it gives
=========================  ================================================================
``greeter_service``        the service to serve: ``GreeterService()`` unless overridden
``greeter_server``         that service running (``greeter.testing.serving``): read
                           ``.target``
``greeter_client``         a ``GreeterClient`` of ``greeter_server``
``async_greeter_client``   an ``AsyncGreeterClient`` of ``greeter_server``, on the test's
                           event loop (needs pytest-asyncio)
=========================  ================================================================

Each is set up for one test and torn down after it: clients closed, server stopped.

This module is private because nobody imports it: pytest finds it by its entry point.
``-p no:greeter`` turns it off; with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, ``-p greeter``
turns it on. pytest imports it in every session where grpc-greeter is installed, so it
imports neither grpc nor greeter's client or server code: a fixture imports them when a
test first uses it. It imports ``pytest_asyncio`` only if that is installed.
``import greeter`` never imports this module, nor pytest.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from greeter import (
        AsyncGreeterClient,
        AsyncGreeterServer,
        AsyncGreeterService,
        GreeterClient,
        GreeterServer,
        GreeterService,
    )

__all__ = ["async_greeter_client", "greeter_client", "greeter_server", "greeter_service"]


@pytest.fixture
def greeter_service() -> GreeterService | AsyncGreeterService:
    """The service ``greeter_server`` serves: override it to return your own.

    A ``GreeterService`` or ``AsyncGreeterService`` instance, of your subclass or the
    stock one (the default, ``GreeterService()``).
    """
    from greeter import GreeterService

    return GreeterService()


@pytest.fixture
def greeter_server(
    greeter_service: GreeterService | AsyncGreeterService,
) -> Iterator[GreeterServer | AsyncGreeterServer]:
    """``greeter_service`` running in this process on a free port of 127.0.0.1.

    Connect to ``greeter_server.target``. An ``AsyncGreeterService`` runs on an event
    loop in a background thread, so sync and async clients alike can call it. Stopped
    after the test (see ``greeter.testing.serving``).
    """
    from greeter.testing import serving

    with serving(greeter_service) as server:
        yield server


@pytest.fixture
def greeter_client(greeter_server: GreeterServer | AsyncGreeterServer) -> Iterator[GreeterClient]:
    """A blocking ``GreeterClient`` of ``greeter_server``, closed after the test."""
    from greeter import GreeterClient

    with GreeterClient(greeter_server.target) as client:
        yield client


async def _async_client(
    greeter_server: GreeterServer | AsyncGreeterServer,
) -> AsyncIterator[AsyncGreeterClient]:
    """An ``AsyncGreeterClient`` of ``greeter_server``, closed after the test.

    Its channel belongs to the event loop pytest-asyncio runs async fixtures on: the
    test's own, unless ``asyncio_default_fixture_loop_scope`` and
    ``asyncio_default_test_loop_scope`` differ. Needs pytest-asyncio and a test marked
    ``@pytest.mark.asyncio`` (or ``asyncio_mode = "auto"``).
    """
    from greeter import AsyncGreeterClient

    async with AsyncGreeterClient(greeter_server.target) as client:
        yield client


def _needs_pytest_asyncio() -> NoReturn:
    """An ``AsyncGreeterClient`` of ``greeter_server``: needs pytest-asyncio (not installed)."""
    pytest.fail(
        "the async_greeter_client fixture needs pytest-asyncio, which is not installed: "
        "pip install pytest-asyncio, and mark the test @pytest.mark.asyncio. Without it, "
        "open AsyncGreeterClient(greeter_server.target) inside asyncio.run(...) yourself.",
        pytrace=False,
    )


# An async fixture runs only through pytest-asyncio's own decorator (in its default,
# strict mode); without it, the fixture fails with a message saying what to install.
async_greeter_client: object
if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    async_greeter_client = pytest_asyncio.fixture(_async_client, name="async_greeter_client")
else:
    async_greeter_client = pytest.fixture(_needs_pytest_asyncio, name="async_greeter_client")
