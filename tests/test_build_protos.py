"""The package's own build compiles its protos through greeter's generator.

``build_protos.py`` hands ``protos/`` to ``greeter.codegen``'s ``generate`` (the code
``greeter generate`` runs) with two switches: grpc's own stubs added, the
``_greeter.py`` modules left out. What it writes is what grpcio-tools' protoc and
mypy-protobuf's two plugins write when protoc runs them, byte for byte, and the
messages and their stubs are what ``greeter generate`` writes.
(tests/test_packaging.py builds, installs and regenerates the package itself.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from greeter.codegen._protoc import generate
from tests.conftest import REPO_ROOT

PROTOS = REPO_ROOT / "protos"
FILES = sorted(PROTOS.rglob("*.proto"))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_build_writes_what_protoc_and_its_plugins_write(tmp_path: Path) -> None:
    by_build, by_protoc = tmp_path / "build", tmp_path / "protoc"
    by_protoc.mkdir()
    generate([PROTOS], FILES, by_build, greeter_modules=False, grpc_stubs=True)
    scripts = Path(sys.executable).parent  # mypy-protobuf's plugins, from the test extra
    result = subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}",
            f"--python_out={by_protoc}", f"--grpc_python_out={by_protoc}",
            f"--mypy_out={by_protoc}", f"--mypy_grpc_out={by_protoc}",
            *map(str, FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    built = _tree(by_build)
    assert built == _tree(by_protoc)
    assert "greeter/_proto/helloworld_pb2_grpc.py" in built
    assert "greeter/_proto/helloworld_pb2_grpc.pyi" in built
    assert not [name for name in built if name.endswith("_greeter.py")]


def test_the_builds_messages_and_stubs_are_greeter_generates(tmp_path: Path) -> None:
    by_build, by_command = tmp_path / "build", tmp_path / "command"
    generate([PROTOS], FILES, by_build, greeter_modules=False, grpc_stubs=True)
    generate([PROTOS], FILES, by_command)

    built, commanded = _tree(by_build), _tree(by_command)
    grpc_stubs = {name for name in built if "_pb2_grpc." in name}
    greeter_modules = {name for name in commanded if name.endswith("_greeter.py")}
    assert grpc_stubs
    assert greeter_modules  # helloworld.Greeter and the others have services
    assert {n: c for n, c in built.items() if n not in grpc_stubs} == {
        n: c for n, c in commanded.items() if n not in greeter_modules
    }
