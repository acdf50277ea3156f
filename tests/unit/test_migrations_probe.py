"""The migration dry-run against real PostgreSQL: the sandbox, or a scratch server holding the app's schema with
rows, is the target; a scratch cluster holds the copies."""

import shutil
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from golive.config import DatabaseSettings, MigrationSettings
from golive.outcomes import ProbeError
from golive.probes.db import read_only_session
from golive.probes.migration_sql import applied_name, classify, split_statements, with_parameters
from golive.probes.migrations import (
    Activity,
    command_environ,
    describe_activity,
    dry_run,
    holds_on,
    long_transactions,
    migration_files,
    redact_literals,
    scratch_cluster,
)
from golive.sandbox import Sandbox
from golive.sandbox.postgres import SCHEMA
from golive.scratch import ScratchPostgres
from golive.secrets import Secret
from tests.corpus_target import PAYMENT_TABLE_ROWS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "migration_corpus"
MIGRATOR = ROOT / "tests" / "migrators"

# --- reading SQL


def test_split_statements_respects_quotes_comments_and_dollar_quotes():
    script = """
    -- a comment; with a semicolon
    SET lock_timeout = '2s';
    INSERT INTO t VALUES ('a;b', "we;ird");
    /* block; comment */
    CREATE FUNCTION f() RETURNS int AS $body$ select 1; $body$ LANGUAGE sql;
    DO $$ BEGIN PERFORM 1; END $$;
    -- only a comment at the end;
    """
    assert [" ".join(s.split()) for s in split_statements(script)] == [
        "-- a comment; with a semicolon SET lock_timeout = '2s'",
        "INSERT INTO t VALUES ('a;b', \"we;ird\")",
        "/* block; comment */ CREATE FUNCTION f() RETURNS int AS $body$ select 1; $body$ LANGUAGE sql",
        "DO $$ BEGIN PERFORM 1; END $$",
    ]


@pytest.mark.parametrize(
    ("statement", "kind", "what"),
    [
        ("BEGIN", "control", "BEGIN"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "control", "BEGIN"),
        ("COMMIT", "control", "COMMIT"),
        ("END", "control", "COMMIT"),
        ("ROLLBACK", "control", "ROLLBACK"),
        ("SAVEPOINT a", "traced", ""),
        ("VACUUM FULL orders", "outside", "VACUUM FULL"),
        ("VACUUM (ANALYZE) orders", "outside", "VACUUM"),
        ("ANALYZE orders", "traced", ""),
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "outside", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY i", "outside", "DROP INDEX CONCURRENTLY"),
        ("REINDEX TABLE CONCURRENTLY t", "outside", "REINDEX CONCURRENTLY"),
        ("REINDEX TABLE t", "traced", ""),
        ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "outside", "DETACH PARTITION CONCURRENTLY"),
        ("ALTER TYPE mood ADD VALUE 'meh'", "outside", "ALTER TYPE ... ADD VALUE"),
        ("ALTER TYPE mood RENAME VALUE 'meh' TO 'ok'", "traced", ""),
        ("CREATE DATABASE reports", "outside", "CREATE DATABASE"),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY totals", "traced", ""),
        ("ALTER TABL oops", "traced", ""),  # unparsable: the server says what is wrong
    ],
)
def test_statements_are_classified_from_their_parse_tree(statement, kind, what):
    (found,) = classify([statement])
    assert (found.kind, found.what if kind != "traced" else "") == (kind, what)


def test_destructive_statements_are_named_from_the_parse_tree_but_not_for_new_objects():
    found = classify(
        [
            "ALTER TABLE s.orders DROP COLUMN note, ALTER COLUMN amount TYPE numeric(20, 2),"
            " ALTER COLUMN receipt SET NOT NULL, ALTER COLUMN status DROP NOT NULL",
            "ALTER TABLE users RENAME COLUMN name TO full_name",
            "ALTER TABLE invoices RENAME TO bills",
            "DROP TABLE IF EXISTS refunds, audit.log",
            "CREATE TABLE coupons (id bigint)",
            "ALTER TABLE coupons ALTER COLUMN id SET NOT NULL",
            "DROP TABLE coupons",
            "ALTER TABLE users ADD COLUMN nickname text",
            "ALTER TABLE users ALTER COLUMN nickname SET NOT NULL",
        ]
    )
    assert [list(s.destructive) for s in found] == [
        ["drops column s.orders.note", "changes the type of s.orders.amount to numeric(20, 2)",
         "sets NOT NULL on existing column s.orders.receipt"],
        ["renames column users.name to full_name"],
        ["renames table invoices to bills"],
        ["drops table refunds", "drops table audit.log"],
        [], [], [], [], [],
    ]  # fmt: skip


