"""The sandbox's backups, restore record, migrations and database faults: real, and fully undone when switched off."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest

from golive.sandbox.dbfaults import SERVER_FAULTS
from golive.sandbox.migrations import FAULT_FILES, HEALTHY


def superuser(sandbox, dbname="postgres", port=None):
    pg = sandbox.postgres
    return psycopg.connect(pg.superuser_conninfo(port or pg.primary_port, dbname), autocommit=True)


def healthy_state(sandbox) -> dict:
    with superuser(sandbox) as conn:
        archive_command = conn.execute("show archive_command").fetchone()[0]
        streaming = conn.execute(
            "select count(*) from pg_stat_replication where state = 'streaming' and replay_lsn is not null"
        ).fetchone()[0]
        open_transactions = conn.execute(
            "select count(*) from pg_stat_activity where datname = 'app' and xact_start is not null"
            " and backend_type = 'client backend'"
        ).fetchone()[0]
    with superuser(sandbox, port=sandbox.postgres.replica_port) as replica:
        paused = replica.execute("select pg_is_wal_replay_paused()").fetchone()[0]
    with superuser(sandbox, "app") as app:
        fault_rows = app.execute("select count(*) from webhook_events where event_id like 'evt_golive_fault_%'")
        fault_rows = fault_rows.fetchone()[0]
    hba = (sandbox.postgres.primary_dir / "pg_hba.conf").read_text()
    return {
        "archive_command": archive_command.startswith("test ! -f "),
        "streaming": streaming,
        "open_transactions": open_transactions,
        "replay_paused": paused,
        "fault_rows": fault_rows,
        "plain_tcp": "golive fault" in hba,
        "dumps": len(list((sandbox.workdir / "backups").glob("*.dump"))),
        "migrations": sorted(p.name for p in (sandbox.workdir / "migrations").glob("*.sql")),
        "record": json.loads((sandbox.workdir / "restore" / "last-restore.json").read_text())["result"],
    }


HEALTHY_STATE = {
    "archive_command": True, "streaming": 1, "open_transactions": 0, "replay_paused": False, "fault_rows": 0,
    "plain_tcp": False, "dumps": 35, "migrations": sorted(HEALTHY), "record": "ok",
}  # fmt: skip


def test_nightly_dumps_are_real_archives(sandbox):
    dumps = sorted((sandbox.workdir / "backups").glob("*.dump"))
    assert len(dumps) == 35
    for dump in (dumps[0], dumps[-1]):
        done = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "TABLE DATA public users" in done.stdout


def test_the_applied_migrations_table_is_readable_by_the_app_role(env):
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select name from migrations.applied").fetchall() == [("0001_init",)]


@pytest.mark.parametrize(
    "fault",
    [*SERVER_FAULTS, "db-url-tls-optional", "backup-stale", "backup-unreadable", "backup-data-truncated",
     "backup-dated-in-future", "backup-empty-nights", "restore-record-failed", *FAULT_FILES],
)  # fmt: skip
def test_a_fault_is_undone_when_switched_off(sandbox, fault):
    sandbox.set_faults([fault])
    sandbox.set_faults(())
    assert healthy_state(sandbox) == HEALTHY_STATE
    assert "sslmode=verify-full" in sandbox.environ()["DATABASE_URL"]


def test_url_faults_edit_only_the_sslmode(sandbox):
    healthy = sandbox.environ()["DATABASE_URL"]
    sandbox.set_faults(["db-without-tls"])
    try:
        edited = sandbox.environ()["DATABASE_URL"]
        with psycopg.connect(edited) as conn:  # the server really accepts it in plain text now
            assert conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone() == (False,)
    finally:
        sandbox.set_faults(())
    assert edited.split("?")[0] == healthy.split("?")[0]
    assert edited.endswith("sslmode=disable")
