"""Serve your services to browsers: Connect, gRPC-Web and plain HTTP/JSON.

Needs the ``web`` extra (``pip install "grpc-greeter[web]"``); ``import greeter`` never
loads it. Every service a server carries answers here too, unchanged: the Greeter
(``GreeterService``, ``AsyncGreeterService``), generated services (``services=[...]``)
and grpc handlers registered beside them, with the same replies, status codes and
details (rich ones included), ``self.context`` metadata, headers and trailers, and
deadlines, at the same paths (``/shop.v1.Inventory/GetItem``). Health checking and
reflection stay on the native port.

The usual way in is one keyword on the server, which then serves both ports and stops
both gracefully::

    GreeterService().serve("[::]:50051", web="[::]:8080", web_origins=["https://app.example"])

or ``greeter serve --web [::]:8080 --web-origin https://app.example``. To mount the
service (a ``GreeterService`` or a generated one) in an ASGI app of your own
(Starlette, FastAPI), take the app itself::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from greeter.web import asgi_app

    app = Starlette(routes=[Mount("/", asgi_app(GreeterService(), origins=["*"]))])

Then a browser calls it with ``@connectrpc/connect-web`` (``createConnectTransport``
or ``createGrpcWebTransport``), and anything that speaks HTTP with JSON::

    curl -H 'Content-Type: application/json' -d '{"name": "you"}' \\
        http://localhost:8080/helloworld.Greeter/SayHello

Web calls run through the server's own auth check and hooks (``ServerConfig.auth``,
``hooks``, ``access_log``, and so ``greeter.metrics``), as native calls do: a browser
sends its token as an ``Authorization: Bearer ...`` header; a refused call gets the
same status and message as on native gRPC and never reaches the service;
``self.context.identity`` names the caller; hooks see the method
(``/helloworld.Greeter/SayHello``), the request headers as metadata, the client's
address, and after the call its status and duration. With ``ServerConfig.tls`` the web
port serves HTTPS with the same certificate, and requires client certificates when the
native port does (a client CA). Raw grpc interceptors see native calls only.

Unary and server-streaming RPCs work from browsers. Client and bidirectional streaming
need HTTP/2 end to end, which browsers' ``fetch`` does not offer: call those over
native gRPC.
"""

from __future__ import annotations

from typing import TypeAlias

from greeter.web._app import asgi_app
from greeter.web._cors import ASGIApp as _ASGIApp

__all__ = ["ASGIApp", "asgi_app"]

ASGIApp: TypeAlias = _ASGIApp
"""An ASGI application: ``await app(scope, receive, send)``, with the ASGI types spelled
as Starlette spells them, so it mounts there (and in FastAPI) as it is."""
