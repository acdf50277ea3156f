"""Database probes: a read-only session over TLS (DB-01), PITR and WAL archiving (DB-04), replica lag (POST-01).

Every session golive opens on a target database is read-only: ``default_transaction_read_only`` is set in the
startup packet, so even a check with a bug cannot write. A connection failure raises ProbeError with one line
that never carries the URL or its password.
"""

from __future__ import annotations

import itertools
import math
import shlex
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from golive.config import DatabaseSettings
from golive.outcomes import ProbeError
from golive.secrets import MISREAD, Secret, password_misread

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
MIB = 1024 * 1024


def describe_db_error(error: psycopg.Error) -> str:
    """One line from a psycopg error: the server's or libpq's reason, without the conninfo."""
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0].removeprefix("connection failed: ") if lines else type(error).__name__
    if first.endswith("failed:") and len(lines) > 1:  # libpq puts the reason on the next line
        first = f"{first} {lines[1]}"
    return first


def conninfo_of(url: Secret) -> dict[str, Any]:
    """libpq's reading of a PostgreSQL URL or conninfo; ProbeError naming the variable (never its value) when it
    is neither, or when libpq would read its password other than as written (golive then connects nowhere)."""
    try:
        params = conninfo_to_dict(url.reveal())
    except psycopg.ProgrammingError:
        raise ProbeError(f"{url.name} is not a valid PostgreSQL URL or conninfo") from None
    if password_misread(url.reveal()):
        raise ProbeError(f"{url.name}: {MISREAD}")
    return params


def sslmode_of(url: Secret) -> str:
    """The sslmode DATABASE_URL asks for (libpq's default, prefer, when it names none)."""
    return str(conninfo_of(url).get("sslmode") or "prefer")


def server_of(url: Secret) -> str:
    """host:port/dbname of a PostgreSQL URL, or its variable name when it cannot be parsed or its password is
    misread (then the host may hold part of the password): never the password."""
    try:
        params = conninfo_of(url)
    except ProbeError:
        return url.name
    return f"{params.get('host', 'localhost')}:{params.get('port', '5432')}/{params.get('dbname', '')}"


