"""The values ``greeter``'s flags take: numbers, addresses, targets, metadata pairs.

Each is an argparse ``type``: it turns the text into the value or raises
``argparse.ArgumentTypeError`` with the message argparse prints (exit status 2). They
check as the library will, so a bad flag fails before a server starts or a call is made.
"""

from __future__ import annotations

import argparse
import base64
import binascii

from greeter._addresses import check_target, split_address
from greeter._metadata import check_metadata

__all__ = [
    "at_least_one",
    "listening_address",
    "metadata_pair",
    "not_negative",
    "positive",
    "positive_or_zero",
    "share",
    "split_tokens",
    "target",
    "tcp_address",
]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None


def positive(text: str) -> float:
    """A number more than 0 (``inf`` included)."""
    value = _number(text)
    if not value > 0:  # nan too
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def positive_or_zero(text: str) -> float:
    """A number that is not negative."""
    value = _number(text)
    if not value >= 0:  # nan too
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def share(text: str) -> float:
    """A share of a whole: more than 0 and at most 1."""
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, not {text}")
    return value


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < minimum:
        wanted = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise argparse.ArgumentTypeError(f"{wanted}, not {text}")
    return value


def at_least_one(text: str) -> int:
    """A whole number, 1 or more."""
    return _whole_number(text, 1)


def not_negative(text: str) -> int:
    """A whole number, 0 or more."""
    return _whole_number(text, 0)


def listening_address(text: str) -> str:
    """A listening address, ``HOST:PORT`` or ``unix:PATH``, checked as the server will."""
    try:
        split_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def tcp_address(text: str) -> str:
    """A listening ``HOST:PORT`` (the HTTP ports, --metrics and --web, are TCP only)."""
    try:
        _, port = split_address(text)
    except ValueError:
        port = None
    if port is None:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9100), not {text!r}"
        )
    return text


def target(text: str) -> str:
    """A target to call, with its port: grpc would wrap 99999 and default to 443."""
    try:
        return check_target(text, port_required=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def split_tokens(text: str) -> list[str]:
    """The tokens of a comma-separated list (an environment variable's), blanks dropped."""
    return [token.strip() for token in text.split(",") if token.strip()]


def metadata_pair(text: str) -> tuple[str, str | bytes]:
    """``KEY=VALUE`` as a metadata pair, checked as the library checks what it sends.

    Keys are lowercased (HTTP header names are case-insensitive); a ``-bin`` key's value
    is base64, as grpc sends it on the wire (and as grpcurl reads it).
    """
    key, separator, text_value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key = key.lower()
    value: str | bytes = text_value
    if key.endswith("-bin"):
        try:
            value = base64.b64decode(text_value, validate=True)
        except binascii.Error:
            raise argparse.ArgumentTypeError(
                f"metadata key {key!r} ends in -bin, so its value must be base64 "
                f"(e.g. {key}=AAEC for the bytes 00 01 02), not {text_value!r}"
            ) from None
    try:
        check_metadata(key, value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return key, value
