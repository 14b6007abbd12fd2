"""Several server processes on one port: ``serve_in_workers``, and how many to run.

Python runs one thread of Python code at a time, so a server with CPU-bound handlers
uses more than one core only with more than one process. grpc's documented pattern
(``examples/python/multiprocessing`` in grpc/grpc) is what this module does: fork the
workers before any gRPC object exists (gRPC's threads and polling state do not survive
a fork), then let each worker bind the same port with ``SO_REUSEPORT``; the kernel
spreads incoming *connections* among them. One client channel is one connection, so it
stays with one worker: the spreading shows with many clients, or behind a load balancer
that opens several connections. Linux only in practice: elsewhere ``SO_REUSEPORT``
either does not exist or does not balance.

This module decides whether and how many workers can serve, then hands them to
``_supervisor``, which forks them, replaces those that die and stops them all on a
signal.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from greeter._addresses import reserve_port, split_tcp_address
from greeter.server._supervisor import supervise

__all__ = ["CannotFork", "default_worker_count", "serve_in_workers", "shares_a_port"]

#: The names (``/proc/self/task/*/comm``) of gRPC core's threads, which exist while any
#: channel or server does: a forked child would inherit their locks but not them.
_GRPC_THREAD_NAMES = ("grpc", "event_engine", "lifeguard", "default-execu", "resolver-exec")


class CannotFork(RuntimeError):
    """Worker processes cannot be forked safely here: not Linux, or gRPC already runs."""


def default_worker_count() -> int:
    """One worker per CPU this process may use (1 where ports are not balanced).

    One process runs Python on about one core at a time, however many threads serve
    its calls; a second process on the same port is what uses a second core. "May use"
    is the CPUs it may run on, or fewer under a container's CPU limit (cgroup quota).
    """
    if not sys.platform.startswith("linux"):
        return 1  # elsewhere SO_REUSEPORT does not spread connections among processes
    cpus = len(os.sched_getaffinity(0))
    quota = _cgroup_cpu_limit()
    return max(1, cpus if quota is None else min(cpus, quota))


#: Where Linux states a CPU limit: cgroup v2 ("QUOTA PERIOD" or "max PERIOD"), then v1.
_CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


def _cgroup_cpu_limit() -> int | None:
    """The CPUs a cgroup quota allows, rounded up; None if there is no limit."""
    try:
        quota, period = _CGROUP_V2_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (_CGROUP_V1_CPU / "cpu.cfs_quota_us").read_text().strip()
            period = (_CGROUP_V1_CPU / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota == "max" or not quota.lstrip("-").isdigit() or int(quota) <= 0:
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def shares_a_port(addresses: list[str]) -> bool:
    """Whether ``addresses`` can be served by several workers: one TCP ``host:port``."""
    if len(addresses) != 1:
        return False
    try:
        split_tcp_address(addresses[0])
    except ValueError:
        return False
    return True


def serve_in_workers(run_worker: Callable[[str], object], address: str, workers: int) -> int:
    """Run ``workers`` processes that each call ``run_worker(address)``; return an exit status.

    ``address`` is ``host:port``; with port 0 the OS picks one free port, shared by all
    workers (each gets the real ``host:port``). ``run_worker`` must bind with
    ``SO_REUSEPORT`` (``ServerConfig(reuse_port=True)``), serve until SIGINT or SIGTERM
    and stop gracefully. A worker that dies or exits on its own is replaced (see
    ``greeter.server._supervisor``). Blocks until every worker has exited; returns 0 if all exited
    cleanly after a shutdown signal, else 1 (a worker failed while stopping, or kept
    failing to start). Call it from the main thread, before creating any gRPC object
    (client or server) in this process::

        def run_worker(address: str) -> None:
            GreeterService().serve(address, config=ServerConfig(reuse_port=True))

        sys.exit(serve_in_workers(run_worker, "[::]:50051", workers=4))

    Raises ``OSError`` (one line: ``cannot listen on ADDRESS: address already in use``)
    if anything already listens on the port, even servers that allow sharing it: an
    unrelated second server never joins the first one's workers silently. Raises
    ``CannotFork`` (a ``RuntimeError``) off Linux (fork is unsafe on macOS and absent
    on Windows, and only Linux spreads connections over a shared port) and if gRPC
    already runs in this process. Each worker's log records carry its pid
    (``%(process)d``), and its ``%(processName)s`` is ``greeter-worker-N``.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("serving in worker processes needs the main thread (for signals)")
    host, _ = split_tcp_address(address)
    port, holders = reserve_port(address)
    try:
        _check_fork_is_safe()
        return supervise(run_worker, f"{host}:{port}", workers)
    finally:
        for holder in holders:
            holder.close()


def _check_fork_is_safe() -> None:
    """Raise ``CannotFork`` unless this process may fork workers that will serve gRPC.

    gRPC documents that a process must fork its servers before creating any gRPC
    object: gRPC core's threads (and the locks they hold) do not survive a fork. Those
    threads exist from the first channel or server until the last one is gone, so
    finding them by name is the sign that gRPC runs here.
    """
    if not sys.platform.startswith("linux"):
        raise CannotFork(
            f"serving in worker processes needs Linux, not {sys.platform} "
            "(fork, and a port shared with SO_REUSEPORT): serve with one worker"
        )
    threads = _grpc_threads()
    if threads:
        raise CannotFork(
            "gRPC already runs in this process (its threads: "
            f"{', '.join(sorted(set(threads)))}): fork the workers before creating "
            "any gRPC client or server, and create those in each worker"
        )


def _grpc_threads() -> list[str]:
    """The names of gRPC core's threads running in this process."""
    names: list[str] = []
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:  # no /proc mounted: nothing to go by
        return names
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if name.startswith(_GRPC_THREAD_NAMES):
            names.append(name)
    return names
