"""Database faults of the sandbox, switched live by Sandbox.set_faults: each really changes the running PostgreSQL
(ALTER SYSTEM + pg_reload_conf, pg_hba.conf, the replica stopped, its replay paused or its WAL receiver pointed
nowhere) or DATABASE_URL, and switching it off restores the healthy state before set_faults returns. Every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from golive.sandbox.backups import SandboxBackups
from golive.sandbox.migrations import create_applied_table, write_migrations
from golive.sandbox.postgres import APP_DATABASE, APP_ROLE, HOST, Postgres, PostgresError

_WAIT = 15.0
POPULATED_ROWS = 5000  # above the sandbox's database.migrations.large_table_rows (1000)
HELD_FOR_S = 5.5  # above the sandbox's database.migrations.max_transaction_age_s (5)
HELD_LITERAL = "card 4111 1111 1111 1111"  # a value the app sent: shown as ? in REL-03's evidence
_LAG_BYTES = 2 * 1024 * 1024
SWALLOWING_ARCHIVE_COMMAND = "cp %p /nonexistent/golive-archive/%f || true"  # fails to copy, reports success
_NOWHERE = "host=/nonexistent/golive-fault user=replicator connect_timeout=2"  # a socket directory that is not there
_PLAIN_HBA = f"host    {APP_DATABASE:<12} {APP_ROLE:<12} {HOST}/32   scram-sha-256  # golive fault db-without-tls\n"

# the faults this module switches on the running PostgreSQL
SERVER_FAULTS = (
    "db-without-tls",
    "pitr-archive-noop",
    "pitr-archive-failure-swallowed",
    "archiver-failing",
    "replica-stopped",
    "replica-lagging",
    "replica-receiver-disconnected",
    "migration-locks-populated-table",
    "long-running-transaction",
    "lock-wait-on-target",
)
# DATABASE_URL edits: fault -> sslmode the URL gets
URL_FAULTS: Mapping[str, str] = {"db-without-tls": "disable", "db-url-tls-optional": "prefer"}


def edit_environ(environ: Mapping[str, str], active: Iterable[str]) -> dict[str, str]:
    """environ with DATABASE_URL's sslmode changed by the active URL faults."""
    edited = dict(environ)
    for name in active:
        if name in URL_FAULTS and "DATABASE_URL" in edited:
            parts = urlsplit(edited["DATABASE_URL"])
            query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("sslmode", "sslrootcert")]
            query.append(("sslmode", URL_FAULTS[name]))
            edited["DATABASE_URL"] = urlunsplit(parts._replace(query=urlencode(query)))
    return edited