@dataclass(frozen=True)
class Session:
    """An open read-only session on a target database and what was measured while opening it."""

    name: str
    where: str
    conn: psycopg.Connection[Any]
    connect_ms: float

    def rows(self, query: str, params: tuple[Any, ...] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
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
    ours = f"-c default_transaction_read_only=on -c statement_timeout={settings.statement_timeout_ms}"
    given = conninfo_of(url).get("options")
    options = f"{given} {ours}" if given else ours  # the URL's own options kept; ours last, so they win
    started = time.perf_counter()
    try:
        conn = psycopg.connect(
            url.reveal(),
            autocommit=True,
            connect_timeout=max(2, math.ceil(settings.connect_timeout_s)),
            options=options,
            application_name="golive",
        )
    except psycopg.Error as error:
        raise ProbeError(f"{url.name} at {where}: {describe_db_error(error)}") from None
    connect_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        yield Session(url.name, where, conn, connect_ms)
    finally:
        conn.close()


def table_estimates(session: Session) -> dict[str, int | None]:
    """Row estimates of the database's tables by schema.table, from its statistics: the larger of
    pg_class.reltuples and pg_stat_user_tables.n_live_tup; None when neither knows (never analysed, no live tuple
    counted)."""
    rows = session.rows(
        "select n.nspname || '.' || c.relname,"
        " case when c.reltuples < 0 and coalesce(s.n_live_tup, 0) = 0 then null"
        "      else greatest(coalesce(s.n_live_tup, 0), c.reltuples::bigint) end"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " left join pg_stat_user_tables s on s.relid = c.oid"
        " where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
    )
    return {str(name): None if count is None else int(count) for name, count in rows}


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
    what: str
    expected: dict[str, Any]
    problems: tuple[str, ...] = ()

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


_SEPARATORS = frozenset({";", "&", "&&", "||", "|", "(", ")"})
_NOOP_PROGRAMS = frozenset({"true", ":"})
_PRINTERS = frozenset({"echo", "printf"})


@dataclass(frozen=True)
class _Simple:
    """One simple command of a shell line: the separator before it, its words (variable assignments dropped,
    the program by its base name), the separator after it."""

    before: str
    words: list[str]
    after: str

    @property
    def program(self) -> str:
        return self.words[0].rsplit("/", 1)[-1]

    @property
    def succeeds_doing_nothing(self) -> bool:
        """``true``, ``:``, ``exit 0``, or ``echo``/``printf`` writing only to the archiver's log (no redirection,
        no pipe)."""
        if self.program == "exit":
            return self.words[1:] in ([], ["0"])
        redirected = any(set(w) <= set("<>&|0123456789") and ("<" in w or ">" in w) for w in self.words)
        return self.program in _NOOP_PROGRAMS or (self.program in _PRINTERS and not redirected and self.after != "|")

    @property
    def exits_zero(self) -> bool:
        """``exit 0``: the shell ends there, successfully (a bare ``exit`` keeps the last command's status)."""
        return self.program == "exit" and self.words[1:] == ["0"]

    @property
    def returns_zero(self) -> bool:
        """Whatever came before: ``true``, ``:``, ``exit 0``, ``echo``/``printf`` (wherever they write)."""
        return self.program in _NOOP_PROGRAMS or self.program in _PRINTERS or self.exits_zero


def _simple_commands(command: str) -> list[_Simple] | None:
    """The simple commands of a shell line, in order (None when it does not split: unbalanced quotes)."""
    lexer = shlex.shlex(command.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    found: list[_Simple] = []
    before, segment = ";", []
    for token in [*tokens, ";"]:
        if token not in _SEPARATORS:
            segment.append(token)
            continue
        words = list(itertools.dropwhile(lambda word: "=" in word and not word.startswith("="), segment))
        if words:
            found.append(_Simple(before, words, token))
        if token not in "()":
            before = token
        segment = []
    return found


def archive_command_is_noop(command: str) -> bool:
    """Whether an archive_command archives nothing: it is empty, or every command it runs (up to an ``exit 0``) is
    ``true``, ``:`` or ``exit 0`` (by name or path: ``/bin/true %p``), or ``echo``/``printf`` writing only to the
    archiver's log (no redirection, no pipe). PostgreSQL then takes the segment as archived and recycles it."""
    text = command.strip()
    if text in ("", "(disabled)"):
        return True
    simple = _simple_commands(text)
    if simple is None:  # unbalanced quotes: the shell fails it, and pg_stat_archiver shows the failures
        return False
    for step in simple:
        if step.program == "exit" and step.succeeds_doing_nothing:
            return True
        if not step.succeeds_doing_nothing:
            return False
    return True


def archive_failure_swallowed(command: str) -> str | None:
    """The part of an archive_command that turns a failed copy into success (None when nothing does): ``true``,
    ``:``, ``echo`` or ``printf`` after ``||``, ``;`` or ``|`` at the end (``cp %p /wal/%f || true``, ``...; true``,
    ``... || echo failed``), or an ``exit 0`` after ``;``, ``||`` or ``|`` anywhere (``...; exit 0``). PostgreSQL
    then takes a segment it failed to copy as archived, and recycles it."""
    simple = _simple_commands(command.strip())
    if not simple:
        return None
    for index, step in enumerate(simple[1:], 1):
        last = index == len(simple) - 1
        if step.before in (";", "||", "|") and step.returns_zero and (step.exits_zero or last):
            return f"{step.before} {' '.join(step.words)}"
    return None


_ARCHIVING = """
select current_setting('wal_level'), current_setting('archive_mode'), current_setting('archive_command'),
       current_setting('archive_library', true),
       a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count, a.last_failed_wal,
       a.last_failed_time, w.waiting, w.oldest
from pg_stat_archiver a,
     (select count(*) as waiting, extract(epoch from now() - min(modification))::float8 as oldest
      from pg_ls_archive_statusdir() where name like '%.ready') w
"""


def inspect_archiving(session: Session, settings: DatabaseSettings) -> ArchivingReport:
    """wal_level, archive_mode, archive_command/library, pg_stat_archiver and the segments waiting to be archived."""
    row = session.row(_ARCHIVING)
    wal_level, mode, command, library = row[:4]
    archived, last_wal, last_time, failed, failed_wal, failed_time, waiting, oldest = row[4:]
    archiver = f"archive_library = {library!r}" if library else f"archive_command = {command!r}"
    measured = ArchivingReport(
        {"wal_level": wal_level, "archive_mode": mode, "archive_command": command, "archive_library": library or None,
         "archiver": archiver},
        int(archived), last_wal, last_time, int(failed), failed_wal, failed_time,
        int(waiting), round(oldest, 1) if oldest is not None else None,
        f"WAL archiving {session.where}",
        {"wal_level": "replica|logical", "archive_mode": "on|always", "archiver": "not a no-op",
         "oldest_waiting_s": f"<= {settings.archive_max_delay_s}"},
    )  # fmt: skip
    return replace(measured, problems=judge_archiving(measured, settings))


def judge_archiving(report: ArchivingReport, settings: DatabaseSettings) -> tuple[str, ...]:
    """PITR needs WAL at replica level, archived by a real command or library, without failures since the last
    success, and no finished segment waiting longer than archive_max_delay_s (an idle server archives rarely, so
    the age of the last archive is not held against it)."""
    wal_level, mode = report.settings["wal_level"], report.settings["archive_mode"]
    command = report.settings["archive_command"] or ""
    problems = []
    if wal_level not in ("replica", "logical"):
        problems.append(f"wal_level = {wal_level}, expected replica or logical")
    if mode not in ("on", "always"):
        problems.append(f"archive_mode = {mode}, expected on")
    elif not report.settings["archive_library"] and archive_command_is_noop(command):
        problems.append(f"archive_command = {command!r} archives nothing, expected a real archive command or library")
    elif not report.settings["archive_library"] and (swallowed := archive_failure_swallowed(command)):
        problems.append(
            f"archive_command = {command!r} does not archive reliably: `{swallowed}` turns its failure into "
            "success, so PostgreSQL recycles WAL it failed to copy; expected the command's own exit status"
        )
    if problems:
        return tuple(problems)
    if report.last_failed_time is not None and (
        report.last_archived_time is None or report.last_failed_time > report.last_archived_time
    ):
        problems.append(
            f"archiver failing: {report.failed_count} failures, last {report.last_failed_wal} at "
            f"{_stamp(report.last_failed_time)}, last success {_stamp(report.last_archived_time)}; expected no "
            "failure since the last archived segment"
        )
    elif report.last_archived_time is None:
        problems.append("pg_stat_archiver shows no archived segment yet, expected a recent archive")
    if report.oldest_waiting_s is not None and report.oldest_waiting_s > settings.archive_max_delay_s:
        problems.append(
            f"{report.waiting_segments} WAL segments waiting to be archived, the oldest for "
            f"{report.oldest_waiting_s:.0f} s (limit {settings.archive_max_delay_s} s)"
        )
    return tuple(problems)


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


DEFAULT_APPLICATION_NAME = "walreceiver"  # what every standby reports unless primary_conninfo names it
AMBIGUOUS_NAME = (
    f"{DEFAULT_APPLICATION_NAME} is every standby's default application_name: give each standby its own "
    "(application_name in its primary_conninfo) so that each is expected by name"
)


def missing_replicas(expected: list[str], present: list[str]) -> tuple[str, ...]:
    """The expected replicas pg_stat_replication lacks, counted per name: a name expected twice needs two rows
    (two standbys both named walreceiver, one of them down, is one missing)."""
    want, have = Counter(expected), Counter(present)
    return tuple(
        name if want[name] == 1 else f"{name} ({want[name]} expected, {have[name]} present)"
        for name in want
        if have[name] < want[name]
    )


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
    missing = missing_replicas(settings.expected_replicas, [r.name for r in replicas])
    problems = []
    if missing:
        present = ", ".join(r.name for r in replicas) or "none"
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
    """What the replica itself says: in recovery, WAL received and replayed, replay paused, its WAL receiver's
    state (pg_stat_wal_receiver.status; None when no receiver runs) and how long since the primary last sent it a
    message. ``reached`` is False when the replica could not be measured (then only ``problems`` says why)."""

    where: str
    in_recovery: bool | None = None
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    last_replay: datetime | None = None
    lag_s: float | None = None  # None: unknown, nothing replayed yet
    paused: bool = False
    receiver: str | None = None
    last_msg_age_s: float | None = None
    reached: bool = True
    problems: tuple[str, ...] = ()

    @property
    def measured(self) -> dict[str, Any]:
        if not self.reached:
            return {"reached": False}
        return {"in_recovery": self.in_recovery, "receive_lsn": self.receive_lsn, "replay_lsn": self.replay_lsn,
                "lag_s": self.lag_s, "replay_paused": self.paused, "wal_receiver": self.receiver,
                "last_msg_age_s": self.last_msg_age_s}  # fmt: skip

    @staticmethod
    def expected(settings: DatabaseSettings) -> dict[str, Any]:
        return {"in_recovery": True, "lag_s": f"<= {settings.max_replay_lag_s:g}", "replay_paused": False,
                "wal_receiver": "streaming", "last_msg_age_s": f"<= {settings.max_receiver_silence_s:g}"}  # fmt: skip


_STANDBY = """
select pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
       pg_last_xact_replay_timestamp(),
       case when not pg_is_in_recovery() then 0
            when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
            else greatest(0, extract(epoch from now() - pg_last_xact_replay_timestamp()))::float8 end,
       case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end,
       r.pid is not null, r.status, extract(epoch from now() - r.last_msg_receipt_time)::float8
from (select 1) one left join pg_stat_wal_receiver r on true
"""


def inspect_standby(session: Session, settings: DatabaseSettings) -> StandbyReport:
    """On a replica: its WAL receiver streaming and recently heard from the primary, and now() -
    pg_last_xact_replay_timestamp(), zero when everything received is replayed (which is also true of a replica
    that receives nothing: hence the receiver's state)."""
    in_recovery, receive, replay, last_replay, lag_s, paused, running, status, age = session.row(_STANDBY)
    if running and status is None:
        raise ProbeError(
            f"{session.name} at {session.where}: pg_stat_wal_receiver hides its details from this role "
            "(grant it pg_monitor or pg_read_all_stats)"
        )
    measured = StandbyReport(
        session.where, bool(in_recovery), receive, replay, last_replay, None if lag_s is None else float(lag_s),
        bool(paused), status, None if age is None else round(float(age), 1),
    )  # fmt: skip
    return replace(measured, problems=judge_standby(measured, settings, session.name))


def judge_standby(standby: StandbyReport, settings: DatabaseSettings, name: str) -> tuple[str, ...]:
    """What is wrong with the replica, each naming what was measured and what was expected."""
    if not standby.in_recovery:
        return (f"{name} at {standby.where} is not in recovery: it is a primary, not a replica",)
    positions = f"received {standby.receive_lsn}, replayed {standby.replay_lsn}"
    problems = []
    if standby.receiver is None:
        problems.append(
            f"replica WAL receiver not running (no row in pg_stat_wal_receiver; {positions}): it receives nothing "
            "from the primary, so no lag shows; expected streaming"
        )
    elif standby.receiver != "streaming":
        problems.append(f"replica WAL receiver is {standby.receiver} (pg_stat_wal_receiver.status), expected streaming")
    elif standby.last_msg_age_s is not None and standby.last_msg_age_s > settings.max_receiver_silence_s:
        problems.append(
            f"replica WAL receiver last heard from the primary {standby.last_msg_age_s:.1f} s ago "
            f"(pg_stat_wal_receiver.last_msg_receipt_time), limit {settings.max_receiver_silence_s:g} s"
        )
    if standby.paused:
        problems.append(
            f"replica replay paused (pg_is_wal_replay_paused(); {positions}): "
            "it applies none of the primary's writes until pg_wal_replay_resume()"
        )
    lag_s = math.inf if standby.lag_s is None else standby.lag_s
    if lag_s > settings.max_replay_lag_s:
        shown = "unknown (nothing replayed yet)" if math.isinf(lag_s) else f"{lag_s:.1f} s"
        problems.append(f"replica replay lag {shown} ({positions}), threshold {settings.max_replay_lag_s:g} s")
    return tuple(problems)


def measure_standby(url: Secret, settings: DatabaseSettings, primary_failed: bool) -> StandbyReport:
    """inspect_standby over a read-only session on url. A replica that cannot be reached is a ProbeError, unless
    the primary's view already failed the item: then it is one more problem, and the item fails with both."""
    try:
        with read_only_session(url, settings) as session:
            return inspect_standby(session, settings)
    except ProbeError as error:
        if not primary_failed:
            raise
        return StandbyReport(server_of(url), reached=False, problems=(f"replica not measured: {error}",))
