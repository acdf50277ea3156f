"""Database probes against real PostgreSQL (the sandbox's primary and streaming replica)."""

import os
import re
import signal
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest

from golive.config import DatabaseSettings
from golive.outcomes import ProbeError
from golive.probes.db import (
    ArchivingReport,
    StandbyReport,
    archive_command_is_noop,
    archive_failure_swallowed,
    conninfo_of,
    inspect_archiving,
    inspect_connection,
    inspect_replication,
    inspect_standby,
    judge_archiving,
    judge_standby,
    measure_standby,
    missing_replicas,
    read_only_session,
    server_of,
    sslmode_of,
)
from golive.sandbox import Sandbox
from golive.scratch import ScratchPostgres
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


def test_options_in_the_url_are_kept_and_cannot_undo_read_only(url):
    """The URL's own options (a search_path) still apply; one that turns read-only off is overridden by golive's."""
    given = "-c search_path=pg_catalog -c default_transaction_read_only=off"
    with_options = Secret("DATABASE_URL", f"{url.reveal()}&options={quote(given)}")
    with read_only_session(with_options, SETTINGS) as session:
        assert session.row("show search_path") == ("pg_catalog",)
        assert session.row("show default_transaction_read_only") == ("on",)
        assert session.row("show statement_timeout") == ("10s",)


PASSWORD = "Sup3rS3cret"


@pytest.mark.parametrize(
    "written",
    [f"{PASSWORD}@Pass", f"{PASSWORD}/Pass", f"Pass@{PASSWORD}", f"{PASSWORD}#Pass"],
)
def test_a_password_libpq_would_misread_is_refused_before_connecting(written):
    """libpq splits a URL at the first '@' (a '/' ends the user part), URL parsers at the last: part of the
    password would become the host, port or database, and messages would show it. golive names the variable only."""
    url = Secret("DATABASE_URL", f"postgresql://app:{written}@db.internal:5432/app?sslmode=verify-full")
    assert server_of(url) == "DATABASE_URL"
    with pytest.raises(ProbeError) as caught, read_only_session(url, SETTINGS):
        pass
    assert str(caught.value) == (
        "DATABASE_URL: password not percent-encoded (write @ as %40, / as %2F, ? as %3F, # as %23): libpq would take "
        "part of it for the host, port or database"
    )
    encoded = Secret("DATABASE_URL", f"postgresql://app:{quote(written, safe='')}@db.internal:5432/app")
    assert server_of(encoded) == "db.internal:5432/app"
    assert conninfo_of(encoded)["password"] == written


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
        ("pitr-archive-failure-swallowed", "does not archive reliably: `|| true` turns its failure into success"),
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
    with read_only_session(replica_url(box), SETTINGS) as session:
        standby = inspect_standby(session, SETTINGS)
    assert (standby.in_recovery, standby.receiver, standby.problems) == (True, "streaming", ())
    assert 0 <= standby.last_msg_age_s <= SETTINGS.max_receiver_silence_s


def replica_url(box) -> Secret:
    return Secret("DATABASE_REPLICA_URL", box.environ()["DATABASE_REPLICA_URL"])


