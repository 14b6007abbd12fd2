"""What is compared, and the goal for each comparison (issue #10).

A case is a list of sides run in turn; its goals are ratios between two of its sides,
taken round by round (same run, same minute) and summarised by their median.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from benchmarks.runner import Server, Side

__all__ = ["CASES", "Case", "Goal"]

#: The greeter server the client-side cases call (one process, the benchmark's
#: ``GreeterService`` with long streams).
GREETER = Server("greeter", workers=1)
GREETER_ASYNC = Server("greeter-async")
TUTORIAL = Server("tutorial")
GRPCLIB = Server("grpclib")
NATIVE = Server("pygrpc-native")
SERVE_DEFAULT = Server("greeter serve")
#: One process, with its default admission (64 calls in flight: 32 run, the rest queue).
SERVE_ONE = Server("greeter serve", workers=1)
ONE_PROCESS = "greeter serve --workers 1"
#: A generated service, ``bench.v1.Echo`` (``benchmarks/protos``): greeter's threaded
#: server with the ``EchoService`` subclass, and plain grpcio with the raw servicer.
GENERATED = Server("generated")
GENERATED_RAW = Server("generated-raw")
GENERATED_CLIENT = "generated EchoClient"
RAW_STUB = "raw EchoStub"
GENERATED_SERVICE = "greeter server + EchoService"
RAW_SERVICER = "grpc.server + raw EchoServicer"


def _many(label: str, server: Server) -> Side:
    """64 calls in flight: 2 client processes x 32 calls over 4 connections each, so
    that server processes sharing a port (SO_REUSEPORT) each get connections."""
    return Side(label, server, "raw-async", "unary", in_flight=32, channels=4, clients=2)


@dataclass(frozen=True)
class Goal:
    """``numerator`` / ``denominator`` (side labels) should be at least ``minimum``."""

    numerator: str
    denominator: str
    minimum: float


@dataclass(frozen=True)
class Case:
    name: str
    unit: str  # what the rate counts per second
    sides: tuple[Side, ...]
    goals: tuple[Goal, ...]
    #: For server comparisons: the side whose server CPU per call is the bar.
    cpu_bar: str | None = None


def _wrapper_case(name: str, shape: str, unit: str, mode: str, in_flight: int = 1) -> Case:
    return Case(
        name,
        unit,
        (
            Side("greeter client", GREETER, f"greeter-{mode}", shape, in_flight),
            Side("raw grpc stub", GREETER, f"raw-{mode}", shape, in_flight),
        ),
        (Goal("greeter client", "raw grpc stub", 0.99),),
    )


def _generated_client_case(name: str, mode: str, in_flight: int = 1) -> Case:
    """A generated client against the raw generated stub, calling one greeter server."""
    return Case(
        name,
        "calls",
        (
            Side(GENERATED_CLIENT, GENERATED, f"generated-{mode}", "unary", in_flight),
            Side(RAW_STUB, GENERATED, f"generated-raw-{mode}", "unary", in_flight),
        ),
        (Goal(GENERATED_CLIENT, RAW_STUB, 0.99),),
    )


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cases(with_grpclib: bool) -> list[Case]:
    """Every case this machine can run (grpclib and pygrpc-native where installed)."""
    with_native = _has("pygrpc_native")
    peers_many = []
    if with_grpclib:
        peers_many.append(_many("grpclib server", GRPCLIB))
    if with_native:
        peers_many.append(_many("pygrpc-native server", NATIVE))
    peers_stream = []
    if with_grpclib:
        peers_stream.append(Side("grpclib server + client", GRPCLIB, "grpclib", "stream"))
    if with_native:
        peers_stream.append(Side("pygrpc-native server + grpc stub", NATIVE, "raw-sync", "stream"))
    return [
        _wrapper_case("client: sync unary", "unary", "calls", "sync"),
        _wrapper_case("client: async unary, 16 in flight", "unary", "calls", "async", 16),
        _wrapper_case("client: server stream (1,000 replies)", "stream", "msgs", "sync"),
        _wrapper_case("client: bidi ping-pong", "bidi", "msgs", "sync"),
        Case(
            "server: unary, 64 in flight",
            "calls",
            (
                _many("greeter serve (default workers)", SERVE_DEFAULT),
                _many(ONE_PROCESS, SERVE_ONE),
                _many("tutorial server", TUTORIAL),
                *peers_many,
            ),
            (
                Goal("greeter serve (default workers)", "tutorial server", 1.3),
                Goal("greeter serve (default workers)", ONE_PROCESS, 1.4),
                Goal(ONE_PROCESS, "tutorial server", 0.99),
            ),
            cpu_bar="tutorial server",
        ),
        Case(
            "server: unary, 1 in flight",
            "calls",
            (
                Side("greeter serve (default workers)", SERVE_DEFAULT, "raw-sync"),
                Side("tutorial server", TUTORIAL, "raw-sync"),
            ),
            (Goal("greeter serve (default workers)", "tutorial server", 1.0),),
            cpu_bar="tutorial server",
        ),
        _generated_client_case("generated client: sync unary", "sync"),
        _generated_client_case("generated client: async unary, 16 in flight", "async", 16),
        Case(
            "generated service: unary, 1 in flight",
            "calls",
            (
                Side(GENERATED_SERVICE, GENERATED, "generated-raw-sync"),
                Side(RAW_SERVICER, GENERATED_RAW, "generated-raw-sync"),
            ),
            (Goal(GENERATED_SERVICE, RAW_SERVICER, 1.0),),
            cpu_bar=RAW_SERVICER,
        ),
        Case(
            "server stream, server + client (1,000 replies)",
            "msgs",
            (
                Side("greeter server + client", GREETER, "greeter-sync", "stream"),
                Side("grpcio server + stub", TUTORIAL, "raw-sync", "stream"),
                *peers_stream,
                # What was tried beside the defaults (benchmarks/README.md):
                Side("greeter asyncio server + client", GREETER_ASYNC, "greeter-sync", "stream"),
                Side(
                    "grpcio server + stub, single-threaded stream",
                    TUTORIAL,
                    "raw-sync-single-thread",
                    "stream",
                ),
            ),
            (
                *(
                    [Goal("greeter server + client", "grpclib server + client", 1.0)]
                    if with_grpclib
                    else []
                ),
                Goal("greeter server + client", "grpcio server + stub", 0.99),
            ),
        ),
    ]


CASES = cases
