"""The migration dry-run (REL-03, REL-04, RB-02): pending migrations traced statement by statement on a copy of
the target's schema, and the target's long transactions and lock waits that a migration would queue behind.

1. Copy: ``pg_dump -Fc --schema-only`` from the target in a read-only session (the password travels in
   PGPASSWORD, never in argv), plus the rows of the applied-migrations table, restored with
   ``pg_restore --no-owner --no-privileges`` into a database of a scratch PostgreSQL. With ``seed_rows``, the
   copy's tables get generated rows up to the target's row estimates (migration_seed.py).
2. Pending migrations, from one of two sources:
   - ``dir``: its ``*.sql`` files (``*.down.sql`` are reverse scripts) not listed in the target's applied table;
   - ``command``: the app's own migration command, run against another copy (within ``command_timeout_s``, in
     an environment built from an allowlist, ``DATABASE_URL`` and ``PG*`` pointing at the copy: see
     :func:`command_environ`) while the scratch server logs every statement of that database to its CSV log; the
     statements are read back (split into migrations where the migrator records one in the applied table) and
     replayed under tracing on a fresh copy.
3. Trace (migration_trace.py): locks, rewrites, constraints added already valid, indexes built, destructive
   changes and durations, statement by statement, and the verdict on each.
4. Sizes come from the target's statistics (``pg_class.reltuples``), so "a lock on a large table" means large in
   production, not on the copy. Without seeded rows, durations only show DDL cost, not data cost.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from golive.config import DatabaseSettings, MigrationSettings
from golive.outcomes import ProbeError
from golive.probes.backups import pg_restore, pg_tool
from golive.probes.db import Session, conninfo_of, table_estimates
from golive.probes.migration_seed import Seeding, seed_rows
from golive.probes.migration_sql import applied_name, code_of, logged_statements
from golive.probes.migration_trace import Migration, MigrationTrace, Tracer
from golive.sandbox.postgres import HOST, SUPERUSER
from golive.scratch import ScratchPostgres
from golive.secrets import MIN_SCAN_LENGTH, Secret

STEP_MARK = re.compile(r"--\s*golive:\s*step\s+(\d+)\s+of\s+(\d+)\b(.*)", re.IGNORECASE)
# The scratch server of the dry-run keeps a CSV log, so that a migration command's statements can be read back.
LOGGING = {"logging_collector": "on", "log_destination": "'csvlog'", "log_directory": "'log'", "log_rotation_size": "0"}
_END_OF_COMMAND = "select 'golive: the migration command has ended'"
_LOG_WAIT_S = 10.0


def scratch_cluster() -> ScratchPostgres:
    """A scratch PostgreSQL set up for dry-runs (several dry-runs may share one: each makes its own databases)."""
    return ScratchPostgres(settings=LOGGING)


def _step_of(text: str) -> str | None:
    mark = STEP_MARK.search(text)
    return f"step {mark.group(1)} of {mark.group(2)}{mark.group(3).rstrip()}" if mark else None


def _reverse_of(directory: Path, name: str) -> Path | None:
    """NAME.down.sql beside the migration, when it holds more than comments."""
    reverse = directory / f"{name}.down.sql"
    return reverse if reverse.is_file() and code_of(reverse.read_text(encoding="utf-8")) else None


def migration_files(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise ProbeError(f"migrations directory {directory} does not exist or is not a directory")
    found = []
    for path in sorted(directory.glob("*.sql")):
        if path.name.endswith(".down.sql"):
            continue
        stem = path.name.removesuffix(".sql")
        try:
            text = path.read_text(encoding="utf-8")
            reverse = _reverse_of(directory, stem)
        except UnicodeDecodeError as exc:
            raise ProbeError(f"migration {path.name} (or its .down.sql) is not UTF-8 text: {exc.reason}") from None
        found.append(Migration(stem, path, text, reverse, _step_of(text)))
    return found


def applied_migrations(session: Session, settings: MigrationSettings) -> set[str]:
    if settings.applied_table is None:
        return set()
    table = sql.Identifier(*settings.applied_table.split(".", 1))
    query = sql.SQL("select {} from {}").format(sql.Identifier(settings.applied_column), table)
    return {str(row[0]).removesuffix(".sql") for row in session.rows(query.as_string(session.conn))}


# --- long transactions and lock waits on the target now


@dataclass(frozen=True)
class Activity:
    """A transaction on the target a migration could queue behind: a client session's, an anti-wraparound
    autovacuum's (``kind = "autovacuum"``: it does not give way to a lock request, as other autovacuums do) or a
    prepared transaction's (``kind = "prepared"``: no session holds it, its locks stay until COMMIT PREPARED or
    ROLLBACK PREPARED; ``pid`` None, ``gid`` its name, ``locks`` the relation locks it holds)."""

    pid: int | None
    user: str | None
    state: str | None
    age_s: float  # of its transaction
    blocked_by: list[int]  # 0: a prepared transaction
    waiting_s: float  # since its statement started, when it waits on a lock
    query: str
    kind: str = "session"
    gid: str | None = None
    locks: int = 0

    @property
    def who(self) -> str:
        if self.kind == "prepared":
            return f"prepared transaction {self.gid!r} ({self.user}, holding {self.locks} relation locks)"
        return f"{self.kind} {self.pid} ({self.user}, {self.state})"


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


_ACTIVITY = """
select pid, usename, state, extract(epoch from now() - xact_start)::float8, pg_blocking_pids(pid),
       extract(epoch from now() - query_start)::float8, left(query, 4000), backend_type
