"""The client side: the one client runtime, ``GreeterClient`` and ``AsyncGreeterClient``.

``_base`` holds what every client shares for any service (one constructor, call options,
channel, health check); ``_generic`` the blocking and asyncio twins of the generic calls
(``Client`` / ``AsyncClient``, which ``greeter.rpc`` re-exports for generated clients);
``_sync`` and ``_asyncio`` the Greeter's clients on them, ``_greeter`` the Greeter's
methods, names in and greetings out; ``_streams`` what any call returns (responses,
response streams) and ``_calls`` the Greeter's narrowing of them; ``_channel`` how the
channel is made, ``_tokens`` the bearer token sent with each call.

Internal: import the public names from ``greeter`` (and ``greeter.rpc``). Nothing here
imports server code.
"""
