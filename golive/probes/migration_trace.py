"""Tracing one migration on the dry-run's copy, statement by statement, and the verdict on each statement.

Statements run in a transaction that is rolled back at the end; after each one golive reads the locks this backend
took on relations that existed before the migration (``pg_locks``), rewrites (``relfilenode`` changed), constraints
added already valid, indexes built, destructive catalog changes and the duration. Then the migration is applied
for real, so the next one sees its schema.

Transaction control in the migration (BEGIN, COMMIT...) is recorded, not run. A statement that cannot run in a
transaction block (VACUUM, ... CONCURRENTLY) ends the traced transaction: the statements before it are applied for
real, it runs on its own in autocommit, and tracing goes on in a new transaction. Its locks are seen through a
second session that holds ROW EXCLUSIVE (what the app's writes take) on every pre-existing table while it runs: a
lock that would block the app's reads or writes has to wait for that session, and shows in ``pg_locks`` as
requested; the session then lets go. Its duration leaves out that wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from golive.config import MigrationSettings
from golive.outcomes import ProbeError
from golive.probes.db import describe_db_error
from golive.probes.migration_sql import Statement, classify, code_of, split_statements

# Lock modes that conflict with what the app's reads or writes take (PostgreSQL "Explicit Locking", table 13.2).
DANGEROUS_LOCKS = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
_POLL_S = 0.002

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
_INDEXES = "select indexrelid::int, indrelid::int from pg_index where indrelid = any(%s)"
_OWN_LOCKS = "select relation::bigint, mode from pg_locks where pid = pg_backend_pid() and locktype = 'relation'"
_WATCH = (
    "select cardinality(pg_blocking_pids(%(pid)s)) > 0,"
    " coalesce(array_agg(array[l.relation::text, l.mode]) filter (where l.relation is not null), '{}')"
    " from pg_locks l where l.pid = %(pid)s and l.locktype = 'relation'"
)


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path | None
    text: str
    reverse: Path | None
    step: str | None  # "step 2 of 3 (...)" when marked as a step of a multi-step plan
    failure: str | None = None  # a migration command that failed on the copy: how


@dataclass
class StatementTrace:
    sql: str
    kind: str = "traced"  # "control", "outside" (run on its own, in autocommit) or "traced"
    duration_ms: float = 0.0
    lock_timeout_ms: int = 0
    locks: list[tuple[str, str]] = field(default_factory=list)  # (relation, mode), new with this statement
    rewrites: list[str] = field(default_factory=list)
    valid_constraints: list[tuple[str, str]] = field(default_factory=list)  # (constraint, table)
    indexes: list[tuple[str, str]] = field(default_factory=list)  # (index, table) built in the transaction
    destructive: list[str] = field(default_factory=list)  # from the parse tree until the catalogs say
    traced: bool = False
    note: str = ""
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "statement": " ".join(code_of(self.sql).split())[:120],
            "run": self.kind if self.traced else f"not run: {self.note}",
            "locks": [f"{mode} on {rel}" for rel, mode in self.locks],
            "rewrites": self.rewrites,
            "valid_constraints": [f"{name} on {table}" for name, table in self.valid_constraints],
            "indexes_built": [f"{name} on {table}" for name, table in self.indexes],
            "destructive": self.destructive,
            "duration_ms": self.duration_ms,
            "lock_timeout_ms": self.lock_timeout_ms,
            "verdict": "; ".join(self.problems) if self.problems else "ok",
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
    def unplanned(self) -> str | None:
        """REL-04: destructive changes in a migration not marked as a step of a multi-step plan."""
        if not self.destructive or self.migration.step is not None:
            return None
        return (f"{self.name} {', '.join(self.destructive)} and is not marked as a step of a multi-step plan "
                "(expected '-- golive: step N of M')")  # fmt: skip

    @property
    def irreversible(self) -> str | None:
        """RB-02: destructive changes without a reverse script."""
        if not self.destructive or self.migration.reverse is not None:
            return None
        return f"{self.name} {', '.join(self.destructive)} but has no reverse script (expected {self.name}.down.sql)"

    @property
    def findings(self) -> list[str]:
        """Everything REL-03, REL-04 and RB-02 hold against this migration."""
        return self.problems + [found for found in (self.unplanned, self.irreversible) if found]

    @property
    def problems(self) -> list[str]:
        found = [f"{self.name}: {p}" for s in self.statements for p in s.problems]
        if self.migration.failure:
            found.append(f"{self.name}: {self.migration.failure}")
        if self.error:
            found.append(f"{self.name}: fails on the copy: {self.error}")
        return found


Relations = dict[int, tuple[str, str, int]]  # oid -> (schema.name, relkind, relfilenode)


@dataclass
class _State:
    """What one migration's trace has seen so far."""

    initial: Relations
    columns: dict[tuple[int, int], tuple[Any, ...]]
    constraints: set[int]
    indexes: set[int]
    seen_locks: set[tuple[int, str]] = field(default_factory=set)  # in the current transaction
    rewritten: set[int] = field(default_factory=set)

    @property
    def tables(self) -> list[int]:
        return [oid for oid, (_, kind, _) in self.initial.items() if kind in ("r", "p")]