from pg_stat_activity
where datname = current_database() and backend_type in ('client backend', 'autovacuum worker')
  and pid <> pg_backend_pid() and xact_start is not null and application_name not like 'golive%%'
  and (now() - xact_start > make_interval(secs => %s) or cardinality(pg_blocking_pids(pid)) > 0)
order by xact_start
"""
_PREPARED = """
select p.gid, p.owner, extract(epoch from now() - p.prepared)::float8,
       (select count(*) from pg_locks l  -- a prepared transaction's locks: no pid, its transaction id's vxid
        where l.locktype = 'relation' and l.pid is null
          and l.virtualtransaction in (select x.virtualtransaction from pg_locks x where x.locktype = 'transactionid'
                                       and x.transactionid = p.transaction and x.pid is null))
from pg_prepared_xacts p
where p.database = current_database() and now() - p.prepared > make_interval(secs => %s)
order by p.prepared
"""
WRAPAROUND = "(to prevent wraparound)"  # how pg_stat_activity shows an anti-wraparound autovacuum's query


def holds_on(backend_type: str, query: str) -> bool:
    """Whether a backend in a long (or waiting) transaction keeps a migration waiting: a client session, or an
    autovacuum that will not give way (anti-wraparound; seeing its query needs pg_read_all_stats, in pg_monitor).
    Any other autovacuum cancels itself when a lock request conflicts with it."""
    return backend_type == "client backend" or WRAPAROUND in query


def long_transactions(session: Session, max_age_s: float) -> list[Activity]:
    """Transactions on the target database older than max_age_s, or waiting on a lock: client sessions'
    (golive's own, such as the dry-run's pg_dump, excepted), anti-wraparound autovacuums' and prepared
    transactions'."""
    found = [Activity(int(p), u, s, round(float(a), 1), list(b), round(float(w), 1), redact_literals(str(q)),
                      "session" if kind == "client backend" else "autovacuum")
             for p, u, s, a, b, w, q, kind in session.rows(_ACTIVITY, (max_age_s,))
             if holds_on(str(kind), str(q))]  # fmt: skip
    found += [Activity(None, owner, "prepared", round(float(age), 1), [], 0.0, "", "prepared", str(gid), int(locks))
              for gid, owner, age, locks in session.rows(_PREPARED, (max_age_s,))]  # fmt: skip
    return found


