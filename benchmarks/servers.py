"""The servers compared, each run alone in its own process.

``python -m benchmarks.servers KIND STUBS_DIR [WORKERS]`` serves on 127.0.0.1 (port
picked by the OS), prints ``Serving helloworld.Greeter on 127.0.0.1:PORT`` and serves
until SIGTERM. Every server streams ``STREAM_LENGTH`` replies for SayHelloStreamReply
and answers each name of SayHelloBidiStream as it comes, one ``HelloReply`` each.

KIND is one of:

- ``greeter``: a ``GreeterService`` (``serve()``, as a user would call it).
- ``greeter-async``: an ``AsyncGreeterService`` on the asyncio server.
- ``tutorial``: the server of grpc's Python tutorial, ``grpc.server(ThreadPoolExecutor(10))``
  with a servicer of the generated ``GreeterServicer``.
- ``grpclib``: the same servicer written for grpclib's asyncio server.
- ``pygrpc-native``: the tutorial's servicer on ``pygrpc_native.server(...)``.
- ``generated``: a service of a user's own, ``bench.v1.Echo``, subclassing the
  ``EchoService`` that ``greeter generate`` wrote, served beside the Greeter by
  ``GreeterService().serve(services=[...])`` (one process).
- ``generated-raw``: ``bench.v1.Echo`` as plain grpcio serves it: a servicer of the
  generated ``EchoServicer`` on ``grpc.server(ThreadPoolExecutor(10))``.

The ``generated*`` kinds answer Echo with the request's text, in a new ``EchoReply``.

``greeter serve`` (the command line) is run as it is, by the runner.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

from benchmarks.stubs import generated

#: Replies per SayHelloStreamReply call, on every server.
STREAM_LENGTH = 1000
LOOPBACK = "127.0.0.1:0"


def _announce(port: int) -> None:
    print(f"Serving helloworld.Greeter on 127.0.0.1:{port}", flush=True)


def _greetings(name: str) -> Iterator[str]:
    for number in range(1, STREAM_LENGTH + 1):
        yield f"Hello, {name}! ({number} of {STREAM_LENGTH})"


def serve_greeter(workers: int) -> None:
    import logging

    from greeter import GreeterService

    class Streaming(GreeterService):
        stream_reply_count = STREAM_LENGTH

    # greeter logs "Serving helloworld.Greeter on ..." itself, at INFO.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    Streaming().serve(LOOPBACK, workers=workers)


def serve_greeter_async() -> None:
    import logging

    from greeter import AsyncGreeterService

    class Streaming(AsyncGreeterService):
        stream_reply_count = STREAM_LENGTH

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    Streaming().serve(LOOPBACK)


def _tutorial_servicer() -> Any:
    import helloworld_pb2  # type: ignore[import-not-found]
    import helloworld_pb2_grpc  # type: ignore[import-not-found]

    reply = helloworld_pb2.HelloReply

    # Written as grpc's tutorial writes servicers: one generated message per reply.
    class Greeter(helloworld_pb2_grpc.GreeterServicer):  # type: ignore[misc]
        def SayHello(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
            return reply(message=f"Hello, {request.name}!")

        def SayHelloStreamReply(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
            for greeting in _greetings(request.name):
                yield reply(message=greeting)

        def SayHelloBidiStream(self, request_iterator, context):  # type: ignore[no-untyped-def]  # noqa: N802
            for request in request_iterator:
                yield reply(message=f"Hello, {request.name}!")

    return Greeter()


def _serve_tutorial_servicer(make_server: Any) -> None:
    """The tutorial's servicer on ``make_server(ThreadPoolExecutor(10))``, until SIGTERM."""
    import helloworld_pb2_grpc

    _serve_servicer(
        make_server, helloworld_pb2_grpc.add_GreeterServicer_to_server, _tutorial_servicer()
    )