def test_logged_parameters_become_literals_outside_quotes():
    query = "insert into t (name, note, n) values ($1, '$2 stays', $2) -- $10"
    detail = "parameters: $1 = '0002_it''s', $2 = NULL"
    assert (
        with_parameters(query, detail) == "insert into t (name, note, n) values ('0002_it''s', '$2 stays', NULL) -- $10"
    )
    assert with_parameters("select $1", "") == "select $1"


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("insert into migrations.applied (name) values ('0002_a')", "0002_a"),
        ("INSERT INTO applied (run_on, name) VALUES (now(), '0003_b.sql')", "0003_b.sql"),
        ("insert into other.applied (name) values ('0002_a')", None),
        ("insert into migrations.applied (name) select 'x'", None),
        ("update migrations.applied set name = 'x'", None),
    ],
)
def test_a_migrator_recording_a_migration_is_recognised(statement, name):
    assert applied_name(statement, "migrations.applied", "name") == name


def test_migration_files_pair_reverse_scripts_and_read_step_marks(tmp_path):
    (tmp_path / "0001_a.sql").write_text("create table a (id int);")
    (tmp_path / "0002_b.sql").write_text("-- golive: step 2 of 3 (contract)\nalter table a drop column id;")
    (tmp_path / "0002_b.down.sql").write_text("alter table a add column id int;")
    (tmp_path / "0003_c.sql").write_text("drop table a;")
    (tmp_path / "0003_c.down.sql").write_text("-- nothing yet\n")
    found = {m.name: m for m in migration_files(tmp_path)}
    assert list(found) == ["0001_a", "0002_b", "0003_c"]
    assert found["0002_b"].step == "step 2 of 3 (contract)"
    assert found["0002_b"].reverse == tmp_path / "0002_b.down.sql"
    assert found["0003_c"].reverse is None  # a reverse script of only comments is no reverse script


def test_missing_migrations_directory(tmp_path):
    with pytest.raises(ProbeError, match=r"migrations directory .*/none does not exist"):
        migration_files(tmp_path / "none")


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({}, "set dir (SQL files) or command (the app's migration command)"),
        ({"command": "npm run db:migrate"}, "command needs applied_table"),
        (
            {"command": "sh -c 'oops", "applied_table": "a"},
            "command is not a valid command line (No closing quotation)",
        ),
        ({"command": "  ", "applied_table": "a"}, "command is empty"),
    ],
)
def test_migration_settings_name_what_is_wrong(settings, error):
    with pytest.raises(ValidationError, match=error.replace("(", r"\(").replace(")", r"\)")):
        MigrationSettings(**settings)


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("select count(*) from orders", "select count(*) from orders"),
        ("UPDATE users SET email = 'a@b.in', n = 42 WHERE id=7", "UPDATE users SET email = ?, n = ? WHERE id=?"),
        ("select E'it''s\\n', $$body$$, $q$x$q$ from t1", "select ?, ?, ? from t1"),
        ("insert into cards values ('4111 1111", "insert into cards values (?"),  # cut off inside the literal
        ("select\n  a -1.5e3,\tb", "select a ?, b"),
        ("select " + "x, " * 40 + "y", ("select " + "x, " * 40)[:79] + "…"),
    ],
)
def test_other_sessions_statements_are_shown_without_their_values(query, shown):
    assert redact_literals(query) == shown


def test_a_session_waiting_on_a_lock_is_described_by_its_wait():
    waiting = Activity(41, "app", "active", 1.0, [40], 3.2, "update t set x = ?")
    held = Activity(40, "app", "idle in transaction", 75.4, [], 0.0, "select ?")
    assert describe_activity(waiting, 60) == (
        "session 41 (app, active) has waited 3 s on a lock held by session 40, expected no lock waits: "
        "update t set x = ?"
    )
    assert describe_activity(held, 60) == (
        "session 40 (app, idle in transaction) has had a transaction open for 75 s (limit 60 s): select ?"
    )


