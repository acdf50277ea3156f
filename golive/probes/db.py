"""Database probes: a read-only session over TLS (DB-01), PITR and WAL archiving (DB-04), replica lag (POST-01).

Every session golive opens on a target database is read-only: ``default_transaction_read_only`` is set in the
startup packet, so even a check with a bug cannot write. A connection failure raises ProbeError with one line
that never carries the URL or its password.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from golive.config import DatabaseSettings
from golive.outcomes import ProbeError
from golive.secrets import Secret

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# archive_command values that archive nothing: WAL is thrown away and PITR is impossible.
NOOP_ARCHIVE_COMMANDS = frozenset({"", "/bin/true", "true", "/usr/bin/true", "exit 0", ":", "(disabled)"})
MIB = 1024 * 1024


def describe_db_error(error: psycopg.Error) -> str:
    """One line from a psycopg error: the server's or libpq's reason, without the conninfo."""
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0].removeprefix("connection failed: ") if lines else type(error).__name__
    if first.endswith("failed:") and len(lines) > 1:  # libpq puts the reason on the next line
        first = f"{first} {lines[1]}"
    return first


def sslmode_of(url: Secret) -> str:
    """The sslmode DATABASE_URL asks for (libpq's default, prefer, when it names none)."""
    try:
        params = conninfo_to_dict(url.reveal())
    except psycopg.ProgrammingError:
        raise ProbeError(f"{url.name} is not a valid PostgreSQL URL or conninfo") from None
    return str(params.get("sslmode") or "prefer")


def server_of(url: Secret) -> str:
    """host:port/dbname of a PostgreSQL URL, or its variable name when it cannot be parsed (never the password)."""
    try:
        params = conninfo_to_dict(url.reveal())
    except psycopg.ProgrammingError:
        return url.name
    return f"{params.get('host', 'localhost')}:{params.get('port', '5432')}/{params.get('dbname', '')}"


@dataclass(frozen=True)
class Session:
    """An open read-only session on a target database and what was measured while opening it."""

    name: str
    where: str
    conn: psycopg.Connection[Any]
    connect_ms: float

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise ProbeError(f"{self.name} at {self.where}: {describe_db_error(error)}") from None

    def row(self, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        found = self.rows(query, params)
        if not found:
            raise ProbeError(f"{self.name} at {self.where}: {query.split()[0]} returned no row")
        return found[0]


@contextmanager
def read_only_session(url: Secret, settings: DatabaseSettings) -> Iterator[Session]:
    """A read-only, autocommit session on url within the configured connect and statement timeouts."""
    where = server_of(url)
    options = f"-c default_transaction_read_only=on -c statement_timeout={settings.statement_timeout_ms}"
    started = time.perf_counter()
    try:
        conn = psycopg.connect(
            url.reveal(),
            autocommit=True,
            connect_timeout=max(2, math.ceil(settings.connect_timeout_s)),
            options=options,
            application_name="golive",
        )
    except psycopg.ProgrammingError:
        raise ProbeError(f"{url.name} is not a valid PostgreSQL URL or conninfo") from None
    except psycopg.Error as error:
        raise ProbeError(f"{url.name} at {where}: {describe_db_error(error)}") from None
    connect_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        yield Session(url.name, where, conn, connect_ms)
    finally:
        conn.close()


# --- DB-01: TLS both ways and a read-only session ------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionReport:
    where: str
    server_version: str
    sslmode: str
    ssl: bool
    tls_version: str | None
    cipher: str | None
    read_only: str
    transaction_read_only: str
    connect_ms: float
    problems: tuple[str, ...] = ()

    @property
    def measured(self) -> dict[str, Any]:
        return {
            "server_version": self.server_version,
            "sslmode": self.sslmode,
            "tls": self.ssl,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "default_transaction_read_only": self.read_only,
            "connect_ms": self.connect_ms,
        }


def inspect_connection(session: Session, sslmode: str, settings: DatabaseSettings) -> ConnectionReport:
    """Measure the session: server version, TLS in use (pg_stat_ssl), read-only; judge against the settings."""
    version, read_only, tx_read_only = session.row(
        "select current_setting('server_version'), current_setting('default_transaction_read_only'),"
        " current_setting('transaction_read_only')"
    )
    ssl_rows = session.rows("select ssl, version, cipher from pg_stat_ssl where pid = pg_backend_pid()")
    ssl, tls_version, cipher = ssl_rows[0] if ssl_rows else (False, None, None)
    problems = []
    want_tls = SSLMODES.index(settings.min_sslmode) >= SSLMODES.index("require")
    if SSLMODES.index(sslmode) < SSLMODES.index(settings.min_sslmode):
        problems.append(f"{session.name} sslmode={sslmode}, expected {settings.min_sslmode} or stronger")
    if want_tls and not ssl:
        problems.append("session not encrypted (pg_stat_ssl.ssl = false), expected TLS")
    elif (
        want_tls
        and tls_version in TLS_VERSIONS
        and (TLS_VERSIONS.index(tls_version) < TLS_VERSIONS.index(settings.min_tls_version))
    ):
        problems.append(f"session uses {tls_version}, expected {settings.min_tls_version} or newer")
    if read_only != "on" or tx_read_only != "on":
        problems.append(
            f"session not read-only (default_transaction_read_only = {read_only}, "
            f"transaction_read_only = {tx_read_only}), expected on"
        )
    return ConnectionReport(
        session.where, version, sslmode, bool(ssl), tls_version, cipher, read_only, tx_read_only,
        session.connect_ms, tuple(problems),
    )  # fmt: skip


# --- DB-04: PITR and WAL archiving --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivingReport:
    settings: dict[str, str | None]
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None
    waiting_segments: int
    oldest_waiting_s: float | None
    problems: tuple[str, ...]
    what: str
    expected: dict[str, Any]

    @property
    def measured(self) -> dict[str, Any]:
        return {
            **self.settings,
            "archived_count": self.archived_count,
            "last_archived_wal": self.last_archived_wal,
            "last_archived_time": self.last_archived_time.isoformat() if self.last_archived_time else None,
            "failed_count": self.failed_count,
            "last_failed_wal": self.last_failed_wal,
            "last_failed_time": self.last_failed_time.isoformat() if self.last_failed_time else None,
            "segments_waiting": self.waiting_segments,
            "oldest_waiting_s": self.oldest_waiting_s,
        }


def _stamp(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "never"


def inspect_archiving(session: Session, settings: DatabaseSettings) -> ArchivingReport:
    """wal_level, archive_mode, archive_command/library, pg_stat_archiver and the segments waiting to be archived."""
    wal_level, mode, command, library = session.row(
        "select current_setting('wal_level'), current_setting('archive_mode'),"
        " current_setting('archive_command'), current_setting('archive_library', true)"
    )
    archived, last_wal, last_time, failed, failed_wal, failed_time = session.row(
        "select archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,"
        " last_failed_time from pg_stat_archiver"
    )
    waiting, oldest = session.row(
        "select count(*), extract(epoch from now() - min(modification))::float8"
        " from pg_ls_archive_statusdir() where name like '%.ready'"
    )
    problems = []
    if wal_level not in ("replica", "logical"):
        problems.append(f"wal_level = {wal_level}, expected replica or logical")
    if mode not in ("on", "always"):
        problems.append(f"archive_mode = {mode}, expected on")
    if library:
        archiver = f"archive_library = {library!r}"
    elif command.strip() in NOOP_ARCHIVE_COMMANDS:
        archiver = f"archive_command = {command!r}"
        problems.append(f"archive_command = {command!r} archives nothing, expected a real archive command or library")
    else:
        archiver = f"archive_command = {command!r}"
    if mode in ("on", "always") and not problems:
        if failed_time is not None and (last_time is None or failed_time > last_time):
            problems.append(
                f"archiver failing: {failed} failures, last {failed_wal} at {_stamp(failed_time)}, "
                f"last success {_stamp(last_time)}; expected no failure since the last archived segment"
            )
        elif last_time is None:
            problems.append("pg_stat_archiver shows no archived segment yet, expected a recent archive")
        if oldest is not None and oldest > settings.archive_max_delay_s:
            problems.append(
                f"{waiting} WAL segments waiting to be archived, the oldest for {oldest:.0f} s "
                f"(limit {settings.archive_max_delay_s} s)"
            )
    report_settings = {"wal_level": wal_level, "archive_mode": mode, "archive_command": command,
                       "archive_library": library or None, "archiver": archiver}  # fmt: skip
    return ArchivingReport(
        report_settings, int(archived), last_wal, last_time, int(failed), failed_wal, failed_time,
        int(waiting), round(oldest, 1) if oldest is not None else None, tuple(problems),
        f"WAL archiving {session.where}",
        {"wal_level": "replica|logical", "archive_mode": "on|always", "archiver": "not a no-op",
         "oldest_waiting_s": f"<= {settings.archive_max_delay_s}"},
    )  # fmt: skip


# --- POST-01: replica lag ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replica:
    name: str
    client: str | None
    state: str
    sync_state: str
    replay_lag_s: float
    replay_lag_bytes: int


@dataclass(frozen=True)
class ReplicationReport:
    replicas: tuple[Replica, ...]
    missing: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())


def inspect_replication(session: Session, settings: DatabaseSettings) -> ReplicationReport:
    """pg_stat_replication on the primary: every expected replica streaming, lag in seconds and bytes in bounds.

    An idle, caught-up standby reports a NULL replay_lag: with no bytes behind it counts as zero.
    """
    rows = session.rows(
        "select application_name, client_addr::text, state, sync_state,"
        " extract(epoch from replay_lag)::float8,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint"
        " from pg_stat_replication order by application_name"
    )
    replicas = tuple(
        Replica(name, client, state, sync, float(lag_s or 0.0), int(lag_bytes) if lag_bytes is not None else -1)
        for name, client, state, sync, lag_s, lag_bytes in rows
    )  # fmt: skip
    names = {r.name for r in replicas}
    missing = tuple(name for name in settings.expected_replicas if name not in names)
    problems = []
    if missing:
        present = ", ".join(sorted(names)) or "none"
        problems.append(
            f"expected replica(s) {', '.join(missing)} missing from pg_stat_replication (present: {present})"
        )
    for replica in replicas:
        if replica.state != "streaming":
            problems.append(f"replica {replica.name} is {replica.state}, expected streaming")
        if replica.replay_lag_bytes < 0:
            problems.append(f"replica {replica.name} has replayed nothing yet (replay_lsn is NULL)")
        elif replica.replay_lag_bytes > settings.max_replay_lag_bytes:
            problems.append(
                f"replica {replica.name} replay lag {replica.replay_lag_bytes / MIB:.1f} MiB "
                f"({replica.replay_lag_bytes} bytes), threshold {settings.max_replay_lag_bytes / MIB:.1f} MiB"
            )
        if replica.replay_lag_s > settings.max_replay_lag_s:
            problems.append(
                f"replica {replica.name} replay lag {replica.replay_lag_s:.1f} s, "
                f"threshold {settings.max_replay_lag_s:g} s"
            )
    return ReplicationReport(replicas, missing, tuple(problems))


@dataclass(frozen=True)
class StandbyReport:
    in_recovery: bool
    receive_lsn: str | None
    replay_lsn: str | None
    last_replay: datetime | None
    lag_s: float
    paused: bool
    problems: tuple[str, ...]


def inspect_standby(session: Session, settings: DatabaseSettings) -> StandbyReport:
    """On a replica: now() - pg_last_xact_replay_timestamp(), zero when everything received is replayed."""
    in_recovery, receive, replay, last_replay, lag_s, paused = session.row(
        "select pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
        " pg_last_xact_replay_timestamp(),"
        " case when not pg_is_in_recovery() then 0"
        "      when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0"
        "      else greatest(0, extract(epoch from now() - pg_last_xact_replay_timestamp()))::float8 end,"
        " case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end"
    )
    problems = []
    if not in_recovery:
        problems.append(f"{session.name} at {session.where} is not in recovery: it is a primary, not a replica")
    if paused:
        problems.append(
            f"replica replay paused (pg_is_wal_replay_paused(); received {receive}, replayed {replay}): "
            "it applies none of the primary's writes until pg_wal_replay_resume()"
        )
    if lag_s is None:
        lag_s = math.inf
    if lag_s > settings.max_replay_lag_s:
        shown = "unknown (nothing replayed yet)" if math.isinf(lag_s) else f"{lag_s:.1f} s"
        problems.append(
            f"replica replay lag {shown} (received {receive}, replayed {replay}), "
            f"threshold {settings.max_replay_lag_s:g} s"
        )
    return StandbyReport(bool(in_recovery), receive, replay, last_replay, float(lag_s), bool(paused), tuple(problems))
