"""GreeterClient against a real server on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest

import greeter
from greeter import GreeterClient, GreeterServer, GreeterService
from tests.conftest import LOOPBACK, SlowService


class EchoMetadataService(GreeterService):
    """Greets with the metadata it received, so a test can see what was sent."""

    def say_hello(self, name: str) -> str:
        sent = [f"{k}={v!r}" for k, v in self.context.invocation_metadata if k.startswith("x-")]
        return ",".join(sent)


def test_greet_returns_the_canonical_greeting(client: GreeterClient) -> None:
    assert client.greet("you") == "Hello, you!"


def test_greet_again_returns_the_canonical_second_greeting(client: GreeterClient) -> None:
    assert client.greet_again("you") == "Hello again, you!"


@pytest.mark.parametrize("name", ["", "Zoë", "世界", "a" * 10_000])
def test_greet_round_trips_any_unicode_name(client: GreeterClient, name: str) -> None:
    assert client.greet(name) == f"Hello, {name}!"


def test_greet_times_out_with_deadline_exceeded() -> None:
    service = SlowService()
    with service.start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(greeter.DeadlineExceeded) as caught:
            client.greet("you", timeout=0.2)
        service.release.set()
    assert caught.value.code is greeter.StatusCode.DEADLINE_EXCEEDED
    assert isinstance(caught.value, greeter.GreeterError)


def test_client_default_timeout_applies_to_every_call() -> None:
    service = SlowService()
    with service.start(LOOPBACK) as server, GreeterClient(server.target, timeout=0.2) as client:
        with pytest.raises(greeter.DeadlineExceeded):
            client.greet("you")
        service.release.set()
        # A per-call timeout overrides the client's default.
        assert client.greet("you", timeout=10) == "Hello, you!"


def test_greet_raises_unavailable_when_no_server_listens(server: GreeterServer) -> None:
    target = server.target
    server.stop(grace_seconds=0)
    with GreeterClient(target) as client, pytest.raises(greeter.Unavailable) as caught:
        client.greet("you", timeout=5)
    assert caught.value.code is greeter.StatusCode.UNAVAILABLE
    assert caught.value.details


def test_metadata_from_client_defaults_and_call_both_reach_the_server() -> None:
    with EchoMetadataService().start(LOOPBACK) as server:
        with GreeterClient(server.target, metadata=[("x-client", "default")]) as client:
            reply = client.greet("you", metadata=[("x-call", "one"), ("x-raw-bin", b"\x00\xff")])
    assert reply == "x-client='default',x-call='one',x-raw-bin=b'\\x00\\xff'"


@pytest.mark.parametrize(
    "metadata",
    [[("x-text-bin", "not bytes")], [("x-text", b"not str")]],
)
def test_metadata_of_the_wrong_type_is_refused_before_sending(
    client: GreeterClient, metadata: greeter.Metadata
) -> None:
    with pytest.raises(ValueError, match="x-text"):
        client.greet("you", metadata=metadata)


def test_unknown_compression_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown compression"):
        GreeterClient(compression="brotli")  # type: ignore[arg-type]


def test_a_misspelt_call_option_is_a_type_error_and_nothing_is_sent() -> None:
    class Counting(GreeterService):
        calls = 0

        def say_hello(self, name: str) -> str:
            Counting.calls += 1
            return super().say_hello(name)

    with Counting().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(TypeError, match="timeot"):
            client.greet("you", timeot=1.0)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="timeot"):
            client.greet_with_call("you", timeot=1.0)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="timeot"):
            client.greet_many(["a", "b"], timeot=1.0)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="timeot"):
            client.greet_stream("you", timeot=1.0)  # type: ignore[call-arg]
        assert client.greet("you", timeout=5.0) == "Hello, you!"
    assert Counting.calls == 1


def test_closed_client_refuses_calls_with_a_clear_error(server: GreeterServer) -> None:
    with GreeterClient(server.target) as client:
        assert client.greet("you") == "Hello, you!"
    with pytest.raises(RuntimeError, match="is closed"):
        client.greet("you")
    client.close()  # closing twice is harmless


def test_wait_for_ready_waits_for_a_server_that_starts_later(server: GreeterServer) -> None:
    # Learn a free port from the OS, free it, then start the server there after a delay.
    port = server.port
    server.stop(grace_seconds=0)
    late = GreeterService()
    started = threading.Event()

    def start_late() -> None:
        with late.start(f"127.0.0.1:{port}"):
            started.set()
            done.wait(timeout=10)

    done = threading.Event()
    thread = threading.Timer(0.5, start_late)
    thread.start()
    try:
        with GreeterClient(f"127.0.0.1:{port}", wait_for_ready=True) as client:
            assert client.greet("late", timeout=10) == "Hello, late!"
        assert started.is_set()
    finally:
        done.set()
        thread.join(timeout=10)
