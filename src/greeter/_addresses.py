"""Addresses: how they are written, checked and probed. Every other module parses
an address through this one.

A server address is ``HOST:PORT`` (``[::]:50051``, ``127.0.0.1:0``, ``localhost:8080``)
or ``unix:PATH``; an IPv6 host is in brackets. Every check that can be made before
grpc binds is made here, so a mistake is one clear line (a port of 99999, ``*`` or an
empty host, a host that does not resolve, a port already taken), not a wrapped port or
a gRPC core log line.
"""

from __future__ import annotations

import os
import socket

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TARGET",
    "UNIX_SCHEMES",
    "bare_host",
    "bound_socket",
    "check_port_is_free",
    "check_target",
    "check_unix_address",
    "dialable_target",
    "grpc_peer",
    "ip_literal_version",
    "is_loopback",
    "reserve_port",
    "socket_addresses",
    "split_address",
    "split_tcp_address",
    "why_not_bound",
]

#: Where ``serve()`` listens unless told otherwise: every interface, port 50051.
DEFAULT_ADDRESS = "[::]:50051"
#: Where clients connect unless told otherwise.
DEFAULT_TARGET = "localhost:50051"

UNIX_SCHEMES = ("unix:", "unix-abstract:")


def split_address(address: str) -> tuple[str, int | None]:
    """``(host, port)`` of a listening address; ``port`` is None for a unix socket.

    The host is as written (``[::1]`` keeps its brackets). Raises ``ValueError`` for
    what grpc would refuse or misread: no port, a port past 65535, an empty or ``*``
    host, an IPv6 host without brackets.
    """
    if address.startswith(UNIX_SCHEMES):
        return address, None
    malformed = (
        f"invalid address {address!r}: expected HOST:PORT with a port from 0 to 65535 "
        "(or unix:PATH)"
    )
    return _host_and_port(address, malformed)


def split_tcp_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a TCP address (worker processes share a TCP port)."""
    malformed = (
        f"workers share a TCP port: expected host:port, not {address!r} "
        "(for example 127.0.0.1:50051, [::]:50051 or [::1]:0)"
    )
    if address.startswith(UNIX_SCHEMES):
        raise ValueError(malformed)
    return _host_and_port(address, malformed)


def _host_and_port(address: str, malformed: str) -> tuple[str, int]:
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(malformed)
    port = int(port_text)
    bare = bare_host(host)
    if bare in ("", "*"):
        raise ValueError(
            f"invalid address {address!r}: write [::]:{port} to listen on every interface "
            f"(0.0.0.0:{port} for IPv4 only)"
        )
    if ":" in bare and bare == host:
        raise ValueError(f"invalid address {address!r}: write an IPv6 host in brackets")
    if ":" not in bare and bare != host:
        raise ValueError(f"invalid address {address!r}: brackets are for IPv6 hosts only")
    return host, port


def bare_host(host: str) -> str:
    """``host`` without the brackets of an IPv6 address (``[::1]`` is ``::1``)."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def ip_literal_version(host: str) -> int | None:
    """4 for an IPv4 address, 6 for a bracketed IPv6 one, None for anything else."""
    import ipaddress  # here: only clients of several addresses and named servers need it

    bare = bare_host(host)
    try:
        version = ipaddress.ip_address(bare).version
    except ValueError:
        return None
    return version if version == (6 if bare != host else 4) else None


def dialable_target(host: str, port: int) -> str:
    """An address a client on this machine can dial: ``localhost`` for a wildcard host."""
    return f"{'localhost' if _is_wildcard(host) else host}:{port}"


def grpc_peer(address: str) -> str:
    """A client's ``host:port`` (an IPv6 host bare, as sockets give it) written as grpc
    writes peers: ``ipv4:127.0.0.1:53412``, ``ipv6:[::1]:53412``."""
    host, _, port = address.rpartition(":")
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{address}"


def _is_wildcard(host: str) -> bool:
    """Whether ``host`` means every interface (``[::]``, ``0.0.0.0``)."""
    import ipaddress

    try:
        return ipaddress.ip_address(bare_host(host)).is_unspecified
    except ValueError:
        return False


