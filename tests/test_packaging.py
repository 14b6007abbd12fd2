"""The build hook and every install path, from a copy of the tree with no generated code.

Each test copies the source tree as a clean clone would have it, then builds and
installs it for real (isolated builds, fresh virtual environments).
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import greeter
from tests.builds import (
    SMOKE_TEST,
    copy_clean_tree,
    for_this_python,
    fresh_venv,
    pip_install,
    pyproject,
    run,
)

# Real builds in fresh environments take a while on a loaded machine.
pytestmark = pytest.mark.timeout(600)

#: Every proto the build compiles: the Greeter's, and the protocols greeter serves itself.
PROTOS = ("health", "helloworld", "reflection", "status")
#: What the build writes for each, beside a copy of the proto.
GENERATED = tuple(
    f"{proto}{suffix}"
    for proto in PROTOS
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi", ".proto")
)


@pytest.fixture
def clean_tree(tmp_path: Path) -> Path:
    """The repository as a fresh clone has it: sources only, no generated code."""
    return copy_clean_tree(tmp_path / "grpc-greeter")


def test_pip_install_dot_generates_the_code_and_works(clean_tree: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, clean_tree)
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"
    site_packages = Path(run(python, "-c", "import greeter, pathlib; print(greeter.__file__)"))
    installed = site_packages.parent
    for name in GENERATED:
        assert (installed / "_proto" / name).is_file(), name
    # Nothing generated leaks to the top level of site-packages.
    assert not list(installed.parent.glob("helloworld_pb2*"))


def test_editable_install_regenerates_after_a_proto_edit(clean_tree: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, "--editable", clean_tree)
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"
    where = run(python, "-c", "import greeter._proto as p; print(p.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(clean_tree / "src")

    proto = clean_tree / "protos" / "greeter" / "_proto" / "helloworld.proto"
    proto.write_text(
        proto.read_text().replace(
            "service Greeter {",
            "service Greeter {\n  rpc SayHelloTwice (HelloRequest) returns (HelloReply) {}",
        )
    )
    pip_install(python, "--editable", clean_tree)
    methods = run(
        python,
        "-c",
        "from greeter._proto import helloworld_pb2 as m;"
        "print(sorted(m.DESCRIPTOR.services_by_name['Greeter'].methods_by_name))",
        cwd=tmp_path,
    )
    assert "SayHelloTwice" in methods


#: Caches the tools leave in a developer's tree (a test run type-checks tests/user_code).
TOOL_CACHES = (".mypy_cache", ".pytest_cache", ".ruff_cache")


def test_sdist_has_no_generated_code_or_caches_and_the_wheel_built_from_it_does(
    clean_tree: Path, tmp_path: Path
) -> None:
    # Even a developer's leftover generated files and caches must stay out of the sdist.
    stale = clean_tree / "src" / "greeter" / "_proto"
    stale.mkdir()
    (stale / "helloworld_pb2.py").write_text("raise ImportError('stale')\n")
    for where in (clean_tree, clean_tree / "tests" / "user_code"):
        for cache in TOOL_CACHES:
            (where / cache / "3.13").mkdir(parents=True)
            (where / cache / "3.13" / "cached.json").write_text("{}\n")

    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, clean_tree)  # sdist, then wheel from it
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    with tarfile.open(sdist) as archive:
        sdist_files = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "build_protos.py" in sdist_files
    for proto in PROTOS:
        assert f"protos/greeter/_proto/{proto}.proto" in sdist_files
    assert not [name for name in sdist_files if "_pb2" in name]
    assert not [name for name in sdist_files if set(Path(name).parts) & set(TOOL_CACHES)]
    assert "tests/user_code/typed_usage.py" in sdist_files

    with zipfile.ZipFile(wheel) as archive:
        wheel_files = set(archive.namelist())
    expected = {f"greeter/_proto/{name}" for name in GENERATED}
    expected |= {"greeter/py.typed", "greeter/_proto/__init__.py"}
    assert expected <= wheel_files
    assert not [name for name in wheel_files if name.startswith("helloworld")]

    python = fresh_venv(tmp_path / "venv")
    pip_install(python, wheel)
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"


def test_build_protos_script_regenerates_and_removes_stale_modules(clean_tree: Path) -> None:
    output = clean_tree / "src" / "greeter" / "_proto"
    output.mkdir()
    (output / "removed_pb2.py").write_text("# from a proto that no longer exists\n")
    run(sys.executable, clean_tree / "build_protos.py", cwd=clean_tree)
    assert sorted(p.name for p in output.iterdir()) == sorted([*GENERATED, "__init__.py"])


def test_the_package_requires_only_grpcio_and_protobuf() -> None:
    # grpc's companions (grpcio-health-checking, grpcio-reflection, grpcio-status) each
    # require a grpcio as new as themselves, and googleapis-common-protos a recent
    # protobuf: any of them would make pip upgrade an existing project's grpc stack.
    requirements = [Requirement(r) for r in metadata.requires("grpc-greeter") or []]
    runtime = {r.name for r in requirements if "extra" not in str(r.marker)}
    assert runtime == {"grpcio", "protobuf"}


def _generated_source(module: str) -> str:
    return (Path(greeter.__file__).parent / "_proto" / f"{module}.py").read_text()


def test_declared_runtime_floors_match_the_generated_code_guards() -> None:
    grpc_guard = re.search(
        r"GRPC_GENERATED_VERSION = '([\d.]+)'", _generated_source("helloworld_pb2_grpc")
    )
    protobuf_guard = re.search(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),",
        _generated_source("helloworld_pb2"),
    )
    assert grpc_guard is not None
    assert protobuf_guard is not None
    grpc_version = grpc_guard.group(1)
    protobuf_major = int(protobuf_guard.group(1))
    protobuf_version = ".".join(protobuf_guard.groups())
    # Code written by another generator (python build_protos.py with the environment's
    # grpcio-tools) demands other floors: pip install -e . regenerates it with the pins.
    regenerate = "not the pinned generator's code: regenerate it with pip install -e ."

    declared = for_this_python(metadata.requires("grpc-greeter") or [])
    assert str(declared["grpcio"].specifier) == f">={grpc_version}", regenerate
    protobuf_range = {str(spec) for spec in declared["protobuf"].specifier}
    assert f">={protobuf_version}" in protobuf_range, regenerate
    # protobuf loads code from older majors: the range ends at a major, past the code's own.
    (upper,) = protobuf_range - {f">={protobuf_version}"}
    assert re.fullmatch(r"<\d+", upper), upper
    assert int(upper[1:]) > protobuf_major

    # The build pins exactly the grpcio-tools that wrote those guards, for this Python.
    build_requires = for_this_python(pyproject()["build-system"]["requires"])
    assert str(build_requires["grpcio-tools"].specifier) == f"=={grpc_version}", regenerate


@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13", "3.14", "3.15", "3.16"])
def test_every_python_pins_one_generator_and_declares_its_grpcio_floor(python: str) -> None:
    # Builds on Pythons that CI cannot run still get floors that match their generator.
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}

    def applicable(requirements: list[str], name: str) -> list[Requirement]:
        parsed = (Requirement(r) for r in requirements)
        return [
            r
            for r in parsed
            if r.name == name and (r.marker is None or r.marker.evaluate(environment))
        ]

    settings = pyproject()
    (tools,) = applicable(settings["build-system"]["requires"], "grpcio-tools")
    (grpcio,) = applicable(settings["project"]["dependencies"], "grpcio")
    (protobuf,) = applicable(settings["project"]["dependencies"], "protobuf")
    (pinned,) = [spec.version for spec in tools.specifier if spec.operator == "=="]
    assert str(grpcio.specifier) == f">={pinned}"
    assert any(spec.operator == ">=" for spec in protobuf.specifier)
