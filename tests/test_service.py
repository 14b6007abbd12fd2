"""GreeterService subclasses, call context, error mapping and server lifecycle."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import greeter
from greeter import GreeterClient, GreeterServer, GreeterService, ServerConfig
from tests.conftest import LOOPBACK


class Mine(GreeterService):
    """The README's simplest override."""

    def say_hello(self, name: str) -> str:
        return f"Hi {name}"


def test_an_override_changes_only_what_it_overrides() -> None:
    with Mine().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        assert client.greet("you") == "Hi you"
        assert client.greet_again("you") == "Hello again, you!"


def test_context_exposes_metadata_peer_and_deadline() -> None:
    seen: dict[str, object] = {}

    class Inspecting(GreeterService):
        def say_hello(self, name: str) -> str:
            seen["metadata"] = dict(self.context.invocation_metadata)
            seen["peer"] = self.context.peer
            seen["remaining"] = self.context.time_remaining()
            seen["active"] = self.context.is_active()
            return name

        def say_hello_again(self, name: str) -> str:
            seen["remaining_without_deadline"] = self.context.time_remaining()
            return name

    with Inspecting().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        client.greet("you", timeout=30, metadata=[("x-user", "alice")])
        client.greet_again("you")
    metadata = seen["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["x-user"] == "alice"
    assert "grpc-python" in metadata["user-agent"]
    assert str(seen["peer"]).startswith("ipv4:127.0.0.1:")
    remaining = seen["remaining"]
    assert isinstance(remaining, float)
    # The deadline crosses the wire rounded up, so allow a little over the timeout.
    assert 0 < remaining <= 30.5
    assert seen["active"] is True
    assert seen["remaining_without_deadline"] is None


def test_context_reads_text_and_binary_metadata_by_key() -> None:
    seen: list[object] = []

    class Reading(GreeterService):
        def say_hello(self, name: str) -> str:
            context = self.context
            seen.extend(
                [
                    context.get_metadata("x-user"),
                    context.get_metadata("X-User"),
                    context.get_metadata("x-missing"),
                    context.get_binary_metadata("x-raw-bin"),
                ]
            )
            with pytest.raises(ValueError, match="binary key"):
                context.get_metadata("x-raw-bin")
            with pytest.raises(ValueError, match="text key"):
                context.get_binary_metadata("x-user")
            return name

    with Reading().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        client.greet("you", metadata=[("x-user", "ada"), ("x-raw-bin", b"\x00")])
    assert seen == ["ada", "ada", None, b"\x00"]


def test_context_outside_a_call_raises() -> None:
    with pytest.raises(RuntimeError, match="only available while serving"):
        _ = GreeterService().context


def test_trailing_metadata_set_by_the_service_reaches_a_failed_call() -> None:
    class Refusing(GreeterService):
        def say_hello(self, name: str) -> str:
            raise greeter.PermissionDenied(
                f"{name} may not be greeted", trailing_metadata=[("x-reason", "blocklist")]
            )

    with Refusing().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(greeter.PermissionDenied) as caught:
            client.greet("mallory")
    assert caught.value.details == "mallory may not be greeted"
    assert ("x-reason", "blocklist") in caught.value.trailing_metadata


def test_unexpected_exception_becomes_internal_without_leaking_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Buggy(GreeterService):
        def say_hello(self, name: str) -> str:
            raise KeyError("secret-internal-state")

    caplog.set_level(logging.ERROR, logger="greeter.server")
    with Buggy().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(greeter.Internal) as caught:
            client.greet("you")
    assert caught.value.details == "Internal server error"
    assert "secret" not in str(caught.value)
    logged = [r for r in caplog.records if "SayHello" in r.getMessage()]
    assert logged, "the server must log the failure"
    assert logged[0].exc_info is not None
    assert "secret-internal-state" in caplog.text


def test_an_override_returning_the_wrong_type_fails_cleanly_as_internal() -> None:
    class Wrong(GreeterService):
        def say_hello(self, name: str) -> str:
            return 42  # type: ignore[return-value]

    with Wrong().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(greeter.Internal):
            client.greet("you")
        assert client.greet_again("you") == "Hello again, you!"  # the server lives on


def test_a_too_large_request_is_refused_with_resource_exhausted() -> None:
    config = ServerConfig(max_receive_message_length=1024)
    with GreeterService().start(LOOPBACK, config=config) as server:
        with GreeterClient(server.target) as client:
            assert client.greet("small") == "Hello, small!"
            with pytest.raises(greeter.ResourceExhausted):
                client.greet("x" * 4096)


def test_stop_lets_in_flight_calls_finish_within_the_grace_period() -> None:
    entered = threading.Event()

    class Slow(GreeterService):
        def say_hello(self, name: str) -> str:
            entered.set()
            time.sleep(0.5)
            return f"Finally, {name}"

    server = Slow().start(LOOPBACK)
    results: list[str] = []
    with GreeterClient(server.target) as client:
        caller = threading.Thread(target=lambda: results.append(client.greet("you", timeout=10)))
        caller.start()
        assert entered.wait(timeout=10)
        server.stop(grace_seconds=5)
        caller.join(timeout=10)
        assert results == ["Finally, you"]
        with pytest.raises(greeter.Unavailable):
            client.greet("late", timeout=2)


def test_stop_cancels_calls_still_running_after_the_grace_period() -> None:
    entered = threading.Event()
    release = threading.Event()

    class Stuck(GreeterService):
        def say_hello(self, name: str) -> str:
            entered.set()
            release.wait(timeout=10)
            return name

    server = Stuck().start(LOOPBACK)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.greet("you", timeout=10)
        except greeter.GreeterError as error:
            errors.append(error)

    with GreeterClient(server.target) as client:
        caller = threading.Thread(target=call)
        caller.start()
        assert entered.wait(timeout=10)
        started = time.monotonic()
        server.stop(grace_seconds=0.2)
        caller.join(timeout=10)
        release.set()
    assert time.monotonic() - started < 5
    assert len(errors) == 1
    assert isinstance(errors[0], greeter.Unavailable | greeter.Cancelled)


def test_binding_a_taken_port_raises_oserror(server: GreeterServer) -> None:
    with pytest.raises(OSError, match="cannot listen"):
        GreeterServer(GreeterService(), f"127.0.0.1:{server.port}")


def test_reuse_port_lets_two_servers_share_a_port_when_asked() -> None:
    shared = ServerConfig(reuse_port=True)
    with GreeterService().start(LOOPBACK, config=shared) as first:
        with Mine().start(f"127.0.0.1:{first.port}", config=shared) as second:
            assert second.port == first.port


def test_server_reports_the_os_picked_port_and_a_dialable_target() -> None:
    with GreeterService().start("[::]:0") as server:
        assert server.port > 0
        assert server.address == f"[::]:{server.port}"
        assert server.target == f"localhost:{server.port}"
        with GreeterClient(f"127.0.0.1:{server.port}") as client:
            assert client.greet("v4") == "Hello, v4!"


def test_invalid_server_config_is_refused() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        ServerConfig(max_workers=0)
    with pytest.raises(ValueError, match="unknown compression"):
        ServerConfig(compression="zstd")  # type: ignore[arg-type]
