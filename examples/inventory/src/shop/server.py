"""Serve the shop: ``python -m shop.server [--address HOST:PORT] [--asyncio] [--web HOST:PORT]``.

Serves ``shop.v1.Inventory`` and ``shop.v1.Catalog`` beside greeter's own
``helloworld.Greeter``, health and reflection, on one port. Prints
``shop serving on HOST:PORT`` once it listens (port 0 lets the OS pick a free port),
then serves until SIGINT or SIGTERM, and stops gracefully. With ``--web`` (and the
example's ``web`` extra installed) it also serves browsers there, over Connect and
gRPC-Web, and prints ``shop web port on HOST:PORT``; ``--web-origin`` names a page
(CORS origin) that may call it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from greeter import (
    AsyncGreeterServer,
    AsyncGreeterService,
    GreeterServer,
    GreeterService,
    ServerConfig,
)
from shop.async_service import AsyncShopCatalog, AsyncShopInventory
from shop.service import ShopCatalog, ShopInventory

DEFAULT_ADDRESS = "127.0.0.1:50051"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def announce(server: GreeterServer | AsyncGreeterServer) -> None:
    """Print where the server listens, the lines a caller (or a test) waits for."""
    print(f"shop serving on {server.target}", flush=True)
    if server.web_address is not None:
        print(f"shop web port on {server.web_address}", flush=True)


def serve(address: str, config: ServerConfig) -> None:
    """Serve on the threaded server until a stop signal."""
    # Blocked before the server's threads start, so that they inherit the mask and the
    # signals reach sigwait() below, on this thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    services = [ShopInventory(), ShopCatalog()]
    with GreeterService().start(address, config=config, services=services) as server:
        announce(server)
        signal.sigwait(STOP_SIGNALS)


async def serve_async(address: str, config: ServerConfig) -> None:
    """Serve on the asyncio server until a stop signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, stop.set)
    services = [AsyncShopInventory(), AsyncShopCatalog()]
    server = await AsyncGreeterService().start(address, config=config, services=services)
    try:
        announce(server)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m shop.server", description=__doc__)
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    parser.add_argument("--asyncio", action="store_true", help="serve on the asyncio server")
    parser.add_argument(
        "--web", metavar="HOST:PORT", help="also serve browsers (Connect, gRPC-Web) there"
    )
    parser.add_argument(
        "--web-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a page (e.g. https://shop.example) that may call the web port; repeatable",
    )
    args = parser.parse_args(argv)
    config = ServerConfig(web=args.web, web_origins=args.web_origin)
    if args.asyncio:
        asyncio.run(serve_async(args.address, config))
    else:
        serve(args.address, config)


if __name__ == "__main__":
    main()
