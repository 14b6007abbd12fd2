"""``self.context``: what a service method can learn about, and do to, its call.

Each field is read from inside a real call, on the threaded server (``CallContext``)
and on the asyncio server (``AsyncCallContext``), and what the client sees is checked
with the greeter client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

import pytest

import greeter
from greeter import (
    AsyncCallContext,
    AsyncGreeterService,
    CallContext,
    GreeterClient,
    GreeterService,
    StatusCode,
)
from tests.conftest import serving

TIMEOUT = 10.0
TEXT = ("x-text", "hello")
BINARY = ("x-data-bin", b"\x00\x01\xff")


def read_everything(context: CallContext | AsyncCallContext) -> dict[str, object]:
    """Every field of the context a method can read without changing the call."""
    seen: dict[str, object] = {
        "invocation_metadata": context.invocation_metadata,
        "text": context.get_metadata("x-text"),
        "text, any case": context.get_metadata("X-Text"),
        "absent": context.get_metadata("x-absent"),
        "binary": context.get_binary_metadata("x-data-bin"),
        "absent binary": context.get_binary_metadata("x-absent-bin"),
        "peer": context.peer,
        "time_remaining": context.time_remaining(),
        "is_active": context.is_active(),
        "identity": context.identity,
        "peer_identities": context.peer_identities,
        "peer_identity_key": context.peer_identity_key,
        "auth_context": context.auth_context,
    }
    refusals: list[str] = []
    for wrong_kind in (
        lambda: context.get_metadata("x-data-bin"),
        lambda: context.get_binary_metadata("x-text"),
    ):
        try:
            wrong_kind()
        except ValueError as error:
            refusals.append(str(error))
    seen["wrong kind"] = refusals
    return seen


class Probe(GreeterService):
    """Does to its call what the name it is sent says; records what it saw."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}
        self.ended = threading.Event()
        self.active_when_ended: list[bool] = []

    def _on_end(self, context: CallContext) -> Callable[[], None]:
        def ended() -> None:
            self.active_when_ended.append(context.is_active())
            self.ended.set()

        return ended

    def say_hello(self, name: str) -> str:
        context = self.context
        if name == "read":
            self.seen = read_everything(context)
        elif name == "abort":
            context.set_trailing_metadata([("x-why", "aborted")])
            context.abort(StatusCode.NOT_FOUND, "nobody here")
        elif name == "set code":
            context.set_code(StatusCode.FAILED_PRECONDITION)
            context.set_details("not yet")
        elif name == "metadata":
            context.send_initial_metadata([("x-initial", "first"), ("x-initial-bin", b"\x01")])
            context.set_trailing_metadata([("x-trailer", "last"), ("x-trailer-bin", b"\x02")])
        elif name == "compression":
            context.set_compression("gzip")
            context.disable_next_message_compression()
        elif name == "done callback":
            context.add_done_callback(self._on_end(context))
        elif name == "outlive the deadline":
            context.add_done_callback(self._on_end(context))
            self.ended.wait(TIMEOUT)
            self.seen["active after the end"] = context.is_active()
        return f"{name}: done"

    def say_hello_stream_reply(self, name: str) -> Iterable[str]:
        context = self.context
        context.add_done_callback(self._on_end(context))
        try:
            yield "first"
            # If the server asks for the next reply before the client cancels, this
            # waits for the cancellation; if after, the generator is closed instead.
            self.ended.wait(TIMEOUT)
            yield "never read"
        finally:
            self.seen["active after the end"] = context.is_active()


