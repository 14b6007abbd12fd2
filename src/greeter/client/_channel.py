"""How a client's channel is made: target, credentials, load balancing, retries, keepalive.

Everything here builds what grpc itself provides: channel credentials for TLS, call
credentials for tokens, and grpc's service config (``loadBalancingConfig`` and a
``retryPolicy``) for load balancing and retries. ``GreeterClient`` and
``AsyncGreeterClient`` both open their channel from one ``ChannelSettings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

import grpc
import grpc.aio

from greeter._addresses import check_target, ip_literal_version, split_address
from greeter._options import ChannelOption, milliseconds
from greeter._tls import ClientTLS
from greeter.client._tokens import TokenSource, call_credentials
from greeter.errors import StatusCode

__all__ = ["ChannelSettings", "ClientInterceptor", "LoadBalancing", "RetryPolicy"]

#: The load-balancing policies grpc has built in: ``"pick_first"`` (grpc's default: one
#: connection at a time) and ``"round_robin"`` (a connection to every address, calls
#: spread over them).
LoadBalancing: TypeAlias = Literal["pick_first", "round_robin"]

#: A raw grpc interceptor for the blocking client (any of grpc's four client interceptor
#: kinds); the asyncio client takes ``grpc.aio.ClientInterceptor``s.
ClientInterceptor: TypeAlias = (
    grpc.UnaryUnaryClientInterceptor
    | grpc.UnaryStreamClientInterceptor
    | grpc.StreamUnaryClientInterceptor
    | grpc.StreamStreamClientInterceptor
)

_CLIENT_INTERCEPTOR_TYPES = (
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
)

_AIO_CLIENT_INTERCEPTOR_TYPES = (
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
)

#: How long a keepalive ping may go unanswered before the connection counts as dead.
_KEEPALIVE_TIMEOUT_SECONDS = 20.0
#: The shortest retry backoff allowed. grpc refuses a service config with a backoff under
#: 1 ms (at the first call, not here), and grpcio 1.85 stalls retries until the deadline
#: when a backoff is under 2 ms; 10 ms keeps clear of both.
_MIN_BACKOFF_SECONDS = 0.01


def _duration(seconds: float) -> str:
    """A duration as grpc's service config reads it: ``"0.100000000s"``, never ``"1e-05s"``."""
    return f"{seconds:.9f}s"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry calls that fail with a transient status, as grpc's service config does.

    grpc retries a call only while nothing of the response has arrived, so a retry never
    repeats half a stream; the call's deadline bounds all attempts together.

    Attributes:
        max_attempts: attempts in all, the first included (grpc caps it at 5).
        initial_backoff: seconds before the first retry; each later one waits up to
            ``backoff_multiplier`` times longer (with random jitter), at most ``max_backoff``.
        max_backoff: the longest wait between attempts, in seconds.
        backoff_multiplier: how much the wait grows after each attempt.
        retryable_codes: the statuses worth another attempt.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    backoff_multiplier: float = 2.0
    retryable_codes: Sequence[StatusCode] = (StatusCode.UNAVAILABLE,)

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError("max_attempts must be from 2 to 5 (grpc's limit)")
        if min(self.initial_backoff, self.max_backoff) < _MIN_BACKOFF_SECONDS:
            raise ValueError(f"backoffs must be at least {_MIN_BACKOFF_SECONDS} s")
        if self.backoff_multiplier <= 0:
            raise ValueError("backoff_multiplier must be positive")
        if not self.retryable_codes or StatusCode.OK in self.retryable_codes:
            raise ValueError("retryable_codes must name at least one error status")
        for code in self.retryable_codes:
            if not isinstance(code, StatusCode):
                raise ValueError(
                    f"retryable_codes must be greeter.StatusCode members "
                    f"(StatusCode.UNAVAILABLE), not {code!r}"
                )

    def to_service_config(self) -> dict[str, Any]:
        """This policy as the ``retryPolicy`` of grpc's service config."""
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": _duration(self.initial_backoff),
            "maxBackoff": _duration(self.max_backoff),
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": [code.name for code in self.retryable_codes],
        }


def _ip_version(address: str) -> int:
    """4 or 6 for ``1.2.3.4:PORT`` or ``[::1]:PORT``; ValueError for anything else."""
    try:
        host, port = split_address(address)
    except ValueError:
        host, port = "", None
    version = ip_literal_version(host) if port else None  # port 0 cannot be dialled
    if version is None:
        raise ValueError(
            f"several targets must be IP addresses with a port (127.0.0.1:50051, "
            f"[::1]:50051), not {address!r}; for a DNS name with several records use one "
            "target, 'dns:///NAME:PORT'"
        )
    return version


