"""The migration dry-run (REL-03, REL-04, RB-02): pending migrations traced statement by statement on a copy of
the target's schema, and the target's long transactions that a migration would queue behind.

1. Copy: ``pg_dump -Fc --schema-only`` from the target in a read-only session (the password travels in
   PGPASSWORD, never in argv), restored with ``pg_restore --no-owner --no-privileges`` into a scratch database.
2. Pending: ``*.sql`` files of ``database.migrations.dir`` (``*.down.sql`` are reverse scripts) not listed in the
   target's applied table.
3. Trace: each migration runs in a transaction that is rolled back; after each statement, the new locks this
   backend holds on pre-existing relations (``pg_locks``), rewrites (``relfilenode`` changed), constraints added
   already valid, destructive catalog changes (a table or column dropped or renamed, a type changed, NOT NULL
   set on an existing column) and the duration. ``CONCURRENTLY`` statements cannot run in a transaction: they
   are not traced. Then the migration is applied for real, so the next one sees its schema.
4. Sizes come from the target's statistics (``pg_class.reltuples``), so "a lock on a large table" means large in
   production, not on the empty copy. Against a schema-only copy, durations only show DDL cost, not data cost.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from golive.config import DatabaseSettings, MigrationSettings
from golive.outcomes import ProbeError
from golive.probes.backups import pg_restore, pg_tool
from golive.probes.db import Session, describe_db_error
from golive.scratch import ScratchPostgres
from golive.secrets import Secret

# Lock modes that conflict with what the app's reads or writes take (PostgreSQL "Explicit Locking", table 13.2).
DANGEROUS_LOCKS = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
STEP_MARK = re.compile(r"--\s*golive:\s*step\s+(\d+)\s+of\s+(\d+)\b(.*)", re.IGNORECASE)
CONCURRENTLY = re.compile(r"\bconcurrently\b", re.IGNORECASE)
_RELATIONS = (
    "select c.oid, n.nspname || '.' || c.relname, c.relkind, c.relfilenode from pg_class c"
    " join pg_namespace n on n.oid = c.relnamespace"
    " where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%%'"
    " and c.relkind in ('r', 'p', 'i', 'm', 'S')"
)
_COLUMNS = (
    "select a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attisdropped"
    " from pg_attribute a where a.attrelid = any(%s) and a.attnum > 0"
)
_CONSTRAINTS = "select oid, conrelid, conname, contype, convalidated from pg_constraint where conrelid = any(%s)"


def split_statements(text: str) -> list[str]:
    """SQL statements of a script, split on ';' outside quotes, dollar quotes and comments."""
    statements, start, i, n = [], 0, 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif ch in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == ch and text[j + 1 : j + 2] == ch:
                    j += 2
                    continue
                if text[j] == ch:
                    break
                j += 1
            i = j
        elif ch == "$":
            match = re.match(r"\$[A-Za-z_]*\$", text[i:])
            if match:
                tag = match.group(0)
                end = text.find(tag, i + len(tag))
                i = n if end < 0 else end + len(tag)
                continue
        elif ch == ";":
            statements.append(text[start:i])
            start = i + 1
        i += 1
    statements.append(text[start:])
    return [s.strip() for s in statements if _code(s)]


def _code(statement: str) -> str:
    """The statement without comments (empty when it is only comments)."""
    without = re.sub(r"/\*.*?\*/", " ", statement, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] for line in without.splitlines()).strip()


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path
    text: str
    reverse: Path | None
    step: str | None  # "step 2 of 3 (...)" when marked as a step of a multi-step plan


def migration_files(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise ProbeError(f"migrations directory {directory} does not exist or is not a directory")
    found = []
    for path in sorted(directory.glob("*.sql")):
        if path.name.endswith(".down.sql"):
            continue
        stem = path.name.removesuffix(".sql")
        reverse = directory / f"{stem}.down.sql"
        try:
            text = path.read_text(encoding="utf-8")
            has_reverse = reverse.is_file() and bool(_code(reverse.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            raise ProbeError(f"migration {path.name} (or its .down.sql) is not UTF-8 text: {exc.reason}") from None
        mark = STEP_MARK.search(text)
        step = f"step {mark.group(1)} of {mark.group(2)}{mark.group(3).rstrip()}" if mark else None
        found.append(Migration(stem, path, text, reverse if has_reverse else None, step))
    return found


def applied_migrations(session: Session, settings: MigrationSettings) -> set[str]:
    if settings.applied_table is None:
        return set()
    table = sql.Identifier(*settings.applied_table.split(".", 1))
    query = sql.SQL("select {} from {}").format(sql.Identifier(settings.applied_column), table)
    return {str(row[0]).removesuffix(".sql") for row in session.rows(query.as_string(session.conn))}


def table_sizes(session: Session) -> dict[str, int]:
    """Row estimates of the target's tables (reltuples; n_live_tup for never-analysed tables)."""
    rows = session.rows(
        "select n.nspname || '.' || c.relname,"
        " case when c.reltuples >= 0 then c.reltuples::bigint else coalesce(s.n_live_tup, 0) end"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " left join pg_stat_user_tables s on s.relid = c.oid"
        " where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
    )
    return {str(name): int(count) for name, count in rows}


