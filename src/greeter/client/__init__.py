"""The client side: channels, call options, ``GreeterClient`` and ``AsyncGreeterClient``.

Internal: import the public names from ``greeter``. Nothing here imports server code.
"""
