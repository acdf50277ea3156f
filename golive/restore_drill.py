"""``golive restore-drill``: restore the latest backup into a fresh database, check it, time it, record it.

Where it restores: a temporary local PostgreSQL (golive.scratch) by default; with ``RESTORE_TARGET_URL`` set, a
staging server, where the drill creates a database of its own with a unique name (``golive_restore_<UTC time>_<6
hex>``; the URL's role needs CREATEDB) and drops it afterwards, also when the drill fails. Before it creates anything
there, in every tier, it refuses a staging server that is DATABASE_URL's (:func:`production_check`), and records
the refusal as a failed drill. Sanity checks, with
tables named ``schema.table`` (a bare name is in ``public``): every table in ``database.restore_tables`` exists and
is not empty, and its row count is within ``database.restore_row_tolerance`` of the source's statistics
(``pg_class.reltuples`` / ``pg_stat_user_tables.n_live_tup`` read over DATABASE_URL in a read-only session, when it
is set); with no table named, at least one restored table must have rows. The record (golive.probes.restore) says
what was checked and is written whatever the result, so a failed drill shows as a failed DB-05.
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from golive.config import DatabaseSettings, Environment, PgbackrestBackups, RdsBackups, S3Backups, Variables
from golive.outcomes import ProbeError
from golive.probes.backups import Backup, inventory, pg_restore
from golive.probes.db import conninfo_of, describe_db_error, read_only_session, server_of, table_estimates
from golive.probes.restore import write_record
from golive.scratch import ScratchPostgres
from golive.secrets import Secret

SCRATCH_DB = "restore_drill"
TARGET_VARIABLE = "RESTORE_TARGET_URL"
_PHYSICAL = {
    RdsBackups: "restored by RDS itself (restore-db-instance-from-db-snapshot)",
    PgbackrestBackups: "restored by pgbackrest restore into a cluster of their own",
}


@dataclass(frozen=True)
class DrillResult:
    record: dict[str, Any]
    path: Path

    @property
    def ok(self) -> bool:
        return self.record["result"] == "ok"


@dataclass(frozen=True)
class Target:
    """The database the drill restores into: its conninfo (without the password), the password, how the record
    names it, and a directory for the dump when it must be downloaded first."""

    conninfo: str
    password: str | None
    description: str
    workdir: Path

    def connect(self, timeout_s: float) -> psycopg.Connection[Any]:
        return _connect(self.conninfo, self.password, timeout_s)


def _connect(conninfo: str, password: str | None, timeout_s: float) -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo, password=password, autocommit=True, connect_timeout=max(2, math.ceil(timeout_s)))


@contextmanager
def scratch_target() -> Iterator[Target]:
    with ScratchPostgres() as scratch:
        yield Target(scratch.create_database(SCRATCH_DB), None,
                     f"scratch PostgreSQL {scratch.version} (local, temporary)", scratch.root)  # fmt: skip


def drill_database_name(now: datetime) -> str:
    return f"golive_restore_{now:%Y%m%d%H%M%S}_{secrets.token_hex(3)}"


@contextmanager
def staging_target(url: Secret, settings: DatabaseSettings) -> Iterator[Target]:
    """A fresh database on the staging server, dropped on the way out (whatever happened inside); ProbeError,
    naming the variable and the server, when it cannot be created or dropped."""
    params = conninfo_of(url)
    given = params.pop("password", None)
    password = str(given) if given else None
    name = drill_database_name(datetime.now(UTC))

    def admin(what: str, statement: sql.Composed) -> None:
        try:
            with _connect(make_conninfo(**params), password, settings.connect_timeout_s) as conn:
                conn.execute(statement)
        except psycopg.Error as error:
            raise ProbeError(f"{url.name} at {server_of(url)}: {what}: {describe_db_error(error)}") from None

    admin(f"cannot create database {name}", sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        with tempfile.TemporaryDirectory(prefix="golive-drill-") as workdir:
            host = f"{params.get('host', 'localhost')}:{params.get('port', '5432')}"
            yield Target(make_conninfo(**{**params, "dbname": name}), password,
                         f"staging {host} database {name} (created for the drill, dropped after)",
                         Path(workdir))  # fmt: skip
    finally:
        admin(f"cannot drop database {name}",
              sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))  # fmt: skip


_IDENTITY = "select system_identifier::text from pg_control_system()"


def production_check(staging: Secret, production: Secret | None, settings: DatabaseSettings) -> str:
    """That the staging server is not the production server, by the servers' identity: the system identifier
    of the cluster each URL reaches (pg_control_system(), read in read-only sessions), which no host name, address,
    alias or proxy changes. ProbeError when they are the same (a physical copy of production, made by
    pg_basebackup or from a snapshot, shares it and is refused as well); what was found, for the record."""
    if production is None:
        return f"not made: DATABASE_URL is unset, so {staging.name}'s server could not be compared with production's"
    identities = []
    for url in (staging, production):
        with read_only_session(url, settings) as session:
            identities.append(str(session.row(_IDENTITY)[0]))
    ours, theirs = identities
    if ours == theirs:
        raise ProbeError(
            f"{staging.name} reaches the production server: its system identifier {ours} is DATABASE_URL's (the "
            "same cluster, or a physical copy of it); the drill creates and drops a database on its target, so it "
            "refuses; point it at a staging server"
        )
    return f"{staging.name}'s server is not DATABASE_URL's (system identifier {ours}, production's {theirs})"


def _source_estimates(env: Environment, variables: Variables) -> dict[str, int | None] | None:
    """Row estimates by schema.table from the source's statistics; None without DATABASE_URL."""
    url = variables.secret("DATABASE_URL")
    if url is None:
        return None
    with read_only_session(url, env.database) as session:
        return table_estimates(session)


