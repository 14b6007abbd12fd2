"""greeter.testing and the greeter pytest plugin: what a user's own tests can rely on.

The plugin is tested as a user meets it: ``pytester`` runs a small test file in a fresh
pytest process, where the fixtures come from the installed entry point alone (no
conftest, no ``-p``).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import grpc
import pytest

from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    GreeterClient,
    GreeterService,
    ServerConfig,
    ServerHook,
)
from greeter.testing import serving
from tests.conftest import REPO_ROOT

#: A user's test file runs in a fresh pytest process: ~2 s, far more on a loaded machine.
PYTESTER_TIMEOUT = 120


class Polite(GreeterService):
    def say_hello(self, name: str) -> str:
        return f"Good day, {name}."


class AsyncPolite(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        return f"Good day, {name}."


def polite(kind: str) -> GreeterService | AsyncGreeterService:
    return Polite() if kind == "sync" else AsyncPolite()


async def greet_from_asyncio(target: str) -> str:
    async with AsyncGreeterClient(target, timeout=10) as client:
        return await client.greet("Ada")


def greet_and_stop(kind: str) -> int:
    """Serve, call once with each client, stop; return the port it listened on."""
    with serving(polite(kind)) as server:
        with GreeterClient(server.target, timeout=10) as client:
            assert client.greet("Ada") == "Good day, Ada."
        assert asyncio.run(greet_from_asyncio(server.target)) == "Good day, Ada."
        return server.port


def nothing_listens_on(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def open_descriptors() -> int:
    """How many file descriptors this process holds (0 where /proc is missing)."""
    descriptors = Path("/proc/self/fd")
    return len(os.listdir(descriptors)) if descriptors.is_dir() else 0


def settled(count: Callable[[], int], at_most: int) -> int:
    """``count()`` once it drops to ``at_most`` (or after 5 s, whatever it is then)."""
    deadline = time.monotonic() + 5
    while (current := count()) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return current


# --- greeter.testing.serving ------------------------------------------------------------


def test_serving_answers_sync_and_async_clients(server_kind: str) -> None:
    with serving(polite(server_kind)) as server:
        with GreeterClient(server.target) as client:
            assert client.greet("Ada") == "Good day, Ada."
            assert client.greet_again("Ada") == "Hello again, Ada!"
        assert asyncio.run(greet_from_asyncio(server.target)) == "Good day, Ada."


def test_serving_listens_on_a_free_port_of_127_0_0_1(server_kind: str) -> None:
    with serving(polite(server_kind)) as first, serving(polite(server_kind)) as second:
        assert first.target == f"127.0.0.1:{first.port}"
        assert second.target == f"127.0.0.1:{second.port}"
        assert 0 not in (first.port, second.port)
        assert first.port != second.port


def test_an_async_service_can_be_called_from_the_tests_own_event_loop() -> None:
    # The server runs on a loop of its own: a blocking client on the test's loop does
    # not deadlock it, and an async client there is not on the server's loop.
    async def scenario() -> list[str]:
        with serving(AsyncPolite()) as server:
            with GreeterClient(server.target, timeout=10) as blocking:
                from_blocking = blocking.greet("Ada")
            async with AsyncGreeterClient(server.target, timeout=10) as client:
                return [from_blocking, await client.greet("Bob")]

    assert asyncio.run(scenario()) == ["Good day, Ada.", "Good day, Bob."]


def test_serving_on_a_unix_socket_removes_it_afterwards(server_kind: str) -> None:
    with serving(polite(server_kind), unix=True) as server:
        assert server.target.startswith("unix:")
        socket_path = Path(server.target.removeprefix("unix:"))
        assert socket_path.is_socket()
        with GreeterClient(server.target, timeout=10) as client:
            assert client.greet("Ada") == "Good day, Ada."
        assert asyncio.run(greet_from_asyncio(server.target)) == "Good day, Ada."
    assert not socket_path.parent.exists()


def test_leaving_serving_frees_the_port_threads_and_file_descriptors(server_kind: str) -> None:
    greet_and_stop(server_kind)  # grpc starts its process-wide threads on first use
    threads_before = set(threading.enumerate())
    descriptors_before = open_descriptors()

    port = greet_and_stop(server_kind)

    def new_threads() -> int:
        return len(set(threading.enumerate()) - threads_before)

    assert settled(new_threads, at_most=0) == 0, [t.name for t in threading.enumerate()]
    assert nothing_listens_on(port)
    assert settled(open_descriptors, at_most=descriptors_before) <= descriptors_before


def fail_while_serving(kind: str, ports: list[int]) -> None:
    with serving(polite(kind)) as server:
        ports.append(server.port)
        raise AssertionError("the test failed")


def test_a_failing_test_still_stops_the_server(server_kind: str) -> None:
    ports: list[int] = []
    with pytest.raises(AssertionError, match="the test failed"):
        fail_while_serving(server_kind, ports)
    assert nothing_listens_on(ports[0])


class Recorder(ServerHook):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        self.calls.append(f"{call.rpc} {outcome.code.name}")


def test_serving_applies_the_config_and_serves_extra_services(server_kind: str) -> None:
    recorder = Recorder()
    shout = grpc.method_handlers_generic_handler(
        "demo.Shout",
        {
            "Shout": grpc.unary_unary_rpc_method_handler(
                lambda request, context: request.upper(),
                request_deserializer=bytes,
                response_serializer=bytes,
            )
        },
    )
    config = ServerConfig(hooks=[recorder])
    with serving(polite(server_kind), config=config, services=[shout]) as server:
        with GreeterClient(server.target, timeout=10) as client:
            assert client.greet("Ada") == "Good day, Ada."
        with grpc.insecure_channel(server.target) as channel:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/demo.Shout/Shout"
            )
            assert call(b"hey", timeout=10) == b"HEY"
    assert recorder.calls == ["SayHello OK", "Shout OK"]


def test_serving_refuses_what_is_not_a_service() -> None:
    with pytest.raises(TypeError, match="takes a service: a GreeterService, a generated service"):
        serving(object())  # type: ignore[call-overload]


def test_serving_takes_unix_or_an_address_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        serving(Polite(), unix=True, address="127.0.0.1:0")


# --- the pytest plugin --------------------------------------------------------------------

ASYNC_SERVICE_TESTS = """
import pytest