def test_a_migration_that_is_not_text_is_one_line(tmp_path):
    (tmp_path / "0001_a.sql").write_bytes(b"alter table t add column c text; -- \xff\n")
    with pytest.raises(ProbeError, match=r"^migration 0001_a.sql \(or its .down.sql\) is not UTF-8 text: invalid"):
        migration_files(tmp_path)


# --- against a scratch target holding the app's schema, 5,000 rows per payments table

POPULATE = (
    """
create schema migrations;
create table migrations.applied (name text primary key, run_on timestamptz not null default now());
insert into migrations.applied (name) values ('0001_init');
"""
    + PAYMENT_TABLE_ROWS
    + """
create table events (id bigserial primary key, n bigint not null, note text);
insert into events (n) select i from generate_series(1, 300000) i;
create table tags (code text not null check (code in ('a', 'b')));
insert into tags values ('a'), ('b');
analyze;
"""
)


@pytest.fixture(scope="module")
def scratch():
    """One scratch cluster: the target database ("app") and every dry-run's copies."""
    with scratch_cluster() as pg:
        with psycopg.connect(pg.create_database("app"), autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(POPULATE)
        yield pg


def scratch_run(scratch, directory=None, **settings):
    """The dry-run of ``directory`` (or of settings["command"]) against the scratch target."""
    migrations = MigrationSettings(dir=directory, applied_table="migrations.applied", **settings)
    database = DatabaseSettings(min_sslmode="disable", migrations=migrations)
    url = Secret("DATABASE_URL", scratch.conninfo("app"))
    with read_only_session(url, database) as session:
        return dry_run(url, session, database, migrations, scratch)


def traces_of(scratch, tmp_path, files, **settings):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {t.name: t for t in scratch_run(scratch, tmp_path, **settings).pending}


def expectation(path):
    return path.read_text().splitlines()[0].removeprefix("-- expect: ").split(" ", 1)[0]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sql")), ids=lambda p: p.stem)
def test_corpus_verdicts_match_what_a_reviewer_expects(scratch, tmp_path, path):
    """Each corpus file, alone, on a copy seeded to the target's 5,000 rows per table (below large_table_rows):
    dangerous files have findings (REL-03, REL-04 or RB-02), safe ones none."""
    shutil.copy(path, tmp_path)
    (trace,) = scratch_run(scratch, tmp_path, seed_rows=True, seed_max_rows=5000).pending
    assert ("dangerous" if trace.findings else "safe") == expectation(path), trace.findings


def test_vacuum_full_runs_outside_the_transaction_and_shows_its_lock_and_rewrite(scratch, tmp_path):
    trace = traces_of(scratch, tmp_path, {"0002_vacuum.sql": (CORPUS / "18_vacuum_full.sql").read_text()})[
        "0002_vacuum"
    ]
    vacuum = trace.statements[1].summary()
    assert (vacuum["run"], vacuum["locks"], vacuum["rewrites"], vacuum["lock_timeout_ms"]) == (
        "outside", ["AccessExclusiveLock on public.orders"], ["public.orders"], 2000)  # fmt: skip
    assert trace.error is None
    assert trace.problems == ["0002_vacuum: rewrites public.orders (about 5000 rows), expected no table rewrite"]


def test_a_file_in_its_own_transaction_is_traced_and_applied_once(scratch, tmp_path):
    traces = traces_of(scratch, tmp_path, {
        "0002_table.sql": "BEGIN;\nSET LOCAL lock_timeout = '1s';\nCREATE TABLE coupons (id bigint);\n"
                          "ALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\n",
        "0003_column.sql": "SET lock_timeout = '1s';\nALTER TABLE coupons ADD COLUMN code text;\n",
    })  # fmt: skip
    table, column = traces["0002_table"], traces["0003_column"]
    assert [s.summary()["run"] for s in table.statements] == [
        "not run: transaction control, recorded",
        "traced",
        "traced",
        "traced",
        "not run: transaction control, recorded",
    ]
    assert table.statements[3].locks == [("public.users", "AccessExclusiveLock")]
    assert table.statements[3].lock_timeout_ms == 1000
    assert (table.findings, column.findings) == ([], [])  # applied once: no "already exists"


def test_concurrently_inside_the_files_transaction_block_is_a_problem(scratch, tmp_path):
    path = CORPUS / "21_concurrently_in_transaction.sql"
    trace = traces_of(scratch, tmp_path, {"0002_index.sql": path.read_text()})["0002_index"]
    assert trace.problems == [
        "0002_index: CREATE INDEX CONCURRENTLY inside the migration's own transaction block (BEGIN at statement 1): "
        "PostgreSQL refuses it there"
    ]


def test_a_unique_index_built_concurrently_is_taken_over_by_a_constraint(scratch, tmp_path):
    files = {"0002_unique.sql": (CORPUS / "20_unique_using_index.sql").read_text()}
    trace = traces_of(scratch, tmp_path, files, seed_rows=True)["0002_unique"]
    index, _, constraint = trace.statements
    assert (index.kind, index.locks) == ("outside", [("public.orders", "ShareUpdateExclusiveLock")])
    assert constraint.locks == [("public.orders", "AccessExclusiveLock")]
    assert constraint.indexes == []
    assert trace.findings == []


def test_refresh_materialized_view_concurrently_is_traced_in_the_transaction(scratch, tmp_path):
    traces = traces_of(scratch, tmp_path, {
        "0002_view.sql": "CREATE MATERIALIZED VIEW totals AS SELECT currency, sum(amount) FROM orders GROUP BY 1;\n"
                         "CREATE UNIQUE INDEX totals_currency ON totals (currency);\n",
        "0003_refresh.sql": "SET lock_timeout = '1s';\nREFRESH MATERIALIZED VIEW CONCURRENTLY totals;\n",
    })  # fmt: skip
    refresh = traces["0003_refresh"].statements[1]
    assert (refresh.kind, refresh.traced) == ("traced", True)
    assert ("public.totals", "ExclusiveLock") in refresh.locks


def test_destructive_statements_after_a_failure_still_count(scratch, tmp_path):
    trace = traces_of(scratch, tmp_path, {"0002_drop.sql": (CORPUS / "22_fail_before_drop.sql").read_text()})[
        "0002_drop"
    ]
    assert trace.error == 'statement 2: relation "settlements" does not exist'
    assert [s.summary()["run"] for s in trace.statements] == [
        "traced", "not run: failed", "not run: an earlier one failed"]  # fmt: skip
    assert trace.destructive == ["drops column payments.method"]
    assert trace.unplanned == (
        "0002_drop drops column payments.method and is not marked as a step of a multi-step plan "
        "(expected '-- golive: step N of M')"
    )
    assert (
        trace.irreversible
        == "0002_drop drops column payments.method but has no reverse script (expected 0002_drop.down.sql)"
    )


def test_a_statement_over_the_budget_fails(scratch, tmp_path):
    trace = traces_of(scratch, tmp_path, {"0002_slow.sql": "SELECT pg_sleep(0.05);\n"}, statement_budget_ms=10)
    (problem,) = trace["0002_slow"].problems
    assert problem.startswith("0002_slow: took ")
    assert problem.endswith(" ms, budget 10 ms")


def test_constraints_added_valid_fail_and_not_valid_ones_pass(scratch, tmp_path):
    traces = traces_of(scratch, tmp_path, {
        "0002_valid.sql": "SET lock_timeout = '1s';\nALTER TABLE refunds ADD CONSTRAINT positive CHECK (amount > 0);\n",
        "0003_not_valid.sql": "SET lock_timeout = '1s';\n"
                              "ALTER TABLE refunds ADD CONSTRAINT small CHECK (amount < 10000000) NOT VALID;\n",
    })  # fmt: skip
    assert traces["0002_valid"].statements[1].valid_constraints == [("positive", "public.refunds")]
    assert traces["0002_valid"].problems == [
        "0002_valid: adds constraint positive on public.refunds already valid: checks about 5000 rows under its "
        "lock, expected NOT VALID, then VALIDATE CONSTRAINT"
    ]
    assert traces["0003_not_valid"].statements[1].valid_constraints == []
    assert traces["0003_not_valid"].problems == []


def test_seeded_rows_make_the_statement_budget_real(scratch, tmp_path):
    """A data migration on the 300,000-row events table: instant on the schema-only copy, over budget once the
    copy holds the target's rows (up to seed_max_rows, 100,000 by default)."""
    files = {"0002_backfill.sql": "UPDATE events SET n = n + 1;\n"}
    empty = traces_of(scratch, tmp_path, files, statement_budget_ms=50)["0002_backfill"]
    assert empty.problems == []
    result = scratch_run(scratch, tmp_path, statement_budget_ms=50, seed_rows=True)
    (problem,) = result.pending[0].problems
    assert problem.startswith("0002_backfill: took ")
    assert problem.endswith(" ms, budget 50 ms")
    assert result.seeding.rows == {"public.events": 100000, "public.orders": 5000, "public.payments": 5000,
                                   "public.refunds": 5000, "public.users": 5000}  # fmt: skip


def test_seeding_is_capped_and_says_which_tables_it_could_not_fill(scratch, tmp_path):
    (tmp_path / "0002_noop.sql").write_text("SELECT 1;\n")
    seeding = scratch_run(scratch, tmp_path, seed_rows=True, seed_max_rows=1000).seeding
    assert (seeding.rows["public.orders"], seeding.rows["public.events"]) == (1000, 1000)
    assert seeding.skipped == {
        "migrations.applied": "holds rows on the copy already",
        "public.tags": 'new row for relation "tags" violates check constraint "tags_code_check"',
    }


# --- migrations from a command


def test_a_safe_migration_command_is_replayed_clean(scratch):
    result = scratch_run(scratch, command=f"sh {MIGRATOR / 'psql_migrate.sh'} {MIGRATOR / 'safe'}")
    (trace,) = result.pending
    assert result.source.startswith("command sh ")
    assert trace.name == "0002_users_nickname"
    assert [s.summary()["statement"] for s in trace.statements] == [
        "select name from migrations.applied", "BEGIN", "SET LOCAL lock_timeout = '2s'",
        "ALTER TABLE users ADD COLUMN nickname text", "COMMIT",
        "insert into migrations.applied (name) values ('0002_users_nickname')",
    ]  # fmt: skip
    assert trace.statements[3].locks == [("public.users", "AccessExclusiveLock")]
    assert trace.findings == []


def test_a_dangerous_migration_command_is_caught(scratch):
    command = f"sh {MIGRATOR / 'psql_migrate.sh'} {MIGRATOR / 'dangerous'}"
    traces = {t.name: t for t in scratch_run(scratch, MIGRATOR / "dangerous", command=command).pending}
    assert list(traces) == ["0002_orders_token", "0003_payments_drop_method", "0004_orders_index"]
    assert traces["0002_orders_token"].findings == [
        "0002_orders_token: rewrites public.orders (about 5000 rows), expected no table rewrite"]  # fmt: skip
    drop = traces["0003_payments_drop_method"]
    assert drop.migration.step == "step 2 of 2 (the app stopped reading payments.method in v1.3.0)"
    assert drop.findings == [
        "0003_payments_drop_method drops column public.payments.method but has no reverse script "
        "(expected 0003_payments_drop_method.down.sql)"]  # fmt: skip
    assert traces["0004_orders_index"].findings == [
        "0004_orders_index: takes ShareLock on public.orders without lock_timeout, expected lock_timeout set",
        "0004_orders_index: builds index public.orders_created_idx on public.orders (about 5000 rows) while the "
        "table is locked, expected CREATE INDEX CONCURRENTLY",
    ]


def test_the_command_runs_against_the_copy_and_its_failure_is_a_finding(scratch, tmp_path):
    seen = tmp_path / "url"
    command = f"sh -c 'echo \"$DATABASE_URL\" > {seen}; echo migrator broke >&2; exit 3'"
    (trace,) = scratch_run(scratch, command=command).pending
    assert trace.findings == [f"`{command}`: the migration command exited 3 on the copy: migrator broke"]
    assert seen.read_text().strip().startswith(f"postgresql://postgres:{scratch.password}@127.0.0.1:{scratch.port}"
                                               "/command_")  # fmt: skip


# A migrator that, like Prisma with a directUrl, migrates over DIRECT_URL when it is set.
DIRECT_MIGRATOR = 'psql "${DIRECT_URL:-$DATABASE_URL}" -X -q -v ON_ERROR_STOP=1 -c "create table direct_probe (id int)"'


def target_tables(scratch) -> list[str]:
    with psycopg.connect(scratch.conninfo("app")) as conn:
        return [row[0] for row in conn.execute("select relname from pg_class where relname = 'direct_probe'")]


def test_a_migrator_reading_direct_url_migrates_the_copy_not_the_target(scratch, monkeypatch):
    """The operator's DIRECT_URL (and every other variable outside the allowlist) stays out of the command's
    environment: the migrator falls back to DATABASE_URL, the copy, and the target is untouched."""
    monkeypatch.setenv("DIRECT_URL", scratch.conninfo("app"))
    (trace,) = scratch_run(scratch, command=f"sh -c '{DIRECT_MIGRATOR}'").pending
    assert [s.summary()["statement"] for s in trace.statements] == ["create table direct_probe (id int)"]
    assert target_tables(scratch) == []


def test_passing_a_variable_that_names_the_target_is_refused(scratch, monkeypatch):
    monkeypatch.setenv("DIRECT_URL", scratch.conninfo("app"))
    with pytest.raises(ProbeError) as caught:
        scratch_run(scratch, command=f"sh -c '{DIRECT_MIGRATOR}'", command_env=["DIRECT_URL"])
    assert str(caught.value) == (
        f"database.migrations.command: DIRECT_URL in its environment names the target ({scratch.root}:"
        f"{scratch.port}) or holds its password; refusing to run the command, which could migrate the target "
        "instead of the copy"
    )
    assert target_tables(scratch) == []


TARGET = Secret("DATABASE_URL", "postgresql://app:Pr0dPassw0rd@DB.Prod.Internal/app?sslmode=verify-full")


def test_the_command_environment_is_an_allowlist_with_the_copy_as_its_database(scratch):
    operator = {"PATH": "/usr/bin", "HOME": "/home/ci", "LC_ALL": "C.UTF-8",
                "NODE_OPTIONS": "--max-old-space-size=4096", "npm_config_cache": "/tmp/npm",
                "DATABASE_URL": TARGET.reveal(), "PGHOST": "db.prod.internal",
                "PGSERVICE": "prod", "DIRECT_URL": TARGET.reveal(), "POSTGRES_URL_NON_POOLING": TARGET.reveal(),
                "SHADOW_DATABASE_URL": "postgresql://app@shadow/app", "AWS_SECRET_ACCESS_KEY": "x" * 40,
                "FLYWAY_HOME": "/opt/flyway"}  # fmt: skip
    environ = command_environ(operator, TARGET, scratch, "copy_1", ["FLYWAY_HOME"])
    assert environ == {
        "PATH": "/usr/bin", "HOME": "/home/ci", "LC_ALL": "C.UTF-8", "NODE_OPTIONS": "--max-old-space-size=4096",
        "npm_config_cache": "/tmp/npm", "FLYWAY_HOME": "/opt/flyway", "DATABASE_URL": scratch.url("copy_1"),
        "PGHOST": "127.0.0.1", "PGPORT": str(scratch.port), "PGUSER": "postgres", "PGPASSWORD": scratch.password,
        "PGDATABASE": "copy_1", "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "5",
    }  # fmt: skip


@pytest.mark.parametrize(
    "value",
    ["postgresql://app:other@db.prod.internal/app",  # the target's host, its port left out (5432)
     "host=db.prod.internal user=migrator",  # a conninfo
     "jdbc:postgresql://DB.PROD.INTERNAL:5432/app",  # host:port inside a longer value, in capitals
     "Pr0dPassw0rd"],  # the password alone
)  # fmt: skip
def test_a_passed_variable_that_could_reach_the_target_is_refused(scratch, value):
    with pytest.raises(ProbeError) as caught:
        command_environ({"PATH": "/usr/bin", "MIGRATOR_URL": value}, TARGET, scratch, "copy_1", ["MIGRATOR_URL"])
    assert str(caught.value).startswith(
        "database.migrations.command: MIGRATOR_URL in its environment names the target (db.prod.internal:5432)"
    )
    assert value not in str(caught.value)


def test_a_passed_variable_naming_another_server_is_passed(scratch):
    operator = {"MIGRATOR_URL": "postgresql://app:other@db.prod.internal:6432/app"}  # another port: pgbouncer
    assert command_environ(operator, TARGET, scratch, "c", ["MIGRATOR_URL"])["MIGRATOR_URL"] == operator["MIGRATOR_URL"]


def test_a_command_that_outlives_its_timeout_is_ended_with_its_children(scratch):
    """A wrapper whose child keeps the output pipe open (npm running node, sh running psql): the whole process
    group is killed, so golive does not wait for the child."""
    started = time.monotonic()
    (trace,) = scratch_run(scratch, command="sh -c 'sleep 30 & sleep 30'", command_timeout_s=1).pending
    assert time.monotonic() - started < 15
    assert trace.findings == [
        "`sh -c 'sleep 30 & sleep 30'`: the migration command did not finish within 1 s on the copy"
    ]


def test_a_command_that_never_reaches_the_copy_is_a_finding(scratch):
    (trace,) = scratch_run(scratch, command="true").pending
    assert trace.findings == [
        "`true`: the migration command sent no statement to the copy, expected it to connect with DATABASE_URL"
    ]


def test_a_missing_migration_program_is_one_line(scratch):
    with pytest.raises(ProbeError, match=r"^database.migrations.command: program 'no-such-migrator' not found$"):
        scratch_run(scratch, command="no-such-migrator up")


# --- against the sandbox


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("migrations")) as sandbox:
        yield sandbox


