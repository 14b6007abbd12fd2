"""Several servers behind one client: round robin, retries, connection age, keepalive.

All of it is grpc's own machinery (``loadBalancingConfig`` and ``retryPolicy`` in the
channel's service config, keepalive and connection-age channel arguments); these tests
check that the client's and ``ServerConfig``'s options switch it on as documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import greeter
from greeter import (
    AsyncGreeterClient,
    GreeterClient,
    GreeterServer,
    GreeterService,
    RetryPolicy,
    ServerConfig,
    StatusCode,
)

TIMEOUT = 10.0
#: Enough calls for round robin to reach every one of three servers several times.
CALLS = 30


class Named(GreeterService):
    """SayHello answers with the server's name, so a test sees who served each call."""

    def __init__(self, name: str) -> None:
        self.name = name

    def say_hello(self, name: str) -> str:
        return self.name


class Refusing(GreeterService):
    """A backend that is up but refuses every call with UNAVAILABLE (say, overloaded)."""

    def say_hello(self, name: str) -> str:
        raise greeter.Unavailable("not now")


class Peer(GreeterService):
    """SayHello answers with the caller's address: a new port means a new connection."""

    def say_hello(self, name: str) -> str:
        return self.context.peer


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _servers(
    services: list[GreeterService], host: str = "127.0.0.1"
) -> Iterator[list[GreeterServer]]:
    """Start each service on ``host`` (OS-picked ports); stop them all at the end."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(service.start(f"{host}:0", config=ServerConfig(grace_seconds=0)))
            for service in services
        ]


def _three_named(host: str = "127.0.0.1") -> contextlib.AbstractContextManager[list[GreeterServer]]:
    return _servers([Named(f"server {number}") for number in range(3)], host)


def _outcomes(client: GreeterClient, calls: int = CALLS) -> Counter[str]:
    """Who served each of ``calls`` calls (or which error it raised)."""
    outcomes: Counter[str] = Counter()
    for _ in range(calls):
        try:
            outcomes[client.greet("you")] += 1
        except greeter.GreeterError as error:
            outcomes[type(error).__name__] += 1
    return outcomes


# -- round robin -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_round_robin_spreads_calls_over_every_server(host: str) -> None:
    if host == "[::1]" and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    with (
        _three_named(host) as servers,
        GreeterClient(
            [server.address for server in servers], load_balancing="round_robin", timeout=TIMEOUT
        ) as client,
    ):
        assert client.target.startswith("ipv6:" if host == "[::1]" else "ipv4:")
        assert set(_outcomes(client)) == {"server 0", "server 1", "server 2"}


def test_pick_first_sends_every_call_to_one_server() -> None:
    with (
        _three_named() as servers,
        GreeterClient([server.address for server in servers], timeout=TIMEOUT) as client,
    ):
        assert len(_outcomes(client)) == 1


def test_async_round_robin_spreads_calls_over_every_server() -> None:
    async def scenario(targets: list[str]) -> set[str]:
        async with AsyncGreeterClient(
            targets, load_balancing="round_robin", timeout=TIMEOUT
        ) as client:
            return {await client.greet("you") for _ in range(CALLS)}

    with _three_named() as servers:
        served_by = asyncio.run(scenario([server.address for server in servers]))
    assert served_by == {"server 0", "server 1", "server 2"}


# -- retries -----------------------------------------------------------------------------


def test_a_call_refused_with_unavailable_is_retried_on_another_server() -> None:
    with _servers([Named("server 0"), Refusing(), Named("server 2")]) as servers:
        targets = [server.address for server in servers]
        with GreeterClient(targets, load_balancing="round_robin", timeout=TIMEOUT) as client:
            assert _outcomes(client)["Unavailable"] > 0  # without retries, some fail
        with GreeterClient(
            targets, load_balancing="round_robin", retries=RetryPolicy(), timeout=TIMEOUT
        ) as client:
            assert set(_outcomes(client)) == {"server 0", "server 2"}


def test_calls_keep_succeeding_when_a_server_stops() -> None:
    with (
        _three_named() as servers,
        GreeterClient(
            [server.address for server in servers],
            load_balancing="round_robin",
            retries=RetryPolicy(),
            timeout=TIMEOUT,
        ) as client,
    ):
        assert set(_outcomes(client)) == {"server 0", "server 1", "server 2"}
        servers[1].stop(grace_seconds=0)
        assert set(_outcomes(client)) == {"server 0", "server 2"}


def test_async_calls_keep_succeeding_when_a_server_stops() -> None:
    async def scenario(servers: list[GreeterServer]) -> tuple[set[str], set[str]]:
        async with AsyncGreeterClient(
            [server.address for server in servers],
            load_balancing="round_robin",
            retries=RetryPolicy(),
            timeout=TIMEOUT,
        ) as client:
            before = {await client.greet("you") for _ in range(CALLS)}
            # The threaded server's stop blocks: run it off the event loop.
            await asyncio.to_thread(servers[1].stop, 0)
            after = {await client.greet("you") for _ in range(CALLS)}
        return before, after

    with _three_named() as servers:
        before, after = asyncio.run(scenario(servers))
    assert before == {"server 0", "server 1", "server 2"}
    assert after == {"server 0", "server 2"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 1}, "max_attempts must be from 2 to 5"),
        ({"max_attempts": 6}, "max_attempts must be from 2 to 5"),
        ({"initial_backoff": 0}, r"backoffs must be at least 0\.01 s"),
        ({"max_backoff": -1.0}, r"backoffs must be at least 0\.01 s"),
        ({"initial_backoff": 0.001}, r"backoffs must be at least 0\.01 s"),
        ({"backoff_multiplier": 0}, "backoff_multiplier must be positive"),
        ({"retryable_codes": ()}, "at least one error status"),
        ({"retryable_codes": (StatusCode.OK,)}, "at least one error status"),
        ({"retryable_codes": ("UNAVAILABLE",)}, r"StatusCode members .* not 'UNAVAILABLE'"),
    ],
)
def test_retry_policy_refuses_what_grpc_would_reject(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**options)


def test_retry_policy_becomes_grpcs_retry_policy() -> None:
    policy = RetryPolicy(
        max_attempts=3,
        initial_backoff=0.01,
        max_backoff=2,
        retryable_codes=(StatusCode.UNAVAILABLE, StatusCode.RESOURCE_EXHAUSTED),
    )
    assert policy.to_service_config() == {
        "maxAttempts": 3,
        "initialBackoff": "0.010000000s",
        "maxBackoff": "2.000000000s",
        "backoffMultiplier": 2.0,
        "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
    }


def test_the_shortest_retry_backoff_retries_every_attempt_promptly() -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.01)
    with (
        _servers([Refusing()]) as (server,),
        GreeterClient(server.target, retries=policy) as client,
    ):
        for _ in range(5):
            started = time.monotonic()
            # Every attempt is refused: the call ends with the server's own status (not
            # a bad service config, nor a retry stalled until the deadline).
            with pytest.raises(greeter.Unavailable, match="not now"):
                client.greet("you", timeout=TIMEOUT)
            assert time.monotonic() - started < 1


# -- which targets make one channel ------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "channel_target"),
    [
        (["127.0.0.1:1", "10.0.0.2:2"], "ipv4:127.0.0.1:1,10.0.0.2:2"),
        (["[::1]:1", "[fe80::1]:2"], "ipv6:[::1]:1,[fe80::1]:2"),
        ("dns:///greeter.example:50051", "dns:///greeter.example:50051"),
    ],
)
def test_several_ip_targets_make_one_channel(targets: str | list[str], channel_target: str) -> None:
    with GreeterClient(targets, load_balancing="round_robin") as client:
        assert client.target == channel_target


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["127.0.0.1:1", "[::1]:2"], "must all be IPv4 or all IPv6"),
        (["127.0.0.1:1", "localhost:2"], r"not 'localhost:2'; .* 'dns:///NAME:PORT'"),
        (["127.0.0.1"], "IP addresses with a port"),
        (["127.0.0.1:x"], "IP addresses with a port"),
        (["127.0.0.1:99999"], "IP addresses with a port"),
        (["::1:50051"], "IP addresses with a port"),
        (["[127.0.0.1]:1"], "IP addresses with a port"),
        ([], "no target to connect to"),
    ],
)
def test_several_targets_that_are_not_ip_addresses_of_one_family_are_refused(
    targets: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GreeterClient(targets)


def test_an_unknown_load_balancing_policy_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown load_balancing 'least_request'"):
        GreeterClient("127.0.0.1:1", load_balancing="least_request")  # type: ignore[arg-type]


# -- connection age and keepalive --------------------------------------------------------


def test_max_connection_age_makes_clients_reconnect_without_failing_calls() -> None:
    config = ServerConfig(max_connection_age_seconds=0.5)
    with (
        Peer().start("127.0.0.1:0", config=config) as server,
        GreeterClient(server.target, timeout=TIMEOUT) as client,
    ):
        peers = []
        for _ in range(20):  # 2 s: about four connection ages
            peers.append(client.greet("you"))  # raises if a call fails
            time.sleep(0.1)
    assert len(set(peers)) >= 2, "the client never had to reconnect"


_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_PING, _ACK = 0x6, 0x1


class PingCounter:
    """A TCP proxy on 127.0.0.1 counting the HTTP/2 PINGs (not their ACKs) each side sends."""

    def __init__(self, upstream_port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._upstream_port = upstream_port
        self.pings = {"client": 0, "server": 0}
        self._sockets = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                downstream, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
                self._sockets += [downstream, upstream]
                for pump in ((downstream, upstream, "client"), (upstream, downstream, "server")):
                    threading.Thread(target=self._pump, args=pump, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, sender: str) -> None:
        buffer = b""
        preface_left = len(_PREFACE) if sender == "client" else 0
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
                buffer += data
                skipped = min(preface_left, len(buffer))
                buffer, preface_left = buffer[skipped:], preface_left - skipped
                while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                    if buffer[3] == _PING and not buffer[4] & _ACK:
                        self.pings[sender] += 1
                    buffer = buffer[9 + int.from_bytes(buffer[:3], "big") :]

    def pings_while_idle(self, client: GreeterClient, side: str, within: float) -> bool:
        """Whether ``side`` sends a PING within ``within`` seconds with no call in flight."""
        assert client.greet("you") == "Hello, you!"
        time.sleep(0.2)  # let the call's own flow-control PINGs pass
        before = self.pings[side]
        give_up = time.monotonic() + within
        while time.monotonic() < give_up:
            if self.pings[side] > before:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()


@contextlib.contextmanager
def _proxied(config: ServerConfig) -> Iterator[PingCounter]:
    with GreeterService().start("127.0.0.1:0", config=config) as server:
        proxy = PingCounter(server.port)
        try:
            yield proxy
        finally:
            proxy.close()


def test_client_keepalive_pings_an_idle_connection() -> None:
    with _proxied(ServerConfig(client_keepalive_min_seconds=0.1)) as proxy:
        with GreeterClient(proxy.target, timeout=TIMEOUT) as quiet:
            assert not proxy.pings_while_idle(quiet, "client", within=1.0)
        with GreeterClient(proxy.target, keepalive_seconds=0.2, timeout=TIMEOUT) as pinging:
            assert proxy.pings_while_idle(pinging, "client", within=TIMEOUT / 2)


def test_server_keepalive_pings_an_idle_client() -> None:
    with _proxied(ServerConfig()) as proxy, GreeterClient(proxy.target, timeout=TIMEOUT) as client:
        assert not proxy.pings_while_idle(client, "server", within=1.0)
    with (
        _proxied(ServerConfig(keepalive_seconds=0.2)) as proxy,
        GreeterClient(proxy.target, timeout=TIMEOUT) as client,
    ):
        assert proxy.pings_while_idle(client, "server", within=TIMEOUT / 2)
