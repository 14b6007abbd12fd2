"""The client machinery is not the Greeter's: a client of any service is a thin subclass.

``ServiceClient`` / ``AsyncServiceClient`` (what ``GreeterClient`` and
``AsyncGreeterClient`` are built on, and what generated clients of a user's own service
will be built on) call a method by its path, request and response type, with the same
call options, per-client defaults and error mapping as the Greeter's methods. Here a
hand-written client of ``echo.Echo`` (tests/protos/echo.proto, compiled by grpc_tools as a
user would) calls it served beside the Greeter.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from google.protobuf.message import Message

from greeter import Unimplemented
from greeter.client._asyncio import AsyncServiceClient
from greeter.client._sync import ServiceClient
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


class EchoClient(ServiceClient):
    """A blocking client of ``echo.Echo``, as a generated one would read."""

    def echo(
        self, method: str, request: Message, reply_type: type[Message], *, timeout: float
    ) -> Message:
        """Call ``method``; its reply."""
        options = self._options(timeout, None, None, None)
        return self._call("unary_unary", method, request, reply_type, options)


class AsyncEchoClient(AsyncServiceClient):
    """The asyncio twin of ``EchoClient``."""

    async def echo(
        self, method: str, request: Message, reply_type: type[Message], *, timeout: float
    ) -> Message:
        """Call ``method``; its reply."""
        options = self._options(timeout, None, None, None)
        return await self._call("unary_unary", method, request, reply_type, options)


def _echo_service(server_kind: str, code: EchoCode) -> Any:
    servicer = EchoServicer(code) if server_kind == "sync" else AsyncEchoServicer(code)
    return code.service(servicer)


def test_a_service_client_calls_a_users_own_service_by_method_path(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("ping"))
    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        with EchoClient(server.target) as client:
            reply = client.echo(ECHO_METHOD, request, echo_code.pb2.EchoReply, timeout=TIMEOUT)
            again = client.echo(ECHO_METHOD, request, echo_code.pb2.EchoReply, timeout=TIMEOUT)
    assert reply == echo_code.reply("ping")
    assert again == reply


def test_an_async_service_client_calls_a_users_own_service_by_method_path(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("pong"))

    async def call(target: str) -> Message:
        async with AsyncEchoClient(target) as client:
            return await client.echo(ECHO_METHOD, request, echo_code.pb2.EchoReply, timeout=TIMEOUT)

    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        reply = asyncio.run(call(server.target))
    assert reply == echo_code.reply("pong")


def test_a_service_client_raises_the_greeter_error_of_a_failed_calls_status(
    server_kind: str, echo_code: EchoCode
) -> None:
    request = cast(Message, echo_code.request("ping"))

    async def call_async(target: str) -> None:
        async with AsyncEchoClient(target) as client:
            await client.echo(MISSING_METHOD, request, echo_code.pb2.EchoReply, timeout=TIMEOUT)

    with serving_with(server_kind, [_echo_service(server_kind, echo_code)]) as server:
        with EchoClient(server.target) as client:
            with pytest.raises(Unimplemented):
                client.echo(MISSING_METHOD, request, echo_code.pb2.EchoReply, timeout=TIMEOUT)
        with pytest.raises(Unimplemented):
            asyncio.run(call_async(server.target))
