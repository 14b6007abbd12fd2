"""``greeter.build``: a PEP 517 build backend that generates your package's gRPC code.

In your project's ``pyproject.toml``::

    [build-system]
    requires = ["grpc-greeter"]
    build-backend = "greeter.build"

    [tool.greeter]
    protos = "protos"       # the proto root: protos/shop/v1/inventory.proto ...
    package-dir = "src"     # ... becomes src/shop/v1/inventory_pb2.py, .pyi, _greeter.py

Both keys are optional: ``protos`` defaults to ``protos``, ``package-dir`` to ``src``
when that directory exists, else the project root. The proto tree mirrors the Python
package path, so the generated imports resolve as they are.

The backend wraps setuptools (everything else in ``pyproject.toml`` is setuptools'
business) and asks the frontend for setuptools and grpcio-tools itself, so
``requires`` needs only grpc-greeter. ``build_wheel`` and ``build_editable`` compile
every ``.proto`` under the proto root (``greeter generate``'s code, in this process)
before handing over; so ``pip install .``, ``pip install -e .``, ``python -m build``
and ``uv pip install .`` all generate. ``build_sdist`` ships the protos and never
generated code. Commit neither the generated modules nor anything built from them.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path
from typing import Any

from greeter.codegen._protoc import generate

__all__ = [
    "GENERATOR_REQUIREMENTS",
    "build_editable",
    "build_sdist",
    "build_wheel",
    "generate_code",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]

#: The protoc that compiles a user's protos: the one greeter's own build pins for each
#: Python. The ``_pb2`` code it writes checks the protobuf runtime at import, so code
#: from this release loads wherever greeter itself does (its floors follow the same
#: pins, and a test holds the two lists together).
GENERATOR_REQUIREMENTS = (
    "grpcio-tools==1.66.2; python_version < '3.14'",
    "grpcio-tools==1.75.1; python_version == '3.14'",
    "grpcio-tools==1.84.0; python_version >= '3.15'",
    # The messages' typed stubs (_pb2.pyi), as greeter's own build writes them, and the
    # protobuf its own generated code needs (above greeter's runtime floor).
    "mypy-protobuf==3.7.0",
    "protobuf>=5.28.2",
)
#: Understands every ``[project]`` table (SPDX ``license`` strings came in 77); tomli
#: reads ``[tool.greeter]`` where the standard library cannot.
_SETUPTOOLS = ("setuptools>=77", "tomli>=2; python_version < '3.11'")

#: protoc's modules, by their names: nobody writes a ``_pb2`` module by hand.
_PROTOC_SUFFIXES = ("_pb2.py", "_pb2.pyi")
#: The generator's modules, by their name and what their docstring says (a module of the
#: user's may well be called ``welcome_greeter.py``).
_GREETER_SUFFIX = "_greeter.py"
_GREETER_MARKS = (b"greeter.codegen", b"do not edit")
_SETTINGS = {"protos", "package-dir"}


def generate_code(project: Path | str = ".") -> list[Path]:
    """Compile every ``.proto`` under the project's proto root into its package
    directory; return the files written (each also reported on stderr).

    The modules generated before are removed first, so a deleted proto, or one that no
    longer has services, leaves no stale module behind.
    """
    protos, package_dir = _settings(Path(project))
    files = sorted(protos.rglob("*.proto"))
    if not files:
        raise RuntimeError(f"greeter.build: no .proto files under {protos}")
    previous = _generated_modules(protos, package_dir)
    for path in previous:
        path.unlink()
    written = generate([protos], files, package_dir)
    for path in written:
        print(f"greeter.build: wrote {path}", file=sys.stderr)
    for path in sorted(set(previous) - set(written)):
        print(f"greeter.build: removed {path}", file=sys.stderr)
    return written


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """PEP 517 hook: setuptools and the pinned generators (``GENERATOR_REQUIREMENTS``)."""
    return [*_SETUPTOOLS, *GENERATOR_REQUIREMENTS]


def get_requires_for_build_editable(
    config_settings: dict[str, Any] | None = None,
) -> list[str]:
    """PEP 660 hook: what ``build_editable`` needs, as for a wheel."""
    return get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    """PEP 517 hook: setuptools alone (an sdist holds no generated code)."""
    return list(_SETUPTOOLS)


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    """PEP 517 hook: setuptools' metadata (generated code changes none of it)."""
    return _hand_over("prepare_metadata_for_build_wheel", metadata_directory, config_settings)


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    """PEP 660 hook: setuptools' metadata, as for a wheel."""
    return _hand_over("prepare_metadata_for_build_editable", metadata_directory, config_settings)


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """PEP 517 hook: generate the code into the package tree, then let setuptools build
    the wheel."""
    generate_code()
    return _hand_over("build_wheel", wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """PEP 660 hook: generate the code into the package tree (where the editable
    install finds it), then let setuptools build the editable wheel. Reinstall after
    editing a ``.proto``."""
    generate_code()
    return _hand_over("build_editable", wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    """PEP 517 hook: setuptools' sdist, with the protos added and any generated module
    (left by an earlier build in the tree) taken out."""
    name = _hand_over("build_sdist", sdist_directory, config_settings)
    protos, package_dir = _settings(Path())
    _ship_protos_only(Path(sdist_directory) / name, protos, package_dir)
    return name


def _hand_over(hook: str, *arguments: str | dict[str, Any] | None) -> str:
    """Run setuptools' own ``hook`` (this backend wraps setuptools'); the name it
    returns. setuptools is imported only here, once the frontend has installed what
    ``get_requires_for_build_*`` asked for."""
    from setuptools import build_meta  # type: ignore[import-untyped, unused-ignore]

    name: str = getattr(build_meta, hook)(*arguments)
    return name


def _settings(project: Path) -> tuple[Path, Path]:
    """The proto root and the package directory, from ``[tool.greeter]``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    pyproject = project / "pyproject.toml"
    tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    settings = tool.get("greeter", {})
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise RuntimeError(
            f"{pyproject}: unknown [tool.greeter] setting {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_SETTINGS))})"
        )
    protos = project / settings.get("protos", "protos")
    if not protos.is_dir():
        raise RuntimeError(f"{pyproject}: [tool.greeter] protos: {protos} is not a directory")
    default_package_dir = "src" if (project / "src").is_dir() else "."
    return protos, project / settings.get("package-dir", default_package_dir)


def _is_generated(name: str, content: bytes) -> bool:
    """Whether the module called ``name``, which begins with ``content``, is generated."""
    if name.endswith(_PROTOC_SUFFIXES):
        return True
    head = content[:1024].lower()
    return name.endswith(_GREETER_SUFFIX) and all(mark in head for mark in _GREETER_MARKS)


def _generated_modules(protos: Path, package_dir: Path) -> list[Path]:
    """The generated modules in the folders of ``package_dir`` that mirror the proto
    tree (the rest of the package is the user's)."""
    return sorted(
        path
        for folder in _output_folders(protos, package_dir)
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and _is_generated(path.name, _head(path))
    )


def _output_folders(protos: Path, package_dir: Path) -> set[Path]:
    return {package_dir / p.parent.relative_to(protos) for p in protos.rglob("*.proto")}


def _head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(1024)


def _ship_protos_only(sdist: Path, protos: Path, package_dir: Path) -> None:
    """Rewrite ``sdist`` without generated modules and with every file under ``protos``."""
    with tarfile.open(sdist) as archive:
        members = [(member, _content(archive, member)) for member in archive.getmembers()]
    folders = {folder.as_posix() for folder in _output_folders(protos, package_dir)}
    generated = {
        _in_sdist(member)
        for member, content in members
        if content is not None
        and Path(_in_sdist(member)).parent.as_posix() in folders
        and _is_generated(member.name, content)
    }
    kept = [(m, content) for m, content in members if _in_sdist(m) not in generated]
    root = kept[0][0].name.split("/", 1)[0]
    shipped = {member.name for member, _ in kept}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for member, content in kept:
            if content is not None and member.name.endswith(".egg-info/SOURCES.txt"):
                # setuptools' list of the sdist's files names them too.
                lines = content.decode().splitlines(keepends=True)
                content = "".join(line for line in lines if line.strip() not in generated).encode()
                member.size = len(content)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
        for path in sorted(p for p in protos.rglob("*") if p.is_file()):
            name = f"{root}/{path.as_posix()}"
            if name not in shipped:
                archive.add(path, arcname=name)
    sdist.write_bytes(buffer.getvalue())


def _in_sdist(member: tarfile.TarInfo) -> str:
    """A member's path below the sdist's top folder (``name-version/``)."""
    return member.name.split("/", 1)[-1]


def _content(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    data = archive.extractfile(member)
    return data.read() if data is not None else None
