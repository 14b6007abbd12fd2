"""``greeter serve``: its flags, the one place they become a ``ServerConfig``, and the
command that serves until SIGINT or SIGTERM.

A new server setting is one ``ServerConfig`` field, one flag in ``add_parser`` and one
line in ``server_config``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from typing import TYPE_CHECKING, get_args

from greeter._addresses import DEFAULT_ADDRESS
from greeter._options import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_LAME_DUCK_SECONDS,
    DEFAULT_MAX_QUEUE_WAIT_SHARE,
    DEFAULT_MAX_QUEUED_CALLS,
    DEFAULT_MAX_WORKERS,
    Compression,
)
from greeter.cli._output import (
    EXIT_FAILURE,
    GRPC_VERBOSITY_VARIABLE,
    UsageError,
    failed,
    quiet_grpc_core,
)
from greeter.cli._tls_flags import add_server_tls_flags, server_tls
from greeter.cli._values import (
    at_least_one,
    listening_address,
    not_negative,
    positive,
    positive_or_zero,
    share,
    split_tokens,
    tcp_address,
)

if TYPE_CHECKING:
    from greeter.pipeline._hooks import ServerHook
    from greeter.rpc import AsyncService, Service
    from greeter.server._config import ServerConfig

__all__ = ["AUTH_TOKENS_VARIABLE", "add_parser", "run", "server_config"]

#: Comma-separated bearer tokens ``greeter serve`` accepts, beside ``--auth-token``.
AUTH_TOKENS_VARIABLE = "GREETER_AUTH_TOKENS"


_DESCRIPTION = (
    "Run a Greeter server with the canonical greetings until SIGINT or SIGTERM, then "
    "stop gracefully."
)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``greeter serve`` and its flags to the command line; its parser."""
    serve = subparsers.add_parser(
        "serve", help="run a Greeter server until SIGINT or SIGTERM", description=_DESCRIPTION
    )
    serve.add_argument(
        "--address",
        action="append",
        type=listening_address,
        metavar="ADDR",
        help="host:port (or unix:PATH) to listen on; repeat to listen on several; port 0 "
        f"picks a free port (default: {DEFAULT_ADDRESS})",
    )
    serve.add_argument(
        "--grace",
        type=positive_or_zero,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="on shutdown, how long in-flight calls may finish before they are cancelled "
        f"(default: {DEFAULT_GRACE_SECONDS:g})",
    )
    serve.add_argument(
        "--lame-duck",
        type=positive_or_zero,
        default=DEFAULT_LAME_DUCK_SECONDS,
        metavar="SECONDS",
        help="on SIGINT or SIGTERM, how long to keep taking calls after reporting "
        f"NOT_SERVING, before the stop begins (default: {DEFAULT_LAME_DUCK_SECONDS:g})",
    )
    serve.add_argument(
        "--async",
        dest="use_asyncio",
        action="store_true",
        help="serve with the asyncio server (AsyncGreeterService) instead of threads",
    )
    serve.add_argument(
        "--service",
        dest="services",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="also serve this generated service (greeter generate), e.g. "
        "shop.service:MyInventory: an importable class, made with no arguments; "
        "repeatable (asyncio services, AsyncXService subclasses, need --async)",
    )
    serve.add_argument(
        "--workers",
        type=at_least_one,
        metavar="N",
        help="serve from N processes sharing the port (SO_REUSEPORT) (default on Linux: "
        "one per CPU, for one TCP --address without --metrics or --web; otherwise 1)",
    )
    serve.add_argument(
        "--max-workers",
        type=at_least_one,
        default=DEFAULT_MAX_WORKERS,
        metavar="N",
        help="threads serving calls, per process (threaded server; default: "
        f"{DEFAULT_MAX_WORKERS})",
    )
    serve.add_argument(
        "--max-concurrent-rpcs",
        type=at_least_one,
        metavar="N",
        help="a hard cap on calls in progress at once, per process; more are refused with "
        "RESOURCE_EXHAUSTED (default: no cap)",
    )
    serve.add_argument(
        "--max-queued-calls",
        type=not_negative,
        default=DEFAULT_MAX_QUEUED_CALLS,
        metavar="N",
        help="calls that may wait for a thread when all are busy; more are refused with "
        f"RESOURCE_EXHAUSTED (threaded server and web port; default: "
        f"{DEFAULT_MAX_QUEUED_CALLS})",
    )
    serve.add_argument(
        "--max-queue-wait-share",
        type=share,
        default=DEFAULT_MAX_QUEUE_WAIT_SHARE,
        metavar="SHARE",
        help="the share of its deadline a call may wait for a thread before it is refused "
        f"with RESOURCE_EXHAUSTED (default: {DEFAULT_MAX_QUEUE_WAIT_SHARE})",
    )
    serve.add_argument(
        "--max-concurrent-streams",
        type=at_least_one,
        metavar="N",
        help="calls one connection may have open at once (HTTP/2 MAX_CONCURRENT_STREAMS; "
        "default: no limit)",
    )
    serve.add_argument(
        "--compression",
        choices=get_args(Compression),
        help="compress every response with this algorithm",
    )
    security = serve.add_argument_group("security")
    add_server_tls_flags(security)
    security.add_argument(
        "--auth-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="accept calls bearing this token, and no others (repeatable; also "
        f"{AUTH_TOKENS_VARIABLE}, comma-separated); health checks need none",
    )
    operations = serve.add_argument_group("operations")
    operations.add_argument(
        "--no-health",
        dest="health",
        action="store_false",
        help="do not serve grpc.health.v1.Health",
    )
    operations.add_argument(
        "--no-reflection",
        dest="reflection",
        action="store_false",
        help="do not serve gRPC server reflection",
    )
    operations.add_argument(
        "--max-connection-age",
        type=positive,
        metavar="SECONDS",
        help="close connections after this long so clients rebalance over new replicas",
    )
    operations.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per call (method, peer, status, duration)",
    )
    operations.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default="INFO",
        help="how much to log (default: INFO); grpc core logs only its errors, or "
        f"everything with DEBUG, unless ${GRPC_VERBOSITY_VARIABLE} says otherwise",
    )
    operations.add_argument(
        "--metrics",
        type=tcp_address,
        metavar="ADDR",
        help="serve Prometheus metrics at http://ADDR/metrics (needs grpc-greeter[metrics])",
    )
    browsers = serve.add_argument_group("browsers")
    browsers.add_argument(
        "--web",
        type=tcp_address,
        metavar="ADDR",
        help="also serve browsers and plain HTTP on ADDR: Connect, gRPC-Web and "
        "HTTP/JSON, with the same TLS, tokens and access log (needs grpc-greeter[web])",
    )
    browsers.add_argument(
        "--web-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a page allowed to call --web from a browser (CORS), e.g. "
        "https://app.example, or * for any; repeat for several",
    )
    return serve


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The one place where ``greeter serve``'s flags become a ``ServerConfig``."""
    from greeter.pipeline._auth import bearer_tokens
    from greeter.server._config import ServerConfig

    tokens = [*args.auth_token, *split_tokens(os.environ.get(AUTH_TOKENS_VARIABLE, ""))]
    hooks: list[ServerHook] = []
    if args.metrics is not None:
        hooks.append(_start_metrics(args.metrics))
    _check_web(args)
    return ServerConfig(
        max_workers=args.max_workers,
        maximum_concurrent_rpcs=args.max_concurrent_rpcs,
        max_queued_calls=args.max_queued_calls,
        max_queue_wait_share=args.max_queue_wait_share,
        max_concurrent_streams=args.max_concurrent_streams,
        grace_seconds=args.grace,
        lame_duck_seconds=args.lame_duck,
        compression=args.compression,
        health=args.health,
        reflection=args.reflection,
        tls=server_tls(args),
        auth=bearer_tokens(tokens) if tokens else None,
        hooks=hooks,
        access_log=args.access_log,
        max_connection_age_seconds=args.max_connection_age,
        web=args.web,
        web_origins=args.web_origin,
    )