# --- long transactions and lock waits on the target now


@dataclass(frozen=True)
class Activity:
    pid: int
    user: str | None
    state: str | None
    age_s: float
    blocked_by: list[int]
    query: str


_LITERALS = re.compile(
    r"(?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$).*?(?:(?P=dollar)|$)"  # $$...$$ and $tag$...$tag$
    r"|(?:(?<![\w$])[EeBbXx])?'(?:[^']|'')*(?:'|$)"  # '...', E'...', B'...', X'...' (to the end when cut off)
    r"|(?<![\w$])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w$])",  # numbers
    re.DOTALL,
)
QUERY_SHOWN = 80


def redact_literals(query: str) -> str:
    """Another session's statement as evidence may show: its literals (values the app sent, which may be
    personal data or secrets) become ``?``, as pg_stat_statements shows them; whitespace collapsed, cut short."""
    shown = " ".join(_LITERALS.sub("?", query).split())
    return shown if len(shown) <= QUERY_SHOWN else shown[: QUERY_SHOWN - 1] + "…"


def long_transactions(session: Session, max_age_s: float) -> list[Activity]:
    """Client sessions of the target database in a transaction longer than max_age_s, or waiting on a lock
    (golive's own sessions, such as the dry-run's pg_dump, excepted)."""
    rows = session.rows(
        "select pid, usename, state, extract(epoch from now() - xact_start)::float8, pg_blocking_pids(pid),"
        " left(query, 4000)"
        " from pg_stat_activity where datname = current_database() and backend_type = 'client backend'"
        " and pid <> pg_backend_pid() and xact_start is not null and application_name not like 'golive%%'"
        " and (now() - xact_start > make_interval(secs => %s) or cardinality(pg_blocking_pids(pid)) > 0)"
        " order by xact_start",
        (max_age_s,),
    )
    return [Activity(int(p), u, s, round(float(a), 1), list(b), redact_literals(str(q))) for p, u, s, a, b, q in rows]


# --- the dry-run


@dataclass
class StatementTrace:
    sql: str
    duration_ms: float = 0.0
    lock_timeout_ms: int = 0
    locks: list[tuple[str, str]] = field(default_factory=list)  # (relation, mode), new with this statement
    rewrites: list[str] = field(default_factory=list)
    valid_constraints: list[str] = field(default_factory=list)
    destructive: list[str] = field(default_factory=list)
    traced: bool = True
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "statement": " ".join(_code(self.sql).split())[:120],
            "locks": [f"{mode} on {rel}" for rel, mode in self.locks],
            "rewrites": self.rewrites,
            "valid_constraints": self.valid_constraints,
            "destructive": self.destructive,
            "duration_ms": self.duration_ms,
            "lock_timeout_ms": self.lock_timeout_ms,
            "verdict": "; ".join(self.problems) if self.problems else ("ok" if self.traced else "not traced"),
        }


@dataclass
class MigrationTrace:
    migration: Migration
    statements: list[StatementTrace] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return self.migration.name

    @property
    def destructive(self) -> list[str]:
        return [change for s in self.statements for change in s.destructive]

    @property
    def problems(self) -> list[str]:
        found = [f"{self.name}: {p}" for s in self.statements for p in s.problems]
        if self.error:
            found.append(f"{self.name}: fails on the copy: {self.error}")
        return found


