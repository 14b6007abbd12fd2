"""``greeter generate``: grpcio-tools' protoc in this process, then the greeter generator.

Run on the example project's protos (``examples/inventory``: files in one proto
package, importing each other and well-known types); the generated modules are imported
in a fresh interpreter, as a user's program would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from greeter.codegen import _command
from tests.builds import run
from tests.conftest import REPO_ROOT

PROTOS = REPO_ROOT / "examples" / "inventory" / "protos"
INVENTORY = PROTOS / "shop" / "v1" / "inventory.proto"
TYPES = PROTOS / "shop" / "v1" / "types.proto"
CATALOG = PROTOS / "shop" / "v1" / "catalog.proto"
#: What protoc writes for each file.
PB2 = ("_pb2.py", "_pb2.pyi")
#: What ``generate`` writes for the two files, below ``--out``.
GENERATED = sorted(
    [
        *(f"shop/v1/{stem}{suffix}" for stem in ("inventory", "types") for suffix in PB2),
        "shop/v1/inventory_greeter.py",  # types.proto has no service: no _greeter module
    ]
)
#: The classes the generator makes for ``service Inventory`` (issue #18).
INVENTORY_CLASSES = (
    "InventoryClient",
    "AsyncInventoryClient",
    "InventoryService",
    "AsyncInventoryService",
)


def written_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def run_python(code: str, *, path: Path) -> str:
    """Run ``code`` in a fresh interpreter that imports from ``path``; its stdout."""
    environment = {**os.environ, "PYTHONPATH": str(path)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_generate_writes_messages_stubs_and_greeter_modules_and_reports_each_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    status = _command.main(["-I", str(PROTOS), "--out", str(out), str(INVENTORY), str(TYPES)])
    assert status == 0
    assert written_files(out) == GENERATED
    reported = [
        line.removeprefix("greeter generate: wrote ")
        for line in capsys.readouterr().err.splitlines()
    ]
    assert sorted(Path(line).relative_to(out).as_posix() for line in reported) == GENERATED


def test_generated_modules_import_with_their_imports_and_well_known_types(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    assert _command.main(["-I", str(PROTOS), "--out", str(out), str(INVENTORY), str(TYPES)]) == 0
    found = run_python(
        "import shop.v1.inventory_greeter as g, shop.v1.inventory_pb2 as m\n"
        "print(sorted(m.DESCRIPTOR.services_by_name['Inventory'].methods_by_name))\n"
        f"print([hasattr(g, name) for name in {INVENTORY_CLASSES!r}])\n",
        path=out,
    )
    assert found.splitlines() == [
        "['GetItem', 'ListItems', 'RestockItems', 'Watch']",
        str([True] * len(INVENTORY_CLASSES)),
    ]


def test_files_are_named_on_disk_or_below_a_proto_path_alike(tmp_path: Path) -> None:
    by_path, by_name = tmp_path / "by-path", tmp_path / "by-name"
    assert _command.main(["-I", str(PROTOS), "--out", str(by_path), str(INVENTORY)]) == 0
    assert _command.main(["-I", str(PROTOS), "--out", str(by_name), "shop/v1/inventory.proto"]) == 0
    assert written_files(by_path) == written_files(by_name) != []
    for name in written_files(by_path):
        assert (by_path / name).read_bytes() == (by_name / name).read_bytes(), name


def test_the_proto_path_defaults_to_the_working_directory(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    run(sys.executable, "-m", "greeter.codegen._command", "--out", out,
        "shop/v1/inventory.proto", cwd=PROTOS)  # fmt: skip
    assert written_files(out) == [
        "shop/v1/inventory_greeter.py",
        "shop/v1/inventory_pb2.py",
        "shop/v1/inventory_pb2.pyi",
    ]


def test_a_missing_file_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _command.main(["-I", str(PROTOS), "--out", str(tmp_path), "shop/v1/missing.proto"])
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: greeter generate")
    assert "greeter generate: error: shop/v1/missing.proto: no such file" in error
    assert not list(tmp_path.iterdir())


def test_a_file_outside_every_proto_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = _command.main(["-I", str(elsewhere), "--out", str(tmp_path / "gen"), str(TYPES)])
    assert status == 2
    assert f"{TYPES} is not under any proto path (-I): {elsewhere}" in capsys.readouterr().err


def test_a_proto_path_that_is_not_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-dir"
    assert _command.main(["-I", str(missing), "--out", str(tmp_path), str(TYPES)]) == 2
    assert f"proto path is not a directory: {missing}" in capsys.readouterr().err


def test_arguments_missing_exit_2_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _command.main(["--out", "gen"])
    assert exited.value.code == 2
    assert "the following arguments are required: FILE.proto" in capsys.readouterr().err


def test_a_proto_error_exits_1_after_protocs_own_message(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.proto").write_text(
        'syntax = "proto3";\npackage broken;\nmessage Thing { strng name = 1; }\n'
    )
    status = _command.main(["-I", str(tmp_path), "--out", str(tmp_path / "gen"), "broken.proto"])
    assert status == 1
    error = capfd.readouterr().err  # protoc writes to the process's stderr itself
    assert 'broken.proto:3:17: "strng" is not defined.' in error
    assert error.rstrip().endswith(
        "greeter generate: error: protoc failed (exit status 1); its message is above"
    )
    assert not (tmp_path / "gen" / "broken_greeter.py").exists()


def test_an_import_that_resolves_nowhere_exits_1_naming_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lonely.proto").write_text(
        'syntax = "proto3";\npackage lonely;\nimport "shop/v1/nowhere.proto";\n'
    )
    status = _command.main(["-I", str(tmp_path), "--out", str(tmp_path / "gen"), "lonely.proto"])
    assert status == 1
    assert "shop/v1/nowhere.proto: File not found." in capfd.readouterr().err


#: Two services whose generated classes would share a name (AsyncFooClient): the
#: generator refuses the file.
CLASHING_SERVICES = """\
syntax = "proto3";
package clash;
message M {}
service Foo { rpc Get(M) returns (M); }
service AsyncFoo { rpc Get(M) returns (M); }
"""


def test_protos_the_generator_refuses_exit_1_with_its_message_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clash.proto").write_text(CLASHING_SERVICES)
    out = tmp_path / "gen"
    status = _command.main(["-I", str(tmp_path), "--out", str(out), "clash.proto"])
    assert status == 1
    assert capsys.readouterr().err == (
        "greeter generate: error: clash.proto: service clash.AsyncFoo would generate "
        "AsyncFooClient, which service clash.Foo generates too; rename one of the services\n"
    )
    assert not out.exists()  # not even protoc's _pb2 modules


def test_an_out_that_is_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    out.write_text("not a folder\n")
    assert _command.main(["-I", str(PROTOS), "--out", str(out), str(TYPES)]) == 2
    assert f"greeter generate: error: --out {out} is not a directory" in capsys.readouterr().err


def test_without_grpcio_tools_generate_says_what_to_install(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python spells "not installed" to the import system.
    code = (
        "import sys\n"
        "sys.modules['grpc_tools'] = None\n"
        "from greeter.codegen._command import main\n"
        f"sys.exit(main(['--out', {str(tmp_path)!r}, {str(TYPES)!r}, '-I', {str(PROTOS)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr == (
        "greeter generate: error: generating code needs grpcio-tools, which is not "
        "installed: pip install 'grpc-greeter[codegen]'\n"
    )


def test_add_parser_plugs_generate_into_a_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="greeter")
    commands = parser.add_subparsers(dest="command", required=True)
    _command.add_parser(commands)
    args = parser.parse_args(["generate", "-I", str(PROTOS), "--out", str(tmp_path), str(TYPES)])
    assert _command.run(args) == 0
    assert "greeter generate: wrote " in capsys.readouterr().err
    assert (tmp_path / "shop" / "v1" / "types_pb2.py").is_file()

    args = parser.parse_args(["generate", "--out", str(tmp_path), "missing.proto"])
    assert _command.run(args) == 2
    assert "usage: greeter generate" in capsys.readouterr().err


@pytest.mark.parametrize("generator", ["grpcio-tools", "mypy-protobuf"])
def test_the_generators_come_with_the_codegen_extra_only(generator: str) -> None:
    requirements = [Requirement(r) for r in metadata.requires("grpc-greeter") or []]
    tools = [r for r in requirements if r.name == generator]
    assert any(r.marker is not None and r.marker.evaluate({"extra": "codegen"}) for r in tools)
    assert not any(r.marker is None or r.marker.evaluate({"extra": ""}) for r in tools)


def test_user_code_calling_the_generated_modules_passes_mypy_strict(tmp_path: Path) -> None:
    # The example project's own services and clients, beside what generate writes for them.
    out = tmp_path / "gen"
    shutil.copytree(PROTOS.parent / "src", out)
    protos = [str(INVENTORY), str(TYPES), str(CATALOG)]
    assert _command.main(["-I", str(PROTOS), "--out", str(out), *protos]) == 0
    # Every module strict, the messages' stubs (mypy-protobuf's) included.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "shop"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_adding_the_generate_command_to_a_command_line_loads_neither_grpc_nor_protobuf() -> None:
    code = (
        "import argparse, sys\n"
        "from greeter.codegen import _command\n"
        "_command.add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in ('grpc', 'google.protobuf', 'greeter.rpc') if m in sys.modules))"
    )
    assert run(sys.executable, "-c", code) == "[]\n"
