"""The generator: how ``.proto`` files become typed greeter clients and services.

One generator serves every way in: the ``protoc-gen-greeter`` plugin, the
``greeter generate`` command and the ``greeter.build`` build backend all call it.
"""
