"""MkDocs hook: the guide is README.md, split into one page per ``##`` section.

The README stays the single source: nothing here is written to disk. At build time its
title and introduction become the home page, and each ``## Section`` becomes the page
``guide/<section>.md``, listed under "Guide" in the navigation in README order, with its
headings raised one level (``## Streaming`` is the page's title, ``### ...`` its parts).
A section added to, renamed in or removed from the README shows up in the next build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

#: The nav entry that this hook fills with the README's sections (see mkdocs.yml).
GUIDE_NAV_TITLE = "Guide"
HOME_PAGE = "index.md"
#: Said on the home page, under the README's introduction.
HOME_PAGE_FOOTER = (
    "The guide is this project's README, one page per section; the "
    "[API reference](reference/index.md) is generated from the docstrings."
)
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Section:
    """One ``##`` section of the README, as a page of its own."""

    title: str
    markdown: str

    @property
    def src_uri(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return f"guide/{slug}.md"


def readme_path(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).parent / "README.md"


def split_readme(text: str) -> tuple[str, list[Section]]:
    """The README's introduction (its ``#`` title and what precedes the first ``##``),
    and its ``##`` sections with every heading raised one level.

    Lines inside fenced code blocks are never taken for headings (a ``# comment`` in a
    shell or Python example stays where it is).
    """
    introduction: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("## "):
            sections.append((line[3:].strip(), [f"# {line[3:].strip()}"]))
            continue
        elif not in_fence and sections and re.match(r"#{3,6} ", line):
            line = line[1:]  # ### Part -> ## Part: the section is now the page
        (sections[-1][1] if sections else introduction).append(line)
    return (
        "\n".join(introduction).strip() + "\n",
        [Section(title, "\n".join(lines).strip() + "\n") for title, lines in sections],
    )


def _sections(config: MkDocsConfig) -> tuple[str, list[Section]]:
    return split_readme(readme_path(config).read_text(encoding="utf-8"))


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the empty "Guide" entry of the nav with the README's sections, in order."""
    _, sections = _sections(config)
    guide = [{section.title: section.src_uri} for section in sections]
    for entry in config.nav or []:
        if isinstance(entry, dict) and GUIDE_NAV_TITLE in entry:
            entry[GUIDE_NAV_TITLE] = guide
            return config
    raise ValueError(f"mkdocs.yml: the nav needs a '{GUIDE_NAV_TITLE}: []' entry to fill")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the home page and the guide pages, made from the README as it is now."""
    introduction, sections = _sections(config)
    home = f"{introduction}\n{HOME_PAGE_FOOTER}\n"
    files.append(File.generated(config, HOME_PAGE, content=home))
    for section in sections:
        files.append(File.generated(config, section.src_uri, content=section.markdown))
    return files


def on_serve(server: Any, config: MkDocsConfig, builder: Any) -> Any:
    """``mkdocs serve`` rebuilds when the README changes, as it does for docs/."""
    server.watch(str(readme_path(config)))
    return server
