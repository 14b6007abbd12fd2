"""The documentation's Python examples run, and print what their comments say they print.

The examples are the ``python`` blocks of README.md and of every guide page under
``docs/guide/``. Each runs as written, except that the default address is swapped for a
server on an OS-picked port: client blocks run in-process against a stock server; a
block that calls ``serve()`` runs in a child process, is called, then sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from greeter import GreeterClient, GreeterServer
from tests.certs import Certificates
from tests.conftest import LOOPBACK, REPO_ROOT, ServerProcess

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
GUIDE_PAGES = sorted((REPO_ROOT / "docs" / "guide").glob("*.md"))
#: The README once held every example; none may be lost in the move to the guide pages.
EXAMPLES_BEFORE_THE_GUIDE = 31
README_MAX_LINES = 300


@dataclass(frozen=True)
class Example:
    """A ``python`` block of a page, and the ``text`` block right after it, if any."""

    page: str
    line: int
    code: str
    output: str

    @property
    def expected_output(self) -> list[str]:
        """The text block that follows the example, else its ``print(...)  # ...`` comments."""
        if self.output:
            return self.output.splitlines()
        return re.findall(r"^\s*print\(.*\)\s+# (.*)$", self.code, flags=re.MULTILINE)

    def compiled(self, code: str) -> types.CodeType:
        """``code`` compiled so that a traceback names the page and its line."""
        return compile("\n" * self.line + code, self.page, "exec")

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def _examples(path: Path) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    page = path.relative_to(REPO_ROOT).as_posix()
    return [
        Example(page, text.count("\n", 0, match.start(1)), match[1], match[2] or "")
        for match in re.finditer(
            r"```python\n(.*?)```(?:\s*```text\n(.*?)```)?", text, flags=re.DOTALL
        )
    ]


ALL_EXAMPLES = [
    example for path in [REPO_ROOT / "README.md", *GUIDE_PAGES] for example in _examples(path)
]
# The README repeats a few of the guide's examples word for word: each runs once.
_distinct: dict[str, Example] = {}
for _example in ALL_EXAMPLES:
    _distinct.setdefault(_example.code, _example)
EXAMPLES = list(_distinct.values())
CLIENT_EXAMPLES = [example for example in EXAMPLES if ".serve(" not in example.code]
SERVE_EXAMPLES = [example for example in EXAMPLES if ".serve(" in example.code]


def test_the_readme_is_a_front_page_of_at_most_300_lines() -> None:
    assert len(README.splitlines()) <= README_MAX_LINES


def test_no_example_was_lost_and_both_kinds_are_there() -> None:
    assert len(ALL_EXAMPLES) >= EXAMPLES_BEFORE_THE_GUIDE
    assert {example.page for example in ALL_EXAMPLES} >= {"README.md", "docs/guide/services.md"}
    assert len(CLIENT_EXAMPLES) >= 8
    assert any(example.output for example in CLIENT_EXAMPLES)
    assert len(SERVE_EXAMPLES) >= 1


@pytest.mark.parametrize("example", CLIENT_EXAMPLES, ids=str)
def test_example_prints_what_it_promises(
    server: GreeterServer,
    example: Example,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The TLS examples name ca.pem, server.pem, ...: certificates made for this run.
    monkeypatch.chdir(certificates.directory)
    code = example.code.replace('"localhost:50051"', repr(server.target))
    printed = io.StringIO()
    # A real module, as a user's script is one (dataclasses look their module up).
    module = types.ModuleType("readme")
    monkeypatch.setitem(sys.modules, "readme", module)
    with contextlib.redirect_stdout(printed):
        exec(example.compiled(code), module.__dict__)
    assert printed.getvalue().splitlines() == example.expected_output


@pytest.fixture(params=SERVE_EXAMPLES, ids=str)
def example_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    example: Example = request.param
    code = "import logging\nlogging.basicConfig(level=logging.INFO)\n" + example.code.replace(
        '"[::]:50051"', repr(LOOPBACK)
    )
    process = ServerProcess(
        [sys.executable, "-c", code], r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)"
    )
    try:
        yield process
    finally:
        process.kill()


def test_serve_example_serves_then_stops_on_sigterm(example_server: ServerProcess) -> None:
    with GreeterClient(example_server.target, timeout=10) as client:
        assert client.greet("you") == "Good day, you."
        assert client.greet_again("you") == "Hello again, you!"
    assert example_server.stop() == 0


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    section = README.split("## Run the whole test suite", 1)[1]
    (command,) = re.findall(r"```sh\n(.*?)\n```", section, flags=re.DOTALL)[:1]
    assert "pytest" in command
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines


@pytest.mark.timeout(300)
def test_readme_examples_type_check_strictly(tmp_path: Path) -> None:
    for example in EXAMPLES:  # named after its page and line, as mypy's errors say
        name = re.sub(r"\W", "_", Path(example.page).stem)
        (tmp_path / f"{name}_line_{example.line}.py").write_text(example.code)
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
