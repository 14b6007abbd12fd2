"""``protoc-gen-greeter``: the installed plugin, run by grpcio-tools' protoc for real."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from greeter.codegen import _command
from tests.test_generate import (
    CLASHING_SERVICES,
    GENERATED,
    INVENTORY,
    PROTOS,
    TYPES,
    run_python,
    written_files,
)

#: Where the package's scripts were installed: beside this interpreter, in a venv.
SCRIPTS = Path(sys.executable).parent


def protoc(*arguments: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m grpc_tools.protoc`` with the installed scripts on PATH, as a shell in
    the activated environment has them."""
    environment = {**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=environment,
    )


def test_the_plugin_is_installed_as_a_script() -> None:
    assert shutil.which("protoc-gen-greeter", path=str(SCRIPTS)) is not None


def test_protoc_with_greeter_out_writes_the_greeter_modules_beside_protocs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "gen"
    out.mkdir()
    result = protoc(
        "-I", PROTOS, f"--python_out={out}", f"--pyi_out={out}", f"--greeter_out={out}",
        INVENTORY, TYPES,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert written_files(out) == GENERATED
    found = run_python(
        "from shop.v1.inventory_greeter import InventoryClient, InventoryService\nprint('ok')",
        path=out,
    )
    assert found == "ok\n"


def test_the_plugin_writes_what_greeter_generate_writes(tmp_path: Path) -> None:
    # One generator behind both: the same protos give the same modules, byte for byte
    # (the messages' stubs by mypy-protobuf's plugin, which greeter generate runs too).
    by_plugin, by_command = tmp_path / "plugin", tmp_path / "command"
    by_plugin.mkdir()
    result = protoc(
        "-I", PROTOS, f"--python_out={by_plugin}", f"--mypy_out={by_plugin}",
        f"--greeter_out={by_plugin}", "shop/v1/inventory.proto", "shop/v1/types.proto",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        _command.main(["-I", str(PROTOS), "--out", str(by_command), str(INVENTORY), str(TYPES)])
        == 0
    )
    assert written_files(by_plugin) == written_files(by_command)
    for name in written_files(by_plugin):
        assert (by_plugin / name).read_text() == (by_command / name).read_text(), name


@pytest.mark.parametrize("relative", [True, False], ids=["relative-paths", "absolute-paths"])
def test_protoc_as_the_issue_shows_it_from_the_project_root(relative: bool, tmp_path: Path) -> None:
    # python -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen --greeter_out=gen
    #     protos/shop/v1/inventory.proto
    project = tmp_path / "project"
    shutil.copytree(PROTOS, project / "protos")
    (project / "gen").mkdir()
    gen = "gen" if relative else str(project / "gen")
    protos = "protos" if relative else str(project / "protos")
    result = protoc(
        "-I", protos, f"--python_out={gen}", f"--pyi_out={gen}", f"--greeter_out={gen}",
        f"{protos}/shop/v1/inventory.proto",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert written_files(project / "gen") == [
        "shop/v1/inventory_greeter.py",
        "shop/v1/inventory_pb2.py",
        "shop/v1/inventory_pb2.pyi",
    ]


def test_protoc_reports_what_the_generator_refuses_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "clash.proto").write_text(CLASHING_SERVICES)
    (tmp_path / "gen").mkdir()
    result = protoc("-I", tmp_path, "--greeter_out=gen", "clash.proto", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "--greeter_out: clash.proto: service clash.AsyncFoo would generate AsyncFooClient, "
        "which service clash.Foo generates too; rename one of the services\n"
    )
    assert not list((tmp_path / "gen").iterdir())


def test_the_plugin_run_in_a_terminal_explains_itself_instead_of_waiting(tmp_path: Path) -> None:
    plugin = shutil.which("protoc-gen-greeter", path=str(SCRIPTS))
    assert plugin is not None
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [plugin], stdin=terminal, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert result.stderr.startswith("protoc-gen-greeter is a protoc plugin: protoc runs it for")
    assert result.stdout == ""
