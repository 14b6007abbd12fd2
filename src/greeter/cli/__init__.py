"""The ``greeter`` command: ``greeter serve`` and ``greeter greet NAME...``.

grpc reads ``GRPC_VERBOSITY`` once, when it is imported, and how much grpc core may log
depends on the command line. So this module imports nothing that imports grpc: ``main``
reads the command line and sets the variable; only then do ``_serve`` and ``_greet``
import the server or the client.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, get_args

from greeter import __version__
from greeter._addresses import DEFAULT_ADDRESS, DEFAULT_TARGET, check_target, split_address
from greeter._metadata import check_metadata
from greeter._options import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_LAME_DUCK_SECONDS,
    DEFAULT_MAX_QUEUE_WAIT_SHARE,
    DEFAULT_MAX_QUEUED_CALLS,
    DEFAULT_MAX_WORKERS,
    Compression,
)

if TYPE_CHECKING:
    from greeter._tls import ClientTLS, ServerTLS
    from greeter.client._sync import GreeterClient
    from greeter.errors import GreeterError
    from greeter.pipeline._hooks import ServerHook
    from greeter.server._config import ServerConfig

__all__ = ["main"]

#: Exit status when a call fails or the server cannot start.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Where ``greeter greet`` finds its bearer token when ``--token`` is not given.
TOKEN_VARIABLE = "GREETER_TOKEN"
#: Comma-separated bearer tokens ``greeter serve`` accepts, beside ``--auth-token``.
AUTH_TOKENS_VARIABLE = "GREETER_AUTH_TOKENS"
#: grpc core's own log switch (NONE, ERROR, INFO, DEBUG); grpc reads it once, on import.
GRPC_VERBOSITY_VARIABLE = "GRPC_VERBOSITY"

_MODES = {
    "again": "call SayHelloAgain",
    "stream": "call SayHelloStreamReply: print every greeting streamed for NAME",
    "many": "call SayHelloStreamRequest: send every NAME, print the one greeting",
    "chat": "call SayHelloBidiStream: send every NAME, print each reply as it comes",
}


class _UsageError(Exception):
    """Flags that do not go together: reported like argparse's own errors (exit 2)."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:  # nan too
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _positive_or_zero(text: str) -> float:
    value = _number(text)
    if not value >= 0:  # nan too
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < minimum:
        wanted = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise argparse.ArgumentTypeError(f"{wanted}, not {text}")
    return value


def _at_least_one(text: str) -> int:
    return _whole_number(text, 1)


def _not_negative(text: str) -> int:
    return _whole_number(text, 0)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, not {text}")
    return value


def _address(text: str) -> str:
    """A listening address, ``HOST:PORT`` or ``unix:PATH``, checked as the server will."""
    try:
        split_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _tcp_address(text: str) -> str:
    """A listening ``HOST:PORT`` (the HTTP ports, --metrics and --web, are TCP only)."""
    try:
        _, port = split_address(text)
    except ValueError:
        port = None
    if port is None:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9100), not {text!r}"
        )
    return text


