"""What the blocking and asyncio clients share, for any service: options and channel.

A client of any gRPC service is a ``ServiceClient`` (``greeter.client._sync``) or an
``AsyncServiceClient`` (``greeter.client._asyncio``); both are a ``ClientBase``, which
holds what does not depend on blocking or awaiting:

- the constructor: the per-client call defaults and the channel's settings, checked
  once (``ChannelSettings``), then the channel opened by the twin;
- ``_options()``: one call's options over the client's defaults, as grpcio's call
  methods take them (``CallOptions``);
- ``_bind()``: a method's grpc multi-callable, made once per client and path, from the
  method's path and response type (requests serialize themselves);
- the health check's request and answer (``grpc.health.v1.Health/Check``), which every
  client can ask of its server.

The twins then differ only where blocking and awaiting differ: each has one generic
helper per call shape (``_unary_unary``, ``_unary_stream``, ...), taking the method
path, the request, the response type and the call options, and mapping a failed call
to the ``greeter.GreeterError`` of its status. A typed client is a subclass whose
methods are a line or two over those helpers (see ``GreeterClient``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import methodcaller
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypedDict, TypeVar

import grpc

from greeter._addresses import DEFAULT_TARGET
from greeter._metadata import Metadata, MetadataTuple, normalize_metadata
from greeter._options import ChannelOption, Compression, message_length_options, to_grpc_compression
from greeter._tls import ClientTLS
from greeter.client._channel import ChannelSettings, LoadBalancing, RetryPolicy
from greeter.client._tokens import TokenSource, authorization_metadata

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from greeter._proto.health_pb2 import HealthCheckRequest, HealthCheckResponse

__all__ = [
    "CLIENT_OPTIONS_DOC",
    "HEALTH_CHECK_PATH",
    "CallOptions",
    "CallShape",
    "ClientBase",
    "health_check_request",
    "health_status_name",
]

#: Timeouts from this many seconds up (``math.inf`` included) mean "no deadline". grpc
#: itself takes ``math.inf``, or any timeout past its clock's end (about 7e9 s from
#: now), as a deadline already passed, and fails the call at once.
_NO_DEADLINE_SECONDS = 1e9

#: The health service's one-shot check, as a client calls it.
HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"

#: How a request becomes bytes: every protobuf message serializes itself.
_SERIALIZE = methodcaller("SerializeToString")
#: Tells grpc the method is known in advance, as grpc's generated stubs do: the channel
#: then prepares the call's path once, not on every call.
_REGISTERED: dict[str, Any] = {"_registered_method": True}

#: The four call shapes, named as grpc's channels name their multi-callable factories.
CallShape: TypeAlias = Literal["unary_unary", "unary_stream", "stream_unary", "stream_stream"]

_Interceptor = TypeVar("_Interceptor")
_Channel = TypeVar("_Channel")


class CallOptions(TypedDict):
    """The per-call options as grpcio's call methods take them (keyword arguments)."""

    timeout: float | None
    metadata: MetadataTuple
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _grpc_timeout(timeout: float | None) -> float | None:
    """A timeout as grpc takes it: ``None`` for no deadline."""
    if timeout is None:
        return None
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds (math.inf: no deadline), not nan")
    return None if timeout >= _NO_DEADLINE_SECONDS else timeout


