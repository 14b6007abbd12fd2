"""The client's bearer token: where it comes from and how it is sent with every call.

On the wire a token is the ``authorization: Bearer <token>`` metadata of every call, as
grpc's own call credentials send it (so any gRPC server that checks bearer tokens can
check ours). ``GreeterClient(target, tls=ClientTLS(...), token="...")`` takes the token
itself, or a function returning the current one for tokens that refresh. Over plaintext
a token would be readable by anyone on the path: it needs ``unsafe_plaintext_token=True``
and is then sent as plain metadata. The server's check is ``greeter.pipeline._auth``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import grpc

from greeter._metadata import AUTHORIZATION_KEY

__all__ = ["TokenSource", "authorization_metadata", "call_credentials", "token_of"]

#: A token as a client takes it: the token itself, or a function returning the current one.
TokenSource: TypeAlias = str | Callable[[], str]


def token_of(source: TokenSource) -> str:
    """The token to send now."""
    return source if isinstance(source, str) else source()


def authorization_metadata(source: TokenSource) -> tuple[tuple[str, str]]:
    """The metadata carrying ``source``'s current token."""
    return ((AUTHORIZATION_KEY, f"Bearer {token_of(source)}"),)


class _TokenPlugin(grpc.AuthMetadataPlugin):
    """Asks the token source for the current token before each call."""

    def __init__(self, source: Callable[[], str]) -> None:
        self._source = source

    def __call__(
        self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
    ) -> None:
        try:
            metadata = authorization_metadata(self._source)
        except Exception as exc:  # the call then fails with UNAVAILABLE, naming the cause
            callback((), exc)
        else:
            callback(metadata, None)


def call_credentials(source: TokenSource) -> grpc.CallCredentials:
    """grpc call credentials that send ``source``'s token with every call."""
    if isinstance(source, str):
        return grpc.access_token_call_credentials(source)
    return grpc.metadata_call_credentials(_TokenPlugin(source), name="greeter-bearer-token")
