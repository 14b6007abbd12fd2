"""The low end of the declared dependency range, with pip as a user runs it.

The wheel is built once from a clean copy of the tree; each test installs it into a fresh
virtual environment that already holds the lowest versions pyproject.toml declares for
this Python. (.ci/matrix runs the whole suite against the lowest and newest versions.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.builds import (
    SMOKE_TEST,
    copy_clean_tree,
    fresh_venv,
    lowest_supported,
    pip_install,
    run,
)

pytestmark = pytest.mark.timeout(600)

GRPC_STACK = ("grpcio", "grpcio-health-checking", "grpcio-reflection", "grpcio-status", "protobuf")
VERSIONS = "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in %r}))"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = copy_clean_tree(tmp_path_factory.mktemp("tree") / "grpc-greeter")
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, tree)
    (built,) = dist.glob("*.whl")
    return built


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    versions: dict[str, str] = json.loads(run(python, "-c", VERSIONS % (names,)))
    return versions


def test_pip_leaves_the_lowest_supported_grpc_stack_in_place(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    lowest = {name: lowest_supported(name) for name in GRPC_STACK}
    pip_install(python, *(f"{name}=={version}" for name, version in lowest.items()))

    pip_install(python, wheel)

    assert _versions(python, GRPC_STACK) == lowest
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"


def test_lowest_protobuf_pinned_gets_grpc_companions_that_load_on_it(
    wheel: Path, tmp_path: Path
) -> None:
    # Left to itself pip takes the newest companions protobuf's pin allows; some grpc
    # releases claim a lower protobuf than their code needs, and pyproject.toml excludes
    # them, so what pip picks here must import and serve.
    python = fresh_venv(tmp_path / "venv")
    protobuf = f"protobuf=={lowest_supported('protobuf')}"
    pip_install(python, protobuf)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(protobuf + "\n")

    pip_install(python, wheel, "--constraint", constraints)

    assert _versions(python, ("protobuf",)) == {"protobuf": lowest_supported("protobuf")}
    assert run(python, "-c", SMOKE_TEST, cwd=tmp_path) == "Hello, you!\n"
