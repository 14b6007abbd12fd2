"""A user's script that extends a Greeter server: a service of its own beside the
Greeter, a hook, raw grpc interceptors on both ends, and every field of the call context.

It must type-check under ``mypy --strict`` with no casts, and it runs;
tests/test_extensible_usage.py checks both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio

import greeter
from greeter import (
    AsyncGreeterClient,
    AsyncGreeterService,
    CallInfo,
    CallOutcome,
    ExtraService,
    GreeterClient,
    GreeterService,
    ServerConfig,
    ServerHook,
    StatusCode,
)

Request = TypeVar("Request")
Response = TypeVar("Response")

# ----------------------------------------------------------- a service of our own


def shout(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request.upper() + b"!"


async def shout_async(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request.upper() + b"!"


def shout_service(behavior: Callable[[bytes, grpc.ServicerContext], bytes]) -> ExtraService:
    """``demo.Shout/Shout`` as a grpc generic handler: bytes in, bytes out, no proto."""
    method = grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=bytes, response_serializer=bytes
    )
    return grpc.method_handlers_generic_handler("demo.Shout", {"Shout": method})


def shout_service_async() -> ExtraService:
    """The same service for the asyncio server, with an ``async def`` handler."""
    method = grpc.unary_unary_rpc_method_handler(
        shout_async, request_deserializer=bytes, response_serializer=bytes
    )
    return grpc.method_handlers_generic_handler("demo.Shout", {"Shout": method})


def call_shout(target: str, text: str, tenant: str = "acme") -> str:
    """Call ``demo.Shout/Shout`` with a plain grpc channel."""
    with grpc.insecure_channel(target) as channel:
        shout_call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/demo.Shout/Shout"
        )
        reply = shout_call(text.encode(), timeout=5.0, metadata=(("x-tenant", tenant),))
        return reply.decode()


# ------------------------------------------------------------------------- a hook


class Audit(ServerHook):
    """Refuses the tenant "blocked"; records how every call ended."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def before_call(self, call: CallInfo) -> None:
        if call.get_metadata("x-tenant") == "blocked":
            raise greeter.PermissionDenied(f"{call.rpc} is closed to this tenant")

    def after_call(self, call: CallInfo, outcome: CallOutcome) -> None:
        duration_ok = 0 <= outcome.duration < 5
        self.lines.append(f"{call.service}/{call.rpc} {outcome.code.name} {duration_ok}")


class AsyncAudit(ServerHook):
    """An ``async def before_call``: allowed on the asyncio server."""

    async def before_call(self, call: CallInfo) -> None:
        await asyncio.sleep(0)
        if call.get_metadata("x-tenant") is None:
            raise greeter.Unauthenticated("who are you?")


# --------------------------------------------------- every field of the context


class Inspecting(GreeterService):
    def say_hello(self, name: str) -> str:
        context = self.context
        metadata: greeter.MetadataTuple = context.invocation_metadata
        tenant: str | None = context.get_metadata("x-tenant")
        trace: bytes | None = context.get_binary_metadata("x-trace-bin")
        peer: str = context.peer
        remaining: float | None = context.time_remaining()
        active: bool = context.is_active()
        identity: str | None = context.identity
        peers: tuple[str, ...] = context.peer_identities
        key: str | None = context.peer_identity_key
        security: dict[str, tuple[bytes, ...]] = context.auth_context
        context.send_initial_metadata([("x-served-by", "inspecting")])
        context.set_trailing_metadata([("x-trailer", "bye"), ("x-trailer-bin", b"\x00")])
        context.set_compression("gzip")
        context.disable_next_message_compression()
        context.add_done_callback(lambda: None)
        if name == "nobody":
            context.abort(StatusCode.NOT_FOUND, "nobody to greet")
        if name == "later":
            context.set_code(StatusCode.UNAVAILABLE)
            context.set_details("try later")
        facts = [
            len(metadata) > 0,
            tenant,
            trace,
            peer.startswith("ipv4:127.0.0.1:"),
            remaining is not None and remaining > 0,
            active,
            identity,
            peers,
            key,
            security["transport_security_type"],
        ]
        return " ".join(str(fact) for fact in facts)


