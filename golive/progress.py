"""Live progress lines from pytest-xdist workers: a worker's output goes nowhere, so a check's per-interval line
(the canary analysis' progress) is appended to a file the controller tails and prints while the run goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.1  # how often the controller looks for new lines


def append_line(path: Path, line: str) -> None:
    """A worker's side: one line, appended in one write (lines of several workers never interleave)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(line.replace("\n", " ") + "\n")


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
        self.path.touch()
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