class Tracer:
    """Traces migrations one after the other on the copy at ``conninfo`` (a scratch database)."""

    def __init__(self, conninfo: str, sizes: dict[str, int], limits: MigrationSettings, timeout_s: float) -> None:
        self.conninfo = conninfo
        self.sizes = sizes
        self.limits = limits
        self.timeout_s = timeout_s
        self.options = f"-c statement_timeout={int(timeout_s * 1000)}"
        self.conn = psycopg.connect(conninfo, options=self.options)

    def close(self) -> None:
        self.conn.close()

    def trace(self, migration: Migration) -> MigrationTrace:
        statements = classify(split_statements(migration.text))
        trace = MigrationTrace(migration, [StatementTrace(s.sql, s.kind, destructive=list(s.destructive))
                                           for s in statements])  # fmt: skip
        state = self._state()
        batch: list[str] = []  # run in the current traced transaction: applied for real before an outside one
        block: int | None = None  # the statement number of the migration's own BEGIN, while its block is open
        number = 0
        try:
            for number, (statement, step) in enumerate(zip(statements, trace.statements, strict=True), 1):
                if statement.kind == "control":
                    step.note = "transaction control, recorded"
                    block = number if statement.opens_block else None if statement.closes_block else block
                    continue
                if statement.kind == "outside":
                    if block is not None:
                        step.problems.append(
                            f"{statement.what} inside the migration's own transaction block (BEGIN at statement "
                            f"{block}): PostgreSQL refuses it there"
                        )
                    self._outside(statement, step, state, batch)
                    batch = []
                else:
                    self._in_transaction(statement, step, state)
                    batch.append(statement.sql)
                step.traced = True
                self._judge(step, state)
        except psycopg.Error as error:
            trace.error = f"statement {number}: {describe_db_error(error)}"
            for step in trace.statements[number - 1 :]:
                step.note = step.note or ("failed" if step is trace.statements[number - 1] else "an earlier one failed")
        finally:
            self.conn.rollback()
        try:
            if trace.error is None:
                self._apply(batch)
        except psycopg.Error as error:
            trace.error = f"applying it: {describe_db_error(error)}"
        finally:
            self.conn.autocommit = True
            self.conn.execute("reset all")
            self.conn.autocommit = False
        return trace

    # --- running

    def _state(self) -> _State:
        initial, columns = self._snapshot()
        tables = [oid for oid, (_, kind, _) in initial.items() if kind in ("r", "p")]
        constraints = {int(r[0]) for r in self.conn.execute(_CONSTRAINTS, (tables,))}
        indexes = {int(r[0]) for r in self.conn.execute(_INDEXES, (tables,))}
        return _State(initial, columns, constraints, indexes)

    def _lock_timeout(self) -> int:
        row = self.conn.execute("select setting::int from pg_settings where name = 'lock_timeout'").fetchone()
        return int(row[0]) if row else 0

    def _in_transaction(self, statement: Statement, step: StatementTrace, state: _State) -> None:
        step.lock_timeout_ms = self._lock_timeout()
        started = time.perf_counter()
        self.conn.execute(statement.sql)  # type: ignore[call-overload]
        step.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        for oid, mode in sorted(self.conn.execute(_OWN_LOCKS).fetchall()):
            if oid in state.initial and (oid, mode) not in state.seen_locks:
                state.seen_locks.add((oid, mode))
                step.locks.append((state.initial[oid][0], str(mode)))
        self._observe(step, state, built_here=True)

    def _apply(self, statements: list[str]) -> None:
        """Run statements already traced for real on the copy, so what comes after sees their effect."""
        self.conn.autocommit = True
        try:
            for text in statements:
                self.conn.execute(text)  # type: ignore[call-overload]
        finally:
            self.conn.autocommit = False

    def _outside(self, statement: Statement, step: StatementTrace, state: _State, batch: list[str]) -> None:
        """Run a statement that cannot run in a transaction block on its own, watched from a second session."""
        self.conn.rollback()
        state.seen_locks.clear()
        self._apply(batch)
        current, _ = self._snapshot()
        self.conn.rollback()
        watched = [current[oid][0] for oid in state.tables if oid in current]
        with psycopg.connect(self.conninfo, options=self.options) as watcher:
            if watched:
                names = sql.SQL(", ").join(sql.Identifier(*name.split(".", 1)) for name in watched)
                watcher.execute(sql.SQL("lock table {} in row exclusive mode").format(names))
            self.conn.autocommit = True
            try:
                step.lock_timeout_ms = self._lock_timeout()
                held, step.duration_ms = self._watched(statement.sql, watcher)
            finally:
                self.conn.autocommit = False
        for oid, mode in held:
            if oid in state.initial and (oid, mode) not in state.seen_locks:
                state.seen_locks.add((oid, mode))
                step.locks.append((state.initial[oid][0], mode))
        self._observe(step, state, built_here=False)
        state.seen_locks.clear()

    def _watched(self, text: str, watcher: psycopg.Connection[Any]) -> tuple[list[tuple[int, str]], float]:
        """Run ``text`` on the tracing session in a thread while the watcher holds its locks; the relation locks it
        held or waited for when it first had to wait, and its duration without that wait (ms)."""
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                self.conn.execute(text)  # type: ignore[call-overload]
            except BaseException as error:  # handed to the main thread
                outcome.append(error)

        pid = self.conn.info.backend_pid
        runner = threading.Thread(target=run, name="golive-dry-run-statement", daemon=True)
        held: list[tuple[int, str]] = []
        waited = 0.0
        started = time.perf_counter()
        runner.start()
        while runner.is_alive():
            row = watcher.execute(_WATCH, {"pid": pid}).fetchone()
            if row and row[0]:
                blocked_at = time.perf_counter()
                held = [(int(oid), str(mode)) for oid, mode in row[1]]
                watcher.rollback()
                waited = time.perf_counter() - blocked_at
                break
            runner.join(_POLL_S)
        watcher.rollback()
        runner.join(self.timeout_s + 5)
        if runner.is_alive():
            self.conn.cancel_safe()
            raise ProbeError(f"a statement of the dry-run did not finish within {self.timeout_s:g} s: {text[:80]}")
        if outcome:
            raise outcome[0]
        return held, round((time.perf_counter() - started - waited) * 1000, 1)

    # --- observing

    def _snapshot(self) -> tuple[Relations, dict[tuple[int, int], tuple[Any, ...]]]:
        relations = {int(oid): (str(name), str(kind), int(node)) for oid, name, kind, node in
                     self.conn.execute(_RELATIONS)}  # fmt: skip
        tables = [oid for oid, (_, kind, _) in relations.items() if kind in ("r", "p")]
        columns = {(int(r[0]), int(r[1])): tuple(r[2:]) for r in self.conn.execute(_COLUMNS, (tables,))}
        return relations, columns

    def _observe(self, step: StatementTrace, state: _State, built_here: bool) -> None:
        """What the statement changed in the catalogs, against what the migration saw before it."""
        now_rel, now_cols = self._snapshot()
        destructive = []
        for oid, (name, kind, node) in list(state.initial.items()):
            if kind not in ("r", "p", "m"):
                continue
            if oid not in now_rel:
                destructive.append(f"drops table {name}")
                state.initial[oid] = (name, "gone", node)
                continue
            new_name, _, new_node = now_rel[oid]
            if new_name != name:
                destructive.append(f"renames table {name} to {new_name}")
            if new_node != node and oid not in state.rewritten:
                state.rewritten.add(oid)
                step.rewrites.append(name)
        for key, (attname, typ, notnull, dropped) in list(state.columns.items()):
            table = state.initial.get(key[0], ("?",))[0]
            now = now_cols.get(key)
            if now is None:
                continue
            new_name, new_type, new_notnull, new_dropped = now
            if new_dropped and not dropped:
                destructive.append(f"drops column {table}.{attname}")
            elif new_name != attname:
                destructive.append(f"renames column {table}.{attname} to {new_name}")
            elif new_type != typ:
                destructive.append(f"changes the type of {table}.{attname} from {typ} to {new_type}")
            elif new_notnull and not notnull:
                destructive.append(f"sets NOT NULL on existing column {table}.{attname}")
            state.columns[key] = now
        step.destructive = destructive
        tables = state.tables
        for oid, conrelid, conname, contype, valid in self.conn.execute(_CONSTRAINTS, (tables,)).fetchall():
            if int(oid) not in state.constraints and valid and contype in ("c", "f"):
                state.constraints.add(int(oid))
                step.valid_constraints.append((str(conname), state.initial[int(conrelid)][0]))
        for index, table in self.conn.execute(_INDEXES, (tables,)).fetchall():
            if index not in state.indexes:
                state.indexes.add(index)
                if built_here and index in now_rel:
                    step.indexes.append((now_rel[index][0], state.initial[table][0]))

    # --- the verdict

    def _judge(self, step: StatementTrace, state: _State) -> None:
        kinds = {name: kind for name, kind, _ in state.initial.values()}
        limit = self.limits.large_table_rows
        for relation, mode in step.locks:
            if mode not in DANGEROUS_LOCKS or kinds.get(relation) not in ("r", "p"):
                continue
            rows = self.sizes.get(relation, 0)
            if rows > limit:
                step.problems.append(
                    f"takes {mode} on {relation} (about {rows} rows, limit {limit}), which blocks the app"
                )
            elif step.lock_timeout_ms == 0:
                step.problems.append(f"takes {mode} on {relation} without lock_timeout, expected lock_timeout set")
        for relation in step.rewrites:
            step.problems.append(
                f"rewrites {relation} (about {self.sizes.get(relation, 0)} rows), expected no table rewrite"
            )
        for name, table in step.valid_constraints:
            if self.sizes.get(table, 0) > 0:
                step.problems.append(
                    f"adds constraint {name} on {table} already valid: checks about {self.sizes[table]} rows under "
                    "its lock, expected NOT VALID, then VALIDATE CONSTRAINT"
                )
        for name, table in step.indexes:
            if self.sizes.get(table, 0) > 0:
                step.problems.append(
                    f"builds index {name} on {table} (about {self.sizes[table]} rows) while the table is locked, "
                    "expected CREATE INDEX CONCURRENTLY"
                )
        if step.duration_ms > self.limits.statement_budget_ms:
            step.problems.append(f"took {step.duration_ms:.0f} ms, budget {self.limits.statement_budget_ms} ms")
