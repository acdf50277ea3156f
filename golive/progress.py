"""Live progress lines from pytest-xdist workers: a worker's output goes nowhere, so a check's per-interval line
(the canary analysis' progress) is appended to a file the controller tails and prints while the run goes on.
A line is scrubbed of every registered secret before it reaches the file or the terminal; the file is readable
by its owner only."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from golive.secrets import REGISTRY, SecretRegistry

POLL_S = 0.1  # how often the controller looks for new lines


def shown(line: str, registry: SecretRegistry = REGISTRY) -> str:
    """A progress line as it may be shown or stored: on one line, every registered secret masked."""
    return registry.scrub(line).replace("\n", " ")


def append_line(path: Path, line: str, registry: SecretRegistry = REGISTRY) -> None:
    """A worker's side: one line, scrubbed, appended in one write (lines of several workers never interleave)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(shown(line, registry) + "\n")


class ProgressRelay:
    """The controller's side: prints every complete line appended to ``path`` from a background thread, in order,
    until stopped; ``stop()`` prints what is left and removes the file."""

    def __init__(self, path: Path, write: Callable[[str], None], poll_s: float = POLL_S) -> None:
        self.path = path
        self._write = write
        self._poll_s = poll_s
        self._offset = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="golive-progress", daemon=True)

    def start(self) -> None:
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path.chmod(0o600)  # also when the file was there before: progress lines are nobody else's to read
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.drain()

    def drain(self) -> None:
        """Print the complete lines appended since the last drain (a line still being written waits)."""
        with self._lock:
            try:
                with self.path.open("rb") as source:
                    source.seek(self._offset)
                    chunk = source.read()
            except OSError:
                return
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                self._write(line)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.drain()
        self.path.unlink(missing_ok=True)