#: grpc's target schemes other than DNS, passed on as written (``unix:PATH``, ...).
_OTHER_TARGET_SCHEMES = (*UNIX_SCHEMES, "ipv4:", "ipv6:", "vsock:", "xds:", "google-c2p:")
_TARGET_EXAMPLES = "(e.g. localhost:50051, [::1]:50051 or unix:/run/greeter.sock)"


def check_target(target: str, *, port_required: bool = False) -> str:
    """``target`` as given, if a client can dial it; otherwise a ``ValueError`` saying why.

    A target is ``HOST:PORT`` (``localhost:50051``, ``[::1]:50051``), ``dns:///HOST:PORT``
    or another of grpc's schemes (``unix:PATH``, ``ipv4:...``, passed on unchecked).
    grpc itself would dial port 99999 as 34463 (it wraps), report an empty target only
    in a core log line, and take a missing port as 443. ``port_required`` (the command
    line's) also refuses a missing port and port 0; a library user may mean 443, or
    make a client that is not to connect yet.
    """
    if not target:
        raise ValueError(f"the target is empty: expected HOST:PORT {_TARGET_EXAMPLES}")
    if target.startswith(_OTHER_TARGET_SCHEMES):
        return target
    authority = target.removeprefix("dns:")
    if authority.startswith("//"):  # dns://[DNS_SERVER]/HOST:PORT
        authority = authority[2:].partition("/")[2]
    host, separator, port = authority.rpartition(":")
    if authority.endswith("]"):  # [::1], no port
        separator = ""
    if separator and ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError(
            f"invalid target {target!r}: write an IPv6 address in brackets, as in [::1]:50051"
        )
    if not separator:
        if port_required:
            raise ValueError(
                f"target {target!r} has no port: expected HOST:PORT {_TARGET_EXAMPLES}"
            )
        return target
    lowest = 1 if port_required else 0
    if not host or not port.isdigit() or not lowest <= int(port) <= 65535:
        raise ValueError(
            f"invalid target {target!r}: expected HOST:PORT with a port from {lowest} to "
            f"65535 {_TARGET_EXAMPLES}"
        )
    return target


def is_loopback(host: str) -> bool:
    """Whether ``host`` (or a unix socket) is reachable from this machine only."""
    if host.startswith(UNIX_SCHEMES) or host == "localhost":
        return True
    import ipaddress  # here: only servers on a named address need it

    try:
        return ipaddress.ip_address(bare_host(host)).is_loopback
    except ValueError:
        return False


#: The longest socket path Linux takes (``sun_path`` holds 108 bytes with the final NUL).
_MAX_UNIX_PATH_BYTES = 107


def _why_no_unix_socket(address: str) -> str | None:
    """Why a unix socket cannot be made at ``address`` (``unix:PATH``), or None."""
    if not address.startswith("unix:"):
        return None  # unix-abstract: names no file
    path = address.removeprefix("unix:")
    if path.startswith("//"):  # unix:///absolute/path, the URI form
        path = path[2:]
    directory = os.path.dirname(path) or "."
    if len(os.fsencode(path)) > _MAX_UNIX_PATH_BYTES:
        return f"the path is too long for a unix socket (at most {_MAX_UNIX_PATH_BYTES} bytes)"
    if not os.path.isdir(directory):
        return f"directory {directory!r} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"no permission to create a file in {directory!r}"
    if os.path.lexists(path) and not _is_socket(path):
        return f"{path!r} exists and is not a socket"
    return None


def _is_socket(path: str) -> bool:
    import stat  # here: only unix socket servers need it

    return stat.S_ISSOCK(os.lstat(path).st_mode)


def check_unix_address(address: str) -> None:
    """``OSError("cannot listen on unix:PATH: directory '...' does not exist")`` if grpc
    could not make the socket; before grpc tries, so its log line never comes."""
    reason = _why_no_unix_socket(address)
    if reason is not None:
        raise OSError(f"cannot listen on {address}: {reason}")


