"""What every served call runs through, native and web alike: the auth check, hooks, the
access log and ``self.context``.

``_hooks`` has the public hook types, ``_pipeline`` the ``CallPipeline`` that runs them
around a call (and the call being served now), ``_interceptors`` the grpc interceptors
that put it around every handler of the threaded and the asyncio server,
``_handlers`` the handler-rewrapping step interceptors share, ``_context`` what a
service method sees as ``self.context``, ``_auth`` the bearer-token check.

Internal: import the public names from ``greeter``. It imports no server or web code.
"""