def run(box, faults=(), extra=None, copy_to=None):
    """The dry-run of the sandbox's migrations with faults on; extra files go into a copy of the directory."""
    box.set_faults(faults)
    directory = box.workdir / "migrations"
    if extra:
        shutil.copytree(directory, copy_to)
        directory = copy_to
        for name, text in extra.items():
            (directory / name).write_text(text)
    migrations = MigrationSettings(dir=directory, applied_table="migrations.applied", large_table_rows=1000)
    settings = DatabaseSettings(migrations=migrations)
    url = Secret("DATABASE_URL", box.environ()["DATABASE_URL"])
    try:
        with read_only_session(url, settings) as session:
            return dry_run(url, session, settings, migrations)
    finally:
        box.set_faults(())


def test_healthy_pending_migrations_trace_clean(box):
    result = run(box)
    assert result.applied == 1
    assert [t.name for t in result.pending] == [
        "0002_users_last_login", "0003_orders_status_index", "0004_payments_drop_method"]  # fmt: skip
    last_login, index, drop = result.pending
    assert last_login.statements[1].locks == [("public.users", "AccessExclusiveLock")]
    assert last_login.statements[1].lock_timeout_ms == 2000
    assert (index.statements[0].kind, index.statements[0].locks) == (
        "outside", [("public.orders", "ShareUpdateExclusiveLock")])  # fmt: skip
    assert drop.destructive == ["drops column public.payments.method"]
    assert [p for t in result.pending for p in t.findings] == []


