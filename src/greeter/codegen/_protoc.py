"""Run grpcio-tools' protoc in this process, then the greeter generator, on ``.proto`` files.

``generate`` is what ``greeter generate``, the ``greeter.build`` backend and this
package's own build (``build_protos.py``) call. protoc writes the messages (``_pb2.py``)
and a descriptor set of every file with its imports and comments; from that set this
module builds the same ``CodeGeneratorRequest`` protoc hands a plugin, and the generator
(the one behind ``protoc-gen-greeter`` too) answers with the ``_greeter.py`` modules, and
mypy-protobuf with the messages' stubs (``_pb2.pyi``: protoc's own ``--pyi_out`` stubs do
not pass ``mypy --strict``, mypy-protobuf's do). No subprocess, no separate protoc:
grpcio-tools carries its own, and the well-known types (``google/protobuf/empty.proto``,
...) with it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType

from google.protobuf.compiler.plugin_pb2 import CodeGeneratorRequest, CodeGeneratorResponse
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from greeter.codegen._generator import generate as generate_modules

__all__ = ["GenerateError", "GenerateUsageError", "generate", "proto_name"]

#: What to install when grpcio-tools is missing: greeter's ``codegen`` extra.
INSTALL_HINT = "pip install 'grpc-greeter[codegen]'"


class GenerateError(Exception):
    """The protos could not be compiled (protoc's own message is on stderr), or the
    generator refused them; ``greeter generate`` exits 1."""


class GenerateUsageError(GenerateError):
    """The command was asked for something impossible (a missing file, a file outside
    every proto path); ``greeter generate`` exits 2."""


def generate(
    proto_paths: Sequence[str | Path],
    files: Sequence[str | Path],
    out: str | Path,
    *,
    greeter_modules: bool = True,
    grpc_stubs: bool = False,
) -> list[Path]:
    """Compile ``files`` into ``out`` (created if missing); return the files written.

    For each ``dir/name.proto`` (its name below the proto path that holds it), ``out``
    receives ``dir/name_pb2.py``, ``dir/name_pb2.pyi`` and, when it has services,
    ``dir/name_greeter.py``. Nothing is written unless everything succeeds.
    ``files`` are paths on disk, or names below one of ``proto_paths``, as protoc takes
    them; imports resolve through ``proto_paths`` and then the well-known types.

    What this package's own build ships (``build_protos.py``) differs in two ways, each a
    switch: ``grpc_stubs`` adds grpc's own ``dir/name_pb2_grpc.py`` and its typed stub
    (mypy-protobuf's ``.pyi``), and ``greeter_modules=False`` leaves out the
    ``_greeter.py`` modules.

    Raises ``GenerateUsageError`` for a file that does not exist or lies outside every
    proto path, and ``GenerateError`` when grpcio-tools is missing, protoc rejects the
    protos (its message goes to stderr) or the generator refuses them.
    """
    proto_paths = proto_paths or ["."]  # as protoc: the working directory
    roots = [Path(p).resolve() for p in proto_paths]
    if not files:
        raise GenerateUsageError("no .proto files given")
    missing_roots = [str(p) for p in proto_paths if not Path(p).is_dir()]
    if missing_roots:
        raise GenerateUsageError(f"proto path is not a directory: {', '.join(missing_roots)}")
    names = list(dict.fromkeys(proto_name(file, roots) for file in files))
    sources = [_source_file(name, proto_paths, roots) for name in names]
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise GenerateUsageError(f"--out {out} is not a directory")

    protoc, well_known_types = _protoc()
    # Everything is written to a scratch folder first and copied out only when protoc
    # and the generator have both succeeded: as with protoc's own plugins, a failure
    # leaves --out as it was.
    with tempfile.TemporaryDirectory(prefix="greeter-generate-") as scratch:
        staged = Path(scratch) / "out"
        staged.mkdir()
        descriptor_set = Path(scratch) / "descriptors.binpb"
        status: int = protoc.main(
            [
                "grpc_tools.protoc",
                *(f"--proto_path={path}" for path in proto_paths),
                f"--proto_path={well_known_types}",
                f"--python_out={staged}",
                *([f"--grpc_python_out={staged}"] if grpc_stubs else []),
                f"--descriptor_set_out={descriptor_set}",
                "--include_imports",
                "--include_source_info",
                *map(str, sources),
            ]
        )
        if status != 0:
            raise GenerateError(f"protoc failed (exit status {status}); its message is above")
        descriptors = FileDescriptorSet.FromString(descriptor_set.read_bytes())
        request = CodeGeneratorRequest(file_to_generate=names, proto_file=descriptors.file)
        if greeter_modules:
            _write(_run_generator(request), staged)
        _write(_typed_stubs(request, grpc_stubs=grpc_stubs), staged)
        return _copy_tree(staged, out_dir)


def proto_name(file: str | Path, proto_paths: Sequence[Path]) -> str:
    """The name protoc gives ``file``: its path below the first proto path that holds it.

    ``file`` is a path on disk, or already such a name (``shop/v1/inventory.proto``).
    """
    on_disk = Path(file)
    if on_disk.is_file():
        resolved = on_disk.resolve()
        for root in proto_paths:
            if resolved.is_relative_to(root):
                return resolved.relative_to(root).as_posix()
        raise GenerateUsageError(
            f"{file} is not under any proto path (-I): "
            + ", ".join(str(root) for root in proto_paths)
        )
    for root in proto_paths:
        if (root / file).is_file():
            return Path(file).as_posix()
    raise GenerateUsageError(f"{file}: no such file (on disk or below a proto path)")


def _source_file(name: str, proto_paths: Sequence[str | Path], roots: Sequence[Path]) -> Path:
    # protoc is given each file below the proto path that holds it, as the user wrote
    # that path (its messages then show the names the user knows), so it names the file
    # as proto_name did: a name on its own could also match a file in the working
    # directory that lies outside every proto path.
    return next(
        Path(given) / name
        for given, root in zip(proto_paths, roots, strict=True)
        if (root / name).is_file()
    )


def _protoc() -> tuple[ModuleType, Path]:
    """grpcio-tools' protoc and its well-known types; a clear error when not installed."""
    try:
        import grpc_tools  # type: ignore[import-untyped, unused-ignore]
        from grpc_tools import protoc  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise GenerateError(
            f"generating code needs grpcio-tools, which is not installed: {INSTALL_HINT}"
        ) from None
    return protoc, Path(grpc_tools.__file__).parent / "_proto"


def _typed_stubs(request: CodeGeneratorRequest, *, grpc_stubs: bool) -> CodeGeneratorResponse:
    """mypy-protobuf's typed stubs of the messages in ``request`` (``_pb2.pyi``) and, with
    ``grpc_stubs``, of grpc's stubs (``_pb2_grpc.pyi``): what its protoc plugins write
    with no options."""
    try:
        from mypy_protobuf.main import (  # type: ignore[import-untyped, unused-ignore]
            Descriptors,
            generate_mypy_grpc_stubs,
            generate_mypy_stubs,
        )
    except Exception as error:  # not installed, or its own _pb2 code refuses our protobuf
        raise GenerateError(_stub_generator_problem(error)) from None
    response = CodeGeneratorResponse()
    writers = (
        [generate_mypy_stubs, generate_mypy_grpc_stubs] if grpc_stubs else [generate_mypy_stubs]
    )
    for write_stubs in writers:
        write_stubs(
            Descriptors(request),
            response,
            quiet=True,
            readable_stubs=False,
            relax_strict_optional_primitives=False,
            use_default_deprecation_warnings=False,
        )
    return response


def _stub_generator_problem(error: Exception) -> str:
    """Why mypy-protobuf could not be loaded, and what to install."""
    if isinstance(error, ModuleNotFoundError) and error.name in (
        "mypy_protobuf",
        "mypy_protobuf.main",
    ):
        return f"generating code needs mypy-protobuf, which is not installed: {INSTALL_HINT}"
    # mypy-protobuf ships protoc-generated code, which checks the protobuf runtime as it
    # loads: 3.7 needs protobuf 5.28.2, above greeter's own floor. The codegen extra
    # declares what it needs; a protobuf pinned lower by something else ends here.
    return (
        f"mypy-protobuf cannot load beside protobuf {metadata.version('protobuf')}: "
        f"{error}; {INSTALL_HINT} installs a protobuf it loads beside"
    )


def _run_generator(request: CodeGeneratorRequest) -> CodeGeneratorResponse:
    response = generate_modules(request)
    if response.error:
        raise GenerateError(response.error)
    return response


def _write(response: CodeGeneratorResponse, out_dir: Path) -> None:
    for file in response.file:
        if file.insertion_point:
            raise GenerateError(f"{file.name}: insertion points are not supported")
        path = out_dir / file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content, encoding="utf-8")


def _copy_tree(staged: Path, out_dir: Path) -> list[Path]:
    """Copy every file under ``staged`` to the same place under ``out_dir``; the copies."""
    written = []
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        target = out_dir / path.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written
