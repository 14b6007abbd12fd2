"""The protobuf the stub generator needs: asked for wherever it is installed, and named
when it is missing.

mypy-protobuf writes the messages' ``_pb2.pyi`` for ``greeter generate``, ``greeter.build``
and this package's own build. It ships protoc-generated code of its own
(``mypy_protobuf/extensions_pb2.py``), which refuses to load beside a protobuf older than
the one that wrote it (3.7.0: 5.28.2), while it declares a lower floor, and greeter's
runtime floor is lower still. So the ``codegen`` extra and both builds' requirements
state that protobuf themselves; and where an older one is installed anyway (the lowest
cells of ``.ci/matrix``), ``greeter generate`` exits 1 saying so, writing nothing.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from greeter import build
from tests.builds import pyproject
from tests.conftest import REPO_ROOT

PROTOS = REPO_ROOT / "examples" / "inventory" / "protos"
TYPES = PROTOS / "shop" / "v1" / "types.proto"
INSTALLED_PROTOBUF = Version(metadata.version("protobuf"))


def _protobuf_that_wrote_the_stub_generator() -> Version:
    """The protobuf release whose protoc wrote mypy-protobuf's own ``_pb2`` code (read
    from the file: importing it is what fails below that release)."""
    spec = importlib.util.find_spec("mypy_protobuf")
    assert spec is not None, "the test extra installs mypy-protobuf"
    assert spec.origin is not None
    code = (Path(spec.origin).parent / "extensions_pb2.py").read_text(encoding="utf-8")
    found = re.search(r"^# Protobuf Python Version: (\S+)$", code, re.MULTILINE)
    assert found, "mypy-protobuf's extensions_pb2.py no longer names the protobuf that wrote it"
    return Version(found.group(1))


NEEDED = _protobuf_that_wrote_the_stub_generator()


def _protobuf_floor(requirements: Iterable[str], extra: str) -> Version:
    """The highest ``protobuf>=`` among ``requirements`` that apply here with ``extra``."""
    floors = [
        Version(spec.version)
        for requirement in map(Requirement, requirements)
        if requirement.name == "protobuf"
        and (requirement.marker is None or requirement.marker.evaluate({"extra": extra}))
        for spec in requirement.specifier
        if spec.operator == ">="
    ]
    assert floors, f"no protobuf floor among {list(requirements)}"
    return max(floors)


@pytest.mark.parametrize(
    ("requirements", "extra"),
    [
        pytest.param(metadata.requires("grpc-greeter") or [], "codegen", id="codegen-extra"),
        pytest.param(build.GENERATOR_REQUIREMENTS, "", id="greeter.build"),
        pytest.param(pyproject()["build-system"]["requires"], "", id="this-package-build"),
    ],
)
def test_each_way_to_the_stub_generator_asks_for_the_protobuf_it_loads_beside(
    requirements: list[str], extra: str
) -> None:
    assert _protobuf_floor(requirements, extra) >= NEEDED


def test_the_plain_install_keeps_the_lower_runtime_floor() -> None:
    # The extra's floor is for generating code only: generated code runs at greeter's own.
    plain = _protobuf_floor(metadata.requires("grpc-greeter") or [], "")
    assert plain < _protobuf_floor(metadata.requires("grpc-greeter") or [], "codegen")


@pytest.mark.skipif(
    INSTALLED_PROTOBUF >= NEEDED,
    reason=f"protobuf {INSTALLED_PROTOBUF} loads mypy-protobuf: this runs below {NEEDED}, "
    "in .ci/matrix's lowest-versions cells",
)
def test_below_that_protobuf_generate_names_it_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = subprocess.run(
        [sys.executable, "-m", "greeter", "generate", "-I", PROTOS, "--out", out, TYPES],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"greeter generate: error: mypy-protobuf cannot load beside protobuf {INSTALLED_PROTOBUF}: "
    ), result.stderr
    assert f"gencode {NEEDED}" in result.stderr  # protobuf's own words: what it needs
    assert result.stderr.endswith(
        "; pip install 'grpc-greeter[codegen]' installs a protobuf it loads beside\n"
    )
    assert not out.exists()
