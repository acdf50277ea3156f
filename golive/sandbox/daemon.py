"""The sandbox as a background process: `python -m golive.sandbox serve --dir DIR`, and up/down/status for the CLI.

A running sandbox holds DIR/sandbox.lock; once everything answers, the daemon writes DIR/state.json (mode 0600:
pid, started_at, faults, environ) and removes it on the way out. Whatever a sandbox leaves behind when it dies
without stopping (state.json, a running PostgreSQL) is stale as soon as nobody holds the lock, and up, down and
status clean it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from golive.sandbox.faults import FAULTS, validate
from golive.sandbox.postgres import pid_alive, remove_stale
from golive.sandbox.runtime import Sandbox, SandboxError, in_use
from golive.sandbox.tls import write_private

STATE_FILE = "state.json"
LOG_FILE = "daemon.log"
CONTROL_FILE = "control.lock"

_OWNER_POLL = 1.0
_DEPLOY_POLL = 0.1
_KILL_GRACE = 30.0


def _read_state(workdir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((workdir / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return state


def _write_state(workdir: Path, state: dict[str, Any]) -> None:
    staging = workdir / (STATE_FILE + ".tmp")
    write_private(staging, json.dumps(state, indent=2).encode())
    staging.replace(workdir / STATE_FILE)


def serve(workdir: Path, faults: Sequence[str], owner_pid: int | None = None) -> int:
    """Run a sandbox in workdir until SIGTERM/SIGINT or until owner_pid is gone; PostgreSQL always stops."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    deploying = threading.Event()  # SIGUSR1: `golive sandbox deploy` (see deploy() below)
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: deploying.set())
    sandbox = Sandbox(workdir, faults)
    wrote_state = False
    try:
        sandbox.start()
        state = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "faults": sorted(sandbox.faults.active),
            "environ": sandbox.environ(),
            "deployed": False,
        }
        _write_state(sandbox.workdir, state)
        wrote_state = True
        print(f"golive sandbox ready in {sandbox.workdir} (pid {os.getpid()})", file=sys.stderr, flush=True)
        while not stopping.wait(_DEPLOY_POLL):
            if deploying.is_set() and not state["deployed"]:
                sandbox.rollout.deploy()
                state["deployed"] = True
                _write_state(sandbox.workdir, state)
                print("rolling deploy done: every instance serves the new release", file=sys.stderr, flush=True)
            if owner_pid is not None and not pid_alive(owner_pid):
                print(f"owner process {owner_pid} is gone: stopping", file=sys.stderr, flush=True)
                break
    finally:
        if wrote_state:
            (sandbox.workdir / STATE_FILE).unlink(missing_ok=True)
        sandbox.stop()
    return 0


