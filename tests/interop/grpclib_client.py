"""A client of helloworld.Greeter written with grpclib (asyncio), sharing no code with greeter.

Usage: grpclib_client.py HOST:PORT

It imports the top-level ``helloworld_pb2`` and ``helloworld_grpc`` modules that
``grpc_tools.protoc --python_out --grpclib_python_out`` generates from a copy of the
repository's proto; the test puts them on PYTHONPATH. It runs in its own process because
a second generated ``helloworld_pb2`` cannot share protobuf's descriptor pool with
greeter's.

Calls every RPC shape once and prints one JSON object on stdout, keyed by RPC name. On
any error it prints one line on stderr and exits with status 1.
"""

from __future__ import annotations

import asyncio
import json
import sys

import helloworld_grpc  # type: ignore[import-not-found]
import helloworld_pb2  # type: ignore[import-not-found]
from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

TIMEOUT_SECONDS = 10.0
NAME = "you"
NAMES = ["Ann", "Bob", "Cy"]

Results = dict[str, str | list[str]]


async def say_hello_stream_request(stub: helloworld_grpc.GreeterStub, names: list[str]) -> str:
    """Streams the names one message at a time, then reads the single reply."""
    async with stub.SayHelloStreamRequest.open(timeout=TIMEOUT_SECONDS) as stream:
        for name in names:
            await stream.send_message(helloworld_pb2.HelloRequest(name=name))
        await stream.end()
        reply = await stream.recv_message()
        message: str = reply.message
        return message


async def say_hello_bidi_stream(stub: helloworld_grpc.GreeterStub, names: list[str]) -> list[str]:
    """Sends each name only after the previous reply arrived, then half-closes.

    This checks that the server answers every name as it comes, not after the
    client has finished sending.
    """
    messages: list[str] = []
    async with stub.SayHelloBidiStream.open(timeout=TIMEOUT_SECONDS) as stream:
        for name in names:
            await stream.send_message(helloworld_pb2.HelloRequest(name=name))
            reply = await stream.recv_message()
            if reply is None:
                raise RuntimeError("SayHelloBidiStream: server ended the call early")
            messages.append(reply.message)
        await stream.end()
        async for reply in stream:
            messages.append(reply.message)
    return messages


async def call_every_shape(target: str) -> Results:
    host, _, port = target.rpartition(":")
    async with Channel(host, int(port)) as channel:
        stub = helloworld_grpc.GreeterStub(channel)
        request = helloworld_pb2.HelloRequest(name=NAME)
        hello = await stub.SayHello(request, timeout=TIMEOUT_SECONDS)
        again = await stub.SayHelloAgain(request, timeout=TIMEOUT_SECONDS)
        replies = await stub.SayHelloStreamReply(request, timeout=TIMEOUT_SECONDS)
        return {
            "SayHello": hello.message,
            "SayHelloAgain": again.message,
            "SayHelloStreamReply": [reply.message for reply in replies],
            "SayHelloStreamRequest": await say_hello_stream_request(stub, NAMES),
            "SayHelloBidiStream": await say_hello_bidi_stream(stub, NAMES),
        }


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: grpclib_client.py HOST:PORT")
    try:
        results = asyncio.run(call_every_shape(sys.argv[1]))
    # A missed deadline is asyncio.TimeoutError in grpclib (not a DEADLINE_EXCEEDED GRPCError).
    except (GRPCError, StreamTerminatedError, OSError, RuntimeError, asyncio.TimeoutError) as error:
        sys.exit(f"grpclib_client.py: {type(error).__name__}: {error}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