def _check_web(args: argparse.Namespace) -> None:
    if args.web is None:
        if args.web_origin:
            raise UsageError("--web-origin needs --web")
        return
    try:
        import greeter.web  # noqa: F401  # only to say now, not in a worker, what is missing
    except ImportError:
        raise UsageError("--web needs connectrpc: pip install 'grpc-greeter[web]'") from None


def _start_metrics(address: str) -> ServerHook:
    try:
        from greeter.metrics import PrometheusMetrics, serve_metrics
    except ImportError:
        raise UsageError(
            "--metrics needs prometheus_client: pip install 'grpc-greeter[metrics]'"
        ) from None
    hook = PrometheusMetrics()
    endpoint = serve_metrics(address)
    logging.getLogger("greeter.server").info("Metrics on %s", endpoint.url)
    return hook


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; the exit status."""
    # A server keeps grpc core's errors, not its chatter (an INFO line for every
    # client's failed TLS handshake); --log-level DEBUG lets grpc log as it would.
    # Each of those once per window (a client can make some once per request) is
    # ``serve()``'s own doing, below --log-level DEBUG.
    quiet_grpc_core(None if args.log_level == "DEBUG" else "ERROR")
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from greeter.server._service import AsyncGreeterService, GreeterService
    from greeter.server._workers import CannotFork, default_worker_count, shares_a_port

    addresses: list[str] = args.address or [DEFAULT_ADDRESS]
    if args.workers is None:
        # The CLI's service holds no state, so it can serve from every core.
        one_process = (
            args.metrics is not None or args.web is not None or not shares_a_port(addresses)
        )
        args.workers = 1 if one_process else default_worker_count()
    # Every worker logs the same lines: its pid tells them apart (as in gunicorn's log).
    by_process = " [%(process)d]" if args.workers > 1 else ""
    logging.basicConfig(
        level=args.log_level, format=f"%(asctime)s{by_process} %(name)s: %(message)s"
    )
    if args.metrics is not None and args.workers > 1:
        raise UsageError("--metrics serves one process: use it with --workers 1")
    if args.web is not None and args.workers > 1:
        raise UsageError("--web serves one process: use it with --workers 1")
    if args.workers > 1 and len(addresses) > 1:
        raise UsageError("--workers N serves one --address")
    address = addresses[0] if len(addresses) == 1 else addresses
    try:
        config = server_config(args)
        extra = [_made(service_class) for service_class in _service_classes(args)]
        service = AsyncGreeterService() if args.use_asyncio else GreeterService()
        service.serve(address, config=config, services=extra, workers=args.workers)
    except (OSError, ValueError, TypeError, CannotFork) as error:
        return failed(error)
    except KeyboardInterrupt:  # Ctrl-C while the server was still starting
        return EXIT_FAILURE
    return 0


def _service_classes(args: argparse.Namespace) -> list[type[Service] | type[AsyncService]]:
    """The classes ``--service MODULE:CLASS`` names, imported and checked; a
    ``UsageError`` saying what is wrong with one that is not a generated service of the
    server's kind (``--async`` or not)."""
    from greeter.rpc import AsyncService, Service

    classes: list[type[Service] | type[AsyncService]] = []
    for spec in args.services:
        module_name, _, class_name = spec.partition(":")
        if not module_name or not class_name:
            raise UsageError(f"--service {spec}: expected MODULE:CLASS, e.g. shop.service:Mine")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise UsageError(f"--service {spec}: cannot import {module_name}: {error}") from None
        found = getattr(module, class_name, None)
        if not (isinstance(found, type) and issubclass(found, (Service, AsyncService))):
            raise UsageError(
                f"--service {spec}: {module_name} has no generated service class "
                f"{class_name!r} (a subclass of a class greeter generate wrote)"
            )
        if issubclass(found, AsyncService) and not args.use_asyncio:
            raise UsageError(f"--service {spec}: an asyncio service: serve it with --async")
        if issubclass(found, Service) and args.use_asyncio:
            raise UsageError(f"--service {spec}: a threaded service: serve it without --async")
        classes.append(found)
    return classes


def _made(service_class: type[Service] | type[AsyncService]) -> Service | AsyncService:
    try:
        return service_class()
    except TypeError as error:
        raise UsageError(f"--service: {service_class.__name__}() failed: {error}") from None
