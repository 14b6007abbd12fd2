"""``greeter.build`` for real: a user's project installed by pip, pip -e, python -m build
and uv, each in a fresh virtual environment with isolated builds.

The project (``examples/inventory``) declares only ``requires = ["grpc-greeter"]``;
its build environment gets greeter from a wheel of this tree (``--find-links``) and
everything else from the package index. Each install must generate the code, and the
installed service must answer its own generated client.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.builds import copy_clean_tree, fresh_venv, pip_install, run
from tests.test_build_backend import FIXTURE, GENERATED

# Real builds in fresh environments take a while on a loaded machine.
pytestmark = pytest.mark.timeout(600)

#: ``python -m shop.demo``: each of the four RPC shapes once, and a NotFound.
DEMO_OUTPUT = "widget\nNotFound: no item 'nope'\n['w-1']\n7\n[6]\n"
#: The generated modules, as installed (below site-packages).
INSTALLED = sorted(name.removeprefix("src/") for name in GENERATED)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a wheel of this tree, for the projects' build environments."""
    scratch = tmp_path_factory.mktemp("greeter-wheel")
    tree = copy_clean_tree(scratch / "grpc-greeter")
    wheels = scratch / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, tree)
    return wheels


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return shutil.copytree(FIXTURE, tmp_path / "inventory")


def site_packages(python: Path) -> Path:
    where = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    return Path(where.strip())


def generated_below(root: Path) -> list[str]:
    """The generated modules of the project's own package (shop) below ``root``."""
    names = ("*_pb2.py", "*_pb2.pyi", "*_greeter.py")
    found = (p for n in names for p in (root / "shop").rglob(n))
    return sorted(p.relative_to(root).as_posix() for p in found)


@pytest.fixture(scope="module")
def installed(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment where ``pip install PROJECT`` installed the project (and
    grpc-greeter, without its codegen extra); its interpreter."""
    scratch = tmp_path_factory.mktemp("pip-install")
    project = shutil.copytree(FIXTURE, scratch / "inventory")
    python = fresh_venv(scratch / "venv")
    pip_install(python, "--find-links", wheelhouse, project)
    return python


def test_pip_install_generates_the_code_and_the_service_answers(
    installed: Path, tmp_path: Path
) -> None:
    shop = site_packages(installed) / "shop"
    assert generated_below(shop.parent) == INSTALLED
    assert (shop / "service.py").is_file()
    assert run(installed, "-m", "shop.demo", cwd=tmp_path) == DEMO_OUTPUT


def test_generate_without_grpcio_tools_installed_says_what_to_install(
    installed: Path, tmp_path: Path
) -> None:
    # grpc-greeter alone (no codegen extra), as pip install grpc-greeter leaves it.
    assert run(installed, "-c", "import importlib.util as u; print(u.find_spec('grpc_tools'))") == (
        "None\n"
    )
    result = subprocess.run(
        [installed, "-m", "greeter.codegen._command", "--out", tmp_path, FIXTURE / "protos"
         / "shop" / "v1" / "types.proto", "-I", FIXTURE / "protos"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'grpc-greeter[codegen]'" in result.stderr


def test_editable_install_generates_into_the_tree_and_regenerates_after_a_proto_edit(
    wheelhouse: Path, project: Path, tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, "--find-links", wheelhouse, "--editable", project)
    assert generated_below(project / "src") == INSTALLED
    assert run(python, "-m", "shop.demo", cwd=tmp_path) == DEMO_OUTPUT

    proto = project / "protos" / "shop" / "v1" / "inventory.proto"
    proto.write_text(
        proto.read_text().replace(
            "service Inventory {",
            "service Inventory {\n  rpc CountItems(google.protobuf.Empty) returns (Item);",
        )
    )
    pip_install(python, "--find-links", wheelhouse, "--editable", project)
    methods = run(
        python,
        "-c",
        "from shop.v1 import inventory_greeter as g, inventory_pb2 as m\n"
        "print(sorted(m.DESCRIPTOR.services_by_name['Inventory'].methods_by_name))\n"
        "print(hasattr(g.InventoryClient, 'count_items'))",
        cwd=tmp_path,
    )
    assert methods == "['CountItems', 'GetItem', 'ListItems', 'RestockItems', 'Watch']\nTrue\n"


def test_python_m_build_ships_protos_in_the_sdist_and_generates_in_the_wheel_built_from_it(
    wheelhouse: Path, project: Path, tmp_path: Path
) -> None:
    # A leftover from an earlier editable install must not reach the sdist.
    leftover = project / "src" / "shop" / "v1" / "types_pb2.py"
    leftover.parent.mkdir()
    leftover.write_text("raise ImportError('stale')\n")
    find_links = f"{wheelhouse} {os.environ.get('PIP_FIND_LINKS', '')}".strip()
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", dist, project],  # sdist, then wheel from it
        capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, "PIP_FIND_LINKS": find_links},
    )  # fmt: skip
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"protos/shop/v1/inventory.proto", "protos/shop/v1/types.proto"} <= in_sdist
    assert {"pyproject.toml", "src/shop/service.py"} <= in_sdist
    assert not [name for name in in_sdist if name.endswith(("_pb2.py", "_pb2.pyi", "_greeter.py"))]

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    assert {*INSTALLED, "shop/service.py", "shop/demo.py"} <= in_wheel
    assert not [name for name in in_wheel if name.startswith("protos/")]
    with zipfile.ZipFile(wheel) as archive:
        assert b"stale" not in archive.read("shop/v1/types_pb2.py")


def test_uv_pip_install_generates_the_code_and_the_service_answers(
    wheelhouse: Path, project: Path, tmp_path: Path
) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv is not None, "uv is in the test extra: pip install -e '.[test]'"
    venv = tmp_path / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--quiet", "--python", python, "--find-links", wheelhouse, project)
    assert generated_below(site_packages(python)) == INSTALLED
    assert run(python, "-m", "shop.demo", cwd=tmp_path) == DEMO_OUTPUT
