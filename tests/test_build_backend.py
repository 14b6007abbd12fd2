"""``greeter.build``: what the backend asks for, reads, writes and ships, on a copy of
the example project (``examples/inventory``). The real installs, in fresh virtual
environments, are in ``test_build_backend_installs.py``."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from greeter import build
from tests import test_generate
from tests.builds import pyproject, run
from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "examples" / "inventory"
#: What the backend generates into the example's src/, beside the user's own shop/ code:
#: what ``greeter generate`` writes for inventory.proto and types.proto, and catalog.proto's.
GENERATED = sorted(
    [
        *(f"src/{name}" for name in test_generate.GENERATED),
        *(f"src/shop/v1/catalog{suffix}" for suffix in ("_greeter.py", "_pb2.py", "_pb2.pyi")),
    ]
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the example project, with no generated code."""
    copy = shutil.copytree(FIXTURE, tmp_path / "inventory")
    assert not (copy / "src" / "shop" / "v1").exists()
    return copy


def generated_in(project: Path) -> list[str]:
    names = ("*_pb2.py", "*_pb2.pyi", "*_greeter.py")
    return sorted(p.relative_to(project).as_posix() for n in names for p in project.rglob(n))


def set_tool_greeter(project: Path, settings: str) -> None:
    path = project / "pyproject.toml"
    text = path.read_text()
    path.write_text(text[: text.index("[tool.greeter]")] + f"[tool.greeter]\n{settings}\n")


@pytest.mark.parametrize("python", ["3.10", "3.13", "3.14", "3.15", "3.16"])
def test_users_code_is_generated_by_the_protoc_greeters_own_build_pins(python: str) -> None:
    # The _pb2 code checks the protobuf runtime at import: from greeter's own pinned
    # generator, a user's package loads wherever greeter itself does.
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}

    def tools(requirements: list[str]) -> list[str]:
        parsed = map(Requirement, requirements)
        applicable = [r for r in parsed if r.marker is None or r.marker.evaluate(environment)]
        return [str(r.specifier) for r in applicable if r.name == "grpcio-tools"]

    pinned = tools(pyproject()["build-system"]["requires"])
    assert tools(build.get_requires_for_build_wheel()) == pinned
    assert tools(build.get_requires_for_build_editable()) == pinned
    assert len(pinned) == 1
    assert pinned[0].startswith("==")


def test_the_backend_asks_for_setuptools_itself_so_requires_needs_only_greeter() -> None:
    for requires in (build.get_requires_for_build_wheel(), build.get_requires_for_build_sdist()):
        names = {Requirement(r).name for r in requires}
        assert "setuptools" in names
    sdist_names = {Requirement(r).name for r in build.get_requires_for_build_sdist()}
    assert "grpcio-tools" not in sdist_names  # an sdist holds no generated code


def test_generate_code_writes_every_proto_into_the_package_dir(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = build.generate_code(project)
    assert sorted(p.relative_to(project).as_posix() for p in written) == GENERATED
    assert generated_in(project) == GENERATED
    reported = capsys.readouterr().err.splitlines()
    assert sorted(reported) == sorted(f"greeter.build: wrote {path}" for path in written)


def test_generate_code_removes_the_modules_of_a_deleted_proto_and_nothing_of_the_users(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = project / "protos" / "shop" / "v1" / "orders.proto"
    orders.write_text(
        'syntax = "proto3";\npackage shop.v1;\nmessage Order {}\n'
        "service Orders { rpc Place(Order) returns (Order); }\n"
    )
    build.generate_code(project)
    package = project / "src" / "shop" / "v1"
    assert (package / "orders_greeter.py").is_file()
    orders.unlink()
    users = ["helpers.py", "orders.py", "welcome_greeter.py"]  # the last by name alone
    for name in users:
        (package / name).write_text("# the user's own module\n")
    capsys.readouterr()

    build.generate_code(project)
    assert sorted(p.name for p in package.iterdir() if p.is_file()) == sorted(
        [*users, *(Path(name).name for name in GENERATED)]
    )
    removed = [line for line in capsys.readouterr().err.splitlines() if "removed" in line]
    assert removed == [
        f"greeter.build: removed {package / name}"
        for name in ("orders_greeter.py", "orders_pb2.py", "orders_pb2.pyi")
    ]


def test_a_proto_that_loses_its_services_loses_its_greeter_module(project: Path) -> None:
    build.generate_code(project)
    package = project / "src" / "shop" / "v1"
    assert (package / "inventory_greeter.py").is_file()
    proto = project / "protos" / "shop" / "v1" / "inventory.proto"
    text = proto.read_text()
    proto.write_text(text[: text.index("// What the shop has.")])
    build.generate_code(project)
    assert not (package / "inventory_greeter.py").exists()
    assert (package / "inventory_pb2.py").is_file()


def test_package_dir_defaults_to_src_when_it_exists(project: Path) -> None:
    set_tool_greeter(project, 'protos = "protos"')
    build.generate_code(project)
    assert generated_in(project) == GENERATED


def test_package_dir_defaults_to_the_project_root_without_src(project: Path) -> None:
    shutil.rmtree(project / "src")
    set_tool_greeter(project, "")
    build.generate_code(project)
    assert generated_in(project) == [name.removeprefix("src/") for name in GENERATED]


def test_a_misspelt_setting_is_refused_naming_the_known_ones(project: Path) -> None:
    set_tool_greeter(project, 'proto = "protos"')
    with pytest.raises(RuntimeError, match=r"unknown \[tool.greeter\] setting proto \(known: "):
        build.generate_code(project)


def test_a_missing_proto_root_is_refused_naming_it(project: Path) -> None:
    set_tool_greeter(project, 'protos = "proto"')
    with pytest.raises(RuntimeError, match=r"\[tool.greeter\] protos: .*proto is not a directory"):
        build.generate_code(project)


def test_an_empty_proto_root_is_refused(project: Path) -> None:
    shutil.rmtree(project / "protos")
    (project / "protos").mkdir()
    with pytest.raises(RuntimeError, match=r"no \.proto files under"):
        build.generate_code(project)


def test_the_sdist_ships_the_protos_and_never_generated_code(project: Path) -> None:
    build.generate_code(project)  # as an earlier pip install -e left the tree
    (project / "src" / "shop" / "v1" / "welcome_greeter.py").write_text("# the user's own\n")
    dist = project / "dist"
    code = f"import greeter.build as b; print(b.build_sdist({str(dist)!r}))"
    name = run(sys.executable, "-c", code, cwd=project).splitlines()[-1]
    with tarfile.open(dist / name) as archive:
        shipped = {member.split("/", 1)[1] for member in archive.getnames() if "/" in member}
        sources = archive.extractfile(
            f"{name.removesuffix('.tar.gz')}/src/shop_inventory.egg-info/SOURCES.txt"
        )
        assert sources is not None
        listed = sources.read().decode().split()
    assert {"pyproject.toml", "src/shop/service.py", "src/shop/v1/welcome_greeter.py"} <= shipped
    assert {"protos/shop/v1/inventory.proto", "protos/shop/v1/types.proto"} <= shipped
    assert not set(GENERATED) & shipped
    assert {"src/shop/service.py", "src/shop/v1/welcome_greeter.py"} <= set(listed)
    assert not set(GENERATED) & set(listed)
