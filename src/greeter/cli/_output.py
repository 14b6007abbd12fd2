"""What the ``greeter`` command says and how it exits, beyond its replies.

A usage error (flags that do not go together) is reported as argparse reports its own:
the command's usage, the message, exit status 2. A failed call or a server that cannot
start is one line on stderr and exit status 1. grpc core's own log lines are set per
command, before grpc is imported (``quiet_grpc_core``).
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "GRPC_VERBOSITY_VARIABLE",
    "UsageError",
    "failed",
    "quiet_grpc_core",
]

#: Exit status when a call fails or the server cannot start.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: grpc core's own log switch (NONE, ERROR, INFO, DEBUG); grpc reads it once, on import.
GRPC_VERBOSITY_VARIABLE = "GRPC_VERBOSITY"


class UsageError(Exception):
    """Flags that do not go together: reported like argparse's own errors (exit 2)."""


def failed(error: Exception, hint: str | None = None) -> int:
    """Report ``error`` (and ``hint``) in one line on stderr; the exit status for a failure."""
    one_line = " ".join(str(error).split())
    print(f"greeter: {one_line}{'' if hint is None else f'; {hint}'}", file=sys.stderr)
    return EXIT_FAILURE


def quiet_grpc_core(verbosity: str | None) -> None:
    """Let grpc core log to stderr only this much (``None``: grpc's default), unless the
    user has set GRPC_VERBOSITY.

    Only before grpc is imported (grpc reads it then, once): a command calls this before
    it imports the server or the client, and ``main`` called from a program that has
    imported grpc already leaves the environment alone. Worker processes inherit it.
    """
    if verbosity is None or os.environ.get(GRPC_VERBOSITY_VARIABLE) or "grpc" in sys.modules:
        return
    os.environ[GRPC_VERBOSITY_VARIABLE] = verbosity
