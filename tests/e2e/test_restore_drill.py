"""`golive restore-drill` really restores the sandbox's latest nightly dump into a scratch PostgreSQL, checks it,
times it and writes the record DB-05 reads; a dump that cannot be restored gives a failed record."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from golive.probes.restore import judge_restore_record
from tests.e2e.harness import ROOT, clean_environ


def drill(sandbox, record, env="sandbox"):
    command = [sys.executable, "-m", "golive.cli", "restore-drill", f"--env={env}", f"--record={record}"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=clean_environ(sandbox.environ()), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    return done, time.monotonic() - started


def test_restore_drill_restores_checks_and_records(healthy, tmp_path):
    record = tmp_path / "restore.json"
    done, seconds = drill(healthy, record)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(record.read_text())
    assert doc["result"] == "ok", doc
    assert doc["backup"] == max(p.name for p in (healthy.workdir / "backups").glob("*.dump"))
    assert doc["row_counts"]["users"] == 1
    assert doc["checks"] == [{"table": "users", "restored": 1, "source_estimate": 1, "ok": True}]
    assert doc["target"].startswith("scratch PostgreSQL 15")
    assert judge_restore_record(record, datetime.now(UTC), 7).problem is None
    assert "golive restore-drill: OK" in done.stdout
    print(f"restore drill on the sandbox: {doc['duration_s']} s inside, {seconds:.2f} s for the command")
    assert not list((tmp_path).glob("*.tmp"))


def test_an_unrestorable_dump_gives_a_failed_record(healthy, tmp_path):
    record = tmp_path / "restore.json"
    healthy.set_faults(["backup-unreadable"])
    try:
        done, _ = drill(healthy, record)
    finally:
        healthy.set_faults(())
    assert done.returncode == 1
    doc = json.loads(record.read_text())
    assert doc["result"] == "failed"
    assert doc["detail"].startswith("pg_restore of ")
    problem = judge_restore_record(record, datetime.now(UTC), 7).problem
    assert "has result 'failed' (pg_restore of " in problem


def test_no_environment_is_a_usage_error(healthy, tmp_path):
    done = subprocess.run([sys.executable, "-m", "golive.cli", "restore-drill"], cwd=ROOT,
                          env=clean_environ({}), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 4
    assert "no environment" in done.stdout
