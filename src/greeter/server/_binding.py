"""Where a server listens: its addresses, binding them, and the open-file limit.

Both servers bind through ``bind_all`` (every address checked first, one clear error
for a busy port or a missing directory, one warning for plaintext that leaves the
machine) and read ``port``, ``address`` and ``target`` through ``Bound``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import grpc
import grpc.aio

from greeter._addresses import (
    check_port_is_free,
    check_unix_address,
    dialable_target,
    is_loopback,
    split_address,
    why_not_bound,
)
from greeter.server._config import ServerConfig

__all__ = ["Binding", "Bound", "bind_all", "listen_addresses", "raise_open_file_limit"]

logger = logging.getLogger("greeter.server")


class Binding:
    """Where a server listens: the bound port, its address and a target to dial."""

    def __init__(
        self,
        server: grpc.Server | grpc.aio.Server,
        address: str,
        credentials: grpc.ServerCredentials | None,
    ) -> None:
        host, requested_port = split_address(address)
        try:
            if credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, credentials)
        except RuntimeError:
            raise OSError(f"cannot listen on {address}: {why_not_bound(host)}") from None
        #: The port the server listens on (the OS's pick when asked for port 0).
        self.port: int = port
        if requested_port is None:
            #: The address the server listens on, with the real port.
            self.address = address
            #: An address a client on this machine can dial (``localhost`` for wildcards).
            self.target = address
        else:
            self.address = f"{host}:{port}"
            self.target = dialable_target(host, port)


def listen_addresses(address: str | Sequence[str]) -> list[str]:
    """The addresses a server was asked to listen on, each checked (a bad one fails here)."""
    addresses = [address] if isinstance(address, str) else list(address)
    if not addresses:
        raise ValueError("a server needs at least one address to listen on")
    for each in addresses:
        split_address(each)
    return addresses


def bind_all(
    server: grpc.Server | grpc.aio.Server, addresses: Sequence[str], config: ServerConfig
) -> list[Binding]:
    """Bind every address (all validated first); warn once if plaintext leaves the machine."""
    for address in addresses:
        _, port = split_address(address)
        if port is not None and not config.reuse_port:
            # Busy or unresolvable: one clear line now, before grpc logs its own.
            check_port_is_free(address)
        elif port is None:
            check_unix_address(address)  # a missing directory, say, as clearly
    credentials = None if config.tls is None else config.tls.credentials()
    bindings = [Binding(server, address, credentials) for address in addresses]
    exposed = [b.address for b in bindings if not is_loopback(split_address(b.address)[0])]
    if exposed and config.tls is None:
        logger.warning(
            "Serving plaintext on %s, reachable from other machines: anyone on the network "
            "can read and forge calls. Serve TLS with ServerConfig(tls=ServerTLS(...)) "
            "(greeter serve --tls-cert FILE --tls-key FILE).",
            ", ".join(exposed),
        )
    return bindings


def raise_open_file_limit() -> None:
    """Raise this process's soft limit on open files to its hard limit.

    Every connection takes a file descriptor; the usual soft limit (1,024) lets a few
    hundred idle clients starve the server of descriptors, though the hard limit allows
    far more. ``serve()`` calls this: it owns the process, a library call would not.
    """
    try:
        import resource  # not on Windows
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):  # some systems cap it lower than "unlimited"
            return
        logger.debug("Raised the open-file limit from %d to %d", soft, hard)


class _HasAddress(Protocol):
    """What ``Bound`` reads of a side port (``greeter.server._ports.SidePort``)."""

    @property
    def address(self) -> str: ...


class Bound:
    """``port``, ``address`` and ``target``, read from where the server is bound."""

    _bindings: list[Binding]

    def _first(self) -> Binding:
        if not self._bindings:
            raise RuntimeError("the server is not started yet: await server.start() first")
        return self._bindings[0]

    @property
    def port(self) -> int:
        """The port the server listens on (the first address's, if several)."""
        return self._first().port

    @property
    def address(self) -> str:
        """The address the server listens on, with the real port (the first, if several)."""
        return self._first().address

    @property
    def target(self) -> str:
        """An address a client on this machine can dial (``localhost`` for wildcards)."""
        return self._first().target

    @property
    def addresses(self) -> list[str]:
        """Every address the server listens on, with the real ports."""
        self._first()
        return [binding.address for binding in self._bindings]

    @property
    def targets(self) -> list[str]:
        """A target to dial for each address the server listens on."""
        self._first()
        return [binding.target for binding in self._bindings]

    # Declared by what it is read for: typing.get_type_hints() must resolve it at run time.
    _web: _HasAddress | None

    @property
    def web_address(self) -> str | None:
        """The address serving browsers (``ServerConfig.web``), with the real port."""
        return None if self._web is None else self._web.address
