"""``LiveServerProcess``: a ``ServerProcess`` that never loses a line of its output.

``tests.conftest.ServerProcess`` reads its child's output until the port line, then
collects the rest in ``stop()`` with ``communicate(timeout=...)``, which reads the pipe
directly: lines that had already been read ahead into the text buffer together with the
port line are lost. Tests that count log lines (one per worker, one per call) need
them all, so this subclass keeps reading in a thread from the port line on.
"""

from __future__ import annotations

import signal
import threading
import time

from tests.conftest import ServerProcess


class LiveServerProcess(ServerProcess):
    """A server in a child process whose whole output, so far, is ``log()``."""

    def __init__(self, command: list[str], port_pattern: str) -> None:
        super().__init__(command, port_pattern)
        self._reader = threading.Thread(target=self._read_to_the_end, daemon=True)
        self._reader.start()

    def _read_to_the_end(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with stdout:
            for line in stdout:
                self.output.append(line)

    def log(self) -> str:
        """Everything the process (and any child of it) has printed so far."""
        return "".join(self.output)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 10) -> None:
        """Wait until ``text`` has appeared ``count`` times in the output."""
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            assert time.monotonic() < deadline, f"no {count} x {text!r} in: {self.log()}"
            time.sleep(0.02)

    def output_ended(self, timeout: float) -> bool:
        """Wait until every writer of the output (workers too) has exited."""
        self._reader.join(timeout=timeout)
        return not self._reader.is_alive()

    def stop(self, sent: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sent`` once; wait for the exit, and for the output's end; the status."""
        if self.process.poll() is None:
            self.process.send_signal(sent)
        status = self.process.wait(timeout=timeout)
        assert self.output_ended(timeout), f"something still holds the output: {self.log()}"
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output_ended(timeout=10)