def test_lock_on_a_populated_table_fails_with_its_size(box):
    (trace,) = [t for t in run(box, ["migration-locks-populated-table"]).pending if t.name.startswith("0005")]
    (problem,) = trace.problems
    assert problem.startswith("0005_webhook_events_default: takes AccessExclusiveLock on public.webhook_events")
    assert "limit 1000), which blocks the app" in problem


def test_rewrite_is_seen_through_relfilenode(box):
    (trace,) = [t for t in run(box, ["migration-rewrites-table"]).pending if t.name.startswith("0005")]
    assert trace.statements[1].rewrites == ["public.refunds"]
    assert trace.problems == ["0005_refunds_ref: rewrites public.refunds (about 0 rows), expected no table rewrite"]


def test_lock_without_lock_timeout_fails(box, tmp_path):
    extra = {"0009_no_timeout.sql": "CREATE INDEX users_created_idx ON users (created_at);\n"}
    (trace,) = [t for t in run(box, extra=extra, copy_to=tmp_path / "m").pending if t.name == "0009_no_timeout"]
    assert trace.problems == [
        "0009_no_timeout: takes ShareLock on public.users without lock_timeout, expected lock_timeout set",
        "0009_no_timeout: builds index public.users_created_idx on public.users (about 1 rows) while the table is "
        "locked, expected CREATE INDEX CONCURRENTLY",
    ]