def run_drill(env: Environment, variables: Variables, record_path: Path | None = None) -> DrillResult:
    """Restore, check, time and record. ProbeError only when there is nothing to restore or nowhere to record."""
    settings = env.database
    path = record_path or settings.restore_record
    if path is None:
        raise ProbeError("no restore record path: set database.restore_record or pass --record")
    if settings.backups is None:
        raise ProbeError("no backup source configured (database.backups in the environment file)")
    source = settings.backups
    if type(source) in _PHYSICAL:
        raise ProbeError(f"{source.where}: its backups are physical, {_PHYSICAL[type(source)]}; the drill restores "
                         "logical dumps from a directory or S3 source")  # fmt: skip
    found = inventory(source)
    if not found.backups:
        raise ProbeError(f"no backups found in {found.where}")
    latest = found.backups[-1]
    started = datetime.now(UTC)
    clock = time.perf_counter()
    record: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "backup": latest.name,
        "backup_taken_at": latest.taken_at.isoformat(timespec="seconds"),
        "row_counts": {},
        "checks": [],
    }
    problems: list[str] = []
    staging = variables.secret(TARGET_VARIABLE)
    try:
        if staging is not None:  # before anything is created on it: in every tier
            record["target"] = f"staging {server_of(staging)}"
            record["production_check"] = production_check(staging, variables.secret("DATABASE_URL"), settings)
        with staging_target(staging, settings) if staging else scratch_target() as target:
            record["target"] = target.description
            problems += _restore_and_check(target, latest, env, variables, record)
    except ProbeError as error:
        problems.append(str(error))
    finished = datetime.now(UTC)
    record["finished_at"] = finished.isoformat(timespec="seconds")
    record["duration_s"] = round(time.perf_counter() - clock, 2)
    record["result"] = "failed" if problems else "ok"
    record["detail"] = "; ".join(problems)
    write_record(Path(path), record)
    return DrillResult(record, Path(path))


def _restore_and_check(target: Target, latest: Backup, env: Environment, variables: Variables,
                       record: dict[str, Any]) -> list[str]:  # fmt: skip
    """Restore the backup into the target and run the sanity checks, filling in the record; the problems."""
    settings = env.database
    source = settings.backups
    try:
        restore_started = time.perf_counter()
        dump = latest.location
        if isinstance(source, S3Backups):
            from golive.probes.aws import s3_download

            dump = str(s3_download(latest, source, target.workdir))
            record["download_s"] = round(time.perf_counter() - restore_started, 2)
        pg_restore(dump, target.conninfo, settings.tool_timeout_s, latest.name, password=target.password)
        record["restore_s"] = round(time.perf_counter() - restore_started, 2)
        with target.connect(settings.connect_timeout_s) as conn:
            counts = _row_counts(conn)
        record["row_counts"] = counts
        estimates = _source_estimates(env, variables)
    except ProbeError as error:
        return [str(error)]
    except psycopg.Error as error:  # the restored database, or the source's statistics, refused a query
        return [f"restored database: {describe_db_error(error)}"]
    sanity = check_sanity(settings.restore_tables, counts, estimates, settings.restore_row_tolerance)
    record["checked"] = sanity.checked
    record["checks"] = sanity.checks
    return sanity.problems


