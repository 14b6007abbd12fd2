"""The public API is typed end to end, as a user's code sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_CODE = Path(__file__).resolve().parent / "user_code" / "typed_usage.py"


@pytest.mark.timeout(300)
def test_user_code_type_checks_strictly_with_no_any_from_greeter() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--disallow-any-expr",
            "--no-incremental",
            str(USER_CODE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=USER_CODE.parent,  # resolve `greeter` as a user would: the installed package
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_code_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(USER_CODE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [
        "INVALID_ARGUMENT name must not be empty True 1",
        "True Good day, you (True, True, True) Hello again, you! True a & b c",
        "True ('x-stream', 'yes') ['Hello, s! (1 of 2)', 'Hello, s! (2 of 2)'] True ['X', 'Y']",
        "Async day, you ('x-async', 'yes') Hello again, you! Hello again, you! a/b",
        "c ['hello, s! (1 of 3)', 'hello, s! (2 of 3)', 'hello, s! (3 of 3)']"
        " True ['ba', 'dc'] True",
    ]
