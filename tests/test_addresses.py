"""Where a server listens: several addresses at once, and clear errors when it cannot.

A bad address is a one-line error, from the Python API (``ValueError`` for a malformed
one, ``OSError`` for one that cannot be bound) and from ``greeter serve`` (exit status 1,
no traceback). A server that fails to bind one of its addresses releases the others.
The warning about plaintext on a public address is in ``tests/test_tls.py``.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterServer,
    AsyncGreeterService,
    GreeterClient,
    GreeterServer,
    GreeterService,
    ServerConfig,
)
from greeter._addresses import reserve_port
from tests.conftest import LOOPBACK, ServerProcess, run_cli

TIMEOUT = 10.0
OUT_OF_RANGE = "127.0.0.1:99999"
UNRESOLVABLE = "no-such-host.invalid:0"  # .invalid never resolves (RFC 6761)
PORT_RANGE = "expected HOST:PORT with a port from 0 to 65535"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _start_sync(address: str | list[str]) -> None:
    GreeterService().start(address).stop(0)


def _construct_sync(address: str | list[str]) -> None:
    GreeterServer(GreeterService(), address).stop(0)


def _start_async(address: str | list[str]) -> None:
    async def scenario() -> None:
        server = await AsyncGreeterService().start(address)
        await server.stop(0)

    asyncio.run(scenario())


def _construct_async(address: str | list[str]) -> None:
    AsyncGreeterServer(AsyncGreeterService(), address)


SERVER_STARTS: dict[str, Callable[[str | list[str]], None]] = {
    "GreeterService.start": _start_sync,
    "GreeterServer": _construct_sync,
    "AsyncGreeterService.start": _start_async,
    "AsyncGreeterServer": _construct_async,
}

#: The ways in that bind (the asyncio server binds in ``start()``, not on construction).
BINDING_STARTS = {
    name: start for name, start in SERVER_STARTS.items() if name != "AsyncGreeterServer"
}


def _cli_error(*args: str) -> str:
    """Run ``greeter ARGS``, expecting it to fail; the one line it prints of its own."""
    result = run_cli(*args, timeout=30)
    assert (result.returncode, result.stdout) == (1, "")
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()  # nothing from gRPC core's own log before it
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- malformed addresses -----------------------------------------------------------------


@pytest.mark.parametrize("start", SERVER_STARTS.values(), ids=SERVER_STARTS.keys())
@pytest.mark.parametrize("address", [OUT_OF_RANGE, [LOOPBACK, OUT_OF_RANGE]], ids=["one", "list"])
def test_a_port_out_of_range_is_a_value_error_naming_the_range(
    start: Callable[[str | list[str]], None], address: str | list[str]
) -> None:
    with pytest.raises(ValueError, match=f"invalid address '127.0.0.1:99999': {PORT_RANGE}"):
        start(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:http", "[::1]:-1"])
def test_an_address_without_a_numeric_port_is_a_value_error(address: str) -> None:
    with pytest.raises(ValueError, match=PORT_RANGE):
        GreeterService().start(address)


def test_an_empty_list_of_addresses_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one address"):
        GreeterService().start([])


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["threaded", "asyncio"])
def test_greeter_serve_reports_a_port_out_of_range_as_a_usage_error(flags: list[str]) -> None:
    result = run_cli("serve", "--address", OUT_OF_RANGE, *flags, timeout=30)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(
        "greeter serve: error: argument --address: "
        f"invalid address '127.0.0.1:99999': {PORT_RANGE} (or unix:PATH)\n"
    )


@pytest.mark.parametrize("start", SERVER_STARTS.values(), ids=SERVER_STARTS.keys())
@pytest.mark.parametrize("address", ["*:50051", ":50051", "[*]:50051"])
def test_a_star_or_empty_host_is_a_value_error_saying_how_to_listen_everywhere(
    start: Callable[[str | list[str]], None], address: str
) -> None:
    with pytest.raises(ValueError, match=re.escape("write [::]:50051 to listen on every")):
        start(address)


@pytest.mark.parametrize(
    ("address", "complaint"),
    [("::1:0", "write an IPv6 host in brackets"), ("[127.0.0.1]:0", "brackets are for IPv6")],
)
def test_brackets_go_around_ipv6_hosts_only(address: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        GreeterService().start(address)


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["threaded", "asyncio"])
def test_greeter_serve_reports_a_star_host_in_one_line_before_grpc_logs_anything(
    flags: list[str],
) -> None:
    """A usage error (exit 2): not grpc core's ``E... add_port.cc`` line, nor one per
    worker process."""
    result = run_cli("serve", "--address", "*:50051", *flags, timeout=30)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0].startswith("usage: greeter serve")
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        "greeter serve: error: argument --address: invalid address '*:50051': write "
        "[::]:50051 to listen on every interface (0.0.0.0:50051 for IPv4 only)"
    ]


def test_metrics_refuse_a_star_host_too() -> None:
    from greeter.metrics import serve_metrics

    with pytest.raises(ValueError, match="metrics address must be host:port"):
        serve_metrics("*:0")


def test_no_module_but_addresses_splits_an_address_itself() -> None:
    """One parser: a new module that reads host:port calls ``greeter._addresses``."""
    package = Path(greeter.__file__).parent
    splitting = [
        module.name
        for module in sorted(package.rglob("*.py"))
        if module.name != "_addresses.py" and 'rpartition(":")' in module.read_text()
    ]
    assert splitting == []


# -- addresses that cannot be bound ------------------------------------------------------


@pytest.mark.parametrize("start", BINDING_STARTS.values(), ids=BINDING_STARTS.keys())
def test_a_busy_address_is_an_os_error_saying_so(start: Callable[[str | list[str]], None]) -> None:
    with GreeterService().start(LOOPBACK) as taken:
        with pytest.raises(
            OSError, match=f"^cannot listen on {taken.address}: address already in use"
        ):
            start(taken.address)


@pytest.mark.parametrize("start", BINDING_STARTS.values(), ids=BINDING_STARTS.keys())
def test_an_unresolvable_host_is_an_os_error_saying_so(
    start: Callable[[str | list[str]], None],
) -> None:
    with pytest.raises(
        OSError, match=f"^cannot listen on {UNRESOLVABLE}: cannot resolve host 'no-such-host"
    ):
        start(UNRESOLVABLE)


@pytest.mark.parametrize("flags", [[], ["--async"]], ids=["threaded", "asyncio"])
def test_greeter_serve_reports_a_busy_address_in_one_line(flags: list[str]) -> None:
    with GreeterService().start(LOOPBACK) as taken:
        line = _cli_error("serve", "--address", taken.address, *flags)
    assert line == f"greeter: cannot listen on {taken.address}: address already in use"


def test_greeter_serve_reports_an_unresolvable_host_in_one_line() -> None:
    line = _cli_error("serve", "--address", UNRESOLVABLE)
    assert (
        line
        == f"greeter: cannot listen on {UNRESOLVABLE}: cannot resolve host 'no-such-host.invalid'"
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_fails_to_bind_one_address_releases_the_others(
    kind: str, tmp_path: Path
) -> None:
    # A unix socket as the first address: a path nobody else can take meanwhile, so a
    # second bind after the failure shows the server let it go.
    first = f"unix:{tmp_path}/first.sock"
    with GreeterService().start(LOOPBACK) as taken:
        with pytest.raises(OSError, match=f"cannot listen on {taken.address}"):
            (_start_sync if kind == "sync" else _start_async)([first, taken.address])
    # Nothing listens on the first address: a client is refused at once, not left hanging.
    with GreeterClient(first, timeout=TIMEOUT) as client:
        started = time.monotonic()
        with pytest.raises(greeter.Unavailable):
            client.greet("you")
        assert time.monotonic() - started < 1
    with GreeterService().start(first) as again:  # and the address is free to serve again
        assert again.address == first


# -- several addresses at once -----------------------------------------------------------


def _several(tmp_path: Path) -> list[str]:
    addresses = [LOOPBACK, f"unix:{tmp_path}/greeter.sock"]
    if _has_ipv6_loopback():
        addresses.insert(1, "[::1]:0")
    return addresses


def test_a_threaded_server_answers_on_every_address_it_listens_on(tmp_path: Path) -> None:
    requested = _several(tmp_path)
    with GreeterService().start(requested) as server:
        assert len(server.addresses) == len(server.targets) == len(requested)
        assert server.address == server.addresses[0] == f"127.0.0.1:{server.port}"
        assert server.addresses[-1] == f"unix:{tmp_path}/greeter.sock"
        assert all(not address.endswith(":0") for address in server.addresses)
        for target in server.targets:
            with GreeterClient(target, timeout=TIMEOUT) as client:
                assert client.greet(target) == f"Hello, {target}!"


def test_an_asyncio_server_answers_on_every_address_it_listens_on(tmp_path: Path) -> None:
    requested = _several(tmp_path)

    async def scenario() -> list[str]:
        async with await AsyncGreeterService().start(requested) as server:
            assert len(server.addresses) == len(requested)
            replies = []
            for target in server.targets:
                async with AsyncGreeterClient(target, timeout=TIMEOUT) as client:
                    replies.append(await client.greet(target))
            return replies

    replies = asyncio.run(scenario())
    assert len(replies) == len(requested)
    assert all(reply.startswith("Hello, ") for reply in replies)


def test_greeter_serve_listens_on_every_address_given(tmp_path: Path) -> None:
    unix_address = f"unix:{tmp_path}/greeter.sock"
    process = ServerProcess(
        [
            *(sys.executable, "-m", "greeter", "serve"),
            *("--address", LOOPBACK, "--address", unix_address),
        ],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
    )
    try:
        for target in (process.target, unix_address):
            with GreeterClient(target, timeout=TIMEOUT) as client:
                assert client.greet("you") == "Hello, you!"
        assert process.stop() == 0
    finally:
        process.kill()
    assert f"Stopped serving on {process.target}, {unix_address}" in "".join(process.output)


def test_a_reserved_port_is_held_from_other_programs_until_released_and_workers_can_share_it() -> (
    None
):
    # serve(workers=N) on port 0: between choosing the port and the workers binding it,
    # nobody else may take it; the workers (SO_REUSEPORT) can.
    port, holders = reserve_port("127.0.0.1:0")
    try:
        stranger = socket.socket()
        with stranger, pytest.raises(OSError, match="in use") as busy:
            stranger.bind(("127.0.0.1", port))
        assert busy.value.errno == errno.EADDRINUSE
        config = ServerConfig(reuse_port=True)
        with GreeterService().start(f"127.0.0.1:{port}", config=config) as worker:
            with GreeterClient(worker.target, timeout=10) as client:
                assert client.greet("worker") == "Hello, worker!"
    finally:
        for holder in holders:
            holder.close()
    released = socket.socket()
    with released:
        released.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        released.bind(("127.0.0.1", port))
