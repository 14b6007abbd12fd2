"""The public API is typed end to end, as a user's code sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_CODE = Path(__file__).resolve().parent / "user_code" / "typed_usage.py"


def _mypy_strict(code: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``code``, run beside it: ``greeter`` resolves as a user's
    would, to the installed package."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *flags, str(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=code.parent,
    )


@pytest.mark.timeout(300)
def test_user_code_type_checks_strictly_with_no_any_from_greeter() -> None:
    result = _mypy_strict(USER_CODE, "--disallow-any-expr")
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


MISUSED_OPTIONS = """
from greeter import AsyncGreeterClient, GreeterClient


def sync_call(client: GreeterClient) -> None:
    client.greet("you", timeot=2.0)
    client.greet_stream("you", timeout="2")


async def async_call(client: AsyncGreeterClient) -> None:
    await client.greet_again("you", compression="brotli")
"""


@pytest.mark.timeout(300)
def test_mypy_checks_each_call_option_by_name_and_type(tmp_path: Path) -> None:
    code = tmp_path / "misused_options.py"
    code.write_text(MISUSED_OPTIONS)
    result = _mypy_strict(code)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 3, result.stdout
    assert 'Unexpected keyword argument "timeot" for "greet"' in errors[0]
    assert 'Argument "timeout" to "greet_stream" of "GreeterClient"' in errors[1]
    assert 'Argument "compression" to "greet_again" of "AsyncGreeterClient"' in errors[2]


STAR_IMPORT = """
from greeter.errors import *

def code_of(error: GreeterError) -> StatusCode:
    return error.code

assert code_of(NotFound("gone")) is StatusCode.NOT_FOUND
print(sorted(name for name in dir() if not name.startswith("_") and name != "code_of"))
"""


@pytest.mark.timeout(300)
def test_a_star_import_of_the_errors_type_checks_and_takes_just_the_public_names(
    tmp_path: Path,
) -> None:
    """``greeter.errors`` takes its ``__all__`` from greeter's one table of public names
    (not a literal a type checker could read): mypy finds the names all the same."""
    from greeter._public import PUBLIC

    code = tmp_path / "star.py"
    code.write_text(STAR_IMPORT)
    checked = _mypy_strict(code)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run(
        [sys.executable, str(code)], capture_output=True, text=True, timeout=60, check=True
    )
    assert ran.stdout.strip() == str(sorted(PUBLIC["greeter.errors"]))
    assert "NotFound" in PUBLIC["greeter.errors"]