@dataclass(frozen=True)
class DryRun:
    pending: list[MigrationTrace]
    applied: int
    copy_s: float
    trace_s: float


def _dump_schema(url: Secret, settings: DatabaseSettings, target: Path) -> None:
    """pg_dump --schema-only from the target in a read-only session, the password in the environment only."""
    try:
        params = conninfo_to_dict(url.reveal())
    except psycopg.ProgrammingError:
        raise ProbeError(f"{url.name} is not a valid PostgreSQL URL or conninfo") from None
    password = params.pop("password", None)
    params["connect_timeout"] = str(max(2, int(settings.connect_timeout_s)))
    env = {**os.environ, "PGOPTIONS": "-c default_transaction_read_only=on", "PGAPPNAME": "golive-dry-run"}
    if password:
        env["PGPASSWORD"] = str(password)
    command = [pg_tool("pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "-Fc", "-f", str(target),
               "-d", make_conninfo(**params)]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, errors="replace",
                              timeout=settings.tool_timeout_s,
                              check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProbeError(f"pg_dump --schema-only did not finish within {settings.tool_timeout_s:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        raise ProbeError(f"pg_dump --schema-only of {url.name} failed: {reason.removeprefix('pg_dump: error: ')}")


def dry_run(
    url: Secret, session: Session, settings: DatabaseSettings, migrations: MigrationSettings
) -> DryRun:  # fmt: skip
    """Copy the schema, then trace every pending migration on the copy and judge each statement."""
    files = migration_files(Path(migrations.dir))
    applied = applied_migrations(session, migrations)
    pending = [m for m in files if m.name not in applied]
    sizes = table_sizes(session)
    started = time.perf_counter()
    with ScratchPostgres() as scratch:
        dump = scratch.root / "schema.dump"
        _dump_schema(url, settings, dump)
        target = scratch.create_database("dry_run")
        pg_restore(str(dump), target, settings.tool_timeout_s, "the schema copy")
        copy_s = time.perf_counter() - started
        traced_at = time.perf_counter()
        with psycopg.connect(target, options=f"-c statement_timeout={int(settings.tool_timeout_s * 1000)}") as conn:
            traces = [_trace(conn, m, sizes, migrations) for m in pending]
        trace_s = time.perf_counter() - traced_at
    return DryRun(traces, len(files) - len(pending), round(copy_s, 2), round(trace_s, 2))


def _snapshot(conn: psycopg.Connection[Any]) -> tuple[dict[int, tuple[str, str, int]], dict[tuple[int, int], tuple]]:
    relations = {int(oid): (str(name), str(kind), int(node)) for oid, name, kind, node in conn.execute(_RELATIONS)}
    tables = [oid for oid, (_, kind, _) in relations.items() if kind in ("r", "p")]
    columns = {(int(r[0]), int(r[1])): tuple(r[2:]) for r in conn.execute(_COLUMNS, (tables,))}
    return relations, columns


def _trace(
    conn: psycopg.Connection[Any], migration: Migration, sizes: dict[str, int], limits: MigrationSettings
) -> MigrationTrace:
    trace = MigrationTrace(migration)
    statements = split_statements(migration.text)
    initial, initial_columns = _snapshot(conn)
    tables = [oid for oid, (_, kind, _) in initial.items() if kind in ("r", "p")]
    constraints = {int(r[0]) for r in conn.execute(_CONSTRAINTS, (tables,))}
    seen_locks: set[tuple[int, str]] = set()
    rewritten: set[int] = set()
    columns = dict(initial_columns)
    try:
        for text in statements:
            step = StatementTrace(text)
            trace.statements.append(step)
            if CONCURRENTLY.search(_code(text)):
                step.traced = False  # cannot run in a transaction; ShareUpdateExclusiveLock does not block the app
                continue
            row = conn.execute("select setting::int from pg_settings where name = 'lock_timeout'").fetchone()
            step.lock_timeout_ms = int(row[0]) if row else 0
            started = time.perf_counter()
            conn.execute(text)  # type: ignore[call-overload]
            step.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            _observe(conn, step, initial, columns, constraints, seen_locks, rewritten)
            _judge(step, initial, sizes, limits)
    except psycopg.Error as error:
        trace.error = describe_db_error(error)
    finally:
        conn.rollback()
    if trace.error is None:
        _apply(conn, statements, trace)
    return trace


def _observe(
    conn: psycopg.Connection[Any],
    step: StatementTrace,
    initial: dict[int, tuple[str, str, int]],
    columns: dict[tuple[int, int], tuple],
    constraints: set[int],
    seen_locks: set[tuple[int, str]],
    rewritten: set[int],
) -> None:
    held = conn.execute(
        "select relation::int, mode from pg_locks where pid = pg_backend_pid() and locktype = 'relation'"
    ).fetchall()
    for oid, mode in sorted(held, key=lambda r: (r[0], r[1])):
        if oid in initial and (oid, mode) not in seen_locks:
            seen_locks.add((oid, mode))
            step.locks.append((initial[oid][0], str(mode)))
    now_rel, now_cols = _snapshot(conn)
    for oid, (name, kind, node) in initial.items():
        if kind not in ("r", "p", "m"):
            continue
        if oid not in now_rel:
            step.destructive.append(f"drops table {name}")
            initial_kind = "gone"
            initial[oid] = (name, initial_kind, node)
            continue
        new_name, _, new_node = now_rel[oid]
        if new_name != name:
            step.destructive.append(f"renames table {name} to {new_name}")
        if new_node != node and oid not in rewritten:
            rewritten.add(oid)
            step.rewrites.append(name)
    for key, (attname, typ, notnull, dropped) in list(columns.items()):
        table = initial.get(key[0], ("?",))[0]
        now = now_cols.get(key)
        if now is None:
            continue
        new_name, new_type, new_notnull, new_dropped = now
        if new_dropped and not dropped:
            step.destructive.append(f"drops column {table}.{attname}")
        elif new_name != attname:
            step.destructive.append(f"renames column {table}.{attname} to {new_name}")
        elif new_type != typ:
            step.destructive.append(f"changes the type of {table}.{attname} from {typ} to {new_type}")
        elif new_notnull and not notnull:
            step.destructive.append(f"sets NOT NULL on existing column {table}.{attname}")
        columns[key] = now
    tables = [oid for oid, (_, kind, _) in initial.items() if kind in ("r", "p")]
    for oid, conrelid, conname, contype, valid in conn.execute(_CONSTRAINTS, (tables,)).fetchall():
        if int(oid) not in constraints and valid and contype in ("c", "f"):
            constraints.add(int(oid))
            step.valid_constraints.append(f"{conname} on {initial[int(conrelid)][0]}")


def _judge(
    step: StatementTrace, initial: dict[int, tuple[str, str, int]], sizes: dict[str, int], limits: MigrationSettings
) -> None:
    kinds = {name: kind for name, kind, _ in initial.values()}
    for relation, mode in step.locks:
        if mode not in DANGEROUS_LOCKS or kinds.get(relation) not in ("r", "p"):
            continue
        rows = sizes.get(relation, 0)
        if rows > limits.large_table_rows:
            step.problems.append(
                f"takes {mode} on {relation} (about {rows} rows, limit {limits.large_table_rows}), which blocks the app"
            )
        elif step.lock_timeout_ms == 0:
            step.problems.append(f"takes {mode} on {relation} without lock_timeout, expected lock_timeout set")
    for relation in step.rewrites:
        step.problems.append(f"rewrites {relation} (about {sizes.get(relation, 0)} rows), expected no table rewrite")
    if step.duration_ms > limits.statement_budget_ms:
        step.problems.append(f"took {step.duration_ms:.0f} ms, budget {limits.statement_budget_ms} ms")


def _apply(conn: psycopg.Connection[Any], statements: list[str], trace: MigrationTrace) -> None:
    """Run the migration for real on the copy (CONCURRENTLY statements too), so later ones see its schema."""
    conn.autocommit = True
    try:
        for text in statements:
            conn.execute(text)  # type: ignore[call-overload]
        conn.execute("reset all")
    except psycopg.Error as error:
        trace.error = describe_db_error(error)
    finally:
        conn.autocommit = False
