"""The layers of ARCHITECTURE.md hold: import-linter checks the contracts in
``pyproject.toml`` (``[tool.importlinter]``) against the package's imports, deferred
ones and ``TYPE_CHECKING`` ones included.

The contracts run against the source tree, and a copy of it with one forbidden import
added shows that they can fail.
"""

from __future__ import annotations

import graphlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from tests.conftest import REPO_ROOT

#: import-linter's command, installed beside this interpreter (the test extra).
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``greeter`` package in ``project/src``, with the contracts
    of ``project/pyproject.toml``.

    The contracts are found as every import-linter release finds them, in the working
    directory: the releases the test extra allows differ in how a named file is passed
    (``--config`` until 2.16, deprecated for a positional argument in 2.17).
    """
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("_metadata.py", "from greeter.server import _config", "Layers"),
        ("client/_calls.py", "from greeter.pipeline import _hooks", "The client stands alone"),
        ("pipeline/_hooks.py", "import greeter.cli", "Layers"),
        ("web/_cors.py", "from greeter.server import _threaded_server", "The web port plugs"),
        ("server/_config.py", "from greeter.server import _service", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden_import: str, contract: str
) -> None:
    """Even inside a function: a deferred import is an edge too."""
    tree = tmp_path / "src"
    shutil.copytree(
        REPO_ROOT / "src" / "greeter", tree / "greeter", ignore=shutil.ignore_patterns("*.pyc")
    )
    shutil.copyfile(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tree / "greeter" / module).open("a") as file:
        file.write(f"\n\ndef _added() -> None:\n    {forbidden_import}  # noqa\n")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    assert [line for line in broken if line.startswith(contract)], result.stdout


def test_no_module_imports_one_that_imports_it_back() -> None:
    """No cycle among greeter's modules at all, a package and its own modules included
    (which the sibling contract does not see): ``graphlib`` sorts the import graph."""
    graph = grimp.build_graph("greeter", cache_dir=None)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"an import cycle: {' -> '.join(reversed(cycle.args[1]))}")


#: The longest a module of greeter's may grow before it is split by what it does.
MAX_MODULE_LINES = 400


def test_every_module_is_short_and_says_what_it_is_for() -> None:
    """No module over ``MAX_MODULE_LINES`` lines, and each opens with a docstring."""
    import ast

    too_long, unexplained = [], []
    for path in sorted((REPO_ROOT / "src" / "greeter").rglob("*.py")):
        if "_proto" in path.parts:  # generated at build time, never committed
            continue
        text = path.read_text()
        name = str(path.relative_to(REPO_ROOT / "src"))
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(name)
        if ast.get_docstring(ast.parse(text)) is None:
            unexplained.append(name)
    assert too_long == [], f"over {MAX_MODULE_LINES} lines"
    assert unexplained == [], "no opening docstring"
