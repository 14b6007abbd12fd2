"""MkDocs hook: the site's home page is README.md, as it is at build time.

The README is the project's front page on GitHub and the site's home page alike, so it
is written once. Its links are relative to the repository: a link into ``docs/``
(``docs/guide/streaming.md``) becomes the site page it names (``guide/streaming.md``);
a link to any other file of the repository (``ARCHITECTURE.md``), which the site does
not hold, becomes its text in code, so the strict build finds no broken link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

HOME_PAGE = "index.md"
#: Said on the home page, under the README.
HOME_PAGE_FOOTER = (
    "The [guide](guide/services.md) has a page per topic; the "
    "[API reference](reference/index.md) is generated from the docstrings."
)
# An inline link whose target is a relative path (no scheme, no leading "#" or "/").
_RELATIVE_LINK = re.compile(r"\[([^\]]+)\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)")


def readme_path(config: MkDocsConfig) -> Path:
    """README.md, beside mkdocs.yml."""
    return Path(config.config_file_path).parent / "README.md"


def site_links(markdown: str, docs_dir: str = "docs") -> str:
    """The README's repository-relative links, as the home page of the site needs them."""

    def relink(match: re.Match[str]) -> str:
        text, target = match[1], match[2]
        if target.startswith(f"{docs_dir}/"):
            return f"[{text}]({target.removeprefix(f'{docs_dir}/')})"
        return text if text.startswith("`") else f"`{text}`"

    return _RELATIVE_LINK.sub(relink, markdown)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the home page, made from the README as it is now."""
    readme = readme_path(config).read_text(encoding="utf-8")
    home = f"{site_links(readme)}\n{HOME_PAGE_FOOTER}\n"
    files.append(File.generated(config, HOME_PAGE, content=home))
    return files


def on_serve(server: Any, config: MkDocsConfig, builder: Any) -> Any:
    """``mkdocs serve`` rebuilds when the README changes, as it does for docs/."""
    server.watch(str(readme_path(config)))
    return server
