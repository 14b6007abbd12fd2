"""A user's code that extends the server (its own service, hooks, interceptors, the call
context) type-checks strictly and runs: tests/user_code/extensible_usage.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_CODE = Path(__file__).resolve().parent / "user_code" / "extensible_usage.py"


@pytest.mark.timeout(300)
def test_extending_code_type_checks_strictly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(USER_CODE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=USER_CODE.parent,  # resolve `greeter` as a user would: the installed package
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_extending_code_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(USER_CODE)], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [
        "HEY!",
        r"True acme b'\x01' True True True None () None (b'insecure',)",
        r"('x-served-by', 'inspecting') (('x-trailer', 'bye'), ('x-trailer-bin', b'\x00'))",
        "NOT_FOUND nobody to greet",
        "UNAVAILABLE try later",
        "['Hello, s! (1 of 3)', 'Hello, s! (2 of 3)', 'Hello, s! (3 of 3)']",
        "PERMISSION_DENIED SayHello is closed to this tenant",
        "['demo.Shout/Shout OK True', 'helloworld.Greeter/SayHello OK True',"
        " 'helloworld.Greeter/SayHello NOT_FOUND True',"
        " 'helloworld.Greeter/SayHello UNAVAILABLE True',"
        " 'helloworld.Greeter/SayHelloStreamReply OK True',"
        " 'helloworld.Greeter/SayHello PERMISSION_DENIED True']",
        "['/demo.Shout/Shout', '/helloworld.Greeter/SayHello', '/helloworld.Greeter/SayHello',"
        " '/helloworld.Greeter/SayHello', '/helloworld.Greeter/SayHelloStreamReply',"
        " '/helloworld.Greeter/SayHello']",
        "you async-acme True True",
        "['a async-acme True True']",
        "ASYNC HEY!",
        "UNAUTHENTICATED who are you?",
    ]
