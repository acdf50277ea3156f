"""1) Environment validation: the database (TLS, read-only session, backups, PITR, restore drill);
5) Zero-downtime go-live: the final backup before launch and replica lag after it."""

from datetime import UTC, datetime

import pytest

from golive.outcomes import not_verified
from golive.probes.backups import judge_latest, judge_retention
from golive.probes.db import (
    AMBIGUOUS_NAME,
    DEFAULT_APPLICATION_NAME,
    inspect_connection,
    inspect_replication,
    measure_standby,
    sslmode_of,
)
from golive.probes.restore import judge_restore_record


@pytest.mark.preflight
@pytest.mark.postlaunch
@pytest.mark.item("DB-01")
def test_database_tls_and_read_only(target_db, database_url, database, evidence):
    """DATABASE_URL connects within the timeout, asks for TLS, the session really is encrypted and read-only."""
    report = inspect_connection(target_db, sslmode_of(database_url), database)
    expected = {"sslmode": f">= {database.min_sslmode}", "tls_version": f">= {database.min_tls_version}",
                "default_transaction_read_only": "on"}  # fmt: skip
    evidence.record(f"database {report.where}", report.measured, expected, ok=not report.problems)
    assert not report.problems, f"database {report.where}: " + "; ".join(report.problems)


@pytest.mark.preflight
@pytest.mark.item("DB-02")
def test_latest_backup_fresh_and_readable(backups, latest_restorable, database, evidence):
    """The latest nightly backup was taken in the past, less than database.backup_max_age_h ago, and can be restored
    (pg_restore reads all of a dump, or its table of contents with verify = "toc"; RDS reports a snapshot
    available; pgBackRest took it without errors and its stanza is ok)."""
    limit = database.backup_max_age_h
    report = judge_latest(backups, datetime.now(UTC), latest_restorable, limit, f"limit {limit:g} h")
    evidence.record(report.subject, report.measured, report.expected, ok=not report.problems)
    assert not report.problems, "; ".join(report.problems)


@pytest.mark.preflight
@pytest.mark.item("DB-03")
def test_backups_retained_without_missed_nights(backups, database, evidence):
    """The oldest kept backup is at least database.retention_days old and no night in that window is missing (a
    service that keeps backups by its own setting, RDS, is set to keep them that long)."""
    report = judge_retention(backups, datetime.now(UTC), database.retention_days)
    evidence.record(f"backups in {backups.where}", report.measured, report.expected, ok=not report.problems)
    assert not report.problems, "; ".join(report.problems)


@pytest.mark.preflight
@pytest.mark.item("DB-04")
def test_point_in_time_recovery(pitr, database, evidence):
    """wal_level >= replica, archive_mode on, a real archive command, and pg_stat_archiver healthy; on RDS,
    automated backups on and LatestRestorableTime recent."""
    evidence.record(pitr.what, pitr.measured, pitr.expected, ok=not pitr.problems)
    assert not pitr.problems, "; ".join(pitr.problems)


@pytest.mark.preflight
@pytest.mark.item("DB-05")
def test_restore_drill_recent(restore_record, database, evidence):
    """The restore job's record shows a successful restore within database.restore_max_age_days."""
    verdict = judge_restore_record(restore_record, datetime.now(UTC), database.restore_max_age_days)
    evidence.record(
        "restore record", verdict.measured, {"age_days": f"<= {database.restore_max_age_days:g}", "result": "ok"},
        ok=verdict.problem is None,
    )  # fmt: skip
    assert verdict.problem is None, verdict.problem


@pytest.mark.preflight
@pytest.mark.item("LIVE-02")
def test_final_backup_before_launch(backups, latest_restorable, database, evidence):
    """A backup was taken within the pre-launch window (database.prelaunch_window_h), and it can be restored (as
    DB-02 reads it), from a source with nothing wrong with itself."""
    window = database.prelaunch_window_h
    limit = f"expected one within the pre-launch window of {window:g} h"
    report = judge_latest(backups, datetime.now(UTC), latest_restorable, window, limit)
    evidence.record(report.subject, report.measured, report.expected, ok=not report.problems)
    assert not report.problems, "; ".join(report.problems)


@pytest.mark.postlaunch
@pytest.mark.item("POST-01")
def test_replica_lag(target_db, replica_url, database, evidence):
    """Every expected replica streams from the primary within the lag thresholds (and, with
    DATABASE_REPLICA_URL, the replica itself streams from the primary, has heard from it recently and has replayed
    what it received)."""
    report = inspect_replication(target_db, database)
    for r in report.replicas:
        evidence.record(
            f"replica {r.name} ({r.client})",
            {"state": r.state, "sync_state": r.sync_state, "replay_lag_s": r.replay_lag_s,
             "replay_lag_bytes": r.replay_lag_bytes},
            {"state": "streaming", "replay_lag_s": f"<= {database.max_replay_lag_s:g}",
             "replay_lag_bytes": f"<= {database.max_replay_lag_bytes}"},
        )  # fmt: skip
    if report.missing:
        evidence.record("expected replicas", {"missing": list(report.missing)}, {"missing": []}, ok=False)
    if DEFAULT_APPLICATION_NAME in database.expected_replicas:
        evidence.record("replica names", {"warning": AMBIGUOUS_NAME})
    if not database.expected_replicas and not report.replicas and replica_url is None:
        not_verified("no replica expected (database.expected_replicas) and DATABASE_REPLICA_URL is not set")
    problems = list(report.problems)
    if replica_url is not None:
        standby = measure_standby(replica_url, database, primary_failed=bool(problems))
        evidence.record(f"replica {standby.where}", standby.measured, standby.expected(database),
                        ok=not standby.problems)  # fmt: skip
        problems += standby.problems
    assert not problems, "; ".join(problems)