def describe_activity(activity: Activity, max_age_s: float) -> str:
    """One transaction a migration would queue behind: waiting on a lock, open too long, or prepared too long
    ago."""
    if activity.blocked_by:
        holders = ", ".join("a prepared transaction" if pid == 0 else f"session {pid}" for pid in activity.blocked_by)
        return (f"{activity.who} has waited {activity.waiting_s:.0f} s on a lock held by {holders}, "
                f"expected no lock waits: {activity.query}")  # fmt: skip
    if activity.kind == "prepared":
        return (f"{activity.who} was prepared {activity.age_s:.0f} s ago (limit {max_age_s:g} s) and keeps its "
                "locks until COMMIT PREPARED or ROLLBACK PREPARED")  # fmt: skip
    return (f"{activity.who} has had a transaction open for {activity.age_s:.0f} s (limit {max_age_s:g} s): "
            f"{activity.query}")  # fmt: skip


# --- the dry-run


@dataclass(frozen=True)
class DryRun:
    pending: list[MigrationTrace]
    applied: int
    copy_s: float
    trace_s: float
    source: str = ""
    seeding: Seeding | None = None


def _dump(url: Secret, settings: DatabaseSettings, target: Path, what: str, *options: str) -> None:
    """pg_dump from the target in a read-only session, the password in the environment only."""
    params = conninfo_of(url)
    password = params.pop("password", None)
    params["connect_timeout"] = str(max(2, int(settings.connect_timeout_s)))
    # in the conninfo, not PGOPTIONS: the URL's own options would replace PGOPTIONS; ours come last and win
    params["options"] = f"{params.get('options') or ''} -c default_transaction_read_only=on".strip()
    env = {**os.environ, "PGAPPNAME": "golive-dry-run"}
    if password:
        env["PGPASSWORD"] = str(password)
    command = [pg_tool("pg_dump"), *options, "--no-owner", "--no-privileges", "-Fc", "-f", str(target),
               "-d", make_conninfo(**params)]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, errors="replace",
                              timeout=settings.tool_timeout_s,
                              check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProbeError(f"pg_dump {what} did not finish within {settings.tool_timeout_s:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        raise ProbeError(f"pg_dump {what} of {url.name} failed: {reason.removeprefix('pg_dump: error: ')}")


def dry_run(
    url: Secret,
    session: Session,
    settings: DatabaseSettings,
    migrations: MigrationSettings,
    scratch: ScratchPostgres | None = None,
) -> DryRun:
    """Copy the schema, then trace every pending migration on the copy and judge each statement. ``scratch``: a
    running :func:`scratch_cluster` to use (else one is started and removed for this dry-run)."""
    if scratch is None:
        with scratch_cluster() as own:
            return dry_run(url, session, settings, migrations, own)
    sizes = {name: rows or 0 for name, rows in table_estimates(session).items()}
    applied = applied_migrations(session, migrations)
    started = time.perf_counter()
    run_id = secrets.token_hex(4)
    dumps = [scratch.root / f"schema-{run_id}.dump"]
    _dump(url, settings, dumps[0], "--schema-only", "--schema-only")
    if migrations.applied_table:
        dumps.append(scratch.root / f"applied-{run_id}.dump")
        _dump(url, settings, dumps[1], f"--data-only --table={migrations.applied_table}", "--data-only",
              f"--table={migrations.applied_table}")  # fmt: skip

    def copy(purpose: str) -> str:
        name = f"{purpose}_{run_id}"
        target = scratch.create_database(name)
        for dump in dumps:
            pg_restore(str(dump), target, settings.tool_timeout_s, "the schema copy")
        return name

    if migrations.command:
        pending = _command_migrations(url, scratch, copy("command"), migrations)
        source = f"command {migrations.command}"
    else:
        assert migrations.dir is not None  # a source is required by MigrationSettings
        pending = [m for m in migration_files(Path(migrations.dir)) if m.name not in applied]
        source = f"files in {migrations.dir}"
    target = scratch.conninfo(copy("dry_run"))
    seeding = None
    if migrations.seed_rows:
        with psycopg.connect(target, autocommit=True) as conn:
            seeding = seed_rows(conn, sizes, migrations.seed_max_rows)
    copy_s = time.perf_counter() - started
    traced_at = time.perf_counter()
    tracer = Tracer(target, sizes, migrations, settings.tool_timeout_s)
    try:
        traces = [tracer.trace(m) for m in pending]
    finally:
        tracer.close()
    trace_s = time.perf_counter() - traced_at
    return DryRun(traces, len(applied), round(copy_s, 2), round(trace_s, 2), source, seeding)


# --- migrations from the app's migration command


# What the migration command inherits from golive's environment: what programs need to run (PATH, HOME, locale,
# temporary directories, Node's and npm's settings), never a database address. DATABASE_URL and the PG* variables
# are set to the copy; database.migrations.command_env names any other variable to pass.
COMMAND_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "TERM")
COMMAND_ENV_PREFIXES = ("LC_", "NODE_", "npm_", "NPM_")


