"""The README's Python examples run, and print what their comments say they print.

Each ``python`` block runs as written, except that the default address is swapped for
a server on an OS-picked port: client blocks run in-process against a stock server;
a block that calls ``serve()`` runs in a child process, is called, then sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from greeter import GreeterClient, GreeterServer
from tests.certs import Certificates
from tests.conftest import LOOPBACK, REPO_ROOT, ServerProcess

README = (REPO_ROOT / "README.md").read_text()
# A python block, and the text block right after it (its output), if there is one.
EXAMPLES: list[tuple[str, str]] = re.findall(
    r"```python\n(.*?)```(?:\s*```text\n(.*?)```)?", README, flags=re.DOTALL
)
BLOCKS = [code for code, _ in EXAMPLES]
OUTPUTS: dict[str, str] = dict(EXAMPLES)
CLIENT_BLOCKS = [block for block in BLOCKS if ".serve(" not in block]
SERVE_BLOCKS = [block for block in BLOCKS if ".serve(" in block]


def _expected_output(block: str) -> list[str]:
    """The text block that follows the example, else its ``print(...)  # ...`` comments."""
    if OUTPUTS[block]:
        return OUTPUTS[block].splitlines()
    return re.findall(r"^\s*print\(.*\)\s+# (.*)$", block, flags=re.MULTILINE)


def test_the_readme_has_examples_of_both_kinds() -> None:
    assert len(CLIENT_BLOCKS) >= 8
    assert any(OUTPUTS.values())
    assert len(SERVE_BLOCKS) >= 1


@pytest.mark.parametrize("block", CLIENT_BLOCKS, ids=lambda b: b.splitlines()[-1][:40])
def test_readme_example_prints_what_it_promises(
    server: GreeterServer, block: str, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TLS examples name ca.pem, server.pem, ...: certificates made for this run.
    monkeypatch.chdir(certificates.directory)
    code = block.replace('"localhost:50051"', repr(server.target))
    printed = io.StringIO()
    # A real module, as a user's script is one (dataclasses look their module up).
    module = types.ModuleType("readme")
    monkeypatch.setitem(sys.modules, "readme", module)
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), module.__dict__)
    assert printed.getvalue().splitlines() == _expected_output(block)


@pytest.fixture(params=SERVE_BLOCKS)
def readme_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    block: str = request.param
    code = "import logging\nlogging.basicConfig(level=logging.INFO)\n" + block.replace(
        '"[::]:50051"', repr(LOOPBACK)
    )
    process = ServerProcess(
        [sys.executable, "-c", code], r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"
    )
    try:
        yield process
    finally:
        process.kill()


def test_readme_serve_example_serves_then_stops_on_sigterm(readme_server: ServerProcess) -> None:
    with GreeterClient(readme_server.target, timeout=10) as client:
        assert client.greet("you") == "Good day, you."
        assert client.greet_again("you") == "Hello again, you!"
    assert readme_server.stop() == 0


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    section = README.split("## Run the whole test suite", 1)[1]
    (command,) = re.findall(r"```sh\n(.*?)\n```", section, flags=re.DOTALL)[:1]
    assert "pytest" in command
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines


@pytest.mark.timeout(300)
def test_readme_examples_type_check_strictly(tmp_path: Path) -> None:
    for number, block in enumerate(BLOCKS):
        (tmp_path / f"readme_example_{number}.py").write_text(block)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--no-incremental"),
            *("--config-file", str(REPO_ROOT / "pyproject.toml"), str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
