"""The migration dry-run's reading of SQL: scripts split into statements, each statement classified from its parse
tree (libpg_query, through pglast) before anything runs, and the statements a migration command sent read back from
the scratch server's CSV log.

The classification decides how the dry-run runs a statement and what REL-04 and RB-02 see even when the trace
stops early:

- *control*: BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK (and two-phase commit). Recorded, never run inside
  the traced transaction (a COMMIT there would make the final rollback undo nothing).
- *outside*: statements PostgreSQL refuses inside a transaction block (VACUUM, CREATE/DROP INDEX CONCURRENTLY,
  REINDEX ... CONCURRENTLY, DETACH PARTITION ... CONCURRENTLY, CREATE/DROP DATABASE, ALTER SYSTEM, ...) and
  ``ALTER TYPE ... ADD VALUE`` (refused in a transaction before PostgreSQL 12, and its value unusable until
  committed since): run on their own, in autocommit.
- *traced*: everything else, including ``REFRESH MATERIALIZED VIEW CONCURRENTLY``, which runs in a transaction.

Destructive changes (a table or column dropped or renamed, a column type changed, NOT NULL set on a column) are
named from the parse tree; tables and columns created earlier in the same migration are new, so changing them is
not destructive.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

Kind = Literal["control", "outside", "traced"]


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
    return [s.strip() for s in statements if code_of(s)]


def code_of(statement: str) -> str:
    """The statement without comments (empty when it is only comments)."""
    without = re.sub(r"/\*.*?\*/", " ", statement, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] for line in without.splitlines()).strip()


@dataclass(frozen=True)
class Statement:
    """One statement of a migration and what its parse tree says about it."""

    sql: str
    kind: Kind = "traced"
    what: str = ""  # the statement's command, e.g. "VACUUM", "CREATE INDEX CONCURRENTLY"
    destructive: tuple[str, ...] = ()
    opens_block: bool = False  # BEGIN / START TRANSACTION
    closes_block: bool = False  # COMMIT / END / ROLLBACK


@dataclass
class _Seen:
    """Tables and columns the migration created so far (changing them is not destructive)."""

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)


def classify(statements: Iterable[str]) -> list[Statement]:
    """Every statement of one migration, in order, classified from its parse tree; a statement libpg_query cannot
    parse is traced as it is (the server will say what is wrong with it)."""
    seen = _Seen()
    found = []
    for text in statements:
        try:
            nodes = [raw.stmt for raw in parse_sql(text)]
        except ParseError:
            found.append(Statement(text))
            continue
        found.append(_classify(text, nodes[0], seen) if len(nodes) == 1 else Statement(text))
    return found


_OPENS = (enums.TransactionStmtKind.TRANS_STMT_BEGIN, enums.TransactionStmtKind.TRANS_STMT_START)
_CLOSES = (
    enums.TransactionStmtKind.TRANS_STMT_COMMIT,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    enums.TransactionStmtKind.TRANS_STMT_PREPARE,
)
_TWO_PHASE = (
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
)


def _classify(text: str, node: ast.Node, seen: _Seen) -> Statement:
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _OPENS:
            return Statement(text, "control", "BEGIN", opens_block=True)
        if node.kind in _CLOSES:
            return Statement(text, "control", node.kind.name.removeprefix("TRANS_STMT_"), closes_block=True)
        if node.kind in _TWO_PHASE:
            return Statement(text, "control", node.kind.name.removeprefix("TRANS_STMT_").replace("_", " "))
        return Statement(text)  # SAVEPOINT, RELEASE, ROLLBACK TO: fine inside the traced transaction
    outside = _outside(node)
    if outside:
        return Statement(text, "outside", outside, _destructive(node, seen))
    return Statement(text, "traced", type(node).__name__, _destructive(node, seen))


def _concurrently(params: Sequence[ast.Node] | None) -> bool:
    return any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in params or ())


def _outside(node: ast.Node) -> str:
    """The command, when PostgreSQL refuses it inside a transaction block (or it must commit before its use)."""
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        full = any(isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ())
        return "VACUUM FULL" if full else "VACUUM"
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and (
        _concurrently(node.params)
        or node.kind in (enums.ReindexObjectType.REINDEX_OBJECT_DATABASE, enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM)
    ):
        return "REINDEX CONCURRENTLY" if _concurrently(node.params) else "REINDEX DATABASE"
    if isinstance(node, ast.AlterTableStmt) and any(
        c.subtype == enums.AlterTableType.AT_DetachPartition and c.def_ is not None and c.def_.concurrent
        for c in node.cmds
    ):
        return "DETACH PARTITION CONCURRENTLY"
    if isinstance(node, ast.AlterEnumStmt) and node.oldVal is None:
        return "ALTER TYPE ... ADD VALUE"
    if isinstance(node, ast.ClusterStmt) and node.relation is None:
        return "CLUSTER"
    whole = {
        ast.CreatedbStmt: "CREATE DATABASE",
        ast.DropdbStmt: "DROP DATABASE",
        ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
        ast.DropTableSpaceStmt: "DROP TABLESPACE",
        ast.AlterSystemStmt: "ALTER SYSTEM",
        ast.CreateSubscriptionStmt: "CREATE SUBSCRIPTION",
        ast.DropSubscriptionStmt: "DROP SUBSCRIPTION",
    }
    return whole.get(type(node), "")


def _name(relation: ast.RangeVar) -> str:
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else relation.relname


def _destructive(node: ast.Node, seen: _Seen) -> tuple[str, ...]:
    """What the statement drops, renames or narrows among objects older than the migration (and notes the ones it
    creates)."""
    if isinstance(node, ast.CreateStmt):
        seen.tables.add(_name(node.relation))
        return ()
    if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_TABLE:
        names = [".".join(part.sval for part in obj) for obj in node.objects]
        return tuple(f"drops table {name}" for name in names if name not in seen.tables)
    if isinstance(node, ast.RenameStmt) and node.relation is not None:
        table = _name(node.relation)
        if table in seen.tables:
            return ()
        if node.renameType == enums.ObjectType.OBJECT_TABLE:
            return (f"renames table {table} to {node.newname}",)
        if node.renameType == enums.ObjectType.OBJECT_COLUMN and (table, node.subname) not in seen.columns:
            return (f"renames column {table}.{node.subname} to {node.newname}",)
        return ()
    if isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        return _altered(_name(node.relation), node.cmds, seen)
    return ()


def _altered(table: str, commands: Sequence[ast.AlterTableCmd], seen: _Seen) -> tuple[str, ...]:
    found = []
    for command in commands:
        if command.subtype == enums.AlterTableType.AT_AddColumn and command.def_ is not None:
            seen.columns.add((table, command.def_.colname))
        if table in seen.tables or (table, command.name) in seen.columns:
            continue
        if command.subtype == enums.AlterTableType.AT_DropColumn:
            found.append(f"drops column {table}.{command.name}")
        elif command.subtype == enums.AlterTableType.AT_AlterColumnType:
            found.append(f"changes the type of {table}.{command.name} to {RawStream()(command.def_.typeName)}")
        elif command.subtype == enums.AlterTableType.AT_SetNotNull:
            found.append(f"sets NOT NULL on existing column {table}.{command.name}")
    return tuple(found)


# --- a migration command's statements, from the scratch server's CSV log

# csvlog columns (PostgreSQL 13+): 1 user, 2 database, 13 message, 14 detail
_DATABASE, _MESSAGE, _DETAIL = 2, 13, 14
_LOGGED = re.compile(r"^(?:statement|execute [^:]*): (.*)\Z", re.DOTALL)
_PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def logged_statements(paths: Iterable[Path], database: str) -> list[str]:
    """The statements sessions on ``database`` sent, in the order logged (``log_statement = 'all'``), with the
    parameters of extended-protocol statements put in as literals so they can be replayed."""
    found = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace", newline="") as file:
            for row in csv.reader(file):
                if len(row) <= _DETAIL or row[_DATABASE] != database:
                    continue
                match = _LOGGED.match(row[_MESSAGE])
                if match:
                    found.extend(split_statements(with_parameters(match.group(1), row[_DETAIL])))
    return found


def with_parameters(query: str, detail: str) -> str:
    """``query`` with its ``$n`` placeholders replaced by the values the log's detail line gives
    (``parameters: $1 = 'x', $2 = NULL``), outside quoted text."""
    values = {int(number): value for number, value in _PARAMETER.findall(detail.removeprefix("parameters: "))}
    if not values:
        return query
    pieces = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", query)
    for index in range(0, len(pieces), 2):  # the even pieces are outside quotes
        pieces[index] = re.sub(
            r"\$(\d+)\b", lambda m: values.get(int(m.group(1)), m.group(0)), pieces[index]
        )  # fmt: skip
    return "".join(pieces)


def applied_name(statement: str, table: str, column: str) -> str | None:
    """The migration name a migrator records after applying it: the ``column`` value of an INSERT into ``table``
    (``schema.name``, or a name in any schema), when the statement is one."""
    try:
        nodes = [raw.stmt for raw in parse_sql(statement)]
    except ParseError:
        return None
    if len(nodes) != 1 or not isinstance(nodes[0], ast.InsertStmt):
        return None
    insert = nodes[0]
    schema, _, name = table.rpartition(".")
    if insert.relation.relname != name or (schema and insert.relation.schemaname not in (None, schema)):
        return None
    columns = [target.name for target in insert.cols or ()]
    rows = getattr(insert.selectStmt, "valuesLists", None)
    if column not in columns or not rows:
        return None
    value = rows[0][columns.index(column)]
    if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String):
        return value.val.sval
    return None