def channel_target(target: str | Sequence[str]) -> str:
    """grpc's target for one address, or for several IP addresses as one channel."""
    if isinstance(target, str):
        return check_target(target)
    if not target:
        raise ValueError("no target to connect to")
    families = {_ip_version(address) for address in target}
    if len(families) > 1:
        raise ValueError("several targets must all be IPv4 or all IPv6")
    return f"ipv{families.pop()}:{','.join(target)}"


@dataclass(frozen=True)
class ChannelSettings:
    """Everything that shapes a client's channel, checked once, used by both clients."""

    target: str
    options: tuple[ChannelOption, ...]
    credentials: grpc.ChannelCredentials | None
    #: The token to send as plain metadata (only with ``unsafe_plaintext_token``).
    plaintext_token: TokenSource | None

    @classmethod
    def build(
        cls,
        target: str | Sequence[str],
        *,
        options: Sequence[ChannelOption],
        tls: ClientTLS | None,
        token: TokenSource | None,
        unsafe_plaintext_token: bool,
        load_balancing: LoadBalancing | None,
        retries: RetryPolicy | None,
        keepalive_seconds: float | None,
    ) -> ChannelSettings:
        """Check the client's settings together and derive the channel's."""
        built: list[ChannelOption] = []
        service_config: dict[str, Any] = {}
        if load_balancing is not None:
            if load_balancing not in get_args(LoadBalancing):
                raise ValueError(
                    f"unknown load_balancing {load_balancing!r}; choose 'round_robin' or "
                    "'pick_first'"
                )
            service_config["loadBalancingConfig"] = [{load_balancing: {}}]
        if retries is not None:
            service_config["methodConfig"] = [
                {"name": [{}], "retryPolicy": retries.to_service_config()}
            ]
            built.append(("grpc.enable_retries", 1))
        if service_config:
            import json  # here: only clients with retries or load balancing need it

            built.append(("grpc.service_config", json.dumps(service_config)))
        if keepalive_seconds is not None:
            if keepalive_seconds <= 0:
                raise ValueError("keepalive_seconds must be positive")
            built += [
                ("grpc.keepalive_time_ms", milliseconds(keepalive_seconds)),
                ("grpc.keepalive_timeout_ms", milliseconds(_KEEPALIVE_TIMEOUT_SECONDS)),
                ("grpc.keepalive_permit_without_calls", 1),
            ]
        credentials = None
        plaintext_token = None
        if tls is not None:
            built += tls.channel_options()
            credentials = tls.credentials()
            if token is not None:
                credentials = grpc.composite_channel_credentials(
                    credentials, call_credentials(token)
                )
        elif token is not None:
            if not unsafe_plaintext_token:
                raise ValueError(
                    "a token sent without TLS can be read by anyone on the network: pass "
                    "tls=ClientTLS(...), or unsafe_plaintext_token=True for local development"
                )
            plaintext_token = token
        return cls(channel_target(target), (*built, *options), credentials, plaintext_token)

    def open(self, interceptors: Sequence[ClientInterceptor]) -> grpc.Channel:
        """A blocking channel with these settings (and the client interceptors)."""
        for interceptor in interceptors:
            if not isinstance(interceptor, _CLIENT_INTERCEPTOR_TYPES):
                raise TypeError(
                    f"{type(interceptor).__name__} is not a grpc client interceptor: an "
                    "interceptor must be a grpc.UnaryUnaryClientInterceptor (or one of "
                    "grpc's three other client interceptor kinds)"
                )
        if self.credentials is None:
            channel = grpc.insecure_channel(self.target, options=self.options)
        else:
            channel = grpc.secure_channel(self.target, self.credentials, options=self.options)
        return grpc.intercept_channel(channel, *interceptors) if interceptors else channel

    def open_async(self, interceptors: Sequence[grpc.aio.ClientInterceptor]) -> grpc.aio.Channel:
        """An asyncio channel with these settings (and the client interceptors)."""
        for interceptor in interceptors:
            kinds = [
                kind for kind in _AIO_CLIENT_INTERCEPTOR_TYPES if isinstance(interceptor, kind)
            ]
            if len(kinds) != 1:
                raise TypeError(
                    f"{type(interceptor).__name__} must be exactly one of grpc.aio's four "
                    "client interceptor kinds (grpc.aio.UnaryUnaryClientInterceptor, ...): "
                    "grpc.aio would use an interceptor of several kinds for one only"
                )
        if self.credentials is None:
            return grpc.aio.insecure_channel(
                self.target, options=self.options, interceptors=interceptors or None
            )
        return grpc.aio.secure_channel(
            self.target, self.credentials, options=self.options, interceptors=interceptors or None
        )
