"""Prometheus metrics for a Greeter server (the ``metrics`` extra).

Install with ``pip install "grpc-greeter[metrics]"``; this module is the only one that
imports ``prometheus_client``, so ``import greeter`` never pays for it::

    from greeter import GreeterService, ServerConfig
    from greeter.metrics import PrometheusMetrics, serve_metrics

    metrics = PrometheusMetrics()
    with serve_metrics("0.0.0.0:9100"):         # http://HOST:9100/metrics
        GreeterService().serve("[::]:50051", config=ServerConfig(hooks=[metrics]))

Every RPC the server answers (the Greeter's, health, reflection and any extra service)
is counted once it ends:

=============================================  ========================================
series                                         what it holds
=============================================  ========================================
``greeter_server_calls_total``                 calls, by ``service``, ``method`` and
                                               ``code`` (``"OK"``, ``"NOT_FOUND"``, ...)
``greeter_server_call_duration_seconds``       a histogram of how long calls took, by
                                               ``service`` and ``method``
=============================================  ========================================

The endpoint answers at ``/metrics`` only, to anyone who reaches its port: it checks no
token (``ServerConfig.auth`` and ``--auth-token`` guard the RPC ports, not this one).
Bind it where only the scraper reaches it: ``serve_metrics("127.0.0.1:9100")``, or an
address on a private network (``greeter serve --metrics 10.0.0.5:9100``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

from greeter._addresses import bare_host, split_address
from greeter.pipeline._hooks import CallInfo, CallOutcome, ServerHook

if TYPE_CHECKING:
    from collections.abc import Iterable
    from wsgiref.simple_server import WSGIServer

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Self

__all__ = ["DEFAULT_BUCKETS", "METRICS_PATH", "MetricsServer", "PrometheusMetrics", "serve_metrics"]

#: The one path the scrape endpoint answers on; every other path is 404.
METRICS_PATH = "/metrics"

#: Latency buckets (seconds) of ``greeter_server_call_duration_seconds``: Prometheus's
#: defaults, 5 ms to 10 s, which suit RPCs answered over a network.
DEFAULT_BUCKETS: tuple[float, ...] = tuple(Histogram.DEFAULT_BUCKETS)


class PrometheusMetrics(ServerHook):
    """A server hook counting calls and timing them, per RPC and status code.

    Pass it to the server in ``ServerConfig(hooks=[...])``; it records each call when
    the call ends (``after_call``), so it never delays or rejects one. Its series live
    in ``registry`` (prometheus_client's global ``REGISTRY`` by default, which is what
    ``serve_metrics`` and most exporters read). A registry holds one set of these
    series: create one ``PrometheusMetrics`` per registry and share it among servers,
    or give each its own ``CollectorRegistry``.

    Args:
        registry: where the series are registered.
        buckets: upper bounds, in seconds, of the latency histogram's buckets.

    Raises:
        ValueError: ``registry`` already holds series of these names.
    """

    def __init__(
        self,
        registry: CollectorRegistry = REGISTRY,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        #: The registry holding this object's series.
        self.registry = registry
        #: ``greeter_server_calls_total{service, method, code}``.
        self.calls = Counter(
            "greeter_server_calls",
            "RPCs completed by the server, by service, method and gRPC status code.",
            ["service", "method", "code"],
            registry=registry,
        )
        #: ``greeter_server_call_duration_seconds{service, method}``.
        self.durations = Histogram(
            "greeter_server_call_duration_seconds",
            "Time from receiving an RPC to sending its status, in seconds.",
            ["service", "method"],
            registry=registry,
            buckets=buckets,
        )

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        """Count the call under its status code and add its duration to the histogram."""
        self.calls.labels(call.service, call.rpc, outcome.code.name).inc()
        self.durations.labels(call.service, call.rpc).observe(outcome.duration)


class MetricsServer:
    """A Prometheus scrape endpoint serving in a background thread (see ``serve_metrics``).

    A context manager: leaving the ``with`` block stops it and frees its port.
    """

    def __init__(self, http_server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self._http_server = http_server
        self._thread = thread
        self._stopped = False
        #: The host it listens on, as given (``"127.0.0.1"``, ``"::"``, ``"0.0.0.0"``).
        self.host = host
        #: The port it listens on (the OS's pick when asked for port 0).
        self.port: int = http_server.server_port

    @property
    def address(self) -> str:
        """``host:port`` with the real port; IPv6 hosts in brackets (``[::1]:9100``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL to scrape: ``http://HOST:PORT/metrics``."""
        return f"http://{self.address}{METRICS_PATH}"

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._http_server.shutdown()  # returns once serve_forever() has
        self._http_server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MetricsServer({self.url!r})"


def serve_metrics(address: str, registry: CollectorRegistry = REGISTRY) -> MetricsServer:
    """Serve ``registry`` for Prometheus to scrape at ``http://ADDRESS/metrics``.

    Every other path is 404. Anyone who reaches ``address`` may read the metrics (no
    token is checked): choose an address only the scraper reaches.

    ``address`` is ``"host:port"``: ``"127.0.0.1:9100"``, ``"0.0.0.0:9100"`` (every
    IPv4 interface), ``"[::]:9100"`` (every interface), ``"[::1]:0"`` (the OS picks a
    free port: read it from ``.port``). It serves from a daemon thread until
    ``.stop()`` (or the end of a ``with`` block)::

        with serve_metrics("127.0.0.1:0") as endpoint:
            print(endpoint.url)                 # http://127.0.0.1:43117/metrics

    Raises:
        ValueError: ``address`` is not ``host:port``.
        OSError: the address cannot be listened on (e.g. the port is taken).
    """
    host, port = _split_address(address)
    try:
        http_server, thread = start_http_server(port, addr=host, registry=registry)
    except socket.gaierror:
        raise OSError(f"cannot serve metrics on {address}: cannot resolve host {host!r}") from None
    except OSError as error:  # "[Errno 98] Address already in use", without the address
        reason = (error.strerror or str(error)).lower()
        raise OSError(f"cannot serve metrics on {address}: {reason}") from None
    thread.name = f"greeter-metrics-{http_server.server_port}"
    app = http_server.get_app()
    assert app is not None, "start_http_server serves an app"
    http_server.set_app(_only_at(METRICS_PATH, app))
    return MetricsServer(http_server, thread, host)


def _only_at(path: str, app: WSGIApplication) -> WSGIApplication:
    """``app`` at ``path`` only: every other path is 404 (prometheus_client's server
    answers the metrics on any path)."""

    def only_at_path(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == path:
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: the metrics are at {path}\n".encode()]

    return only_at_path


def _split_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a metrics address, the host without IPv6 brackets."""
    try:
        host, port = split_address(address)
    except ValueError:
        port = None
    if port is None:  # malformed, or a unix socket
        raise ValueError(
            f"metrics address must be host:port (like 127.0.0.1:9100 or [::]:9100), not {address!r}"
        ) from None
    return bare_host(host), port
