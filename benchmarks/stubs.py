"""Generated code for the servers and clients that are not greeter's.

The grpc tutorial's server, grpclib and pygrpc-native use modules that plain
``grpc_tools.protoc`` generates from the repository's ``helloworld.proto``. They are
generated here, at run time, into a temporary directory (generated code is never
committed), as top-level ``helloworld_pb2``, ``helloworld_pb2_grpc`` and (with grpclib's
plugin) ``helloworld_grpc``. A process that imports them must not import ``greeter``:
both register ``helloworld.proto`` in protobuf's default descriptor pool.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PROTO", "compile_stubs", "grpclib_plugin"]

PROTO = (
    Path(__file__).resolve().parent.parent / "protos" / "greeter" / "_proto" / "helloworld.proto"
)


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