def _reaches(value: str, servers: set[tuple[str, str]], password: str | None) -> bool:
    """Whether a variable's value could lead a program to the target: it holds the target's password, a
    host:port of the target, or is a URL or conninfo naming one of the target's servers (port 5432 when unsaid)."""
    if password and len(password) >= MIN_SCAN_LENGTH and password in value:
        return True
    if any(f"{host}:{port}" in value.lower() for host, port in servers):  # host names are case-insensitive
        return True
    try:
        params = conninfo_to_dict(value)
    except psycopg.ProgrammingError:
        return False
    return bool(_servers(params) & servers) if params.get("host") or params.get("hostaddr") else False


def _servers(params: dict[str, object]) -> set[tuple[str, str]]:
    """(host, port) pairs a conninfo names: each host and hostaddr (lowercase) with its port."""
    hosts = [h for key in ("host", "hostaddr") for h in str(params.get(key) or "").split(",") if h]
    ports = [p for p in str(params.get("port") or "").split(",") if p] or ["5432"]
    return {(host.lower(), ports[i] if i < len(ports) else ports[-1]) for i, host in enumerate(hosts)}


def command_environ(operator: Mapping[str, str], target: Secret, copy: ScratchPostgres, database: str,
                    passthrough: Sequence[str]) -> dict[str, str]:  # fmt: skip
    """The migration command's environment, built from nothing: the variables of COMMAND_ENV (and those starting
    with COMMAND_ENV_PREFIXES) and ``passthrough`` from ``operator``, then DATABASE_URL and PG* pointing at the copy
    ``database``. ProbeError (naming the variable, never its value) when a passed value could reach the target."""
    params = conninfo_of(target)
    servers = _servers({"host": "localhost", **params})
    password = str(params["password"]) if params.get("password") else None
    passed = {name: value for name, value in operator.items()
              if name in COMMAND_ENV or name.startswith(COMMAND_ENV_PREFIXES) or name in passthrough}  # fmt: skip
    for name, value in sorted(passed.items()):
        if _reaches(value, servers, password):
            raise ProbeError(
                f"database.migrations.command: {name} in its environment names the target "
                f"({', '.join(sorted(f'{h}:{p}' for h, p in servers))}) or holds its password; refusing to run "
                "the command, which could migrate the target instead of the copy"
            )
    return {**passed, "DATABASE_URL": copy.url(database), "PGHOST": HOST, "PGPORT": str(copy.port),
            "PGUSER": SUPERUSER, "PGPASSWORD": copy.password, "PGDATABASE": database, "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "5"}  # fmt: skip


def _run_command(migrations: MigrationSettings, environ: dict[str, str]) -> str | None:
    """Run the migration command in a process group of its own; None when it succeeded, else how it failed (one
    line). On timeout the whole group is killed: a wrapper's children (npm's node, a shell's psql) cannot keep the
    copy, or golive, waiting."""
    assert migrations.command is not None
    words = shlex.split(migrations.command)
    try:
        process = subprocess.Popen(words, env=environ, cwd=migrations.command_cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                   start_new_session=True)  # fmt: skip
    except FileNotFoundError:
        raise ProbeError(f"database.migrations.command: program {words[0]!r} not found") from None
    with process:
        try:
            out, err = process.communicate(timeout=migrations.command_timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return f"the migration command did not finish within {migrations.command_timeout_s:g} s on the copy"
    if process.returncode == 0:
        return None
    said = (err.strip() or out.strip()).splitlines()
    return f"the migration command exited {process.returncode} on the copy" + (f": {said[-1][:200]}" if said else "")


def _logged(scratch: ScratchPostgres, database: str) -> list[str]:
    """The statements sessions sent to ``database``, once the CSV log holds everything up to now."""
    with psycopg.connect(scratch.conninfo(database), autocommit=True) as conn:
        conn.execute(_END_OF_COMMAND)
    deadline = time.monotonic() + _LOG_WAIT_S
    while True:
        statements = logged_statements(sorted((scratch.data / "log").glob("*.csv")), database)
        if statements and statements[-1] == _END_OF_COMMAND:
            return statements[:-1]
        if time.monotonic() > deadline:
            raise ProbeError(f"the scratch server's statement log did not show the migration command within "
                             f"{_LOG_WAIT_S:g} s")  # fmt: skip
        time.sleep(0.05)


def _command_migrations(url: Secret, scratch: ScratchPostgres, database: str,
                        migrations: MigrationSettings) -> list[Migration]:  # fmt: skip
    """Run the migration command on the copy ``database`` with statement logging on, and read back what it ran:
    one migration per row it recorded in the applied table (named by it), the rest as one named after the
    command."""
    with psycopg.connect(scratch.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("alter database {} set log_statement = 'all'").format(sql.Identifier(database)))
    environ = command_environ(os.environ, url, scratch, database, migrations.command_env)
    failure = _run_command(migrations, environ)
    statements = _logged(scratch, database)
    if not statements and not failure:  # it connected elsewhere, or to nothing: the copy cannot vouch for it
        failure = "the migration command sent no statement to the copy, expected it to connect with DATABASE_URL"
    assert migrations.applied_table is not None  # MigrationSettings requires it with command
    groups: list[tuple[str, list[str]]] = []
    current: list[str] = []
    for statement in statements:
        current.append(statement)
        name = applied_name(statement, migrations.applied_table, migrations.applied_column)
        if name is not None:
            groups.append((name.removesuffix(".sql"), current))
            current = []
    if any(code_of(s) for s in current) and (failure or not groups):
        groups.append((f"`{migrations.command}`", current))
    elif groups:
        groups[-1][1].extend(current)
    found = [_command_migration(name, texts, migrations) for name, texts in groups]
    if failure:
        if not found:
            return [Migration(f"`{migrations.command}`", None, "", None, None, failure)]
        last = found[-1]
        found[-1] = Migration(last.name, last.path, last.text, last.reverse, last.step, failure)
    return found


def _command_migration(name: str, statements: list[str], migrations: MigrationSettings) -> Migration:
    """A migration the command ran; its reverse script and step mark from ``dir`` when it is set."""
    text = "".join(f"{statement};\n" for statement in statements)
    directory: Path | None = migrations.dir
    if directory is None or not directory.is_dir():
        return Migration(name, None, text, None, _step_of(text))
    sources = [p for p in sorted(directory.glob(f"{name}.*")) if not p.name.endswith(".down.sql")]
    marks = [_step_of(p.read_text(encoding="utf-8", errors="replace")) for p in sources]
    step = next((mark for mark in marks if mark), _step_of(text))
    return Migration(name, sources[0] if sources else None, text, _reverse_of(directory, name), step)
