"""Wire compatibility with grpclib, the pure-Python asyncio gRPC stack, on every RPC shape.

``tests/interop/grpclib_client.py`` shares no code with grpc-greeter: its modules are
generated here from a copy of the repository's proto by ``grpc_tools.protoc`` with
grpclib's own plugin. It runs in its own process, because its ``helloworld_pb2`` would
clash with greeter's in protobuf's descriptor pool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXPECTED_BY_RPC as EXPECTED, REPO_ROOT, ServerProcess

PROTO = REPO_ROOT / "protos" / "greeter" / "_proto" / "helloworld.proto"
GRPCLIB_CLIENT = Path(__file__).resolve().parent / "interop" / "grpclib_client.py"


@pytest.fixture(scope="module")
def grpclib_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding top-level ``helloworld_pb2`` and ``helloworld_grpc`` for grpclib."""
    # grpclib installs its protoc plugin beside the interpreter, in the venv's bin dir.
    plugin = Path(sys.executable).parent / "protoc-gen-grpclib_python"
    if not plugin.is_file():
        pytest.fail(f"grpclib's protoc plugin is missing ({plugin}): pip install grpclib")
    out = tmp_path_factory.mktemp("grpclib")
    # At the top of the proto path, so the generated modules are top-level too.
    shutil.copyfile(PROTO, out / "helloworld.proto")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--plugin=protoc-gen-grpclib_python={plugin}",
            f"--proto_path={out}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            str(out / "helloworld.proto"),
        ],
        check=True,
        timeout=60,
    )
    return out


def test_grpclib_client_calls_every_rpc_shape_of_greeter_serve(
    grpclib_code: Path, greeter_serve: ServerProcess
) -> None:
    result = subprocess.run(
        [sys.executable, str(GRPCLIB_CLIENT), greeter_serve.target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=grpclib_code,
        env={**os.environ, "PYTHONPATH": str(grpclib_code)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXPECTED
