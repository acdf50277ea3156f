"""``golive restore-drill``: restore the latest backup into a scratch database, check it, time it, record it.

The scratch database is a temporary local PostgreSQL (golive.scratch). Sanity checks: every table in
``database.restore_tables`` exists and is not empty, and its row count is within ``database.restore_row_tolerance``
of the source's statistics (``pg_class.reltuples`` / ``pg_stat_user_tables.n_live_tup`` read over DATABASE_URL in
a read-only session, when it is set). The record (golive.probes.restore) is written whatever the result, so a
failed drill shows as a failed DB-05.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from golive.config import Environment, RdsBackups, S3Backups, Variables
from golive.outcomes import ProbeError
from golive.probes.backups import inventory, pg_restore
from golive.probes.db import describe_db_error, read_only_session
from golive.probes.restore import write_record
from golive.scratch import ScratchPostgres

SCRATCH_DB = "restore_drill"


@dataclass(frozen=True)
class DrillResult:
    record: dict[str, Any]
    path: Path

    @property
    def ok(self) -> bool:
        return self.record["result"] == "ok"


def _source_estimates(env: Environment, variables: Variables) -> dict[str, int] | None:
    url = variables.secret("DATABASE_URL")
    if url is None:
        return None
    with read_only_session(url, env.database) as session:
        rows = session.rows(
            "select c.relname, greatest(coalesce(s.n_live_tup, 0), c.reltuples::bigint)"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " left join pg_stat_user_tables s on s.relid = c.oid"
            " where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
        )
    return {str(name): int(count) for name, count in rows}


def run_drill(env: Environment, variables: Variables, record_path: Path | None = None) -> DrillResult:
    """Restore, check, time and record. ProbeError only when there is nothing to restore or nowhere to record."""
    settings = env.database
    path = record_path or settings.restore_record
    if path is None:
        raise ProbeError("no restore record path: set database.restore_record or pass --record")
    if settings.backups is None:
        raise ProbeError("no backup source configured (database.backups in the environment file)")
    source = settings.backups
    if isinstance(source, RdsBackups):
        raise ProbeError(
            f"{source.where}: its snapshots are physical, restored by RDS itself "
            "(restore-db-instance-from-db-snapshot); the drill restores logical dumps from a directory or S3 source"
        )
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
    try:
        with ScratchPostgres() as scratch:
            record["target"] = f"scratch PostgreSQL {scratch.version} (local, temporary)"
            target = scratch.create_database(SCRATCH_DB)
            restore_started = time.perf_counter()
            dump = latest.location
            if isinstance(source, S3Backups):
                from golive.probes.aws import s3_download

                dump = str(s3_download(latest, source, scratch.root))
                record["download_s"] = round(time.perf_counter() - restore_started, 2)
            pg_restore(dump, target, settings.tool_timeout_s, latest.name)
            record["restore_s"] = round(time.perf_counter() - restore_started, 2)
            with psycopg.connect(target, autocommit=True) as conn:
                counts = _row_counts(conn)
            record["row_counts"] = counts
            estimates = _source_estimates(env, variables)
            record["checks"], problems = _sanity(settings.restore_tables, counts, estimates,
                                                 settings.restore_row_tolerance)  # fmt: skip
    except ProbeError as error:
        problems.append(str(error))
    except psycopg.Error as error:  # the scratch database, or the source's statistics, refused a query
        problems.append(f"restored database: {describe_db_error(error)}")
    finished = datetime.now(UTC)
    record["finished_at"] = finished.isoformat(timespec="seconds")
    record["duration_s"] = round(time.perf_counter() - clock, 2)
    record["result"] = "failed" if problems else "ok"
    record["detail"] = "; ".join(problems)
    write_record(Path(path), record)
    return DrillResult(record, Path(path))


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
        counts[str(table)] = int(row[0]) if row else 0
    return counts


def _sanity(
    tables: list[str], counts: dict[str, int], estimates: dict[str, int] | None, tolerance: float
) -> tuple[list[dict[str, Any]], list[str]]:
    checks, problems = [], []
    for table in tables:
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
    return checks, problems


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
    for check in r["checks"]:
        print(f"  {check['table']}: {check['restored']} rows (source about {check['source_estimate']})")
    print(f"golive restore-drill: {r['result'].upper()}{': ' + r['detail'] if r['detail'] else ''}")
    print(f"golive restore-drill: record written to {result.path}")
    return 0 if result.ok else 1