class DatabaseFaults:
    """Applies the difference between the faults in force and the wanted ones to PostgreSQL and the backups."""

    def __init__(self, postgres: Postgres, backups: SandboxBackups) -> None:
        self.pg = postgres
        self.backups = backups
        self._on: set[str] = set()
        self._archive_command: str | None = None
        self._primary_conninfo: str | None = None  # the replica's, while replica-receiver-disconnected is on
        self._held: psycopg.Connection[Any] | None = None  # the long-running transaction
        self._lock_wait: LockWait | None = None
        self.migrations_dir = backups.directory.parent / "migrations"

    def start(self, active: Iterable[str]) -> None:
        self.backups.start(active)
        create_applied_table(self.pg)
        self.apply(active)

    def apply(self, active: Iterable[str]) -> None:
        wanted = set(active)
        self.backups.apply(wanted)
        write_migrations(self.migrations_dir, wanted)
        for name in SERVER_FAULTS:
            if name in wanted and name not in self._on:
                getattr(self, "_on_" + name.replace("-", "_"))()
                self._on.add(name)
            elif name not in wanted and name in self._on:
                getattr(self, "_off_" + name.replace("-", "_"))()
                self._on.discard(name)

    # --- helpers

    def _primary(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.superuser_conninfo(self.pg.primary_port), autocommit=True)

    def _replica(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.superuser_conninfo(self.pg.replica_port), autocommit=True)

    def _set_archive_command(self, command: str | None) -> None:
        """ALTER SYSTEM SET archive_command (None: RESET to postgresql.conf's) and wait until it is in force."""
        with self._primary() as conn:
            if self._archive_command is None:
                row = conn.execute("show archive_command").fetchone()
                self._archive_command = str(row[0]) if row else ""
            if command is None:
                conn.execute("alter system reset archive_command")
            else:
                conn.execute(sql.SQL("alter system set archive_command = {}").format(sql.Literal(command)))
            conn.execute("select pg_reload_conf()")
            want = (self._archive_command if command is None else command,)
            _wait(lambda: conn.execute("show archive_command").fetchone() == want, "archive_command to change")

    @staticmethod
    def _new_segment(conn: psycopg.Connection[Any]) -> None:
        """Write a little WAL and switch to a new segment (the finished one goes to the archiver)."""
        conn.execute("select txid_current()")
        conn.execute("select pg_switch_wal()")

    def _archiver(self, conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
        row = conn.execute("select last_archived_time, last_failed_time from pg_stat_archiver").fetchone()
        assert row is not None
        return tuple(row)

    # --- DB-01: plain TCP allowed and DATABASE_URL not asking for TLS

    def _on_db_without_tls(self) -> None:
        hba = self.pg.primary_dir / "pg_hba.conf"
        text = hba.read_text(encoding="utf-8")
        if _PLAIN_HBA not in text:
            with hba.open("a", encoding="utf-8") as file:
                file.write(_PLAIN_HBA)
        self._reload()

    def _off_db_without_tls(self) -> None:
        hba = self.pg.primary_dir / "pg_hba.conf"
        hba.write_text(hba.read_text(encoding="utf-8").replace(_PLAIN_HBA, ""), encoding="utf-8")
        self._reload()

    def _reload(self) -> None:
        with self._primary() as conn:
            conn.execute("select pg_reload_conf()")
        time.sleep(0.2)  # the postmaster rereads pg_hba.conf asynchronously

    # --- DB-04: archive_command a no-op, or hiding its failures; the archiver failing

    def _on_pitr_archive_noop(self) -> None:
        self._set_archive_command("/bin/true")

    def _off_pitr_archive_noop(self) -> None:
        self._set_archive_command(None)

    def _on_pitr_archive_failure_swallowed(self) -> None:
        self._set_archive_command(SWALLOWING_ARCHIVE_COMMAND)

    def _off_pitr_archive_failure_swallowed(self) -> None:
        self._set_archive_command(None)

    def _on_archiver_failing(self) -> None:
        self._set_archive_command("exit 1")
        with self._primary() as conn:
            self._new_segment(conn)

            def failing() -> bool:
                archived, failed = self._archiver(conn)
                return failed is not None and (archived is None or failed > archived)

            _wait(failing, "the archiver to report a failure")

    def _off_archiver_failing(self) -> None:
        self._set_archive_command(None)
        with self._primary() as conn:
            self._new_segment(conn)

            def recovered() -> bool:
                archived, failed = self._archiver(conn)
                return archived is not None and (failed is None or archived > failed)

            _wait(recovered, "the archiver to archive again")

    # --- POST-01: the replica stopped; the replica's replay paused while the primary writes

    def _on_replica_stopped(self) -> None:
        pg = self.pg
        pg.account.run([str(pg.bindir / "pg_ctl"), "stop", "-D", str(pg.replica_dir), "-m", "fast", "-w", "-t", "30"],
                       cwd=pg.root)  # fmt: skip
        with self._primary() as conn:
            _wait(lambda: conn.execute("select count(*) from pg_stat_replication").fetchone() == (0,),
                  "the replica to leave pg_stat_replication")  # fmt: skip

    def _off_replica_stopped(self) -> None:
        pg = self.pg
        log = pg.root / "replica.log"
        start = [str(pg.bindir / "pg_ctl"), "start", "-D", str(pg.replica_dir), "-l", str(log), "-w", "-t", "30"]
        pg.account.run(start,
                       cwd=pg.root)  # fmt: skip
        self._wait_caught_up()

    def _on_replica_lagging(self) -> None:
        with self._replica() as replica:
            replica.execute("select pg_wal_replay_pause()")
        with self._primary() as conn:
            for _ in range(2):
                self._new_segment(conn)

            def behind() -> bool:
                row = conn.execute(
                    "select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)"
                    " from pg_stat_replication"
                ).fetchone()
                return row is not None and row[0] > _LAG_BYTES

            _wait(behind, "the replica to fall behind")

    def _off_replica_lagging(self) -> None:
        with self._replica() as replica:
            replica.execute("select pg_wal_replay_resume()")
        self._wait_caught_up()

    # --- POST-01: the replica up and in recovery, but its WAL receiver cut off from the primary

    def _set_primary_conninfo(self, conninfo: str) -> None:
        with self._replica() as replica:
            replica.execute(sql.SQL("alter system set primary_conninfo = {}").format(sql.Literal(conninfo)))
            replica.execute("select pg_reload_conf()")  # the WAL receiver restarts with the new setting

    def _on_replica_receiver_disconnected(self) -> None:
        with self._replica() as replica:
            row = replica.execute("show primary_conninfo").fetchone()
        self._primary_conninfo = str(row[0]) if row else ""
        self._set_primary_conninfo(_NOWHERE)
        with self._primary() as conn:
            _wait(lambda: conn.execute("select count(*) from pg_stat_replication").fetchone() == (0,),
                  "the replica's WAL receiver to disconnect")  # fmt: skip

    def _off_replica_receiver_disconnected(self) -> None:
        if self._primary_conninfo is not None:
            self._set_primary_conninfo(self._primary_conninfo)
            self._primary_conninfo = None
        self._wait_caught_up()

    # --- REL-03: a populated table under a migration's AccessExclusiveLock; a transaction held open on the target

    def _app(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.superuser_conninfo(self.pg.primary_port, APP_DATABASE), autocommit=True)

    def _on_migration_locks_populated_table(self) -> None:
        with self._app() as conn:
            conn.execute(
                "insert into webhook_events (event_id, event_type, payload) select 'evt_golive_fault_' || i,"
                " 'payment.captured', '{}'::jsonb from generate_series(1, %s) i",
                (POPULATED_ROWS,),
            )
            conn.execute("analyze webhook_events")

    def _off_migration_locks_populated_table(self) -> None:
        with self._app() as conn:
            conn.execute("delete from webhook_events where event_id like 'evt_golive_fault_%'")
            conn.execute("analyze webhook_events")

    def _on_long_running_transaction(self) -> None:
        held = self._held = psycopg.connect(self.pg.superuser_conninfo(self.pg.primary_port, APP_DATABASE))
        # opens the transaction, holds AccessShareLock on orders; the literal must not reach any report
        held.execute(f"select count(*) from orders where receipt <> '{HELD_LITERAL}'")
        time.sleep(HELD_FOR_S)  # older than the sandbox's database.migrations.max_transaction_age_s

    def _off_long_running_transaction(self) -> None:
        if self._held is not None:
            self._held.rollback()
            self._held.close()
            self._held = None

    def _on_lock_wait_on_target(self) -> None:
        self._lock_wait = LockWait(self.pg.superuser_conninfo(self.pg.primary_port, APP_DATABASE))

    def _off_lock_wait_on_target(self) -> None:
        if self._lock_wait is not None:
            self._lock_wait.end()
            self._lock_wait = None

    def _wait_caught_up(self) -> None:
        with self._primary() as conn:

            def caught_up() -> bool:
                row = conn.execute(
                    "select count(*) filter (where state = 'streaming'"
                    " and pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) = 0) from pg_stat_replication"
                ).fetchone()
                return row == (1,)

            _wait(caught_up, "the replica to stream and catch up")


class LockWait:
    """REL-03: one session holds a row of migrations.applied locked (a young transaction) and another waits for
    it; a migration would queue behind both. Ended with rollbacks: nothing is written to the target."""

    def __init__(self, conninfo: str) -> None:
        self.holder = psycopg.connect(conninfo)
        self.waiter = psycopg.connect(conninfo)
        self.holder.execute(_LOCK_ROW)
        self._thread = threading.Thread(target=self._wait_for_row, name="sandbox-lock-waiter", daemon=True)
        self._thread.start()
        pid = self.waiter.info.backend_pid
        with psycopg.connect(conninfo, autocommit=True) as conn:
            _wait(lambda: conn.execute("select cardinality(pg_blocking_pids(%s)) > 0", (pid,)).fetchone() == (True,),
                  "the second session to wait on the lock")  # fmt: skip

    def _wait_for_row(self) -> None:
        with contextlib.suppress(psycopg.errors.QueryCanceled):
            self.waiter.execute(_LOCK_ROW)

    def end(self) -> None:
        self.waiter.cancel_safe()
        self._thread.join(_WAIT)
        for conn in (self.waiter, self.holder):
            conn.rollback()
            conn.close()


_LOCK_ROW = "update migrations.applied set run_on = run_on where name = '0001_init'"


def _wait(condition: Any, what: str, timeout: float = _WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise PostgresError(f"sandbox fault: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def start(workdir: Path, postgres: Postgres, active: Iterable[str]) -> DatabaseFaults:
    """The sandbox's backups (one real dump, dated nights), restore record and database faults, in force."""
    faults = DatabaseFaults(postgres, SandboxBackups(workdir, postgres))
    faults.start(active)
    return faults
