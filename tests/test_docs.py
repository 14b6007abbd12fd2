"""The documentation site builds with every warning an error, and covers the whole API.

The site (``mkdocs.yml``) is the README as its home page, the guide pages of
``docs/guide/`` and an API reference generated from the docstrings. A broken
cross-reference or link, a docstring naming a parameter or attribute that does not
exist, or reST markup the site cannot render is a warning, so it fails ``mkdocs build
--strict`` and this test.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import greeter
from tests.conftest import REPO_ROOT

# The modules of the `docs` extra that the build imports (mkdocs.yml).
DOCS_TOOLS = ["mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "griffe_sphinx"]
_missing_tools = [
    name for name in DOCS_TOOLS if importlib.util.find_spec(name.split(".")[0]) is None
]

pytestmark = [
    pytest.mark.skipif(
        bool(_missing_tools),
        reason=f"the docs tools are not installed ({', '.join(_missing_tools)}): "
        "pip install '.[docs]'",
    ),
    pytest.mark.timeout(300),
]

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


class _Headings(HTMLParser):
    """The ids of a page's elements, and the text of its h1 and h2 headings."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.headings: list[tuple[str, str]] = []
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag in ("h1", "h2"):
            self._open, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            text = " ".join("".join(self._text).split()).removesuffix("¶").strip()
            self.headings.append((tag, text))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)


def _parse(page: Path) -> _Headings:
    parser = _Headings()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _markdown_headings(text: str) -> list[tuple[int, str]]:
    """A page's ``#`` and ``##`` headings (level, text as rendered), in order."""
    headings = []
    in_fence = False
    for line in text.splitlines():
        if re.match(r"\s*(```|~~~)", line):
            in_fence = not in_fence
        elif not in_fence and (match := re.match(r"(#{1,2}) (.+)", line)):
            headings.append((len(match[1]), html.unescape(match[2].replace("`", "").strip())))
    return headings


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it: strict, so any warning fails the build."""
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}")
    return site_dir


def test_the_docs_build_with_warnings_as_errors(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "reference" / "index.html").is_file()


def test_every_public_name_has_a_reference_entry(site: Path) -> None:
    from greeter import metrics, testing

    ids: set[str] = set()
    for page in (site / "reference").rglob("*.html"):
        ids |= _parse(page).ids
    public = [f"greeter.{name}" for name in greeter.__all__]
    public += [f"greeter.testing.{name}" for name in testing.__all__]
    public += [f"greeter.metrics.{name}" for name in metrics.__all__]
    missing = [name for name in public if name not in ids]
    assert not missing, f"document these on a page of docs/reference/ (::: NAME): {missing}"


def test_the_reference_index_links_every_public_name(site: Path) -> None:
    index = (site / "reference" / "index.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="[^"]*#(greeter\.[\w.]+)"', index))
    unlinked = [name for name in greeter.__all__ if f"greeter.{name}" not in linked]
    assert unlinked == ["__version__"], "add to docs/reference/index.md's table: " + str(
        [name for name in unlinked if name != "__version__"]
    )
    assert "greeter.__version__" in _parse(site / "reference" / "index.html").ids


def test_the_home_page_is_the_readme(site: Path) -> None:
    home = _parse(site / "index.html").headings
    for level, text in _markdown_headings(README):
        assert (f"h{level}", text) in home, text


def test_every_guide_page_is_built_and_linked_from_the_readme(site: Path) -> None:
    pages = sorted(path.stem for path in (REPO_ROOT / "docs" / "guide").glob("*.md"))
    assert sorted(set(re.findall(r"\]\(docs/guide/([\w-]+)\.md\)", README))) == pages
    for page in pages:
        markdown = (REPO_ROOT / "docs" / "guide" / f"{page}.md").read_text(encoding="utf-8")
        built = _parse(site / "guide" / page / "index.html").headings
        for level, text in _markdown_headings(markdown):
            assert (f"h{level}", text) in built, (page, text)
