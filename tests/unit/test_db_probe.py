"""Database probes against real PostgreSQL (the sandbox's primary and streaming replica)."""

import re

import psycopg
import pytest

from golive.config import DatabaseSettings
from golive.outcomes import ProbeError
from golive.probes.db import (
    inspect_archiving,
    inspect_connection,
    inspect_replication,
    inspect_standby,
    read_only_session,
    sslmode_of,
)
from golive.sandbox import Sandbox
from golive.secrets import Secret

SETTINGS = DatabaseSettings(min_sslmode="verify-full", expected_replicas=["walreceiver"])


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("dbprobe")) as sandbox:
        yield sandbox


@pytest.fixture
def url(box):
    return Secret("DATABASE_URL", box.environ()["DATABASE_URL"])


def test_session_is_read_only_and_encrypted(url):
    with read_only_session(url, SETTINGS) as session:
        report = inspect_connection(session, sslmode_of(url), SETTINGS)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.conn.execute("insert into users (username, password_hash) values ('x', 'y')")
    assert report.problems == ()
    assert (report.ssl, report.sslmode, report.read_only) == (True, "verify-full", "on")
    assert report.tls_version in ("TLSv1.2", "TLSv1.3")
    assert report.server_version.startswith("15.")


def test_weaker_sslmode_than_the_minimum_is_a_problem(url):
    with read_only_session(url, SETTINGS) as session:
        report = inspect_connection(session, "require", SETTINGS)
    assert report.problems == ("DATABASE_URL sslmode=require, expected verify-full or stronger",)


def test_tls_version_below_the_minimum_is_a_problem(box):
    url = Secret("DATABASE_URL", box.environ()["DATABASE_URL"] + "&ssl_max_protocol_version=TLSv1.2")
    strict = SETTINGS.model_copy(update={"min_tls_version": "TLSv1.3"})
    with read_only_session(url, strict) as session:
        report = inspect_connection(session, "verify-full", strict)
    assert report.problems == ("session uses TLSv1.2, expected TLSv1.3 or newer",)


def test_connect_errors_are_one_line_without_the_password(box):
    good = box.environ()["DATABASE_URL"]
    wrong = Secret("DATABASE_URL", re.sub(r"//app:[^@]+@", "//app:NotThePassw0rd@", good))
    with pytest.raises(ProbeError) as caught, read_only_session(wrong, SETTINGS):
        pass
    message = str(caught.value)
    assert 'password authentication failed for user "app"' in message
    assert "NotThePassw0rd" not in message
    assert "\n" not in message


def test_archiving_is_healthy(url):
    with read_only_session(url, SETTINGS) as session:
        report = inspect_archiving(session, SETTINGS)
    assert report.problems == ()
    assert report.settings["wal_level"] == "replica"
    assert report.archived_count >= 1


@pytest.mark.parametrize(
    ("fault", "phrase"),
    [
        ("pitr-archive-noop", "archive_command = '/bin/true' archives nothing"),
        ("archiver-failing", "archiver failing: "),
    ],
)
def test_archiving_faults_are_seen(box, url, fault, phrase):
    box.set_faults([fault])
    try:
        with read_only_session(url, SETTINGS) as session:
            report = inspect_archiving(session, SETTINGS)
    finally:
        box.set_faults(())
    assert len(report.problems) == 1
    assert phrase in report.problems[0]


def test_replica_streams_within_the_thresholds(box, url):
    with read_only_session(url, SETTINGS) as session:
        report = inspect_replication(session, SETTINGS)
    assert report.problems == ()
    assert [r.name for r in report.replicas] == ["walreceiver"]
    replica = Secret("DATABASE_REPLICA_URL", box.environ()["DATABASE_REPLICA_URL"])
    with read_only_session(replica, SETTINGS) as session:
        standby = inspect_standby(session, SETTINGS)
    assert (standby.in_recovery, standby.problems) == (True, ())


def test_an_expected_replica_that_is_absent_is_a_failure_not_zero_lag(url):
    settings = SETTINGS.model_copy(update={"expected_replicas": ["walreceiver", "reporting"]})
    with read_only_session(url, settings) as session:
        report = inspect_replication(session, settings)
    assert report.missing == ("reporting",)
    assert report.problems == ("expected replica(s) reporting missing from pg_stat_replication (present: walreceiver)",)


def test_paused_replay_is_lag_on_both_sides(box, url):
    settings = SETTINGS.model_copy(update={"max_replay_lag_bytes": 1024 * 1024, "max_replay_lag_s": 0.001})
    box.set_faults(["replica-lagging"])
    try:
        with read_only_session(url, settings) as session:
            report = inspect_replication(session, settings)
        replica = Secret("DATABASE_REPLICA_URL", box.environ()["DATABASE_REPLICA_URL"])
        with read_only_session(replica, settings) as session:
            standby = inspect_standby(session, settings)
    finally:
        box.set_faults(())
    assert any(p.startswith("replica walreceiver replay lag ") and "MiB" in p for p in report.problems), report
    assert standby.paused
    assert standby.problems
    assert "replay paused" in standby.problems[0]


def test_the_primary_is_not_a_replica(url):
    with read_only_session(url, SETTINGS) as session:
        standby = inspect_standby(session, SETTINGS)
    assert standby.problems[0].endswith("is not in recovery: it is a primary, not a replica")
