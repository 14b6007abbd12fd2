"""A stock hello-world server, written as grpc's Python tutorial writes it.

It imports only the modules plain `grpc_tools.protoc` generated from
helloworld.proto; nothing from grpc-greeter. Usage: greeter_server.py [ADDRESS]
(port 0 picks a free port; the bound port is printed).
"""

import sys
from concurrent import futures

import grpc
import helloworld_pb2  # type: ignore[import-not-found]
import helloworld_pb2_grpc  # type: ignore[import-not-found]


class Greeter(helloworld_pb2_grpc.GreeterServicer):  # type: ignore[misc]
    def SayHello(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    def SayHelloAgain(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return helloworld_pb2.HelloReply(message=f"Hello again, {request.name}!")


def serve(address: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port(address)
    server.start()
    print(f"Server started, listening on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "[::]:50051")
