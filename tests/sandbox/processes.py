"""Process helpers for the sandbox tests: is a pid alive, which postmasters run for a sandbox directory."""

from __future__ import annotations

import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def postmasters(workdir: Path) -> list[int]:
    """The pids of the postmasters running for a sandbox directory (primary and replica)."""
    return [int(path.read_text().split()[0]) for path in workdir.glob("postgres/*/postmaster.pid")]


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """Wait up to timeout for every pid to end; the pids still alive then."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]