def _target(text: str) -> str:
    """A target to call, with its port: grpc would wrap 99999 and default to 443."""
    try:
        return check_target(text, port_required=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _split_tokens(text: str) -> list[str]:
    return [token.strip() for token in text.split(",") if token.strip()]


def _metadata_pair(text: str) -> tuple[str, str | bytes]:
    """``KEY=VALUE`` as a metadata pair, checked as the library checks what it sends.

    Keys are lowercased (HTTP header names are case-insensitive); a ``-bin`` key's value
    is base64, as grpc sends it on the wire (and as grpcurl reads it).
    """
    key, separator, text_value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key = key.lower()
    value: str | bytes = text_value
    if key.endswith("-bin"):
        try:
            value = base64.b64decode(text_value, validate=True)
        except binascii.Error:
            raise argparse.ArgumentTypeError(
                f"metadata key {key!r} ends in -bin, so its value must be base64 "
                f"(e.g. {key}=AAEC for the bytes 00 01 02), not {text_value!r}"
            ) from None
    try:
        check_metadata(key, value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greeter",
        description="Serve or call the gRPC helloworld.Greeter service.",
    )
    parser.add_argument("--version", action="version", version=f"greeter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a Greeter server until SIGINT or SIGTERM",
        description="Run a Greeter server with the canonical greetings until SIGINT or "
        "SIGTERM, then stop gracefully.",
    )
    serve.set_defaults(command_parser=serve)
    serve.add_argument(
        "--address",
        action="append",
        type=_address,
        metavar="ADDR",
        help="host:port (or unix:PATH) to listen on; repeat to listen on several; port 0 "
        f"picks a free port (default: {DEFAULT_ADDRESS})",
    )
    serve.add_argument(
        "--grace",
        type=_positive_or_zero,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="on shutdown, how long in-flight calls may finish before they are cancelled "
        f"(default: {DEFAULT_GRACE_SECONDS:g})",
    )
    serve.add_argument(
        "--lame-duck",
        type=_positive_or_zero,
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
        "--workers",
        type=_at_least_one,
        metavar="N",
        help="serve from N processes sharing the port (SO_REUSEPORT) (default on Linux: "
        "one per CPU, for one TCP --address without --metrics or --web; otherwise 1)",
    )
    serve.add_argument(
        "--max-workers",
        type=_at_least_one,
        default=DEFAULT_MAX_WORKERS,
        metavar="N",
        help="threads serving calls, per process (threaded server; default: "
        f"{DEFAULT_MAX_WORKERS})",
    )
    serve.add_argument(
        "--max-concurrent-rpcs",
        type=_at_least_one,
        metavar="N",
        help="a hard cap on calls in progress at once, per process; more are refused with "
        "RESOURCE_EXHAUSTED (default: no cap)",
    )
    serve.add_argument(
        "--max-queued-calls",
        type=_not_negative,
        default=DEFAULT_MAX_QUEUED_CALLS,
        metavar="N",
        help="calls that may wait for a thread when all are busy; more are refused with "
        f"RESOURCE_EXHAUSTED (threaded server and web port; default: "
        f"{DEFAULT_MAX_QUEUED_CALLS})",
    )
    serve.add_argument(
        "--max-queue-wait-share",
        type=_share,
        default=DEFAULT_MAX_QUEUE_WAIT_SHARE,
        metavar="SHARE",
        help="the share of its deadline a call may wait for a thread before it is refused "
        f"with RESOURCE_EXHAUSTED (default: {DEFAULT_MAX_QUEUE_WAIT_SHARE})",
    )
    serve.add_argument(
        "--max-concurrent-streams",
        type=_at_least_one,
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
    security.add_argument(
        "--tls-cert", metavar="FILE", help="serve TLS with this certificate chain"
    )
    security.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    security.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="require client certificates signed by this CA (mutual TLS)",
    )
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
        type=_positive,
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
        type=_tcp_address,
        metavar="ADDR",
        help="serve Prometheus metrics at http://ADDR/metrics (needs grpc-greeter[metrics])",
    )
    browsers = serve.add_argument_group("browsers")
    browsers.add_argument(
        "--web",
        type=_tcp_address,
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

    greet = commands.add_parser(
        "greet",
        help="call a Greeter server and print its reply",
        description="Call SayHello (or another RPC, see the mode options) and print each "
        "reply's message on its own line. A failed call prints one line, the status and "
        "its details, and exits with status 1; grpc core's own log lines are off unless "
        f"${GRPC_VERBOSITY_VARIABLE} is set.",
    )
    greet.set_defaults(command_parser=greet)
    greet.add_argument("names", nargs="+", metavar="NAME", help="the name(s) to greet")
    greet.add_argument(
        "--target",
        type=_target,
        default=DEFAULT_TARGET,
        help="HOST:PORT of the server, or unix:PATH, or another grpc target such as "
        f"dns:///HOST:PORT (default: {DEFAULT_TARGET})",
    )
    modes = greet.add_mutually_exclusive_group()
    for mode, help_text in _MODES.items():
        modes.add_argument(
            f"--{mode}", dest="mode", action="store_const", const=mode, help=help_text
        )
    greet.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        metavar="SECONDS",
        help="deadline for the call, more than 0; 'inf' for none (default: 10)",
    )
    greet.add_argument(
        "--metadata",
        type=_metadata_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="send this metadata with the call (repeatable). KEY is lowercased and may "
        "hold letters, digits, '-', '_' and '.', not start with 'grpc-'; VALUE is "
        "printable ASCII, or base64 if KEY ends in -bin (x-trace-bin=AAEC sends the "
        "bytes 00 01 02)",
    )
    greet.add_argument(
        "--compression", choices=get_args(Compression), help="compress the request(s)"
    )
    greet.add_argument(
        "--wait-for-ready",
        action="store_true",
        help="wait for the server to become reachable instead of failing at once",
    )
    tls = greet.add_argument_group("security")
    tls.add_argument(
        "--tls", action="store_true", help="call over TLS, verified with the system's CAs"
    )
    tls.add_argument("--tls-ca", metavar="FILE", help="call over TLS, verified with this CA")
    tls.add_argument(
        "--tls-cert", metavar="FILE", help="present this client certificate (mutual TLS)"
    )
    tls.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    tls.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="the name to verify in the server's certificate instead of the target's host",
    )
    tls.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE) or None,
        metavar="TOKEN",
        help=f"send this bearer token with the call (default: ${TOKEN_VARIABLE})",
    )
    tls.add_argument(
        "--unsafe-plaintext-token",
        action="store_true",
        help="allow --token without TLS (local development only: anyone can read it)",
    )
    return parser


