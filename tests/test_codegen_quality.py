"""Generated modules read like hand-written ones: ``ruff`` and ``mypy --strict`` clean.

Checked in the generated tree (see tests/test_codegen_build.py): every ``*_greeter.py``,
and the user code calling them (tests/protos/shop_services.py.in), which must
type-check with no casts. protoc's own ``_pb2`` output is not ours to check: its
``.pyi`` stubs fail ``--strict`` on their own (bare ``Mapping``), so mypy ignores errors
there, as this project does for ``greeter._proto``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_codegen_build import SERVED_PROTOS, generated_tree

#: The rules this project's pyproject.toml selects.
RUFF_RULES = "E,N,W,I,B,UP,SIM,RUF,C4,PT,RET,TID,F"


def _module(proto: str) -> str:
    return proto.removesuffix(".proto").replace("/", ".")


def _run(tree: Path, *command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_tree(tmp_path_factory)


def _generated_files(tree: Path) -> list[str]:
    return sorted(str(path.relative_to(tree)) for path in tree.rglob("*_greeter.py"))


def test_generated_modules_pass_ruff_check(tree: Path) -> None:
    files = _generated_files(tree)
    assert len(files) == len(SERVED_PROTOS) - 3  # the types.proto files declare no service
    # --isolated: ruff's defaults (88 columns) with this project's rules on top.
    _run(
        tree,
        "ruff",
        "check",
        "--isolated",
        "--target-version=py310",
        "--select",
        RUFF_RULES,
        *files,
    )


def test_generated_modules_are_as_ruff_format_writes_them(tree: Path) -> None:
    _run(tree, "ruff", "format", "--isolated", "--check", *_generated_files(tree))


def test_user_code_calling_generated_classes_passes_ruff(tree: Path) -> None:
    _run(
        tree,
        "ruff",
        "check",
        "--isolated",
        "--target-version=py310",
        "--line-length=100",
        "--select",
        RUFF_RULES,
        "shop_services.py",
    )


def test_generated_modules_and_user_code_pass_mypy_strict(tree: Path) -> None:
    pb2_modules = ",".join(f"{_module(proto)}_pb2" for proto in SERVED_PROTOS)
    (tree / "mypy.ini").write_text(
        f"[mypy]\nstrict = True\npython_version = 3.10\n\n[mypy-{pb2_modules}]\n"
        "ignore_errors = True\n"
    )
    modules = [f"{file.removesuffix('.py').replace('/', '.')}" for file in _generated_files(tree)]
    arguments = [argument for module in ["shop_services", *modules] for argument in ("-m", module)]
    _run(tree, "mypy", "--config-file=mypy.ini", "--no-incremental", *arguments)