from greeter import AsyncGreeterClient, AsyncGreeterService, GreeterClient


class Polite(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        return f"Good day, {name}."


@pytest.fixture
def greeter_service() -> Polite:
    return Polite()


def test_a_blocking_client(greeter_client: GreeterClient) -> None:
    assert greeter_client.greet("Ada") == "Good day, Ada."


@pytest.mark.asyncio
async def test_an_async_client(async_greeter_client: AsyncGreeterClient) -> None:
    assert await async_greeter_client.greet("Ada") == "Good day, Ada."
    replies = [reply async for reply in async_greeter_client.greet_stream("Ada")]
    assert replies == ["Hello, Ada! (1 of 3)", "Hello, Ada! (2 of 3)", "Hello, Ada! (3 of 3)"]
"""

DEFAULT_SERVICE_AND_CLEANUP_TESTS = """
import socket

import pytest

seen = {}


def test_the_stock_service_by_default(greeter_server, greeter_client) -> None:
    seen["port"], seen["client"] = greeter_server.port, greeter_client
    assert greeter_client.greet("you") == "Hello, you!"


@pytest.mark.asyncio
async def test_an_async_client_of_the_stock_service(async_greeter_client) -> None:
    seen["async client"] = async_greeter_client
    assert await async_greeter_client.greet("you") == "Hello, you!"


@pytest.mark.asyncio
async def test_clients_are_closed_and_the_server_stopped_after_each_test() -> None:
    with pytest.raises(RuntimeError, match="closed"):
        seen["client"].greet("you")
    with pytest.raises(RuntimeError, match="closed"):
        await seen["async client"].greet("you")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=5)
"""


def run_user_tests(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=PYTESTER_TIMEOUT)


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = entry_points(group="pytest11", name="greeter")
    assert plugin.value == "greeter.testing._plugin"


def test_a_users_async_service_is_tested_with_both_clients(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, ASYNC_SERVICE_TESTS)
    result.assert_outcomes(passed=2)


def test_the_fixtures_serve_the_stock_service_and_clean_up(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, DEFAULT_SERVICE_AND_CLEANUP_TESTS)
    result.assert_outcomes(passed=3)


def test_without_pytest_asyncio_the_async_client_says_what_to_install(
    pytester: pytest.Pytester,
) -> None:
    # As if pytest-asyncio were not installed: its module cannot be imported.
    pytester.makepyfile(hide_pytest_asyncio="import sys\nsys.modules['pytest_asyncio'] = None\n")
    source = "def test_it(async_greeter_client) -> None:\n    pass\n"
    result = run_user_tests(pytester, source, "-p", "hide_pytest_asyncio", "-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*async_greeter_client fixture needs pytest-asyncio*"])


def test_with_plugin_autoload_off_dash_p_greeter_loads_the_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    source = "def test_it(greeter_client) -> None:\n    assert greeter_client.greet('x')\n"
    result = run_user_tests(pytester, source, "-p", "greeter")
    result.assert_outcomes(passed=1)


def test_import_greeter_imports_neither_the_plugin_nor_pytest(pytester: pytest.Pytester) -> None:
    code = (
        "import sys, greeter\n"
        "print(sorted(name for name in ('greeter.testing', 'greeter.testing._plugin', "
        "'pytest', 'pytest_asyncio') if name in sys.modules))"
    )
    result = pytester.run(sys.executable, "-c", code, timeout=PYTESTER_TIMEOUT)
    assert result.ret == 0
    assert result.outlines[-1] == "[]"


def test_loading_the_plugin_imports_neither_grpc_nor_greeters_server_code(
    pytester: pytest.Pytester,
) -> None:
    """Every pytest session of a project with grpc-greeter installed loads the plugin:
    it costs no grpc import until a test uses one of its fixtures."""
    code = (
        "import sys, greeter.testing._plugin\n"
        "print(sorted(name for name in sys.modules if name == 'grpc' or name.startswith(("
        "'grpc.', 'google.protobuf', 'greeter.server._lifecycle', 'greeter.server._service', "
        "'greeter.client._sync', 'greeter.testing._serving'))))"
    )
    result = pytester.run(sys.executable, "-c", code, timeout=PYTESTER_TIMEOUT)
    assert result.ret == 0
    assert result.outlines[-1] == "[]"


# --- the guide's example ------------------------------------------------------------------


def readme_testing_example() -> str:
    """The ``py`` block of the guide's "Testing your service": a user's test file.

    test_readme.py runs the README's and the guide's ``python`` blocks as scripts; a test
    file only means something under pytest, so it is a ``py`` block and runs here.
    """
    guide = (REPO_ROOT / "docs" / "guide" / "testing.md").read_text()
    section = guide.split("\n## Testing your service\n", 1)[1].split("\n## ", 1)[0]
    examples: list[str] = re.findall(r"```py\n(.*?)```", section, flags=re.DOTALL)
    (example,) = examples
    return example


def test_the_readme_testing_example_passes_under_pytest(pytester: pytest.Pytester) -> None:
    result = run_user_tests(pytester, readme_testing_example())
    result.assert_outcomes(passed=2)
