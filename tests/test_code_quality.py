"""Lint, format and strict typing are part of the test suite, so one command runs all.

They check the working tree (``src/``, ``tests/``, ``benchmarks/``, the docs' build code,
``examples/``, the build hook); the generated code must exist under
``src/greeter/_proto`` (``pip install .`` or ``python build_protos.py``). The example
project's code is type-checked beside its own generated code, once installed, by
``tests/test_example_inventory.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

CHECKED = ["src", "tests", "benchmarks", "docs", "examples", "build_protos.py"]


def _check(*command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_passes() -> None:
    _check("ruff", "check", *CHECKED)


def test_ruff_format_is_clean() -> None:
    _check("ruff", "format", "--check", *CHECKED)


@pytest.mark.timeout(300)
def test_mypy_strict_passes_on_src_tests_and_benchmarks() -> None:
    generated = REPO_ROOT / "src" / "greeter" / "_proto" / "helloworld_pb2.pyi"
    assert generated.is_file(), "generate the code first: python build_protos.py"
    _check("mypy", "--strict", "src", "tests", "benchmarks", "docs")
