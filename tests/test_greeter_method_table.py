"""The Greeter's method table matches helloworld.proto, RPC for RPC."""

from greeter._helloworld import GREETER
from greeter._proto import helloworld_pb2


def test_the_greeter_table_lists_every_rpc_of_helloworld_proto_with_its_shape() -> None:
    described = helloworld_pb2.DESCRIPTOR.services_by_name["Greeter"]
    assert GREETER.name == described.full_name
    assert [method.name for method in GREETER.methods] == [m.name for m in described.methods]
    for method, proto in zip(GREETER.methods, described.methods, strict=True):
        assert method.shape.streams_requests is proto.client_streaming
        assert method.shape.streams_responses is proto.server_streaming
        assert method.request_type.DESCRIPTOR is proto.input_type
        assert method.response_type.DESCRIPTOR is proto.output_type
