"""What every served call runs through, native and web alike: the auth check, hooks, the
access log and ``self.context``.

Internal: import the public names from ``greeter``. It imports no server or web code.
"""
