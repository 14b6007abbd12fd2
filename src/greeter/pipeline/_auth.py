"""Bearer-token authentication, the server's half: the check of a call's token.

On the wire a token is the ``authorization: Bearer <token>`` metadata of every call, as
grpc's own call credentials send it (so any gRPC client can call a server that checks
tokens). ``ServerConfig(auth=check)``; ``check(token)`` returns the caller's identity
(then ``self.context.identity``) or raises ``greeter.Unauthenticated`` /
``greeter.PermissionDenied``. ``bearer_tokens({...})`` is the check for a fixed set. The
client's half (``TokenSource``, sending the token) is ``greeter.client._tokens``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from greeter._metadata import AUTHORIZATION_KEY
from greeter.errors import Unauthenticated

if TYPE_CHECKING:
    from greeter.pipeline._hooks import CallInfo

__all__ = ["TokenCheck", "bearer_tokens"]

#: The server's check of a token: returns the caller's identity or raises a
#: ``greeter.Unauthenticated`` / ``greeter.PermissionDenied``; may be ``async`` on the
#: asyncio server.
TokenCheck: TypeAlias = Callable[[str], str] | Callable[[str], Awaitable[str]]

_BEARER = "bearer "
#: Methods every caller may use without a token: load balancers and orchestrators probe
#: health without credentials.
_OPEN_SERVICES = ("/grpc.health.v1.Health/",)


def bearer_tokens(tokens: Iterable[str]) -> Callable[[str], str]:
    """A ``TokenCheck`` accepting exactly these tokens.

    The identity of a caller is ``"token-1"``, ``"token-2"``, ... after the position of
    its token in ``tokens`` (so logs never show the secret itself). Tokens are
    compared in constant time.
    """
    from hmac import compare_digest  # here: clients, the usual importers, never need it

    known = [token.encode() for token in tokens if token]
    if not known:
        raise ValueError("bearer_tokens() needs at least one non-empty token")

    def check(token: str) -> str:
        presented = token.encode()
        matches = [compare_digest(presented, candidate) for candidate in known]
        if not any(matches):
            raise Unauthenticated("invalid bearer token")
        return f"token-{matches.index(True) + 1}"

    return check


def bearer_token_of(call: CallInfo) -> str:
    """The bearer token a call carries; ``Unauthenticated`` if it has none."""
    header = call.get_metadata(AUTHORIZATION_KEY)
    if header is None:
        raise Unauthenticated("missing bearer token (authorization metadata)")
    if not header.lower().startswith(_BEARER) or not header[len(_BEARER) :].strip():
        raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    return header[len(_BEARER) :].strip()


class TokenIdentifier:
    """The per-call identity step of a server whose ``auth`` is a ``TokenCheck``."""

    def __init__(self, check: TokenCheck) -> None:
        self._check = check
        #: True when the check is ``async def`` (it then needs the asyncio server).
        self.is_async = inspect.iscoroutinefunction(check)

    def __call__(self, call: CallInfo) -> str | Awaitable[str | None] | None:
        if call.method.startswith(_OPEN_SERVICES):
            return None
        return self._check(bearer_token_of(call))
