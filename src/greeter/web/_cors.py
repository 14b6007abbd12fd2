"""CORS for the web port: which pages (origins) may call the service from a browser.

A page served from another origin than the web port can call it only if the answers
say so. Preflights (``OPTIONS``) are answered here; every other answer gets the
``Access-Control-*`` headers for an allowed origin, and lists the headers a client
needs to read (gRPC-Web's status, Connect's trailers, the handler's own metadata) in
``Access-Control-Expose-Headers``, as tonic-web and connect-go do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, TypeAlias

__all__ = ["CORS", "ASGIApp", "Receive", "Scope", "Send"]

#: The ASGI types, spelled as Starlette spells them, so the app mounts there as it is.
Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Headers a browser client reads from the answers (gRPC-Web and Connect clients).
EXPOSED_HEADERS = (
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "connect-protocol-version",
    "connect-content-encoding",
    "content-encoding",
    "grpc-encoding",
)
#: Headers a browser client sends (the handler's own metadata keys are allowed too).
ALLOWED_HEADERS = (
    "authorization",  # bearer tokens (ServerConfig.auth)
    "content-type",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-accept-encoding",
    "connect-content-encoding",
    "grpc-timeout",
    "grpc-accept-encoding",
    "grpc-encoding",
    "x-grpc-web",
    "x-user-agent",
)
#: Calls from other origins are POSTs: Connect's GET is only for methods declared free
#: of side effects (``option idempotency_level = NO_SIDE_EFFECTS``), which few are.
ALLOWED_METHODS = "POST"
#: How long a browser may cache a preflight's answer (Chromium caps it at 2 hours).
PREFLIGHT_MAX_AGE_SECONDS = 7200


class CORS:
    """Wraps an ASGI app with CORS for ``origins`` (``"*"`` allows any origin)."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origin.rstrip("/") for origin in origins)

    def allows(self, origin: str) -> bool:
        """Whether a page from ``origin`` may call the service."""
        return "*" in self.origins or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = headers.get("origin")
        if origin is None:  # not a cross-origin browser call (curl, a server, the same page)
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        if not self.allows(origin):
            await self.app(scope, receive, send)  # the browser refuses the answer to the page
            return

        async def send_with_cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.decode("latin-1").lower() for name, _ in message["headers"]}
                exposed = sorted({*EXPOSED_HEADERS, *names} - {"content-type", "content-length"})
                message["headers"] = [
                    *message["headers"],
                    *_encoded(_allow_origin(origin)),
                    (b"access-control-expose-headers", ", ".join(exposed).encode("latin-1")),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, headers: dict[str, str], send: Send) -> None:
        if not self.allows(origin):
            await _answer(send, 403, [("vary", "Origin")])
            return
        requested = headers.get("access-control-request-headers", "")
        allowed = [*ALLOWED_HEADERS, *(name.strip() for name in requested.split(",") if name)]
        await _answer(
            send,
            204,
            [
                *_allow_origin(origin),
                ("access-control-allow-methods", ALLOWED_METHODS),
                ("access-control-allow-headers", ", ".join(dict.fromkeys(allowed))),
                ("access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS)),
            ],
        )


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def _allow_origin(origin: str) -> list[tuple[str, str]]:
    # The page's own origin, never "*": the answer then also works for calls that send
    # credentials, and Vary keeps caches from serving one origin's answer to another.
    return [("access-control-allow-origin", origin), ("vary", "Origin")]


def _encoded(headers: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _answer(send: Send, status: int, headers: Sequence[tuple[str, str]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _encoded([*headers, ("content-length", "0")]),
        }
    )
    await send({"type": "http.response.body", "body": b""})