class ClientBase(Generic[_Interceptor, _Channel]):
    """A client's channel, call defaults and bound methods; the twins open the channel.

    Subclasses define ``_open_channel`` (blocking or asyncio) and the call helpers.
    """

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
        max_send_message_length: int | None = None,
        max_receive_message_length: int | None = None,
        options: Iterable[ChannelOption] = (),
        tls: ClientTLS | None = None,
        token: TokenSource | None = None,
        unsafe_plaintext_token: bool = False,
        load_balancing: LoadBalancing | None = None,
        retries: RetryPolicy | None = None,
        keepalive_seconds: float | None = None,
        interceptors: Sequence[_Interceptor] = (),
    ) -> None:
        self._defaults = CallOptions(
            timeout=_grpc_timeout(timeout),
            metadata=normalize_metadata(metadata),
            wait_for_ready=wait_for_ready,
            compression=to_grpc_compression(compression),
        )
        self._channel_settings = ChannelSettings.build(
            target,
            options=[
                *message_length_options(max_send_message_length, max_receive_message_length),
                *options,
            ],
            tls=tls,
            token=token,
            unsafe_plaintext_token=unsafe_plaintext_token,
            load_balancing=load_balancing,
            retries=retries,
            keepalive_seconds=keepalive_seconds,
        )
        #: The grpc target the channel connects to.
        self.target = self._channel_settings.target
        self._closed = False
        self._channel: _Channel = self._open_channel(interceptors)
        #: grpc's multi-callable of each method called so far, by path.
        self._methods: dict[str, Any] = {}

    def _open_channel(self, interceptors: Sequence[_Interceptor]) -> _Channel:
        raise NotImplementedError

    def _options(
        self,
        timeout: float | None,
        metadata: Metadata | None,
        wait_for_ready: bool | None,
        compression: Compression | None,
    ) -> CallOptions:
        """Per-call options over the client's defaults; per-call metadata is appended."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        defaults = self._defaults
        if (
            timeout is None
            and metadata is None
            and wait_for_ready is None
            and compression is None
            and self._channel_settings.plaintext_token is None
        ):
            return defaults  # the usual call: nothing to merge (grpc never changes it)
        return CallOptions(
            timeout=defaults["timeout"] if timeout is None else _grpc_timeout(timeout),
            metadata=defaults["metadata"] + normalize_metadata(metadata) + self._token_metadata(),
            wait_for_ready=defaults["wait_for_ready"] if wait_for_ready is None else wait_for_ready,
            compression=(
                defaults["compression"] if compression is None else to_grpc_compression(compression)
            ),
        )

    def _token_metadata(self) -> MetadataTuple:
        token = self._channel_settings.plaintext_token
        return () if token is None else authorization_metadata(token)

    def _bind(self, shape: CallShape, path: str, response_type: type[Message]) -> Any:
        """grpc's multi-callable for the method at ``path``, made on its first call."""
        method = getattr(self._channel, shape)(
            path,
            request_serializer=_SERIALIZE,
            response_deserializer=response_type.FromString,
            **_REGISTERED,
        )
        self._methods[path] = method
        return method

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


def health_check_request(service: str) -> tuple[HealthCheckRequest, type[HealthCheckResponse]]:
    """The health check's request for ``service`` ("": the whole server), and its answer's type."""
    # The health messages load here, on first use: most clients never ask.
    from greeter._proto.health_pb2 import HealthCheckRequest, HealthCheckResponse

    return HealthCheckRequest(service=service), HealthCheckResponse


def health_status_name(answer: HealthCheckResponse) -> str:
    """The status the health check answered, by name: ``"SERVING"``, ``"NOT_SERVING"``, ..."""
    return answer.ServingStatus.Name(answer.status)


CLIENT_OPTIONS_DOC = """
    Constructor keywords set per-client defaults for every call: ``timeout`` (seconds;
    on expiry a call raises ``greeter.DeadlineExceeded``; ``None`` or ``math.inf``: no
    deadline), ``metadata`` (sent with each call; per-call metadata is added to it; a
    key or value gRPC would refuse raises ``ValueError`` before anything is sent),
    ``wait_for_ready`` (queue calls until the server is reachable instead of failing
    fast with ``greeter.Unavailable``) and ``compression`` (``"gzip"`` or
    ``"deflate"``). ``max_send_message_length``, ``max_receive_message_length`` and
    ``options`` (raw gRPC channel arguments) shape the channel.

    Security: ``tls=ClientTLS(...)`` calls over TLS (mTLS with a client certificate);
    ``token`` (a string, or a function returning the current token) is sent as
    ``authorization: Bearer ...`` with every call, over TLS only unless
    ``unsafe_plaintext_token=True``. Several servers: ``target`` may be a list of
    ``HOST:PORT`` IP addresses (or one ``dns:///NAME:PORT``) with
    ``load_balancing="round_robin"``; ``retries=RetryPolicy()`` retries ``UNAVAILABLE``;
    ``keepalive_seconds`` pings the server to notice dead connections. ``interceptors``
    are raw grpc client interceptors (``grpc.aio``'s on the asyncio client).

    Every method takes the same four call options, keyword-only, to override the
    defaults for one call; ``None`` keeps the default, so to lift the client's default
    timeout for one call, pass ``timeout=math.inf``.

    Failed calls raise the ``greeter.GreeterError`` subclass for their status.
"""