def caught_up(box) -> None:
    """Wait (bounded) until the replica has replayed everything it received and heard from the primary lately."""
    deadline = time.monotonic() + 10
    with psycopg.connect(box.environ()["DATABASE_REPLICA_URL"], autocommit=True) as conn:
        while conn.execute("select pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn()").fetchone()[0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


def test_a_caught_up_idle_replica_passes_even_a_tiny_lag_threshold(box):
    tiny = SETTINGS.model_copy(update={"max_replay_lag_s": 0.001})
    caught_up(box)
    with read_only_session(replica_url(box), tiny) as session:
        standby = inspect_standby(session, tiny)
    assert (standby.lag_s, standby.problems) == (0.0, ())
    assert standby.receive_lsn == standby.replay_lsn


def test_a_replica_whose_receiver_is_disconnected_fails_although_received_equals_replayed(box):
    tiny = SETTINGS.model_copy(update={"max_replay_lag_s": 0.001})
    box.set_faults(["replica-receiver-disconnected"])
    try:
        caught_up(box)
        with read_only_session(replica_url(box), tiny) as session:
            standby = inspect_standby(session, tiny)
    finally:
        box.set_faults(())
    assert (standby.in_recovery, standby.lag_s, standby.receive_lsn) == (True, 0.0, standby.replay_lsn)
    assert len(standby.problems) == 1
    assert standby.problems[0].startswith("replica WAL receiver ")
    assert standby.problems[0].endswith("expected streaming")


def test_a_hung_receiver_that_has_not_heard_from_the_primary_lately_fails(box):
    """SIGSTOP on the WAL receiver: pg_stat_wal_receiver still says streaming, but no message arrives."""
    with psycopg.connect(box.postgres.superuser_conninfo(box.postgres.replica_port), autocommit=True) as conn:
        (pid,) = conn.execute("select pid from pg_stat_wal_receiver").fetchone()
    quick = SETTINGS.model_copy(update={"max_receiver_silence_s": 0.5})
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(1.0)
        with read_only_session(replica_url(box), quick) as session:
            standby = inspect_standby(session, quick)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert standby.receiver == "streaming"
    assert standby.last_msg_age_s >= 1.0
    assert standby.problems == (
        f"replica WAL receiver last heard from the primary {standby.last_msg_age_s:.1f} s ago "
        "(pg_stat_wal_receiver.last_msg_receipt_time), limit 0.5 s",
    )


def test_an_expected_replica_that_is_absent_is_a_failure_not_zero_lag(url):
    settings = SETTINGS.model_copy(update={"expected_replicas": ["walreceiver", "reporting"]})
    with read_only_session(url, settings) as session:
        report = inspect_replication(session, settings)
    assert report.missing == ("reporting",)
    assert report.problems == ("expected replica(s) reporting missing from pg_stat_replication (present: walreceiver)",)


def test_replicas_expected_under_one_name_are_counted(url):
    """Two standbys both named walreceiver (the default), one of them down: pg_stat_replication has one row of
    that name, which is one missing, not a match."""
    settings = SETTINGS.model_copy(update={"expected_replicas": ["walreceiver", "walreceiver"]})
    with read_only_session(url, settings) as session:
        report = inspect_replication(session, settings)
    assert report.missing == ("walreceiver (2 expected, 1 present)",)
    assert report.problems == (
        "expected replica(s) walreceiver (2 expected, 1 present) missing from pg_stat_replication "
        "(present: walreceiver)",
    )


@pytest.mark.parametrize(
    ("expected", "present", "missing"),
    [
        (["a", "b"], ["b", "a"], ()),
        (["a", "a"], ["a"], ("a (2 expected, 1 present)",)),
        (["a", "a", "b"], ["a", "a", "a"], ("b",)),
        (["a"], [], ("a",)),
        ([], ["a"], ()),
    ],
)
def test_missing_replicas_are_counted_per_name(expected, present, missing):
    assert missing_replicas(expected, present) == missing


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


# --- POST-01's verdict on what a replica reported, and a replica that cannot be reached


def standby(**measured) -> StandbyReport:
    fields = {"in_recovery": True, "receive_lsn": "0/3000060", "replay_lsn": "0/3000060", "lag_s": 0.0,
              "receiver": "streaming", "last_msg_age_s": 2.0, **measured}  # fmt: skip
    return StandbyReport("127.0.0.1:5433/app", **fields)


@pytest.mark.parametrize(
    ("measured", "problem"),
    [
        ({}, None),
        ({"receiver": None}, "replica WAL receiver not running (no row in pg_stat_wal_receiver; received 0/3000060, "
                             "replayed 0/3000060): it receives nothing from the primary, so no lag shows; expected "
                             "streaming"),
        ({"receiver": "waiting"}, "replica WAL receiver is waiting (pg_stat_wal_receiver.status), expected streaming"),
        ({"last_msg_age_s": 75.0}, "replica WAL receiver last heard from the primary 75.0 s ago "
                                   "(pg_stat_wal_receiver.last_msg_receipt_time), limit 60 s"),
        ({"lag_s": None, "replay_lsn": None}, "replica replay lag unknown (nothing replayed yet) (received 0/3000060, "
                                              "replayed None), threshold 30 s"),
        ({"in_recovery": False}, "DATABASE_REPLICA_URL at 127.0.0.1:5433/app is not in recovery: it is a primary, "
                                 "not a replica"),
    ],
)  # fmt: skip
def test_judge_standby(measured, problem):
    assert judge_standby(standby(**measured), DatabaseSettings(), "DATABASE_REPLICA_URL") == (
        (problem,) if problem else ()
    )


def test_an_unreachable_replica_is_an_error_unless_the_primary_already_failed_the_item():
    from tests.netutil import closed_port

    url = Secret("DATABASE_REPLICA_URL", f"postgresql://app:pw@127.0.0.1:{closed_port()}/app")
    with pytest.raises(ProbeError, match=r"^DATABASE_REPLICA_URL at 127.0.0.1:\d+/app: connection to server"):
        measure_standby(url, SETTINGS, primary_failed=False)
    report = measure_standby(url, SETTINGS, primary_failed=True)
    assert (report.reached, report.measured) == (False, {"reached": False})
    assert report.problems[0].startswith("replica not measured: DATABASE_REPLICA_URL at 127.0.0.1:")


# --- DB-04's verdict on the archiver


@pytest.mark.parametrize(
    "command",
    ["", "(disabled)", "/bin/true", "true %p", "/bin/true %p", "/usr/bin/true", "exit 0", "exit 0;", "exit", ":",
     "echo %p", "printf '%s\\n' %p", "true; exit 0", "ARCHIVE=1 true", "exit 0; cp %p /archive/%f"],
)  # fmt: skip
def test_archive_commands_that_archive_nothing(command):
    assert archive_command_is_noop(command)


@pytest.mark.parametrize(
    "command",
    ["test ! -f /archive/%f && cp %p /archive/%f", "exit 1", "echo %p > /archive/%f", "echo %p | gzip > /a/%f.gz",
     "true && cp %p /archive/%f", "pgbackrest --stanza=main archive-push %p", "wal-g wal-push %p",
     'cp %p "/archive dir/%f"', "rsync -a %p backup:/wal/%f 2>&1", "true\ncp %p /archive/%f", 'echo "unclosed'],
)  # fmt: skip
def test_archive_commands_that_do_something(command):
    assert not archive_command_is_noop(command)


@pytest.mark.parametrize(
    ("command", "tail"),
    [("cp %p /mnt/wal/%f || true", "|| true"), ("cp %p /mnt/wal/%f; true", "; true"),
     ("cp %p /mnt/wal/%f || :", "|| :"), ("cp %p /mnt/wal/%f; exit 0", "; exit 0"),
     ("cp %p /mnt/wal/%f || exit 0; sync", "|| exit 0"), ("cp %p /mnt/wal/%f || /bin/true", "|| /bin/true"),
     ("(cp %p /mnt/wal/%f || true)", "|| true"), ("cp %p /mnt/wal/%f || echo failed", "|| echo failed"),
     ("cp %p /mnt/wal/%f\ntrue", "; true"), ("gzip < %p > /w/%f.gz | true", "| true")],
)  # fmt: skip
def test_archive_commands_that_swallow_their_failure(command, tail):
    assert archive_failure_swallowed(command) == tail


@pytest.mark.parametrize(
    "command",
    ["test ! -f /archive/%f && cp %p /archive/%f", "cp %p /w/%f && true", "mkdir -p /w; cp %p /w/%f",
     "cp %p /w/%f; exit", "cp %p /w/%f || exit 1", "pgbackrest --stanza=main archive-push %p", 'echo "unclosed', ""],
)  # fmt: skip
def test_archive_commands_whose_exit_status_is_the_copys(command):
    assert archive_failure_swallowed(command) is None


T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def archiving(**fields) -> ArchivingReport:
    conf = {"wal_level": "replica", "archive_mode": "on", "archive_command": "cp %p /archive/%f",
            "archive_library": None}  # fmt: skip
    conf |= {k: fields.pop(k) for k in list(fields) if k in conf}
    measured = {"archived_count": 10, "last_archived_wal": "00000001000000000000000A", "last_archived_time": T0,
                "failed_count": 0, "last_failed_wal": None, "last_failed_time": None, "waiting_segments": 0,
                "oldest_waiting_s": None, **fields}  # fmt: skip
    return ArchivingReport(conf, **measured, what="WAL archiving x", expected={})


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({}, ()),
        ({"wal_level": "minimal"}, ("wal_level = minimal, expected replica or logical",)),
        ({"archive_mode": "off", "archive_command": "(disabled)"}, ("archive_mode = off, expected on",)),
        ({"archive_command": "/bin/true %p"},
         ("archive_command = '/bin/true %p' archives nothing, expected a real archive command or library",)),
        ({"archive_command": "", "archive_library": "basic_archive"}, ()),
        ({"archive_command": "cp %p /mnt/wal/%f || true"},
         ("archive_command = 'cp %p /mnt/wal/%f || true' does not archive reliably: `|| true` turns its failure into "
          "success, so PostgreSQL recycles WAL it failed to copy; expected the command's own exit status",)),
        ({"last_archived_time": None, "archived_count": 0},
         ("pg_stat_archiver shows no archived segment yet, expected a recent archive",)),
        ({"waiting_segments": 3, "oldest_waiting_s": 900.0},
         ("3 WAL segments waiting to be archived, the oldest for 900 s (limit 600 s)",)),
        ({"waiting_segments": 1, "oldest_waiting_s": 12.0}, ()),
        ({"failed_count": 2, "last_failed_wal": "000000010000000000000009",
          "last_failed_time": T0 - timedelta(hours=1)}, ()),
        ({"failed_count": 2, "last_failed_wal": "00000001000000000000000B",
          "last_failed_time": T0 + timedelta(minutes=1)},
         ("archiver failing: 2 failures, last 00000001000000000000000B at 2026-11-26T10:01:00+00:00, last success "
          "2026-11-26T10:00:00+00:00; expected no failure since the last archived segment",)),
    ],
)  # fmt: skip
def test_judge_archiving(fields, problems):
    assert judge_archiving(archiving(**fields), DatabaseSettings()) == problems


def test_a_server_with_minimal_wal_and_archiving_off_fails_both():
    """A real cluster that cannot do PITR: wal_level = minimal, archive_mode off (PostgreSQL's default)."""
    with ScratchPostgres({"wal_level": "minimal", "max_wal_senders": "0"}) as scratch:
        url = Secret("DATABASE_URL", scratch.conninfo("postgres"))
        with read_only_session(url, SETTINGS) as session:
            report = inspect_archiving(session, SETTINGS)
    assert report.settings["archive_command"] == "(disabled)"
    assert report.problems == ("wal_level = minimal, expected replica or logical", "archive_mode = off, expected on")
