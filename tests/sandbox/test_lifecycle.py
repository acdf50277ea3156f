"""A Sandbox object's own start and stop: what stays in its directory, and that PostgreSQL is gone after."""

from __future__ import annotations

import time

import pytest

from golive.sandbox import Sandbox, SandboxError
from tests.sandbox.processes import postmasters, wait_gone


def test_stop_is_idempotent_keeps_the_ca_and_leaves_no_postgres(tmp_path, start_times):
    box = Sandbox(tmp_path / "box", faults=["canary-unhealthy"])
    with pytest.raises(SandboxError, match="not running"):
        box.environ()
    started = time.perf_counter()
    with box:
        start_times.append(f"second in-process sandbox started in {time.perf_counter() - started:.2f} s")
        cluster = (box.workdir / "postgres").resolve()
        running = postmasters(box.workdir)
        assert len(running) == 2
        assert box.environ()["GOLIVE_SANDBOX_DIR"] == str(box.workdir)
    box.stop()
    assert wait_gone(running) == []
    assert not cluster.exists()
    assert not (box.workdir / "postgres").exists()
    assert (box.workdir / "ca.pem").is_file()
    with pytest.raises(SandboxError, match="not running"):
        box.environ()


def test_each_sandbox_has_fresh_secrets(sandbox, tmp_path):
    other = Sandbox(tmp_path / "other").secrets
    mine = sandbox.secrets
    assert other.razorpay_key_secret != mine.razorpay_key_secret
    assert other.database.app != mine.database.app
    assert mine.razorpay_webhook_secret != mine.razorpay_key_secret