class AsyncProbe(AsyncGreeterService):
    """``Probe`` for the asyncio server."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}
        self.ended = threading.Event()
        self.active_when_ended: list[bool] = []

    def _on_end(self, context: AsyncCallContext) -> Callable[[], None]:
        def ended() -> None:
            self.active_when_ended.append(context.is_active())
            self.ended.set()

        return ended

    async def say_hello(self, name: str) -> str:
        context = self.context
        if name == "read":
            self.seen = read_everything(context)
        elif name == "abort":
            context.set_trailing_metadata([("x-why", "aborted")])
            context.abort(StatusCode.NOT_FOUND, "nobody here")
        elif name == "set code":
            context.set_code(StatusCode.FAILED_PRECONDITION)
            context.set_details("not yet")
        elif name == "metadata":
            await context.send_initial_metadata(
                [("x-initial", "first"), ("x-initial-bin", b"\x01")]
            )
            context.set_trailing_metadata([("x-trailer", "last"), ("x-trailer-bin", b"\x02")])
        elif name == "compression":
            context.set_compression("gzip")
            context.disable_next_message_compression()
        elif name == "done callback":
            context.add_done_callback(self._on_end(context))
        elif name == "outlive the deadline":
            context.add_done_callback(self._on_end(context))
            await asyncio.sleep(TIMEOUT)  # grpc.aio cancels the method at the deadline
        return f"{name}: done"

    async def say_hello_stream_reply(self, name: str) -> AsyncIterator[str]:
        context = self.context
        context.add_done_callback(self._on_end(context))
        yield "first"
        # grpc.aio cancels this generator when the client cancels.
        await asyncio.sleep(TIMEOUT)
        yield "never read"


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def async_probe() -> AsyncProbe:
    return AsyncProbe()


@pytest.fixture
def target(server_kind: str, probe: Probe, async_probe: AsyncProbe) -> Iterator[str]:
    """A server of ``server_kind`` running the probe service."""
    with serving(server_kind, service=probe, async_service=async_probe) as running:
        yield running


@pytest.fixture
def probed(server_kind: str, probe: Probe, async_probe: AsyncProbe) -> Probe | AsyncProbe:
    """The probe service the ``target`` server runs."""
    return probe if server_kind == "sync" else async_probe


# ------------------------------------------------------------------ reading


def test_context_reads_the_metadata_the_client_sent(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read", metadata=[TEXT, BINARY])
    metadata = probed.seen["invocation_metadata"]
    assert isinstance(metadata, tuple)
    assert TEXT in metadata
    assert BINARY in metadata
    assert any(key == "user-agent" for key, _ in metadata)
    assert probed.seen["text"] == "hello"
    assert probed.seen["text, any case"] == "hello"
    assert probed.seen["absent"] is None
    assert probed.seen["binary"] == b"\x00\x01\xff"
    assert probed.seen["absent binary"] is None


def test_context_metadata_getters_refuse_a_key_of_the_other_kind(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read", metadata=[TEXT, BINARY])
    assert probed.seen["wrong kind"] == [
        "'x-data-bin' is a binary key: use get_binary_metadata()",
        "'x-text' is a text key: use get_metadata()",
    ]


def test_context_peer_is_the_clients_address(target: str, probed: Probe | AsyncProbe) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read")
    peer = probed.seen["peer"]
    assert isinstance(peer, str)
    assert peer.startswith("ipv4:127.0.0.1:")
    assert int(peer.rpartition(":")[2]) > 0


def test_context_time_remaining_is_none_without_a_client_deadline(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target) as client:
        client.greet("read")
    assert probed.seen["time_remaining"] is None


def test_context_time_remaining_counts_down_from_the_clients_timeout(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target) as client:
        client.greet("read", timeout=5)
    remaining = probed.seen["time_remaining"]
    assert isinstance(remaining, float)
    # gRPC sends the deadline rounded up, so it may read a little over 5 s.
    assert 3 < remaining < 6


def test_context_is_active_while_the_method_runs(target: str, probed: Probe | AsyncProbe) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read")
    assert probed.seen["is_active"] is True


def test_context_has_no_identity_and_no_peer_identities_without_auth_or_mtls(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read")
    assert probed.seen["identity"] is None
    assert probed.seen["peer_identities"] == ()
    assert probed.seen["peer_identity_key"] is None


def test_context_auth_context_says_the_transport_is_insecure_over_plaintext(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        client.greet("read")
    auth_context = probed.seen["auth_context"]
    assert isinstance(auth_context, dict)
    assert auth_context["transport_security_type"] == (b"insecure",)
    assert auth_context["security_level"] == (b"TSI_SECURITY_NONE",)
    assert all(
        isinstance(key, str)
        and isinstance(values, tuple)
        and all(isinstance(v, bytes) for v in values)
        for key, values in auth_context.items()
    )


# ------------------------------------------------------------------ acting on the call


def test_context_abort_ends_the_call_with_that_status_and_the_trailing_metadata(
    target: str,
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        with pytest.raises(greeter.NotFound) as raised:
            client.greet("abort")
    assert raised.value.details == "nobody here"
    assert ("x-why", "aborted") in raised.value.trailing_metadata


def test_context_set_code_and_details_end_the_call_with_that_status_on_return(
    target: str,
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        with pytest.raises(greeter.FailedPrecondition) as raised:
            client.greet("set code")
    assert raised.value.details == "not yet"


def test_context_sends_initial_and_trailing_metadata(target: str) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        reply = client.greet_with_call("metadata")
    assert reply.message == "metadata: done"
    assert ("x-initial", "first") in reply.initial_metadata
    assert ("x-initial-bin", b"\x01") in reply.initial_metadata
    assert ("x-trailer", "last") in reply.trailing_metadata
    assert ("x-trailer-bin", b"\x02") in reply.trailing_metadata


def test_context_compression_settings_leave_the_call_working(target: str) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        assert client.greet("compression") == "compression: done"


def test_context_done_callback_runs_when_a_call_completes(
    target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        assert client.greet("done callback") == "done callback: done"
    assert probed.ended.wait(TIMEOUT)
    assert probed.active_when_ended == [False]


def test_context_done_callback_runs_when_the_client_cancels_a_stream(
    server_kind: str, target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target, timeout=TIMEOUT) as client:
        with client.greet_stream("you") as replies:
            assert next(replies) == "first"
            assert not probed.ended.is_set()
    assert probed.ended.wait(TIMEOUT)
    assert probed.active_when_ended == [False]
    if server_kind == "sync":  # the method's generator sees the call has ended
        for _ in range(200):
            if "active after the end" in probed.seen:
                break
            time.sleep(0.05)
        assert probed.seen["active after the end"] is False


def test_context_done_callback_runs_when_the_deadline_passes(
    server_kind: str, target: str, probed: Probe | AsyncProbe
) -> None:
    with GreeterClient(target) as client:
        with pytest.raises(greeter.DeadlineExceeded):
            client.greet("outlive the deadline", timeout=0.5)
    assert probed.ended.wait(TIMEOUT)
    assert probed.active_when_ended == [False]
    if server_kind == "sync":  # the method is still running: it sees the call has ended
        for _ in range(200):
            if "active after the end" in probed.seen:
                break
            time.sleep(0.05)
        assert probed.seen["active after the end"] is False


def test_context_done_callback_runs_at_once_if_the_call_already_ended() -> None:
    """A callback added after the end still runs (the threaded server's context)."""
    contexts: list[CallContext] = []

    class Keeper(GreeterService):
        def say_hello(self, name: str) -> str:
            contexts.append(self.context)
            return name

    with serving("sync", service=Keeper()) as target:
        with GreeterClient(target, timeout=TIMEOUT) as client:
            client.greet("you")
        [context] = contexts
        for _ in range(200):  # the call ends on the server just after the client has the reply
            if not context.is_active():
                break
            time.sleep(0.05)
        ran = threading.Event()
        context.add_done_callback(ran.set)
    assert ran.is_set()


# ------------------------------------------------------------------ outside a call


def test_context_outside_a_call_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"GreeterService\.context is only available"):
        _ = GreeterService().context
    with pytest.raises(RuntimeError, match=r"AsyncGreeterService\.context is only available"):
        _ = AsyncGreeterService().context