def _server_config(args: argparse.Namespace) -> ServerConfig:
    """The one place where ``greeter serve``'s flags become a ``ServerConfig``."""
    from greeter.pipeline._auth import bearer_tokens
    from greeter.server._config import ServerConfig

    tokens = [*args.auth_token, *_split_tokens(os.environ.get(AUTH_TOKENS_VARIABLE, ""))]
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
        tls=_server_tls(args),
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
            raise _UsageError("--web-origin needs --web")
        return
    try:
        import greeter.web  # noqa: F401  # only to say now, not in a worker, what is missing
    except ImportError:
        raise _UsageError("--web needs connectrpc: pip install 'grpc-greeter[web]'") from None


def _server_tls(args: argparse.Namespace) -> ServerTLS | None:
    from greeter._tls import ServerTLS

    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise _UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise _UsageError("--tls-cert and --tls-key go together")
    return ServerTLS(args.tls_cert, args.tls_key, client_ca=args.tls_client_ca)


def _start_metrics(address: str) -> ServerHook:
    try:
        from greeter.metrics import PrometheusMetrics, serve_metrics
    except ImportError:
        raise _UsageError(
            "--metrics needs prometheus_client: pip install 'grpc-greeter[metrics]'"
        ) from None
    hook = PrometheusMetrics()
    endpoint = serve_metrics(address)
    logging.getLogger("greeter.server").info("Metrics on %s", endpoint.url)
    return hook


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
        raise _UsageError("--metrics serves one process: use it with --workers 1")
    if args.web is not None and args.workers > 1:
        raise _UsageError("--web serves one process: use it with --workers 1")
    if args.workers > 1 and len(addresses) > 1:
        raise _UsageError("--workers N serves one --address")
    address = addresses[0] if len(addresses) == 1 else addresses
    try:
        config = _server_config(args)
        service = AsyncGreeterService() if args.use_asyncio else GreeterService()
        service.serve(address, config=config, workers=args.workers)
    except (OSError, ValueError, CannotFork) as error:
        return _failed(error)
    except KeyboardInterrupt:  # Ctrl-C while the server was still starting
        return EXIT_FAILURE
    return 0


def _replies(client: GreeterClient, args: argparse.Namespace) -> Iterable[str]:
    names: list[str] = args.names
    if args.mode == "many":
        return [client.greet_many(names)]
    if args.mode == "chat":
        return client.chat(names)
    if args.mode == "stream":
        return client.greet_stream(names[0])
    if args.mode == "again":
        return [client.greet_again(names[0])]
    return [client.greet(names[0])]


def _client_tls(args: argparse.Namespace) -> ClientTLS | None:
    from greeter._tls import ClientTLS

    if (args.tls_cert is None) != (args.tls_key is None):
        raise _UsageError("--tls-cert and --tls-key go together")
    wanted = args.tls or any(value is not None for value in (args.tls_ca, args.tls_cert))
    if not wanted:
        if args.tls_server_name is not None:
            raise _UsageError("--tls-server-name needs TLS: add --tls or --tls-ca FILE")
        return None
    return ClientTLS(
        ca=args.tls_ca,
        certificate_chain=args.tls_cert,
        private_key=args.tls_key,
        server_name=args.tls_server_name,
    )


