"""The guide's "Your own services" page works as written, as a project would use it: its
``.proto``, its ``greeter generate`` command, its service, demo, test and ``greeter serve``
line, in a fresh folder; the demo prints what the page shows, and it all type-checks."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

import pytest

from tests.conftest import GREETER_SERVE, LOOPBACK, REPO_ROOT, ServerProcess

PAGE = REPO_ROOT / "docs" / "guide" / "your-services.md"
#: Every block with a title: ``title="protos/shop/v1/inventory.proto"`` -> its text.
_TITLED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)
BLOCKS: dict[str, str] = dict(_TITLED_BLOCK.findall(PAGE.read_text(encoding="utf-8")))
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the page's files, with the code generated as the page says."""
    root = tmp_path_factory.mktemp("project")
    for title, text in BLOCKS.items():
        if "/" in title or "." in title:
            (root / title).parent.mkdir(parents=True, exist_ok=True)
            (root / title).write_text(text, encoding="utf-8")
    command = shlex.split(BLOCKS["generate"].splitlines()[1])
    assert command[:2] == ["greeter", "generate"]
    result = _run([str(BIN / "greeter"), *command[1:]], root)
    assert result.returncode == 0, result.stderr
    return root


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    source = str(cwd / "src")
    environment = {**os.environ, "PYTHONPATH": source, "MYPYPATH": source}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, check=False, cwd=cwd,
        env=environment,
    )  # fmt: skip


def test_the_page_has_every_file_a_project_needs() -> None:
    assert set(BLOCKS) == {
        "protos/shop/v1/inventory.proto",
        "generate",
        "src/shop/service.py",
        "src/shop/demo.py",
        "output",
        "serve",
        "tests/test_inventory.py",
        "pyproject.toml",
    }


def test_generate_writes_the_messages_and_the_greeter_module(project: Path) -> None:
    written = sorted(p.name for p in (project / "src" / "shop" / "v1").iterdir())
    assert written == ["inventory_greeter.py", "inventory_pb2.py", "inventory_pb2.pyi"]


def test_the_demo_prints_what_the_page_shows(project: Path) -> None:
    result = _run([sys.executable, "src/shop/demo.py"], project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == BLOCKS["output"]


def test_the_pages_test_passes(project: Path) -> None:
    result = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_project_type_checks_strictly(project: Path) -> None:
    result = _run(
        [sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases", "src", "tests"],
        project,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_greeter_serve_serves_it_as_the_page_says(project: Path) -> None:
    line = shlex.split(BLOCKS["serve"].strip())
    assert line[:3] == ["PYTHONPATH=src", "greeter", "serve"]
    flags = [LOOPBACK if flag == "127.0.0.1:50051" else flag for flag in line[3:]]
    server = ServerProcess(
        [*GREETER_SERVE, *flags, "--workers", "1"],
        r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)",
        env={"PYTHONPATH": str(project / "src")},
    )
    try:
        check = (
            "import sys\n"
            "from shop.v1.inventory_greeter import InventoryClient\n"
            "from shop.v1.inventory_pb2 import GetItemRequest\n"
            f"with InventoryClient('127.0.0.1:{server.port}', timeout=10) as client:\n"
            "    print(client.get_item(GetItemRequest(sku='g-7')).name)\n"
        )
        result = _run([sys.executable, "-c", check], project)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "gadget\n"
    finally:
        server.stop()


def test_the_build_settings_are_the_ones_greeter_build_reads() -> None:
    settings = tomllib.loads(BLOCKS["pyproject.toml"])
    assert settings["build-system"] == {
        "requires": ["grpc-greeter"],
        "build-backend": "greeter.build",
    }
    assert set(settings["tool"]["greeter"]) == {"protos", "package-dir"}
