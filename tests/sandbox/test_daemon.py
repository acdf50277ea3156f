"""The sandbox daemon: up / status / down, the owner pid, and what a dead daemon leaves behind."""

from __future__ import annotations

import os
import signal
import ssl
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from golive.sandbox import SandboxError, down, status, up
from tests.sandbox.processes import alive, postmasters, wait_gone


def _up(workdir: Path, start_times: list[str], *faults: str, owner_pid: int | None = None) -> dict[str, str]:
    started = time.perf_counter()
    environ = up(workdir, faults, timeout=60, owner_pid=owner_pid)
    start_times.append(f"sandbox daemon (up) started in {time.perf_counter() - started:.2f} s")
    return environ


def test_up_status_down(tmp_path, start_times):
    workdir = tmp_path / "daemon"
    environ = _up(workdir, start_times, "env-node-env-development")
    try:
        assert environ["NODE_ENV"] == "development"
        state = status(workdir)
        assert state is not None
        assert state["environ"] == environ
        assert state["faults"] == ["env-node-env-development"]
        assert alive(state["pid"])
        assert stat.S_IMODE((workdir / "state.json").stat().st_mode) == 0o600
        verify = ssl.create_default_context(cafile=environ["GOLIVE_SANDBOX_CA"])
        with httpx.Client(verify=verify, timeout=10) as client:
            assert client.get(environ["GOLIVE_SANDBOX_APP_URL"] + "/api/health/db").status_code == 200
        running = postmasters(workdir)
        assert len(running) == 2
        with pytest.raises(SandboxError, match=f"already running in {workdir} \\(pid {state['pid']}\\)"):
            up(workdir, [])
    finally:
        assert down(workdir) is True
    assert wait_gone([state["pid"], *running]) == []
    assert status(workdir) is None
    assert not (workdir / "state.json").exists()
    assert not (workdir / "postgres").exists()
    assert down(workdir) is False


def test_unknown_fault_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(ValueError, match="no-such-fault"):
        up(tmp_path / "never", ["no-such-fault"])
    assert not (tmp_path / "never").exists()


def test_daemon_stops_when_its_owner_is_gone(tmp_path, start_times):
    workdir = tmp_path / "owned"
    owner = subprocess.Popen(["sleep", "60"])
    try:
        _up(workdir, start_times, owner_pid=owner.pid)
        state = status(workdir)
        assert state is not None
        running = postmasters(workdir)
    finally:
        owner.kill()
        owner.wait()
    assert wait_gone([state["pid"], *running], timeout=15) == []
    assert not (workdir / "state.json").exists()
    assert status(workdir) is None


def test_status_cleans_up_after_a_killed_daemon(tmp_path, start_times):
    workdir = tmp_path / "killed"
    _up(workdir, start_times)
    state = status(workdir)
    assert state is not None
    running = postmasters(workdir)
    os.kill(state["pid"], signal.SIGKILL)
    assert wait_gone([state["pid"]]) == []
    assert all(alive(pid) for pid in running)  # PostgreSQL outlives its daemon...
    # ...until status notices the daemon is gone; its other threads may still hold the lock for a moment
    deadline = time.monotonic() + 10
    while status(workdir) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(workdir) is None
    assert wait_gone(running) == []
    assert not (workdir / "state.json").exists()
    assert not (workdir / "postgres").exists()


def test_up_refuses_a_directory_an_in_process_sandbox_runs_in(sandbox, https, env):
    with pytest.raises(SandboxError, match="already running"):
        up(sandbox.workdir, [])
    assert status(sandbox.workdir) is None  # running, but not a daemon: no state to report
    assert https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/api/health/db").status_code == 200  # untouched
