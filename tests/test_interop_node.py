"""Wire compatibility with Node's @grpc/grpc-js, on every RPC shape, in both directions.

``tests/interop/node`` holds a grpc-js client and server that load the repository's proto
at run time and share no code with grpc-greeter. Their dependencies are pinned in its
package-lock.json; install them first with ``npm ci --prefix tests/interop/node``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXPECTED_BY_RPC as EXPECTED, ServerProcess

NODE_DIR = Path(__file__).resolve().parent / "interop" / "node"
CALL_TIMEOUT_SECONDS = 10.0

NAME = "you"
NAMES = ["Ann", "Bob", "Cy"]

Results = dict[str, str | list[str]]


@pytest.fixture(scope="module")
def node() -> str:
    """The ``node`` executable, once the pinned npm packages are installed."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("Node.js is required for the interop tests: install node (>= 18)")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail(
            "the Node interop packages are missing: run `npm ci --prefix tests/interop/node`"
        )
    return executable


@pytest.fixture
def node_server(node: str) -> Iterator[ServerProcess]:
    """``server.js`` (grpc-js) running in a child process on 127.0.0.1."""
    process = ServerProcess([node, str(NODE_DIR / "server.js")], r"listening on (\d+)")
    try:
        yield process
    finally:
        process.kill()


def test_node_grpc_js_client_calls_every_rpc_shape_of_greeter_serve(
    node: str, greeter_serve: ServerProcess
) -> None:
    result = subprocess.run(
        [node, str(NODE_DIR / "client.js"), greeter_serve.target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXPECTED


def test_greeter_client_calls_every_rpc_shape_of_a_node_grpc_js_server(
    node_server: ServerProcess,
) -> None:
    from greeter import GreeterClient

    with GreeterClient(node_server.target, timeout=CALL_TIMEOUT_SECONDS) as client:
        results: Results = {
            "SayHello": client.greet(NAME),
            "SayHelloAgain": client.greet_again(NAME),
            "SayHelloStreamReply": list(client.greet_stream(NAME)),
            "SayHelloStreamRequest": client.greet_many(NAMES),
            "SayHelloBidiStream": list(client.chat(NAMES)),
        }
    assert results == EXPECTED


async def _call_every_shape_with_async_client(target: str) -> Results:
    from greeter import AsyncGreeterClient

    async with AsyncGreeterClient(target, timeout=CALL_TIMEOUT_SECONDS) as client:
        return {
            "SayHello": await client.greet(NAME),
            "SayHelloAgain": await client.greet_again(NAME),
            "SayHelloStreamReply": [reply async for reply in client.greet_stream(NAME)],
            "SayHelloStreamRequest": await client.greet_many(NAMES),
            "SayHelloBidiStream": [reply async for reply in client.chat(NAMES)],
        }


def test_async_greeter_client_calls_every_rpc_shape_of_a_node_grpc_js_server(
    node_server: ServerProcess,
) -> None:
    results = asyncio.run(_call_every_shape_with_async_client(node_server.target))
    assert results == EXPECTED