def _greet(args: argparse.Namespace) -> int:
    from greeter.client._sync import GreeterClient
    from greeter.errors import GreeterError

    if len(args.names) > 1 and args.mode not in ("many", "chat"):
        raise _UsageError("several names need --many or --chat")
    if (
        args.token is not None
        and not args.unsafe_plaintext_token
        and not (args.tls or args.tls_ca or args.tls_cert)
    ):
        raise _UsageError(
            "--token needs TLS (--tls or --tls-ca FILE); for local development only, "
            "add --unsafe-plaintext-token"
        )
    try:
        client_tls = _client_tls(args)
        client = GreeterClient(
            args.target,
            timeout=args.timeout,
            metadata=args.metadata,
            compression=args.compression,
            wait_for_ready=args.wait_for_ready or None,
            tls=client_tls,
            token=args.token,
            unsafe_plaintext_token=args.unsafe_plaintext_token,
        )
    except (OSError, ValueError) as error:  # an unreadable --tls-ca file, ...
        return _failed(error)
    with client:
        try:
            for reply in _replies(client, args):
                print(reply, flush=True)
        except GreeterError as error:
            return _failed(error, _hint(error, plaintext=client_tls is None))
    return 0


#: What grpc reports when a plaintext client's connection is closed during its opening:
#: a TLS server does that to the HTTP/2 preface it cannot read as a TLS handshake.
_CLOSED_WHILE_CONNECTING = "Socket closed"


def _hint(error: GreeterError, *, plaintext: bool) -> str | None:
    """What to try next, when the failure suggests one."""
    from greeter.errors import StatusCode

    if (
        plaintext
        and error.code is StatusCode.UNAVAILABLE
        and _CLOSED_WHILE_CONNECTING in error.details
    ):
        return "the server may require TLS (--tls, or --tls-ca FILE)"
    return None


def _failed(error: Exception, hint: str | None = None) -> int:
    """Report ``error`` (and ``hint``) in one line on stderr; the exit status for a failure."""
    one_line = " ".join(str(error).split())
    print(f"greeter: {one_line}{'' if hint is None else f'; {hint}'}", file=sys.stderr)
    return EXIT_FAILURE


def _grpc_verbosity(args: argparse.Namespace) -> str | None:
    """How much grpc core may log to stderr for this command (None: grpc's default).

    ``greet`` needs none of it: its one-line error carries grpc's details already. A
    server keeps grpc core's errors, not its chatter (an INFO line for every client's
    failed TLS handshake); ``--log-level DEBUG`` lets grpc log as it would.
    """
    if args.command == "greet":
        return "NONE"
    return None if args.log_level == "DEBUG" else "ERROR"


def _quiet_grpc_core(args: argparse.Namespace) -> None:
    """Set GRPC_VERBOSITY for this command, unless the user has set it.

    Only before grpc is imported (grpc reads it then, once): ``main`` called from a
    program that has imported grpc already leaves the environment alone. Worker
    processes inherit the variable.
    """
    verbosity = _grpc_verbosity(args)
    if verbosity is None or os.environ.get(GRPC_VERBOSITY_VARIABLE) or "grpc" in sys.modules:
        return
    os.environ[GRPC_VERBOSITY_VARIABLE] = verbosity


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    grpc core's logging is set for the command before grpc is imported (see
    ``_quiet_grpc_core``).
    """
    args, unrecognized = _parser().parse_known_args(argv)
    # Errors show the usage of the command they concern (greeter greet ...), not the top's.
    command_parser: argparse.ArgumentParser = args.command_parser
    if unrecognized:
        command_parser.error(f"unrecognized arguments: {' '.join(unrecognized)}")
    _quiet_grpc_core(args)
    try:
        if args.command == "serve":
            return _serve(args)
        return _greet(args)
    except _UsageError as error:
        command_parser.error(str(error))
    except KeyboardInterrupt:  # Ctrl-C: the shell shows it; no traceback
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
