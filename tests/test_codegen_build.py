"""Building the test protos as a user's build would, and what the generator writes where.

``generated_tree`` compiles every proto under tests/protos that the tests serve with
plain ``grpc_tools.protoc`` (messages, ``.pyi`` stubs and grpc's own stubs, for the
wire-compatibility tests), runs ``generate()`` on the same descriptors, copies the user
code of ``tests/protos/*.py.in`` beside them, and puts the tree on ``sys.path`` once per
process. The other ``test_codegen_*`` and ``test_rpc_*`` modules import from it.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from greeter.codegen._generator import generate

PROTOS = Path(__file__).resolve().parent / "protos"

#: The protos the tests serve and call, compiled together into one tree.
SERVED_PROTOS = (
    "shop/v1/types.proto",
    "shop/v1/inventory.proto",
    "tricky/v1/keywords.proto",
    "deep/a/b/c/d/v1/deep.proto",
    "tutorial/greeter.proto",
    "editions/v1/notes.proto",
    "alias/a/types.proto",
    "alias/b/types.proto",
    "alias/both.proto",
)

_tree: Path | None = None


#: The protos that also get grpc's own stubs (``_pb2_grpc.py``), for the wire tests.
#: (grpc's plugin copies comments into docstrings unescaped: deep.proto's would break it.)
STOCK_STUB_PROTOS = ("shop/v1/inventory.proto", "tutorial/greeter.proto")


def _protoc(*arguments: str) -> None:
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", *arguments]
    subprocess.run(command, check=True, timeout=60)


def compile_request(out: Path, protos: Sequence[str]) -> plugin_pb2.CodeGeneratorRequest:
    """protoc's Python output for ``protos`` in ``out``, and the request a plugin gets."""
    out.mkdir(parents=True, exist_ok=True)
    descriptors = out / "descriptors.binpb"
    _protoc(
        f"--python_out={out}",
        f"--pyi_out={out}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={descriptors}",
        *protos,
    )
    stock = [proto for proto in protos if proto in STOCK_STUB_PROTOS]
    if stock:
        _protoc(f"--grpc_python_out={out}", *stock)
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file
    return plugin_pb2.CodeGeneratorRequest(file_to_generate=protos, proto_file=files)


def write_files(out: Path, response: plugin_pb2.CodeGeneratorResponse) -> list[str]:
    """Write what ``generate()`` answered into ``out``; the names it wrote."""
    assert not response.error, response.error
    for generated in response.file:
        (out / generated.name).write_text(generated.content)
    return [generated.name for generated in response.file]


def generated_tree(factory: pytest.TempPathFactory) -> Path:
    """The served protos compiled and generated (once per process), on ``sys.path``."""
    global _tree
    if _tree is None:
        out = factory.mktemp("generated")
        write_files(out, generate(compile_request(out, SERVED_PROTOS)))
        for user_code in PROTOS.glob("*.py.in"):
            shutil.copy(user_code, out / user_code.name.removesuffix(".in"))
        sys.path.insert(0, str(out))
        _tree = out
    return _tree


def load(factory: pytest.TempPathFactory, module: str) -> ModuleType:
    """A module of the generated tree: ``load(factory, "shop.v1.inventory_greeter")``."""
    generated_tree(factory)
    return importlib.import_module(module)


# ----------------------------------------------------------------------- tests


def test_each_proto_with_services_gets_a_greeter_module_beside_its_pb2(
    tmp_path: Path,
) -> None:
    written = write_files(tmp_path, generate(compile_request(tmp_path, SERVED_PROTOS)))
    assert sorted(written) == [
        "alias/both_greeter.py",
        "deep/a/b/c/d/v1/deep_greeter.py",
        "editions/v1/notes_greeter.py",
        "shop/v1/inventory_greeter.py",
        "tricky/v1/keywords_greeter.py",
        "tutorial/greeter_greeter.py",
    ]
    for name in written:
        assert (tmp_path / name.replace("_greeter.py", "_pb2.py")).exists()


def test_generated_module_imports_messages_as_protoc_does(tmp_path: Path) -> None:
    response = generate(compile_request(tmp_path, ["shop/v1/inventory.proto"]))
    (module,) = response.file
    assert "from shop.v1 import inventory_pb2\n" in module.content
    assert "from shop.v1 import types_pb2\n" in module.content
    assert "from google.protobuf import empty_pb2\n" in module.content


def test_modules_that_share_a_name_are_imported_under_protocs_long_aliases(
    tmp_path: Path,
) -> None:
    response = generate(compile_request(tmp_path, ["alias/both.proto"]))
    (module,) = response.file
    assert "from alias.a import types_pb2 as alias_dot_a_dot_types__pb2\n" in module.content
    assert "from alias.b import types_pb2 as alias_dot_b_dot_types__pb2\n" in module.content
    assert "        alias_dot_a_dot_types__pb2.Thing,\n" in module.content


def test_response_announces_proto3_optional_and_editions(tmp_path: Path) -> None:
    response = generate(compile_request(tmp_path, ["shop/v1/types.proto"]))
    features = plugin_pb2.CodeGeneratorResponse
    assert response.supported_features & features.FEATURE_PROTO3_OPTIONAL
    assert response.supported_features & features.FEATURE_SUPPORTS_EDITIONS
    assert not response.file  # no services: nothing to write


def test_services_whose_classes_would_clash_are_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    response = generate(compile_request(tmp_path, ["clash/clash.proto"]))
    assert not response.file
    assert response.error == (
        "clash/clash.proto: service clash.AsyncFoo would generate AsyncFooClient, which "
        "service clash.Foo generates too; rename one of the services"
    )


def test_a_file_missing_from_the_request_is_an_error(tmp_path: Path) -> None:
    request = compile_request(tmp_path, ["shop/v1/types.proto"])
    request.file_to_generate.append("nowhere.proto")
    response = generate(request)
    assert response.error == "nowhere.proto: not among the request's proto files"


def _request_with(path: str, package: str, message: str) -> plugin_pb2.CodeGeneratorRequest:
    """A request for one file declaring ``message`` and a service using it."""
    proto = descriptor_pb2.FileDescriptorProto(name=path, package=package, syntax="proto3")
    proto.message_type.add(name=message)
    service = proto.service.add(name="Things")
    full_name = f".{package}.{message}"
    service.method.add(name="Get", input_type=full_name, output_type=full_name)
    return plugin_pb2.CodeGeneratorRequest(file_to_generate=[path], proto_file=[proto])


def test_a_python_keyword_in_a_package_path_is_an_error_naming_it() -> None:
    response = generate(_request_with("my/import/v1/things.proto", "my.import.v1", "Thing"))
    assert response.error == (
        "my/import/v1/things.proto: its module, my.import.v1.things_pb2, cannot be written "
        "in Python: 'import' is a Python keyword; rename it in the proto"
    )


def test_a_message_named_as_a_python_keyword_is_an_error_naming_it() -> None:
    response = generate(_request_with("things.proto", "things", "class"))
    assert response.error == (
        "things.proto: things.Things/Get: message things.class, class, cannot be written in "
        "Python: 'class' is a Python keyword; rename it in the proto"
    )
