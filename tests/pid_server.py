"""A Greeter server whose SayHello answers with its process id: who served each call.

Run as a script by ``tests/test_workers.py`` and ``tests/test_nginx.py``::

    python tests/pid_server.py --address 127.0.0.1:0 [--workers N] [--grace S] [--async]

It serves as ``greeter serve`` does, with ``PidService().serve(..., workers=N)``: in
this one process by default, in N forked processes sharing the port with
``--workers N``. It logs to stderr and prints a failure to start as one line,
``greeter: ...``, with exit status 1. ``--async`` serves ``AsyncPidService`` instead.
``--fail-at-start`` runs workers that fail as they start, every time, as a worker
does that cannot bind its port.

The name ``"hold DIR"`` makes SayHello create ``DIR/started``, then wait (at most 20 s)
until ``DIR/release`` exists before answering: a call that stays in flight for as long
as a test needs. The name ``"sleep S"`` makes it take S seconds, whatever happens to
the call (a slow database, say).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from greeter import AsyncGreeterService, GreeterService, ServerConfig
from greeter.server._workers import serve_in_workers

HOLD_SECONDS = 20


class PidService(GreeterService):
    """SayHello replies with the serving process's id (``"4242"``)."""

    def say_hello(self, name: str) -> str:
        if name.startswith("hold "):
            _hold(Path(name.removeprefix("hold ")))
        if name.startswith("sleep "):
            time.sleep(float(name.removeprefix("sleep ")))
        return str(os.getpid())


class AsyncPidService(AsyncGreeterService):
    """``PidService`` on the asyncio server."""

    async def say_hello(self, name: str) -> str:
        if name.startswith("hold "):
            await asyncio.to_thread(_hold, Path(name.removeprefix("hold ")))
        if name.startswith("sleep "):
            await asyncio.sleep(float(name.removeprefix("sleep ")))
        return str(os.getpid())


def _hold(directory: Path) -> None:
    (directory / "started").touch()
    deadline = time.monotonic() + HOLD_SECONDS
    while not (directory / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def _fail_to_start(address: str) -> None:
    raise OSError(f"cannot listen on {address}: failing at start, as asked")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--grace", type=float, default=ServerConfig().grace_seconds)
    parser.add_argument("--async", dest="use_asyncio", action="store_true")
    parser.add_argument("--fail-at-start", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s: %(message)s")
    try:
        if args.fail_at_start:
            return serve_in_workers(_fail_to_start, args.address, args.workers)
        config = ServerConfig(grace_seconds=args.grace)
        service = AsyncPidService() if args.use_asyncio else PidService()
        service.serve(args.address, config=config, workers=args.workers)
    except (OSError, ValueError) as exc:
        print(f"greeter: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
