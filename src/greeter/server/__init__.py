"""The server side: service base classes, the threaded and asyncio servers, admission,
drain, health, reflection and worker processes.

Internal: import the public names from ``greeter``. Nothing here imports the web port;
it plugs in through ``greeter.server._ports``.
"""