def _row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = conn.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
        " order by 1, 2"
    ).fetchall()
    counts = {}
    for schema, table in tables:
        row = conn.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema),
                                                                        sql.Identifier(table))).fetchone()  # fmt: skip
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def qualified(table: str) -> str:
    """schema.table; a bare name is in public."""
    return table if "." in table else f"public.{table}"


@dataclass(frozen=True)
class Sanity:
    checked: str
    checks: list[dict[str, Any]]
    problems: list[str]


def check_sanity(tables: list[str], counts: dict[str, int], estimates: dict[str, int | None] | None,
                 tolerance: float) -> Sanity:  # fmt: skip
    """The restored row counts against the configured tables and the source's estimates; with no table
    configured, at least one restored table must have rows."""
    if not tables:
        with_rows = sorted(name for name, count in counts.items() if count > 0)
        checked = (f"database.restore_tables is empty: only that some restored table has rows "
                   f"({len(with_rows)} of {len(counts)} have)")  # fmt: skip
        problems = [] if with_rows else [
            f"no restored table has rows ({len(counts)} tables, all empty), expected at least one; "
            "name the tables that must not be empty in database.restore_tables"
        ]  # fmt: skip
        return Sanity(checked, [{"table": "(any)", "restored": len(with_rows), "source_estimate": None,
                                 "ok": bool(with_rows)}], problems)  # fmt: skip
    checks, problems = [], []
    for table in map(qualified, tables):
        restored = counts.get(table)
        source = estimates.get(table) if estimates is not None else None
        ok = bool(restored)
        if restored is None:
            problems.append(f"table {table} is missing from the restored database")
        elif restored == 0:
            problems.append(f"table {table} is empty after the restore")
        elif source is not None and abs(restored - source) > max(1, tolerance * source):
            ok = False
            problems.append(
                f"table {table}: {restored} rows restored, the source has about {source} (tolerance {tolerance:.0%})"
            )
        checks.append({"table": table, "restored": restored, "source_estimate": source, "ok": ok})
    compared = "the source's statistics" if estimates is not None else "no source statistics (DATABASE_URL unset)"
    checked = (f"{len(checks)} table(s) of database.restore_tables non-empty and within {tolerance:.0%} of "
               f"{compared}")  # fmt: skip
    return Sanity(checked, checks, problems)


def command(env_ref: str | None, record: str | None, root: Path) -> int:
    """The CLI: run the drill for the environment, print what happened; 0 when the drill passed, 1 when not."""
    from golive.config import ConfigError, load_environment

    if not env_ref:
        print("golive restore-drill: no environment: pass --env NAME or set GOLIVE_ENV")
        return 4
    try:
        env = load_environment(env_ref, root)
    except ConfigError as error:
        print(f"golive restore-drill: {error}")
        return 4
    try:
        result = run_drill(env, Variables.read(env), Path(record) if record else None)
    except ProbeError as error:
        print(f"golive restore-drill: {error}")
        return 1
    r = result.record
    print(f"golive restore-drill: restored {r['backup']} into {r.get('target', 'nothing')} in {r['duration_s']} s")
    if "production_check" in r:
        print(f"  production check: {r['production_check']}")
    if "checked" in r:
        print(f"  checked: {r['checked']}")
    for check in r["checks"]:
        print(f"  {check['table']}: {check['restored']} rows (source about {check['source_estimate']})")
    print(f"golive restore-drill: {r['result'].upper()}{': ' + r['detail'] if r['detail'] else ''}")
    print(f"golive restore-drill: record written to {result.path}")
    return 0 if result.ok else 1
