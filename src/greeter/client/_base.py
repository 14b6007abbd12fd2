"""What the blocking and asyncio clients share, for any service: options and channel.

A client of any gRPC service is a ``Client`` or an ``AsyncClient``
(``greeter.client._generic``): a generated ``InventoryClient`` is one, and so is
``GreeterClient``. Both are a ``ClientBase``, which holds what does not depend on
blocking or awaiting:

- the one constructor: the per-client call defaults and the channel's settings, checked
  once (``ChannelSettings``), then the channel opened by the twin and a grpc
  multi-callable made for each method of the client's ``definition`` (its
  ``ServiceDefinition``), once, as grpc's generated stubs do;
- ``CallOptions``: the four options every call method takes as keyword arguments
  (``**options: Unpack[CallOptions]``), typed once for every client;
- ``_options()``: one call's options over the client's defaults, as grpcio's call
  methods take them (``GrpcCallOptions``);
- the health check's method and request (``grpc.health.v1.Health/Check``), which every
  client can ask of its server.

The twins then differ only where blocking and awaiting differ: one helper per call
shape (``_unary_unary``, ``_unary_stream``, ...), taking the ``Method``, the request and
the four call options, and mapping a failed call to the ``greeter.GreeterError`` of its
status. A typed client is a subclass whose methods are a line over those helpers.

The channel, TLS and tokens load when a client is made, not when a generated module
defining a client class is imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypedDict, TypeVar

import grpc

from greeter._addresses import DEFAULT_TARGET
from greeter._metadata import Metadata, MetadataTuple, normalize_metadata
from greeter._method import Method, ServiceDefinition, Shape
from greeter._options import ChannelOption, Compression, message_length_options, to_grpc_compression

if TYPE_CHECKING:
    from greeter._proto.health_pb2 import HealthCheckRequest, HealthCheckResponse
    from greeter._tls import ClientTLS
    from greeter.client._channel import LoadBalancing, RetryPolicy
    from greeter.client._tokens import TokenSource

__all__ = [
    "CLIENT_OPTIONS_DOC",
    "CallOptions",
    "CallValues",
    "ClientBase",
    "GrpcCallOptions",
    "health_status_name",
]

#: Timeouts from this many seconds up (``math.inf`` included) mean "no deadline". grpc
#: itself takes ``math.inf``, or any timeout past its clock's end (about 7e9 s from
#: now), as a deadline already passed, and fails the call at once.
_NO_DEADLINE_SECONDS = 1e9

#: The health service's one-shot check, as a client calls it.
_HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"

_Interceptor = TypeVar("_Interceptor")
_Channel = TypeVar("_Channel")


class CallOptions(TypedDict, total=False):
    """The options every call method of every client takes, as keyword arguments.

    A method's signature says ``**options: Unpack[CallOptions]``: type checkers and
    editors see the four keywords below, each optional. One left out, or ``None``,
    keeps the client's default (set when it was made)::

        client.greet("you", timeout=2.5, metadata=[("x-request-id", "42")])
    """

    #: Seconds until the call fails with ``greeter.DeadlineExceeded``; ``math.inf``:
    #: no deadline, even when the client has a default one.
    timeout: float | None
    #: Sent with the call, after the client's own metadata. A key or value gRPC would
    #: refuse raises ``ValueError`` before anything is sent.
    metadata: Metadata | None
    #: Queue the call until the server is reachable instead of failing fast with
    #: ``greeter.Unavailable``.
    wait_for_ready: bool | None
    #: Compress the request: ``"gzip"`` or ``"deflate"``.
    compression: Compression | None


class GrpcCallOptions(TypedDict, total=False):
    """The per-call options as grpcio's call methods take them (keyword arguments); one
    left out is grpc's default (``None``; no metadata)."""

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


#: One single-response call's options as its helper hands them to grpc, each as a
#: keyword: timeout, metadata, wait_for_ready, compression (``None``: grpc's default).
CallValues = tuple[float | None, MetadataTuple | None, bool | None, "grpc.Compression | None"]


def _only_set(options: GrpcCallOptions) -> GrpcCallOptions:
    """``options`` without those at grpc's own defaults (``None``, no metadata).

    Every keyword argument grpc binds costs instructions on every call (about 400 of a
    sync unary call's): a usual call passes only what it sets, as a raw stub's caller
    does.
    """
    only_set = GrpcCallOptions()
    if options["timeout"] is not None:
        only_set["timeout"] = options["timeout"]
    if options["metadata"]:
        only_set["metadata"] = options["metadata"]
    if options["wait_for_ready"] is not None:
        only_set["wait_for_ready"] = options["wait_for_ready"]
    if options["compression"] is not None:
        only_set["compression"] = options["compression"]
    return only_set