def test_destructive_changes_are_named(box, tmp_path):
    extra = {
        "0009_destructive.sql": "SET lock_timeout = '1s';\nALTER TABLE orders ALTER COLUMN receipt SET NOT NULL;\n"
        "ALTER TABLE refunds ALTER COLUMN amount TYPE numeric;\nALTER TABLE invoices RENAME TO bills;\n"
    }
    (trace,) = [t for t in run(box, extra=extra, copy_to=tmp_path / "m").pending if t.name == "0009_destructive"]
    assert trace.destructive == [
        "sets NOT NULL on existing column public.orders.receipt",
        "changes the type of public.refunds.amount from bigint to numeric",
        "renames table public.invoices to public.bills",
    ]
    assert trace.statements[2].rewrites == ["public.refunds"]


def test_a_failing_migration_is_reported(box, tmp_path):
    extra = {"0009_broken.sql": "ALTER TABLE nowhere ADD COLUMN x int;\n"}
    (trace,) = [t for t in run(box, extra=extra, copy_to=tmp_path / "m").pending if t.name == "0009_broken"]
    assert trace.problems == ['0009_broken: fails on the copy: statement 1: relation "nowhere" does not exist']


def sessions_on(box, fault):
    url = Secret("DATABASE_URL", box.environ()["DATABASE_URL"])
    box.set_faults([fault])
    try:
        with read_only_session(url, DatabaseSettings()) as session:
            return long_transactions(session, 5.0)
    finally:
        box.set_faults(())


