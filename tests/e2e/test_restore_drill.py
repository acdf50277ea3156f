"""`golive restore-drill` really restores the sandbox's latest nightly dump into a scratch PostgreSQL, or into a
database of its own on a staging server (a scratch cluster of its own plays staging, reached over TCP as a role with
CREATEDB), checks it, times it and writes the record DB-05 reads; a dump that cannot be restored or a restore that
fails its sanity checks gives a failed record, and the staging database is dropped in every case. The production
server under another name is refused as staging, and the refusal is a failed record."""

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from golive.probes.restore import judge_restore_record
from golive.sandbox.postgres import HOST
from golive.scratch import ScratchPostgres
from tests.e2e.harness import ROOT, clean_environ
from tests.e2e.test_bad_input import env_file

STAGING_ROLE = "golive_drill"


def drill(sandbox, record, env="sandbox", **extra):
    command = [sys.executable, "-m", "golive.cli", "restore-drill", f"--env={env}", f"--record={record}"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=clean_environ({**sandbox.environ(), **extra}), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    return done, time.monotonic() - started


def drill_databases(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("select datname from pg_database where datname like 'golive_restore_%'").fetchall()
    return [row[0] for row in rows]


@pytest.fixture(scope="module")
def staging_server() -> Iterator[ScratchPostgres]:
    """A server of its own plays staging: the drill refuses DATABASE_URL's server in every tier."""
    with ScratchPostgres() as server:
        yield server


@pytest.fixture
def staging(staging_server) -> Iterator[str]:
    """RESTORE_TARGET_URL for the staging server: a role that may create databases, with a SCRAM password."""
    password = secrets.token_urlsafe(18)
    admin = staging_server.conninfo("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login createdb password {}").format(sql.Identifier(STAGING_ROLE),
                                                                                sql.Literal(password)))  # fmt: skip
    try:
        yield f"postgresql://{STAGING_ROLE}:{password}@{HOST}:{staging_server.port}/postgres?sslmode=disable"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in drill_databases(admin):
                conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(STAGING_ROLE)))


def test_restore_drill_restores_checks_and_records(healthy, tmp_path):
    record = tmp_path / "restore.json"
    done, seconds = drill(healthy, record)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(record.read_text())
    assert doc["result"] == "ok", doc
    assert doc["backup"] == max(p.name for p in (healthy.workdir / "backups").glob("*.dump"))
    assert doc["row_counts"]["public.users"] == 1
    assert doc["checks"] == [{"table": "public.users", "restored": 1, "source_estimate": 1, "ok": True}]
    assert doc["checked"] == (
        "1 table(s) of database.restore_tables non-empty and within 10% of the source's statistics"
    )
    assert doc["target"].startswith("scratch PostgreSQL 15")
    assert judge_restore_record(record, datetime.now(UTC), 7).problem is None
    assert "golive restore-drill: OK" in done.stdout
    print(f"restore drill on the sandbox: {doc['duration_s']} s inside, {seconds:.2f} s for the command")
    assert not list((tmp_path).glob("*.tmp"))


def drill_an_unrestorable_dump(healthy, record, **environ) -> dict:
    """The drill of a dump cut short: it exits 1 and records a failed pg_restore; the record."""
    healthy.set_faults(["backup-unreadable"])
    try:
        done, _ = drill(healthy, record, **environ)
    finally:
        healthy.set_faults(())
    assert done.returncode == 1
    doc = json.loads(record.read_text())
    assert doc["result"] == "failed"
    assert doc["detail"].startswith("pg_restore of ")
    return doc


def test_an_unrestorable_dump_gives_a_failed_record(healthy, tmp_path):
    record = tmp_path / "restore.json"
    drill_an_unrestorable_dump(healthy, record)
    problem = judge_restore_record(record, datetime.now(UTC), 7).problem
    assert "has result 'failed' (pg_restore of " in problem


