"""Serve the shop: ``python -m shop.server [--address HOST:PORT] [--asyncio]``.

Serves ``shop.v1.Inventory`` and ``shop.v1.Catalog`` beside greeter's own
``helloworld.Greeter``, health and reflection, on one port. Prints
``shop serving on HOST:PORT`` once it listens (port 0 lets the OS pick a free port),
then serves until SIGINT or SIGTERM, and stops gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from greeter import AsyncGreeterService, GreeterService
from shop.async_service import AsyncShopCatalog, AsyncShopInventory
from shop.service import ShopCatalog, ShopInventory

DEFAULT_ADDRESS = "127.0.0.1:50051"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def serve(address: str) -> None:
    """Serve on the threaded server until a stop signal."""
    # Blocked before the server's threads start, so that they inherit the mask and the
    # signals reach sigwait() below, on this thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    services = [ShopInventory(), ShopCatalog()]
    with GreeterService().start(address, services=services) as server:
        print(f"shop serving on {server.target}", flush=True)
        signal.sigwait(STOP_SIGNALS)


async def serve_async(address: str) -> None:
    """Serve on the asyncio server until a stop signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, stop.set)
    services = [AsyncShopInventory(), AsyncShopCatalog()]
    server = await AsyncGreeterService().start(address, services=services)
    try:
        print(f"shop serving on {server.target}", flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m shop.server", description=__doc__)
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    parser.add_argument("--asyncio", action="store_true", help="serve on the asyncio server")
    args = parser.parse_args(argv)
    if args.asyncio:
        asyncio.run(serve_async(args.address))
    else:
        serve(args.address)


if __name__ == "__main__":
    main()