def _wait_ready(workdir: Path, pid: int, timeout: float) -> int:
    """In the parent of a detached daemon: 0 once the daemon wrote its state, 1 if it died or took too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state(workdir)
        if state is not None and state.get("pid") == pid:
            return 0
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            code = os.waitstatus_to_exitcode(status)
            print(f"the sandbox daemon exited during startup (exit code {code})", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.05)
    print(f"the sandbox was not ready within {timeout:.0f} s: stopping it", file=sys.stderr, flush=True)
    os.kill(pid, signal.SIGTERM)
    _reap(pid, _KILL_GRACE)
    return 1


def _reap(pid: int, grace: float) -> None:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golive.sandbox", description="Run golive's sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run a sandbox until SIGTERM/SIGINT")
    serve_parser.add_argument("--dir", type=Path, required=True, help="the sandbox directory")
    serve_parser.add_argument(
        "--fault", action="append", default=[], choices=list(FAULTS), metavar="NAME", help="a fault to switch on"
    )
    serve_parser.add_argument("--owner-pid", type=int, help="stop when this process is gone")
    serve_parser.add_argument(
        "--detach", action="store_true", help="run in the background; exit 0 once it is ready, 1 if it failed"
    )
    serve_parser.add_argument("--ready-timeout", type=float, default=60.0, help="with --detach: seconds to wait")
    args = parser.parse_args(argv)
    if args.detach:
        child = os.fork()
        if child:
            return _wait_ready(args.dir.absolute(), child, args.ready_timeout)
        os.setsid()
    try:
        return serve(args.dir, args.fault, args.owner_pid)
    except SandboxError as error:
        print(f"golive sandbox: {error}", file=sys.stderr, flush=True)
        return 1


def _control(workdir: Path, timeout: float) -> filelock.FileLock:
    """The lock that makes up, down and status of one directory take turns."""
    return filelock.FileLock(workdir / CONTROL_FILE, timeout=timeout, thread_local=False)


def _clean_stale(workdir: Path) -> None:
    (workdir / STATE_FILE).unlink(missing_ok=True)
    remove_stale(workdir)


def _log_tail(workdir: Path, lines: int = 20) -> str:
    log = workdir / LOG_FILE
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def up(workdir: Path, faults: Sequence[str], timeout: float = 60, *, owner_pid: int | None = None) -> dict[str, str]:
    """Start a sandbox daemon in workdir and return its environ once everything answers.

    SandboxError when a sandbox already runs there or the daemon does not get ready within timeout (the
    message carries the end of DIR/daemon.log); ValueError for an unknown fault. With owner_pid, the daemon
    stops by itself once that process is gone.
    """
    validate(faults)
    workdir = workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    with _control(workdir, timeout):
        if in_use(workdir):
            state = _read_state(workdir)
            pid = f" (pid {state['pid']})" if state else ""
            raise SandboxError(f"a sandbox is already running in {workdir}{pid}: stop it first (golive sandbox down)")
        _clean_stale(workdir)
        command = [sys.executable, "-m", "golive.sandbox", "serve", "--dir", str(workdir), "--detach"]
        command += ["--ready-timeout", str(timeout)]
        for fault in faults:
            command += ["--fault", fault]
        if owner_pid is not None:
            command += ["--owner-pid", str(owner_pid)]
        with (workdir / LOG_FILE).open("wb") as log:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout + _KILL_GRACE + 15,
                check=False,
            )
        state = _read_state(workdir)
        if done.returncode != 0 or state is None:
            if not in_use(workdir):
                _clean_stale(workdir)
            raise SandboxError(f"the sandbox in {workdir} did not start:\n{_log_tail(workdir)}")
        environ: dict[str, str] = state["environ"]
        return environ


def status(workdir: Path, timeout: float = 90) -> dict[str, Any] | None:
    """The state of the sandbox running in workdir (pid, started_at, faults, environ), or None.

    None also while a sandbox is still starting. Cleans what a dead sandbox left behind.
    """
    workdir = workdir.absolute()
    if not workdir.is_dir():
        return None
    with _control(workdir, timeout):
        if not in_use(workdir):
            _clean_stale(workdir)
            return None
        return _read_state(workdir)


def down(workdir: Path, timeout: float = 30) -> bool:
    """Stop the sandbox daemon running in workdir; True if one was running. Cleans a dead sandbox's leftovers."""
    workdir = workdir.absolute()
    if not workdir.is_dir():
        return False
    with _control(workdir, timeout):
        if not in_use(workdir):
            _clean_stale(workdir)
            return False
        deadline = time.monotonic() + timeout
        state = _read_state(workdir)
        while state is None and time.monotonic() < deadline:  # a daemon still starting writes it when ready
            time.sleep(0.1)
            state = _read_state(workdir)
        if state is None:
            raise SandboxError(
                f"the sandbox running in {workdir} has no {STATE_FILE}: it was not started by"
                " `python -m golive.sandbox serve`; stop it where it was started"
            )
        pid = state["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _released(workdir, deadline):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _released(workdir, time.monotonic() + 5):
                raise SandboxError(f"the sandbox daemon (pid {pid}) in {workdir} did not stop")
        _clean_stale(workdir)
        return True


def _released(workdir: Path, deadline: float) -> bool:
    """Wait until no sandbox holds workdir's lock; False if one still does at deadline."""
    while in_use(workdir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def deploy(workdir: Path, timeout: float = 15) -> dict[str, Any]:
    """Play the rolling deploy on the sandbox daemon running in workdir: every instance then serves the new
    release and the jobs paused for the go-live run again (the sandbox's rollout.deploy()). Returns the state.

    SandboxError when no sandbox runs there or it does not confirm within timeout. Deploying twice is a no-op.
    """
    workdir = workdir.absolute()
    if not workdir.is_dir():
        raise SandboxError(f"no sandbox is running in {workdir}")
    with _control(workdir, timeout):
        state = _read_state(workdir) if in_use(workdir) else None
        if state is None:
            raise SandboxError(f"no sandbox is running in {workdir} (start one: golive sandbox up --dir {workdir})")
        if state.get("deployed"):
            return state
        os.kill(state["pid"], signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = _read_state(workdir)
            if state is not None and state.get("deployed"):
                return state
            time.sleep(0.05)
        raise SandboxError(f"the sandbox in {workdir} did not confirm the deploy within {timeout:.0f} s")
