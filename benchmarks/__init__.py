"""grpc-greeter's benchmark suite: ``python -m benchmarks`` (``--quick`` for a smoke run).

Each server runs in its own process on 127.0.0.1 and is driven by client processes of
its own; the sides of a comparison take turns in short blocks (A B A B ...), so the
machine's drift hits them alike, and each ratio is taken within a round of one run.
``benchmarks/README.md`` has the figures, the machine and the command.

Modules, one per concern:

- ``stubs``: compiles the repository's proto with plain ``grpc_tools.protoc`` (and
  grpclib's plugin) into a temporary directory, for the servers and clients that are
  not greeter's; and ``protos/bench/v1/echo.proto``, a service of a user's own, with
  ``greeter generate`` and ``grpc_tools.protoc``, for the generated-code cases.
- ``servers``: the servers compared (greeter's, the grpc tutorial's, grpclib's,
  pygrpc-native's), each run as ``python -m benchmarks.servers KIND``.
- ``clients``: the load drivers (raw grpc stubs, greeter's clients, grpclib's), each a
  long-lived process that runs one bounded block of calls per command.
- ``runner``: starts the processes, interleaves the blocks, measures server CPU.
- ``cases``: what is compared, and the goals.
- ``import_time``: ``import greeter`` against ``import grpc``, and greeter's client and
  service against the tutorial's imports, in fresh processes.
- ``instructions``: instructions per call under valgrind, server and client, where
  timings are too noisy to settle a 1 % difference (``--instructions``).
- ``report``: the table, the JSON and the chart.
"""