def test_a_restore_that_fails_its_sanity_checks_gives_a_failed_record(healthy, tmp_path):
    record = tmp_path / "restore.json"
    env = env_file(tmp_path, **{'restore_tables = ["users"]': 'restore_tables = ["users", "orders", "audit.log"]'})
    done, _ = drill(healthy, record, env)
    assert done.returncode == 1
    doc = json.loads(record.read_text())
    assert (doc["result"], doc["detail"]) == (
        "failed", "table public.orders is empty after the restore; table audit.log is missing from the restored "
        "database")  # fmt: skip
    assert "  checked: 3 table(s) of database.restore_tables non-empty" in done.stdout
    problem = judge_restore_record(record, datetime.now(UTC), 7).problem
    assert "table public.orders is empty after the restore" in problem


def test_the_drill_restores_into_its_own_database_on_staging_and_drops_it(healthy, staging, staging_server, tmp_path):
    record = tmp_path / "restore.json"
    done, seconds = drill(healthy, record, RESTORE_TARGET_URL=staging)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(record.read_text())
    assert doc["result"] == "ok", doc
    print(f"restore drill into staging: {doc['duration_s']} s inside, {seconds:.2f} s for the command")
    assert doc["target"].startswith(f"staging {HOST}:{staging_server.port} database golive_restore_")
    assert doc["target"].endswith(" (created for the drill, dropped after)")
    assert doc["production_check"].startswith("RESTORE_TARGET_URL's server is not DATABASE_URL's (system identifier ")
    assert "  production check: RESTORE_TARGET_URL's server is not DATABASE_URL's" in done.stdout
    assert doc["checks"] == [{"table": "public.users", "restored": 1, "source_estimate": 1, "ok": True}]
    assert drill_databases(staging_server.conninfo("postgres")) == []
    assert urlsplit(staging).password not in done.stdout + done.stderr + record.read_text()


def test_a_failed_drill_on_staging_still_drops_its_database(healthy, staging, staging_server, tmp_path):
    doc = drill_an_unrestorable_dump(healthy, tmp_path / "restore.json", RESTORE_TARGET_URL=staging)
    assert doc["target"].startswith("staging ")
    assert drill_databases(staging_server.conninfo("postgres")) == []


def test_a_staging_role_that_may_not_create_databases_is_one_line(healthy, staging, staging_server, tmp_path):
    with psycopg.connect(staging_server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("alter role {} nocreatedb").format(sql.Identifier(STAGING_ROLE)))
    record = tmp_path / "restore.json"
    done, _ = drill(healthy, record, RESTORE_TARGET_URL=staging)
    assert done.returncode == 1
    doc = json.loads(record.read_text())
    assert doc["detail"].startswith(f"RESTORE_TARGET_URL at {HOST}:{staging_server.port}/postgres: "
                                    "cannot create database golive_restore_")  # fmt: skip
    assert doc["detail"].endswith(": permission denied to create database")
    assert "Traceback" not in done.stdout + done.stderr


def test_the_production_server_under_another_name_is_refused_and_recorded_as_a_failed_drill(healthy, tmp_path):
    """DATABASE_URL's server reached as localhost instead of 127.0.0.1, in the sandbox's (non-production) tier: the
    same cluster (system identifier), so the drill refuses before creating anything, and says so in its record."""
    production = healthy.environ()["DATABASE_URL"]
    record = tmp_path / "restore.json"
    done, _ = drill(healthy, record, RESTORE_TARGET_URL=production.replace("@127.0.0.1:", "@localhost:"))
    assert done.returncode == 1
    doc = json.loads(record.read_text())
    assert doc["result"] == "failed"
    assert doc["detail"].startswith("RESTORE_TARGET_URL reaches the production server: its system identifier ")
    assert doc["target"] == f"staging localhost:{healthy.postgres.primary_port}/app"
    assert judge_restore_record(record, datetime.now(UTC), 7).problem.startswith("last restore drill (")
    pg = healthy.postgres
    assert drill_databases(pg.superuser_conninfo(pg.primary_port)) == []
    assert urlsplit(production).password not in done.stdout + done.stderr + record.read_text()


def test_no_environment_is_a_usage_error(healthy, tmp_path):
    done = subprocess.run([sys.executable, "-m", "golive.cli", "restore-drill"], cwd=ROOT,
                          env=clean_environ({}), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 4
    assert "no environment" in done.stdout