def why_not_bound(host: str) -> str:
    """Why grpc could not listen on ``host``, as far as can be told from outside."""
    unix_reason = _why_no_unix_socket(host)
    if unix_reason is not None:
        return unix_reason
    if host.startswith(UNIX_SCHEMES):
        return "the socket is in use, or cannot be made"
    try:
        socket.getaddrinfo(bare_host(host) or None, None)
    except OSError:
        return f"cannot resolve host {host!r}"
    return "address already in use, or not available on this machine"


def check_port_is_free(address: str) -> int:
    """Bind ``address`` (host:port) as a lone server would, then let go; return the port.

    Workers share their port with SO_REUSEPORT, which cannot tell a sibling from a
    stranger: a second ``greeter serve --workers 2`` on the same port would quietly take
    half of the first one's connections. Binding once without the option first turns
    that into an error: ``OSError("cannot listen on ADDRESS: address already in use")``.
    With port 0, the port this probe got is the workers' port.
    """
    host, port = split_tcp_address(address)
    probes: list[socket.socket] = []
    try:
        for family, socket_address in socket_addresses(host, port):
            probe = bound_socket(family, (socket_address[0], port))
            probes.append(probe)
            port = probe.getsockname()[1]  # port 0: every address gets the same port
    except socket.gaierror:
        raise OSError(f"cannot listen on {address}: cannot resolve host {host!r}") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(f"cannot listen on {address}: {reason}") from None
    finally:
        for probe in probes:
            probe.close()
    return port


def reserve_port(address: str) -> tuple[int, list[socket.socket]]:
    """``check_port_is_free``, then hold the port until the workers have it.

    With port 0 the probe's port would be free for anyone between the probe and the
    workers binding it. The sockets returned hold it: bound with ``SO_REUSEPORT``, as the
    workers' listeners are, so they can bind beside them, and never listening, so they
    take no connection. Close them when the workers have stopped.
    """
    port = check_port_is_free(address)
    host, _ = split_tcp_address(address)
    holders: list[socket.socket] = []
    try:
        for family, socket_address in socket_addresses(host, port):
            holders.append(bound_socket(family, (socket_address[0], port), reuse_port=True))
    except OSError as exc:
        for holder in holders:
            holder.close()
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(f"cannot listen on {address}: {reason}") from None
    return port, holders


def bound_socket(
    family: socket.AddressFamily, socket_address: tuple[str, int], *, reuse_port: bool = False
) -> socket.socket:
    """A TCP socket bound to ``socket_address`` as gRPC binds its listeners; ``OSError``
    (the socket closed) if it cannot be. ``reuse_port`` shares the port with processes
    that ask for it too (``serve(workers=N)``)."""
    # IPPROTO_TCP, as getaddrinfo names it: asyncio turns Nagle's algorithm off on the
    # connections such a socket accepts (it checks the protocol), as on its own sockets.
    # Without, an answer written in parts waits for the client's delayed ACK (40 ms).
    bound = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # An earlier server's connections in TIME_WAIT do not make the port busy (on
        # Linux, SO_REUSEADDR never allows a second listener).
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and socket_address[0] == "::":
            # "[::]" listens on IPv4 too, so an IPv4 listener makes it busy as well.
            bound.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        bound.bind(socket_address)
    except BaseException:
        bound.close()
        raise
    return bound


def socket_addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[str, int]]]:
    """The socket addresses gRPC listens on for ``host`` (a wildcard, an IP or a name)."""
    if _is_wildcard(host):
        if _ipv6_works():
            return [(socket.AF_INET6, ("::", port))]
        return [(socket.AF_INET, ("0.0.0.0", port))]  # gRPC's fallback without IPv6
    found = socket.getaddrinfo(
        bare_host(host), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    addresses: list[tuple[socket.AddressFamily, tuple[str, int]]] = []
    for family, _, _, _, socket_address in found:
        if family in (socket.AF_INET, socket.AF_INET6):
            entry = (family, (str(socket_address[0]), int(socket_address[1])))
            if entry not in addresses:
                addresses.append(entry)
    return addresses


def _ipv6_works() -> bool:
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:  # IPv6 disabled in this kernel or container
        return False
    return True