def _serve_servicer(make_server: Any, add_to_server: Any, servicer: Any) -> None:
    """``servicer`` on ``make_server(ThreadPoolExecutor(10))``, until SIGTERM."""
    server = make_server(futures.ThreadPoolExecutor(max_workers=10))
    add_to_server(servicer, server)
    port = server.add_insecure_port(LOOPBACK)
    server.start()
    _announce(port)
    server.wait_for_termination()


def serve_tutorial() -> None:
    import grpc

    _serve_tutorial_servicer(grpc.server)


def serve_pygrpc_native() -> None:
    import pygrpc_native  # type: ignore[import-not-found, unused-ignore]  # optional

    _serve_tutorial_servicer(pygrpc_native.server)


def serve_grpclib() -> None:
    import asyncio

    import helloworld_grpc  # type: ignore[import-not-found]
    import helloworld_pb2
    from grpclib.server import Server

    reply = helloworld_pb2.HelloReply

    class Greeter(helloworld_grpc.GreeterBase):  # type: ignore[misc]
        async def SayHello(self, stream):  # type: ignore[no-untyped-def]  # noqa: N802
            request = await stream.recv_message()
            await stream.send_message(reply(message=f"Hello, {request.name}!"))

        async def SayHelloAgain(self, stream):  # type: ignore[no-untyped-def]  # noqa: N802
            request = await stream.recv_message()
            await stream.send_message(reply(message=f"Hello again, {request.name}!"))

        async def SayHelloStreamReply(self, stream):  # type: ignore[no-untyped-def]  # noqa: N802
            request = await stream.recv_message()
            for greeting in _greetings(request.name):
                await stream.send_message(reply(message=greeting))

        async def SayHelloStreamRequest(self, stream):  # type: ignore[no-untyped-def]  # noqa: N802
            names = [request.name async for request in stream]
            await stream.send_message(reply(message=f"Hello, {', '.join(names)}!"))

        async def SayHelloBidiStream(self, stream):  # type: ignore[no-untyped-def]  # noqa: N802
            async for request in _requests(stream):
                await stream.send_message(reply(message=f"Hello, {request.name}!"))

    async def main() -> None:
        server = Server([Greeter()])
        await server.start("127.0.0.1", 0)
        listening: Any = server._server  # grpclib keeps its asyncio.Server there
        _announce(listening.sockets[0].getsockname()[1])
        await server.wait_closed()

    asyncio.run(main())


def serve_generated() -> None:
    import logging

    from bench.v1 import echo_greeter, echo_pb2  # type: ignore[import-not-found]

    from greeter import GreeterService

    reply = echo_pb2.EchoReply

    class Echo(echo_greeter.EchoService):  # type: ignore[misc]
        def echo(self, request: echo_pb2.EchoRequest) -> echo_pb2.EchoReply:
            return reply(text=request.text)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    GreeterService().serve(LOOPBACK, services=[Echo()])


def serve_generated_raw() -> None:
    import grpc
    from bench.v1 import echo_pb2, echo_pb2_grpc

    reply = echo_pb2.EchoReply

    class Echo(echo_pb2_grpc.EchoServicer):  # type: ignore[misc]
        def Echo(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
            return reply(text=request.text)

    _serve_servicer(grpc.server, echo_pb2_grpc.add_EchoServicer_to_server, Echo())


async def _requests(stream: Any) -> AsyncIterator[Any]:
    async for request in stream:
        yield request


def main(argv: list[str]) -> None:
    kind, stubs = argv[0], argv[1]
    if kind == "greeter":
        serve_greeter(int(argv[2]) if len(argv) > 2 else 1)
        return
    if kind == "greeter-async":
        serve_greeter_async()
        return
    if kind.startswith("generated"):
        sys.path.insert(0, str(generated(Path(stubs))))  # bench.v1's modules
        {"generated": serve_generated, "generated-raw": serve_generated_raw}[kind]()
        return
    sys.path.insert(0, stubs)  # the generated modules; never greeter's in this process
    servers = {
        "tutorial": serve_tutorial,
        "grpclib": serve_grpclib,
        "pygrpc-native": serve_pygrpc_native,
    }
    servers[kind]()


if __name__ == "__main__":
    main(sys.argv[1:])
