"""A stock hello-world client, written as grpc's Python tutorial writes it.

It imports only the modules plain `grpc_tools.protoc` generated from
helloworld.proto; nothing from grpc-greeter. Usage: greeter_client.py TARGET
"""

import sys

import grpc
import helloworld_pb2  # type: ignore[import-not-found]
import helloworld_pb2_grpc  # type: ignore[import-not-found]


def run(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        response = stub.SayHello(helloworld_pb2.HelloRequest(name="you"), timeout=10)
        print("Greeter client received: " + response.message)
        response = stub.SayHelloAgain(helloworld_pb2.HelloRequest(name="you"), timeout=10)
        print("Greeter client received: " + response.message)


if __name__ == "__main__":
    run(sys.argv[1])
