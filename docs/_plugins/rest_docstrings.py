"""Griffe extension: greeter's docstrings, made ready for mkdocstrings' Markdown.

The docstrings are written to read well in ``help()`` and an editor: Google-style
sections (``Args:``, ``Attributes:``), double-backtick literals (Markdown too) and two reST
constructs that Markdown lacks, which this extension rewrites:

- a literal block, the indented block after a paragraph ending in ``::``, becomes a
  fenced code block (``python`` if it parses as Python, else ``text``), and the ``::``
  becomes ``:`` as reST renders it;
- a simple table (rows between ``=====  =====`` rules, header above the middle rule)
  becomes a Markdown table.

Any other reST directive or role (``.. note::``, ``:class:`...```) would come out as
plain text, so it is logged as a warning, which fails ``mkdocs build --strict``; so is
an ``Attributes:`` entry naming an attribute the class does not have (griffe already
warns about ``Args:`` entries that name no parameter).

A class that builds its docstring at import time (``__doc__ = __doc__ + SHARED``) gets
that docstring, read from the imported class.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterator
from typing import Any

import griffe

logger = griffe.get_logger("greeter_docs")

_RULE = re.compile(r"^(\s*)=+( +=+)+\s*$")
_UNSUPPORTED = re.compile(r"^\s*\.\. [\w-]+::|:[\w-]+:`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _literal_block(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """The block of lines indented deeper than ``base`` from ``start``, and its end."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], end


def _fenced(block: list[str], indent: str) -> list[str]:
    code = textwrap.dedent("\n".join(block))
    try:
        ast.parse(code)
        language = "python"
    except SyntaxError:
        language = "text"
    body = [f"{indent}{line}" if line else "" for line in code.splitlines()]
    return ["", f"{indent}```{language}", *body, f"{indent}```", ""]


def _table(rows: list[str], rule: str) -> list[str]:
    """A Markdown table from a reST simple table: header row(s), a rule, body rows.

    ``rule`` (the table's first line) gives the columns. A row whose first column is
    empty continues the row above, as in reST.
    """
    starts = [match.start() for match in re.finditer(r"=+", rule)]
    ends = [*starts[1:], None]
    table: list[list[str]] = []
    header: list[str] = []
    for row in rows:
        if _RULE.match(row):  # the rule under the header
            header, table = [" ".join(cells) for cells in zip(*table, strict=True)], []
            continue
        cells = [row[start:end].strip() for start, end in zip(starts, ends, strict=True)]
        if table and not cells[0]:
            table[-1] = [f"{old} {new}".strip() for old, new in zip(table[-1], cells, strict=True)]
        else:
            table.append(cells)
    indent = " " * _indent(rule)

    def line(cells: list[str]) -> str:
        return indent + "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    return ["", line(header), line(["---"] * len(header)), *map(line, table), ""]


def to_markdown(text: str, where: str) -> str:
    """``text`` with its literal blocks and simple tables rewritten as Markdown."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if _UNSUPPORTED.search(line):
            logger.warning("%s: reST markup that Markdown does not render: %s", where, line)
        if stripped.endswith("::"):
            following = next((later for later in lines[i + 1 :] if later.strip()), "")
            if _indent(following) > _indent(line):
                paragraph_end = stripped[:-2]
                if paragraph_end.strip():
                    # "Text::" reads "Text:"; "Text ::" reads "Text"; "::" alone vanishes.
                    keep = paragraph_end.rstrip()
                    out.append(keep if paragraph_end.endswith(" ") else keep + ":")
                block, i = _literal_block(lines, i + 1, _indent(line))
                out.extend(_fenced(block, " " * _indent(line)))
                continue
        if _RULE.match(line):
            end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            rows = lines[i + 1 : end]
            if sum(bool(_RULE.match(row)) for row in rows) == 2 and _RULE.match(rows[-1]):
                out.extend(_table(rows[:-1], line))
                i = end
                continue
            logger.warning("%s: a reST table without a header row, or with blank lines", where)
        out.append(line)
        i += 1
    return "\n".join(out)


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and everything defined in it (not what it imports)."""
    yield obj
    for member in obj.members.values():
        if not isinstance(member, griffe.Alias):
            yield from _objects(member)


def _check_attributes(cls: griffe.Class) -> None:
    """Warn about ``Attributes:`` entries that name no attribute of the class."""
    if cls.docstring is None:
        return
    for section in griffe.parse_google(cls.docstring, warnings=False):
        if section.kind is griffe.DocstringSectionKind.attributes:
            for attribute in section.value:
                if attribute.name not in cls.all_members:
                    logger.warning(
                        "%s: the docstring documents attribute %r, which the class lacks",
                        cls.path,
                        attribute.name,
                    )


class RestDocstrings(griffe.Extension):
    """Rewrite the docstrings of a loaded package as described in the module docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if isinstance(obj, griffe.Class) and "__doc__" in obj.members:
                runtime_doc = griffe.dynamic_import(obj.path).__doc__
                obj.docstring = griffe.Docstring(
                    inspect.cleandoc(runtime_doc), parent=obj, lineno=obj.lineno
                )
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, obj.path)
            if isinstance(obj, griffe.Class):
                _check_attributes(obj)