def test_long_transaction_on_the_target_is_seen(box):
    (held,) = sessions_on(box, "long-running-transaction")
    assert held.state == "idle in transaction"
    assert held.age_s >= 5.0
    assert held.query == "select count(*) from orders where receipt <> ?"


def test_a_prepared_transaction_holding_locks_is_seen():
    """No session holds a prepared transaction: pg_stat_activity does not show it, pg_prepared_xacts does, and
    its locks stay until COMMIT PREPARED or ROLLBACK PREPARED."""
    with ScratchPostgres({"max_prepared_transactions": "2"}) as pg:
        conninfo = pg.create_database("app")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("create table orders (id int)")
        with psycopg.connect(conninfo) as holder:
            holder.execute("lock table orders in access exclusive mode")
            holder.execute("prepare transaction 'golive-test-xact'")
        time.sleep(0.3)
        try:
            with read_only_session(Secret("DATABASE_URL", conninfo), DatabaseSettings()) as session:
                (prepared,) = long_transactions(session, 0.2)
                assert long_transactions(session, 60) == []
        finally:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("rollback prepared 'golive-test-xact'")
    assert (prepared.kind, prepared.gid, prepared.pid, prepared.locks) == ("prepared", "golive-test-xact", None, 1)
    assert describe_activity(prepared, 0.2) == (
        f"prepared transaction 'golive-test-xact' (postgres, holding 1 relation locks) was prepared "
        f"{prepared.age_s:.0f} s ago (limit 0.2 s) and keeps its locks until COMMIT PREPARED or ROLLBACK PREPARED"
    )


@pytest.mark.parametrize(
    ("backend_type", "query", "holds"),
    [("client backend", "select 1", True),
     ("autovacuum worker", "autovacuum: VACUUM public.orders (to prevent wraparound)", True),
     ("autovacuum worker", "autovacuum: VACUUM ANALYZE public.orders", False),
     ("autovacuum worker", "<insufficient privilege>", False)],
)  # fmt: skip
def test_only_an_anti_wraparound_autovacuum_keeps_a_migration_waiting(backend_type, query, holds):
    assert holds_on(backend_type, query) is holds


def test_lock_wait_on_the_target_is_seen(box):
    (waiting,) = sessions_on(box, "lock-wait-on-target")  # the holder's transaction is younger than 5 s
    assert waiting.state == "active"
    assert len(waiting.blocked_by) == 1
    assert waiting.query == "update migrations.applied set run_on = run_on where name = ?"
