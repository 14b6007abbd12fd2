"""How a server runs: ``ServerConfig``, shared by the sync and asyncio servers.

``ServerConfig`` is the one object that carries every server setting: the servers read
it, and the command line maps its flags onto it in one place (``greeter.cli``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import grpc
import grpc.aio

from greeter._options import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_LAME_DUCK_SECONDS,
    DEFAULT_MAX_QUEUE_WAIT_SHARE,
    DEFAULT_MAX_QUEUED_CALLS,
    DEFAULT_MAX_WORKERS,
    ChannelOption,
    Compression,
    message_length_options,
    milliseconds,
    to_grpc_compression,
)
from greeter._tls import ServerTLS

# Imported at run time, not only for type checkers: typing.get_type_hints(ServerConfig)
# (pydantic, cattrs, IDEs) resolves every field's type in this module's namespace.
from greeter.pipeline._auth import TokenCheck, TokenIdentifier
from greeter.pipeline._hooks import AccessLog, ServerHook
from greeter.pipeline._pipeline import CallPipeline

__all__ = ["ChannelOption", "Compression", "ServerConfig", "ServerInterceptor"]

#: A raw grpc server interceptor: ``grpc.ServerInterceptor`` for the threaded server,
#: ``grpc.aio.ServerInterceptor`` for the asyncio one.
ServerInterceptor: TypeAlias = grpc.ServerInterceptor | grpc.aio.ServerInterceptor


@dataclass(frozen=True)
class ServerConfig:
    """How a Greeter server runs; shared by the sync and asyncio servers.

    Every setting has a default that is safe to deploy; the ones that matter most:

    Attributes:
        max_workers: threads serving calls at once (threaded server only). Each
            unary call holds a thread while it runs, each stream for its whole life.
        maximum_concurrent_rpcs: a hard cap on calls in progress at once (running or
            queued); a call beyond it is refused at once with ``RESOURCE_EXHAUSTED``.
            ``None`` (the default): no cap beyond the ones below, as on grpc's own
            server.
        max_queued_calls: calls that may wait for a handler thread when all
            ``max_workers`` are busy (threaded server and the web port); a call beyond
            it is refused at once with ``RESOURCE_EXHAUSTED``. The queue is first come,
            first served.
        max_queue_wait_share: the share (0 to 1) of the time its deadline left it that
            a call may spend waiting for a handler thread; past it the call is refused
            with ``RESOURCE_EXHAUSTED``, so its client has the rest of its time to
            retry elsewhere, and never waits out its deadline unseen in the queue. A
            call without a deadline waits its turn, however long.
        max_concurrent_streams: calls one connection may have open at once (HTTP/2
            ``MAX_CONCURRENT_STREAMS``). ``None`` (the default): no limit, as on grpc's
            own server. grpc core refuses (``REFUSED_STREAM``, seen by clients as
            ``UNAVAILABLE``) the streams a client opens beyond it before it has heard
            of the limit, so set it only above what a client opens in one go.
        grace_seconds: on stop, how long in-flight calls may take to finish before
            they are cancelled. New calls are refused from the moment stop begins, and
            the health service reports ``NOT_SERVING``.
        lame_duck_seconds: on SIGINT or SIGTERM (``serve()``), how long the server keeps
            taking calls after it reports ``NOT_SERVING`` and before its stop begins:
            load balancers that watch health move traffic away meanwhile, and calls
            already on their way (queued inside grpc core, which would cancel them at
            its stop) are served. It is part of the grace period, which runs from the
            signal. ``stop()`` called from code has none.
        compression: default compression of responses (``"gzip"``, ``"deflate"``).
        max_send_message_length: largest message the server sends, in bytes.
        max_receive_message_length: largest message the server accepts, in bytes;
            a larger request fails with ``RESOURCE_EXHAUSTED``.
        reuse_port: let several servers (processes) listen on the same port, with the
            kernel spreading connections among them (``SO_REUSEPORT``). Off by default,
            so a port that is already taken is an error instead of silently shared.
            ``serve(workers=N)`` turns it on for its own workers.
        health: serve the standard health service, ``grpc.health.v1.Health``:
            ``SERVING`` for every service once started, ``NOT_SERVING`` once stopping.
        reflection: serve gRPC server reflection (``v1alpha`` and ``v1``), so generic
            tools (``grpcurl``, ``buf curl``, Postman) can list and call the services.
        tls: serve TLS (or mTLS) instead of plaintext: a ``greeter.ServerTLS``.
        auth: check every call's bearer token (see ``greeter.bearer_tokens``): a
            function taking the token and returning the caller's identity, or raising
            ``greeter.Unauthenticated`` / ``greeter.PermissionDenied``; ``async def``
            on the asyncio server. Health checks need no token.
        hooks: ``greeter.ServerHook`` objects that see every call (before and after).
        interceptors: raw grpc server interceptors, run after the hooks.
        access_log: log one line per call (method, peer, status, duration) at INFO
            on the ``greeter.access`` logger.
        max_connection_age_seconds: close each connection (gracefully, with GOAWAY)
            after this long, so load-balancing clients notice new replicas.
        keepalive_seconds: ping idle clients this often to notice dead connections.
        client_keepalive_min_seconds: the shortest keepalive interval clients may use
            (pings more frequent than this are answered with GOAWAY).
        handshake_timeout_seconds: how long a new connection may take to finish its
            HTTP/2 (and TLS) handshake before it is dropped, so connections that never
            speak cannot pile up and exhaust the server's file descriptors.
        max_connection_idle_seconds: close connections that had no call for this long
            (``None``: keep them).
        write_timeout_seconds: how long one reply of a stream may wait to be sent (its
            client not reading) before the call is cancelled (``None``: no limit). On
            the threaded server that frees the handler thread and what grpc buffered;
            on the asyncio server the handler ends, but grpc keeps what it buffered
            until the client's connection closes. The web port closes a connection
            that leaves its answer unread for 10 s.
        max_connections: connections the native port keeps at once; one more is closed
            as soon as it is accepted (its client sees ``UNAVAILABLE`` at once), so idle
            connections cannot take every file descriptor the calls of the others
            need. ``None`` (the default): three quarters of the process's open-file
            limit when the server is built, or half with a ``web`` port (which keeps a
            quarter); ``serve()`` first raises that limit as far as the system allows.
        options: any other gRPC channel arguments, passed through unchanged.
        web: also serve browsers and plain HTTP on this address (host:port): Connect,
            gRPC-Web and HTTP/JSON, from the same service (see ``greeter.web``; needs
            the ``web`` extra). Stopped with the native port, with the same grace.
            Its calls see the same ``auth``, ``hooks`` and ``access_log``; with
            ``tls`` it serves HTTPS (requiring client certificates with a client CA).
        web_origins: the pages (CORS origins, e.g. ``"https://app.example"``, or
            ``"*"``) that may call the ``web`` port from a browser.
    """

    max_workers: int = DEFAULT_MAX_WORKERS
    maximum_concurrent_rpcs: int | None = None
    max_queued_calls: int = DEFAULT_MAX_QUEUED_CALLS
    max_queue_wait_share: float = DEFAULT_MAX_QUEUE_WAIT_SHARE
    max_concurrent_streams: int | None = None
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    lame_duck_seconds: float = DEFAULT_LAME_DUCK_SECONDS
    compression: Compression | None = None
    max_send_message_length: int | None = None
    max_receive_message_length: int | None = None
    reuse_port: bool = False
    health: bool = True
    reflection: bool = True
    tls: ServerTLS | None = None
    auth: TokenCheck | None = None
    hooks: Sequence[ServerHook] = ()
    interceptors: Sequence[ServerInterceptor] = ()
    access_log: bool = False
    max_connection_age_seconds: float | None = None
    keepalive_seconds: float | None = None
    client_keepalive_min_seconds: float = 10.0
    handshake_timeout_seconds: float = 5.0
    max_connection_idle_seconds: float | None = 300.0
    max_connections: int | None = None
    write_timeout_seconds: float | None = 30.0
    options: Sequence[ChannelOption] = ()
    web: str | None = None
    web_origins: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if self.maximum_concurrent_rpcs is not None and self.maximum_concurrent_rpcs < 1:
            raise ValueError("maximum_concurrent_rpcs must be at least 1 (or None)")
        if self.max_queued_calls < 0:
            raise ValueError("max_queued_calls must not be negative")
        if not 0 < self.max_queue_wait_share <= 1:
            raise ValueError("max_queue_wait_share must be more than 0 and at most 1")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1 (or None)")
        if self.max_concurrent_streams is not None and self.max_concurrent_streams < 1:
            raise ValueError("max_concurrent_streams must be at least 1 (or None)")
        if self.lame_duck_seconds < 0:
            raise ValueError("lame_duck_seconds must not be negative")
        if self.grace_seconds < 0:
            raise ValueError("grace_seconds must not be negative")
        if self.handshake_timeout_seconds <= 0:
            raise ValueError("handshake_timeout_seconds must be positive")
        for name in (
            "write_timeout_seconds",
            "max_connection_age_seconds",
            "keepalive_seconds",
            "max_connection_idle_seconds",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None)")
        to_grpc_compression(self.compression)  # rejects an unknown name now, not at start

    def connection_limit(self) -> int | None:
        """The ``max_connections`` in force now (``None``: no limit can be told)."""
        if self.max_connections is not None:
            return self.max_connections
        try:
            import resource  # not on Windows
        except ImportError:
            return None
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return None
        return max(1, soft // 2 if self.web is not None else soft * 3 // 4)

    def call_pipeline(self) -> CallPipeline | None:
        """The auth check and hooks this config asks for, for the native and web ports
        alike (``None`` if none: calls pay nothing)."""
        hooks = [*self.hooks, *([AccessLog()] if self.access_log else [])]
        identify = None if self.auth is None else TokenIdentifier(self.auth)
        return CallPipeline(hooks, identify) if hooks or identify else None

    def channel_options(self) -> list[ChannelOption]:
        """All gRPC channel arguments this configuration implies."""
        options: list[ChannelOption] = [("grpc.so_reuseport", int(self.reuse_port))]
        if self.max_concurrent_streams is not None:
            options.append(("grpc.max_concurrent_streams", self.max_concurrent_streams))
        connections = self.connection_limit()
        if connections is not None:
            options.append(("grpc.max_allowed_incoming_connections", connections))
        options += message_length_options(
            self.max_send_message_length, self.max_receive_message_length
        )
        if self.max_connection_age_seconds is not None:
            options += [
                ("grpc.max_connection_age_ms", milliseconds(self.max_connection_age_seconds)),
                ("grpc.max_connection_age_grace_ms", milliseconds(self.grace_seconds)),
            ]
        if self.keepalive_seconds is not None:
            options.append(("grpc.keepalive_time_ms", milliseconds(self.keepalive_seconds)))
        options.append(
            ("grpc.server_handshake_timeout_ms", milliseconds(self.handshake_timeout_seconds))
        )
        if self.max_connection_idle_seconds is not None:
            options.append(
                ("grpc.max_connection_idle_ms", milliseconds(self.max_connection_idle_seconds))
            )
        options += [
            ("grpc.keepalive_permit_without_calls", 1),
            (
                "grpc.http2.min_recv_ping_interval_without_data_ms",
                milliseconds(self.client_keepalive_min_seconds),
            ),
            (
                "grpc.http2.min_ping_interval_without_data_ms",
                milliseconds(self.client_keepalive_min_seconds),
            ),
        ]
        return [*options, *self.options]
