"""Generated code for the servers and clients that are not greeter's.

The grpc tutorial's server, grpclib and pygrpc-native use modules that plain
``grpc_tools.protoc`` generates from the repository's ``helloworld.proto``. They are
generated here, at run time, into a temporary directory (generated code is never
committed), as top-level ``helloworld_pb2``, ``helloworld_pb2_grpc`` and (with grpclib's
plugin) ``helloworld_grpc``. A process that imports them must not import ``greeter``:
both register ``helloworld.proto`` in protobuf's default descriptor pool.

The generated-code cases compile ``benchmarks/protos/bench/v1/echo.proto`` into
``generated(directory)``, a folder of its own: ``bench/v1/echo_greeter.py`` and its
``echo_pb2.py`` with ``greeter generate``, as a user would, and ``echo_pb2_grpc.py`` (the
raw stub and servicer) with plain ``grpc_tools.protoc``. Those modules clash with nothing
of greeter's, so greeter's processes import them too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "ECHO_PROTO",
    "PROTO",
    "compile_generated",
    "compile_stubs",
    "generated",
    "grpclib_plugin",
]

PROTO = (
    Path(__file__).resolve().parent.parent / "protos" / "greeter" / "_proto" / "helloworld.proto"
)
#: The generated-code cases' service, ``bench.v1.Echo``, below its proto path.
ECHO_PROTO_PATH = Path(__file__).resolve().parent / "protos"
ECHO_PROTO = "bench/v1/echo.proto"


def grpclib_plugin() -> Path | None:
    """grpclib's protoc plugin, installed beside the interpreter; None without grpclib."""
    plugin = Path(sys.executable).parent / "protoc-gen-grpclib_python"
    return plugin if plugin.is_file() else None


def compile_stubs(directory: Path) -> bool:
    """Generate the modules into ``directory``; True if grpclib's were generated too."""
    shutil.copyfile(PROTO, directory / "helloworld.proto")
    plugin = grpclib_plugin()
    grpclib_flags = (
        []
        if plugin is None
        else [
            f"--plugin=protoc-gen-grpclib_python={plugin}",
            f"--grpclib_python_out={directory}",
        ]
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={directory}",
            f"--python_out={directory}",
            f"--grpc_python_out={directory}",
            *grpclib_flags,
            str(directory / "helloworld.proto"),
        ],
        check=True,
        timeout=60,
    )
    return plugin is not None


def generated(directory: Path) -> Path:
    """Where ``compile_generated`` writes the ``bench.v1.Echo`` modules (a ``sys.path``
    entry: ``import bench.v1.echo_greeter``)."""
    return directory / "generated"


def compile_generated(directory: Path) -> Path:
    """Generate the ``bench.v1.Echo`` modules into ``generated(directory)``; that folder."""
    out = generated(directory)
    out.mkdir(exist_ok=True)
    proto_path = f"--proto_path={ECHO_PROTO_PATH}"
    for command in (
        ["greeter", "generate", proto_path, f"--out={out}"],
        ["grpc_tools.protoc", proto_path, f"--grpc_python_out={out}"],
    ):
        subprocess.run(
            [sys.executable, "-m", *command, ECHO_PROTO],
            check=True,
            timeout=60,
            cwd=ECHO_PROTO_PATH,
        )
    return out
