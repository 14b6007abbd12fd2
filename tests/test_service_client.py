"""The client machinery is not the Greeter's: a client of any service is a thin subclass.

``greeter.rpc.Client`` / ``AsyncClient`` (what ``GreeterClient``,
``AsyncGreeterClient`` and generated clients of a user's own service are built on) call a
method of the client's table with the same call options, per-client defaults and error
mapping as the Greeter's methods. Here a
hand-written client of ``echo.Echo`` (tests/protos/echo.proto, compiled by grpc_tools as a
user would) calls it served beside the Greeter.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from google.protobuf.message import Message

from greeter import Unimplemented
from greeter.rpc import AsyncClient, Client, Method, ServiceDefinition, Shape
from tests.echo_service import (
    ECHO_METHOD,
    AsyncEchoServicer,
    EchoCode,
    EchoServicer,
    load_echo_code,
    serving_with,
)

TIMEOUT = 10.0
MISSING_METHOD = "/echo.Echo/Missing"


@pytest.fixture(scope="module")
def echo_code(tmp_path_factory: pytest.TempPathFactory) -> EchoCode:
    return load_echo_code(tmp_path_factory)


def _echo_methods(code: EchoCode) -> dict[str, Method[Any, Any]]:
    """``echo.Echo``'s method table, as a generated module would hold it, plus one RPC
    the server does not have."""
    request_type, reply_type = code.pb2.EchoRequest, code.pb2.EchoReply
    return {
        path: Method(
            path, path.rpartition("/")[2].lower(), Shape.UNARY_UNARY, request_type, reply_type
        )
        for path in (ECHO_METHOD, MISSING_METHOD)
    }


class EchoClient(Client):
    """A blocking client of ``echo.Echo``, as a generated one would read."""

    def echo(self, path: str, request: Message, *, timeout: float) -> Message:
        """Call the method at ``path``; its reply."""
        return self._unary_unary(_method(self, path), request, {"timeout": timeout})


class AsyncEchoClient(AsyncClient):
    """The asyncio twin of ``EchoClient``."""

    async def echo(self, path: str, request: Message, *, timeout: float) -> Message:
        """Call the method at ``path``; its reply."""
        return await self._unary_unary(_method(self, path), request, {"timeout": timeout})


def _method(client: Client | AsyncClient, path: str) -> Method[Any, Message]:
    (method,) = (method for method in client.definition.methods if method.path == path)
    return method


def _client_classes(code: EchoCode) -> tuple[type[EchoClient], type[AsyncEchoClient]]:
    """The two clients, each with ``echo.Echo``'s table (its message types load at run time)."""
    definition = ServiceDefinition("echo.Echo", tuple(_echo_methods(code).values()))
    sync = type("EchoClient", (EchoClient,), {"definition": definition})
    asynchronous = type("AsyncEchoClient", (AsyncEchoClient,), {"definition": definition})
    return cast(type[EchoClient], sync), cast(type[AsyncEchoClient], asynchronous)


def _echo_service(server_kind: str, code: EchoCode) -> Any:
    servicer = EchoServicer(code) if server_kind == "sync" else AsyncEchoServicer(code)
    return code.service(servicer)


def test_a_service_client_calls_a_users_own_service_by_method_path(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("ping"))
    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        with _client_classes(echo_code)[0](server.target) as client:
            reply = client.echo(ECHO_METHOD, request, timeout=TIMEOUT)
            again = client.echo(ECHO_METHOD, request, timeout=TIMEOUT)
    assert reply == echo_code.reply("ping")
    assert again == reply


def test_an_async_service_client_calls_a_users_own_service_by_method_path(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("pong"))

    async def call(target: str) -> Message:
        async with _client_classes(echo_code)[1](target) as client:
            return await client.echo(ECHO_METHOD, request, timeout=TIMEOUT)

    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        reply = asyncio.run(call(server.target))
    assert reply == echo_code.reply("pong")


def test_a_service_client_raises_the_greeter_error_of_a_failed_calls_status(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("ping"))

    async def call_async(target: str) -> None:
        async with _client_classes(echo_code)[1](target) as client:
            await client.echo(MISSING_METHOD, request, timeout=TIMEOUT)

    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        with _client_classes(echo_code)[0](server.target) as client:
            with pytest.raises(Unimplemented):
                client.echo(MISSING_METHOD, request, timeout=TIMEOUT)
        with pytest.raises(Unimplemented):
            asyncio.run(call_async(server.target))
