"""Installing beside an existing grpc project, with pip as a user runs it.

The wheel is built once from a clean copy of the tree; each test installs it into a fresh
virtual environment that already holds a project's grpc stack, with no constraints, and
checks that pip changed none of it and that the installed server answers health and
reflection, asked by grpc's own stubs from this process. (.ci/matrix runs the whole
suite against the lowest and newest versions pyproject.toml allows.)
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.builds import (
    SMOKE_TEST,
    copy_clean_tree,
    fresh_venv,
    lowest_supported,
    pip_install,
    run,
)
from tests.conftest import LOOPBACK, ServerProcess
from tests.test_health import health_stub

pytestmark = pytest.mark.timeout(600)

VERSIONS = "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in %r}))"
INSTALLED = (
    "import json, importlib.metadata as m;"
    "print(json.dumps(sorted({d.name.lower() for d in m.distributions()})))"
)
SERVING_LINE = r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"
GREETER = "helloworld.Greeter"
HEALTH = "grpc.health.v1.Health"
REFLECTION = {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# An existing project's grpc, as issue #15 found it (grpcio 1.66.2 has no wheels for
# Python 3.14 on: there, the oldest grpcio and protobuf the package allows).
if sys.version_info < (3, 14):
    GRPCIO, PROTOBUF = "1.66.2", "5.28.3"
else:  # pragma: no cover
    GRPCIO, PROTOBUF = lowest_supported("grpcio"), lowest_supported("protobuf")
EXISTING_PROJECTS = {
    "grpcio-status": {"grpcio": GRPCIO, "grpcio-status": GRPCIO, "protobuf": PROTOBUF},
    "grpcio-only": {"grpcio": GRPCIO, "protobuf": PROTOBUF},
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = copy_clean_tree(tmp_path_factory.mktemp("tree") / "grpc-greeter")
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, tree)
    (built,) = dist.glob("*.whl")
    return built


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    versions: dict[str, str] = json.loads(run(python, "-c", VERSIONS % (names,)))
    return versions


def _installed(python: Path) -> set[str]:
    return set(json.loads(run(python, "-c", INSTALLED)))


@contextlib.contextmanager
def _greeter_serve(python: Path) -> Iterator[ServerProcess]:
    """``greeter serve`` run by ``python``, on 127.0.0.1; killed by its pid at the end."""
    server = ServerProcess(
        [str(python), "-m", "greeter", "serve", "--address", f"{LOOPBACK}"], SERVING_LINE
    )
    try:
        yield server
    finally:
        server.kill()


def _assert_health_and_reflection_answer(server: ServerProcess) -> None:
    """Health Check and Watch, reflection's list and describe, asked by grpc's stubs."""
    with grpc.insecure_channel(server.target) as channel:
        health = health_stub(channel)
        for service in ("", GREETER):
            request = health_pb2.HealthCheckRequest(service=service)
            assert health.Check(request, timeout=10).status == SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == SERVING

        database = ProtoReflectionDescriptorDatabase(channel)
        assert {GREETER, HEALTH, *REFLECTION} <= set(database.get_services())
        pool = DescriptorPool(database)
        assert set(pool.FindServiceByName(HEALTH).methods_by_name) == {"Check", "List", "Watch"}
        say_hello = pool.FindServiceByName(GREETER).methods_by_name["SayHello"]
        assert say_hello.input_type.full_name == "helloworld.HelloRequest"

        # SIGTERM: the watch hears NOT_SERVING as the stop begins, then the server exits.
        server.process.send_signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
        assert server.stop() == 0


@pytest.mark.parametrize("existing", list(EXISTING_PROJECTS), ids=list(EXISTING_PROJECTS))
def test_pip_install_keeps_an_existing_projects_grpcio_and_protobuf(
    wheel: Path, tmp_path: Path, existing: str
) -> None:
    python = fresh_venv(tmp_path / "venv")
    pins = EXISTING_PROJECTS[existing]
    # Installed as a project has them: nothing pinned, no constraints from here on.
    pip_install(python, *(f"{name}=={version}" for name, version in pins.items()))
    before = _installed(python)

    pip_install(python, wheel)

    assert _versions(python, tuple(pins)) == pins
    assert _installed(python) - before == {"grpc-greeter"}
    with _greeter_serve(python) as server:
        _assert_health_and_reflection_answer(server)


def test_pip_leaves_the_lowest_supported_grpcio_and_protobuf_in_place(
    wheel: Path, tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "venv")
    lowest = {name: lowest_supported(name) for name in ("grpcio", "protobuf")}
    pip_install(python, *(f"{name}=={version}" for name, version in lowest.items()))

    pip_install(python, wheel)

    assert _versions(python, tuple(lowest)) == lowest
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"


# -- beside grpc's companion packages, in one process ----------------------------------

#: grpc's companions' generated modules define the protocols' own names
#: (grpc/health/v1/health.proto, google/rpc/status.proto, ...), as a user's program that
#: also uses them loads them.
COMPANIONS = """
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_status import rpc_status
"""
GREETER_IN_USE = """
import grpc
import greeter
from google.protobuf.descriptor_pool import DescriptorPool
from google.rpc.error_details_pb2 import BadRequest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

class Refusing(greeter.GreeterService):
    def say_hello(self, name):
        bad = BadRequest(field_violations=[BadRequest.FieldViolation(field="name")])
        raise greeter.InvalidArgument("bad name", error_details=[bad])

with Refusing().start("127.0.0.1:0") as server, grpc.insecure_channel(server.target) as channel:
    check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    methods = sorted(pool.FindServiceByName("grpc.health.v1.Health").methods_by_name)
    with greeter.GreeterClient(server.target) as client:
        try:
            client.greet("you")
        except greeter.InvalidArgument as error:
            (detail,) = error.details_of_type(BadRequest)
    say_hello = channel.unary_unary("/helloworld.Greeter/SayHello")
    try:
        say_hello(b"", timeout=10)
    except grpc.RpcError as error:
        (packed,) = rpc_status.from_call(error).details
print(check.status, methods, detail.field_violations[0].field, packed.type_url)
"""
#: Loads greeter's health, reflection and status modules before anything else.
GREETER_FIRST = (
    "import greeter.server._health, greeter.server._reflection, greeter._proto.status_pb2\n"
)
EXPECTED = "1 ['Check', 'List', 'Watch'] name type.googleapis.com/google.rpc.BadRequest\n"


@pytest.mark.parametrize(
    "companions_first", [True, False], ids=["companions-first", "greeter-first"]
)
def test_greeter_works_beside_grpcs_companion_modules_in_one_process(
    companions_first: bool, tmp_path: Path
) -> None:
    first = COMPANIONS if companions_first else GREETER_FIRST
    script = first + GREETER_IN_USE
    assert run(sys.executable, "-c", script, cwd=tmp_path) == EXPECTED