class ClientBase(Generic[_Interceptor, _Channel]):
    """A client's channel, call defaults and grpc callables; the twins open the channel.

    Subclasses define ``_open_channel`` (blocking or asyncio) and the call helpers; a
    client class sets ``definition``, the service it calls.
    """

    #: The service this client calls; each client class sets it.
    definition: ClassVar[ServiceDefinition]

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
        if not isinstance(getattr(type(self), "definition", None), ServiceDefinition):
            raise TypeError(
                f"{type(self).__name__} calls no service: use a generated client class "
                "(InventoryClient), not greeter.rpc.Client itself"
            )
        from greeter.client._channel import ChannelSettings

        self._defaults = GrpcCallOptions(
            timeout=_grpc_timeout(timeout),
            metadata=normalize_metadata(metadata),
            wait_for_ready=wait_for_ready,
            compression=to_grpc_compression(compression),
        )
        #: What a call with no per-call options passes to grpc.
        self._usual_options = _only_set(self._defaults)
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
        #: What a single-response call with no per-call options hands grpc, read before
        #: any call to ``_options()`` (a call saved on every unary call); ``None`` once
        #: the client is closed, or when every call carries a plaintext token.
        self._plain_values: CallValues | None = (
            self._call_values({}) if self._channel_settings.plaintext_token is None else None
        )
        self._channel: _Channel = self._open_channel(interceptors)
        #: Each method's grpc multi-callable, by path (made once, as a generated stub does).
        self._callables: dict[str, Any] = {}
        #: Each multi-callable's bound ``__call__``, which every call goes through: a bound
        #: method takes its arguments by vectorcall, where calling the object goes through
        #: its type's call slot, which packs them into a tuple (and keywords into a dict)
        #: first. valgrind: ~1,000 instructions fewer a call, ~3,000 with grpc.aio's
        #: keyword-only options.
        self._calls: dict[str, Any] = {}
        for method in self.definition.methods:
            self._bind(method)

    def _open_channel(self, interceptors: Sequence[_Interceptor]) -> _Channel:
        raise NotImplementedError

    def _bind(self, method: Method[Any, Any]) -> None:
        """Make grpc's multi-callable for ``method``; requests serialize themselves."""
        self._keep_callable(
            method,
            getattr(self._channel, method.shape.value)(
                method.path,
                request_serializer=method.request_type.SerializeToString,
                response_deserializer=method.response_type.FromString,
                # The method is known in advance, as grpc's generated stubs say: the channel
                # then prepares the call's path once, not on every call.
                _registered_method=True,
            ),
        )

    def _keep_callable(self, method: Method[Any, Any], callable_: Any) -> None:
        """Keep ``method``'s multi-callable, and its ``__call__`` for the calls."""
        self._callables[method.path] = callable_
        self._calls[method.path] = callable_.__call__

    def _mark_closed(self) -> bool:
        """Mark the client closed; whether it was open (its twin then closes the channel)."""
        was_open = not self._closed
        self._closed = True
        self._plain_values = None
        return was_open

    def _call_values(self, options: CallOptions) -> CallValues:
        """``_options()`` as the single-response helpers hand them to grpc: all four,
        each always passed (cheaper for grpc to bind than ``**options``)."""
        merged = self._options(**options)
        return (
            merged.get("timeout"),
            merged.get("metadata"),
            merged.get("wait_for_ready"),
            merged.get("compression"),
        )

    def _options(
        self,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        wait_for_ready: bool | None = None,
        compression: Compression | None = None,
    ) -> GrpcCallOptions:
        """Per-call options over the client's defaults; per-call metadata is appended."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        token = self._channel_settings.plaintext_token
        if (
            timeout is None
            and metadata is None
            and wait_for_ready is None
            and compression is None
            and token is None
        ):
            return self._usual_options  # nothing to merge (grpc never changes it)
        defaults = self._defaults
        if token is not None:
            from greeter.client._tokens import authorization_metadata
        return GrpcCallOptions(
            timeout=defaults["timeout"] if timeout is None else _grpc_timeout(timeout),
            metadata=(
                defaults["metadata"]
                + normalize_metadata(metadata)
                + (() if token is None else authorization_metadata(token))
            ),
            wait_for_ready=defaults["wait_for_ready"] if wait_for_ready is None else wait_for_ready,
            compression=(
                defaults["compression"] if compression is None else to_grpc_compression(compression)
            ),
        )

    def _health_check(
        self, service: str
    ) -> tuple[Method[HealthCheckRequest, HealthCheckResponse], HealthCheckRequest]:
        """The health check's method (bound on first use) and its request for ``service``."""
        # The health messages load here, on first use: most clients never ask.
        from greeter._proto.health_pb2 import HealthCheckRequest, HealthCheckResponse

        method = Method(
            _HEALTH_CHECK_PATH, "check", Shape.UNARY_UNARY, HealthCheckRequest, HealthCheckResponse
        )
        if method.path not in self._callables:
            self._bind(method)
        return method, HealthCheckRequest(service=service)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


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

    Every method takes the same four call options as keywords (``greeter.CallOptions``)
    to override the defaults for one call; ``None`` keeps the default, so to lift the
    client's default timeout for one call, pass ``timeout=math.inf``.

    Failed calls raise the ``greeter.GreeterError`` subclass for their status.
"""
