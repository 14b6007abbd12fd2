"""gRPC server reflection, from grpc's own package, under both of its names.

Reflection lets generic tools (``grpcurl``, ``buf curl``, Postman, Kreya) list a
server's services and call them with no ``.proto`` at hand. grpcio-reflection serves
the protocol as ``grpc.reflection.v1alpha.ServerReflection`` only (grpc/grpc#38576);
newer tools ask for ``grpc.reflection.v1.ServerReflection`` first. The two versions'
messages are identical on the wire, so the same servicer answers the ``v1`` method too,
with the same (de)serializers: no second implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import grpc.aio
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["REFLECTION_SERVICES", "add_reflection"]

_V1_SERVICE = "grpc.reflection.v1.ServerReflection"
#: The names reflection is served under (only ``v1alpha``'s is listed by reflection
#: itself: its descriptors are the ones registered in this process).
REFLECTION_SERVICES = (reflection.SERVICE_NAME, _V1_SERVICE)


def add_reflection(
    server: grpc.Server | grpc.aio.Server, services: Sequence[str], *, asyncio: bool
) -> None:
    """Serve reflection on ``server`` (an asyncio one if ``asyncio``), listing ``services``.

    ``server`` may be a stand-in that only collects the handlers, hence ``asyncio``.
    """
    listed = (*services, reflection.SERVICE_NAME)
    servicer: reflection.ReflectionServicer | reflection.aio.ReflectionServicer
    if asyncio:
        servicer = reflection.aio.ReflectionServicer(listed)
    else:
        servicer = reflection.ReflectionServicer(listed)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_V1_SERVICE, {"ServerReflectionInfo": v1_handler}),)
    )
