"""``serve()``'s (and so ``greeter serve``'s) bound on grpc core's log: each source line
once per window.

grpc core writes from C++ to file descriptor 2. These tests write such lines to
descriptor 2 of a real child process the same way (``os.write``, past Python's
``sys.stderr``) and read what reaches the process's real stderr.
"""

from __future__ import annotations

import subprocess
import sys

#: A child that puts ``CoreLogLimit`` in front of its stderr and writes grpc-core-style
#: lines to descriptor 2, with Python's own output in between.
_CHILD = """
import os, sys, time
from greeter.server._core_log import CoreLogLimit

limit = CoreLogLimit(window_seconds=float(sys.argv[1]))
limit.start()
core = "E1205 21:00:27.954360   21926 hpack_encoder.cc:618] Ignoring key value pair\\n"
other = "W1205 21:00:27.954360   21926 chttp2_transport.cc:1234] something else\\n"
for _ in range(200):
    os.write(2, core.encode())
os.write(2, other.encode())
print("python's own line", file=sys.stderr)
os.write(2, b"a line that is not grpc core's\\n")
if len(sys.argv) > 2:
    time.sleep(float(sys.argv[2]))
    os.write(2, core.encode())
limit.stop()
"""


def _stderr_of(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_core_line_repeated_within_the_window_is_passed_once_and_counted() -> None:
    stderr = _stderr_of("60")
    assert stderr.count("hpack_encoder.cc:618] Ignoring key value pair") == 1
    assert "left out 199 more grpc core line(s) from hpack_encoder.cc:618 (one per 60 s)" in (
        stderr
    )
    # Other places in grpc's source, Python's output and other lines all pass.
    assert stderr.count("chttp2_transport.cc:1234] something else") == 1
    assert "python's own line" in stderr
    assert "a line that is not grpc core's" in stderr
    assert len(stderr) < 1_000


def test_a_core_line_after_the_window_passes_with_the_count_of_those_left_out() -> None:
    stderr = _stderr_of("0.5", "1.0")
    assert stderr.count("hpack_encoder.cc:618] Ignoring key value pair") == 2
    note = "left out 199 more grpc core line(s) from hpack_encoder.cc:618 (one per 0.5 s)"
    assert stderr.count(note) == 1
    # The count comes just before the line that ends the quiet window.
    assert stderr.index(note) < stderr.rindex("hpack_encoder.cc:618] Ignoring")


#: Two limits started one inside the other (two ``serve()`` calls at once): only the
#: first goes in front of descriptor 2; a log handler set up before writes around it;
#: stopping it gives Python (and the handler) its stderr back.
_NESTED = """
import logging, os, sys
from greeter.server._core_log import CoreLogLimit

logging.basicConfig()
handler = logging.getLogger().handlers[0]
before = sys.stderr
outer, inner = CoreLogLimit(window_seconds=60), CoreLogLimit(window_seconds=60)
outer.start()
inner.start()
assert sys.stderr is not before and handler.stream is sys.stderr  # around the pipe
core = "E1205 21:00:27.954360   21926 hpack_encoder.cc:618] Ignoring key value pair\\n"
for _ in range(200):
    os.write(2, core.encode())
inner.stop()
for _ in range(200):
    os.write(2, core.encode())
outer.stop()
assert sys.stderr is before and handler.stream is before
os.write(2, core.encode())
"""


def test_a_limit_started_inside_another_changes_nothing_and_stop_gives_stderr_back() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NESTED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # One line passed in the window, 399 counted, and one more after the limit stopped.
    assert done.stderr.count("hpack_encoder.cc:618] Ignoring key value pair") == 2
    assert "left out 399 more grpc core line(s) from hpack_encoder.cc:618" in done.stderr
