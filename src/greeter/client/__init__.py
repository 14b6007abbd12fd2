"""The client side: channels, call options, ``GreeterClient`` and ``AsyncGreeterClient``.

``_base`` holds what both clients share for any service (options, channel, health
check), ``_sync`` and ``_asyncio`` the blocking and asyncio twins (a generic
``ServiceClient`` and the Greeter's client on it), ``_greeter`` the Greeter's method
paths and messages, ``_calls`` what a call returns, ``_channel`` how the channel is made,
``_tokens`` the bearer token sent with each call.

Internal: import the public names from ``greeter``. Nothing here imports server code.
"""