class AsyncInspecting(AsyncGreeterService):
    async def say_hello(self, name: str) -> str:
        context = self.context
        await context.send_initial_metadata([("x-served-by", "async-inspecting")])
        active: bool = context.is_active()
        remaining: float | None = context.time_remaining()
        tenant: str | None = context.get_metadata("x-tenant")
        return f"{name} {tenant} {active} {remaining is None}"


# ------------------------------------------------------- raw grpc interceptors


class MethodLog(grpc.ServerInterceptor):
    """A raw grpc server interceptor: records each method the server is asked for."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], grpc.RpcMethodHandler[Request, Response] | None
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        self.methods.append(handler_call_details.method)
        return continuation(handler_call_details)


@dataclass(frozen=True)
class CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class TenantHeader(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """A raw grpc client interceptor: sends ``x-tenant`` with every call."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def _details(self, details: grpc.ClientCallDetails) -> CallDetails:
        metadata = (*(details.metadata or ()), ("x-tenant", self.tenant))
        return CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Request], grpc._CallFuture[Response]],
        client_call_details: grpc.ClientCallDetails,
        request: Request,
    ) -> grpc._CallFuture[Response]:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Request], grpc._CallIterator[Response]],
        client_call_details: grpc.ClientCallDetails,
        request: Request,
    ) -> grpc._CallIterator[Response]:
        return continuation(self._details(client_call_details), request)


def with_tenant(details: grpc.aio.ClientCallDetails, tenant: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), ("x-tenant", tenant))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class AsyncTenantHeader(grpc.aio.UnaryUnaryClientInterceptor):
    """The asyncio client's kind (grpc.aio takes one interceptor object per call kind)."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, Request],
            Awaitable[grpc.aio.UnaryUnaryCall[Request, Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Request,
    ) -> Response | grpc.aio.UnaryUnaryCall[Request, Response]:
        return await continuation(with_tenant(client_call_details, "async-acme"), request)


class AsyncStreamTenantHeader(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[Request] | Iterable[Request]],
            Awaitable[grpc.aio.StreamStreamCall[Request, Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Request] | Iterable[Request],
    ) -> AsyncIterator[Response] | grpc.aio.StreamStreamCall[Request, Response]:
        return await continuation(with_tenant(client_call_details, "async-acme"), request_iterator)


# --------------------------------------------------------------------------- run


def sync_part() -> None:
    audit, method_log = Audit(), MethodLog()
    config = ServerConfig(hooks=[audit], interceptors=[method_log], access_log=True)
    services: list[ExtraService] = [shout_service(shout)]
    with Inspecting().start(["127.0.0.1:0"], config=config, services=services) as server:
        print(call_shout(server.target, "hey"))
        with GreeterClient(
            server.target, timeout=5.0, interceptors=[TenantHeader("acme")]
        ) as client:
            reply = client.greet_with_call("you", metadata=[("x-trace-bin", b"\x01")])
            print(reply.message)
            print(reply.initial_metadata[0], reply.trailing_metadata)
            try:
                client.greet("nobody")
            except greeter.NotFound as error:
                print(error.code.name, error.details)
            try:
                client.greet("later")
            except greeter.Unavailable as error:
                print(error.code.name, error.details)
            print(list(client.greet_stream("s")))
        with GreeterClient(server.target, interceptors=[TenantHeader("blocked")]) as blocked:
            try:
                blocked.greet("you")
            except greeter.PermissionDenied as error:
                print(error.code.name, error.details)
    print(audit.lines)
    print(method_log.methods)


async def async_part() -> None:
    service = AsyncInspecting()
    config = ServerConfig(hooks=[AsyncAudit()])
    services = [shout_service_async()]
    async with await service.start("127.0.0.1:0", config=config, services=services) as server:
        interceptors: list[grpc.aio.ClientInterceptor] = [
            AsyncTenantHeader(),
            AsyncStreamTenantHeader(),
        ]
        async with AsyncGreeterClient(server.target, interceptors=interceptors) as client:
            print(await client.greet("you"))
            print([reply async for reply in client.chat(["a"])])
        print(await asyncio.to_thread(call_shout, server.target, "async hey"))
        async with AsyncGreeterClient(server.target) as anonymous:
            try:
                await anonymous.greet("you")
            except greeter.Unauthenticated as error:
                print(error.code.name, error.details)


if __name__ == "__main__":
    sync_part()
    asyncio.run(async_part())
