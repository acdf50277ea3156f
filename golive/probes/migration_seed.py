"""Rows for the dry-run's copy: every table of the copy gets as many generated rows as the target's statistics
say it holds (capped by ``database.migrations.seed_max_rows``), so that size-dependent verdicts are real: a
statement's duration against the statement budget, the scan of a constraint added already valid, an index build.

Values are a function of the row number and the column's type (row n of an integer column holds n, of a text
column 'n', of a timestamp now() minus n seconds...): unique columns stay unique, and columns of the same type in
two tables hold the same values, so a foreign key added between them validates when the referencing table has no
more rows than the referenced one. Columns with a default, identity or generated columns take their default.
The rows are inserted with ``session_replication_role = replica`` (no triggers, no foreign-key checks); a table
whose constraints refuse them (a CHECK the values do not meet, a type golive cannot make) is left empty, and why
is in the evidence, as is a table the copy already holds rows of (the applied-migrations table). The copy is a
scratch database: nothing is written to the target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from golive.probes.db import describe_db_error

_COLUMNS = """
select a.attname, t.typname, t.typtype, t.typcategory, a.atttypmod, a.attnotnull, format_type(a.atttypid, a.atttypmod)
from pg_attribute a join pg_type t on t.oid = a.atttypid
where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
  and a.atthasdef is false and a.attidentity = '' and a.attgenerated = ''
order by a.attnum
"""
# row n as a value of the type, before the cast to the column's exact type
_BY_TYPE = {
    "int2": "g % 32767",
    "bool": "g % 2 = 0",
    "timestamptz": "now() - make_interval(secs => g)",
    "timestamp": "localtimestamp - make_interval(secs => g)",
    "date": "current_date - (g % 36500)::int",
    "time": "time '00:00' + make_interval(secs => g % 86400)",
    "timetz": "timetz '00:00+00' + make_interval(secs => g % 86400)",
    "interval": "make_interval(secs => g)",
    "uuid": "md5(g::text)::uuid",
    "json": "'{}'",
    "jsonb": "'{}'",
    "bytea": "int8send(g)",
    "inet": "'10.0.0.0'::inet + g",
    "cidr": "'10.0.0.0/32'::cidr",
}


@dataclass
class Seeding:
    """What the copy got: rows per table, the tables left empty and why, the time it took."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "not_seeded": self.skipped, "seconds": self.seconds}


def _value(name: str, typtype: str, category: str, typmod: int, formatted: str) -> sql.Composable | None:
    """Row g's value for a column, or None when golive cannot make one (NULL then fits a nullable column)."""
    if name in _BY_TYPE:
        return sql.SQL(_BY_TYPE[name])
    if name == "numeric" and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return sql.SQL("g % {}").format(sql.Literal(10 ** max(precision - scale, 0) or 1))
    if category == "N":
        return sql.SQL("g")
    if category == "S":
        text = sql.SQL("g::text")
        return sql.SQL("right(g::text, {})").format(sql.Literal(typmod - 4)) if typmod > 4 else text
    if typtype == "e":
        return sql.SQL("(enum_range(null::{0}))[1 + g % cardinality(enum_range(null::{0}))]").format(sql.SQL(formatted))
    if category == "A":
        return sql.SQL("'{}'")
    return None


def seed_rows(conn: psycopg.Connection[Any], sizes: dict[str, int], cap: int) -> Seeding:
    """Fill the copy's tables to the target's row estimates (at most ``cap`` rows each), in one transaction."""
    seeding = Seeding()
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("set local session_replication_role = replica")
        for table, estimate in sorted(sizes.items()):
            rows = min(estimate, cap)
            if rows <= 0:
                continue
            reason = _seed_table(conn, table, rows)
            if reason:
                seeding.skipped[table] = reason
            else:
                seeding.rows[table] = rows
    for table in seeding.rows:
        conn.execute(sql.SQL("analyze {}").format(sql.Identifier(*table.split(".", 1))))
    seeding.seconds = round(time.perf_counter() - started, 2)
    return seeding


def _seed_table(conn: psycopg.Connection[Any], table: str, rows: int) -> str:
    """Insert ``rows`` generated rows into ``table``; the reason it was left empty, or ''."""
    identifier = sql.Identifier(*table.split(".", 1))
    try:
        with conn.transaction():
            if conn.execute(sql.SQL("select exists (select from {})").format(identifier)).fetchone() == (True,):
                return "holds rows on the copy already"
            columns = conn.execute(_COLUMNS, (identifier.as_string(conn),)).fetchall()
            names, values = [], []
            for attname, typname, typtype, category, typmod, notnull, formatted in columns:
                value = _value(str(typname), str(typtype), str(category), int(typmod), str(formatted))
                if value is None and notnull:
                    return f"no value golive can generate for {attname} ({formatted}, NOT NULL)"
                if value is None:
                    continue  # NULL
                names.append(sql.Identifier(attname))
                values.append(sql.SQL("({})::{}").format(value, sql.SQL(formatted)))
            target = sql.SQL("{} ({})").format(identifier, sql.SQL(", ").join(names)) if names else identifier
            select = sql.SQL(", ").join(values) if values else sql.SQL("")
            conn.execute(
                sql.SQL("insert into {} select {} from generate_series(1, {}) g").format(
                    target, select, sql.Literal(rows)
                )
            )  # fmt: skip
    except psycopg.Error as error:
        return describe_db_error(error)
    return ""
