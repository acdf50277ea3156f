"""The migration dry-run against real PostgreSQL: the sandbox is the target, a scratch cluster holds the copy."""

import shutil

import pytest

from golive.config import DatabaseSettings, MigrationSettings
from golive.outcomes import ProbeError
from golive.probes.db import read_only_session
from golive.probes.migrations import dry_run, long_transactions, migration_files, redact_literals, split_statements
from golive.sandbox import Sandbox
from golive.secrets import Secret


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


def test_a_migration_that_is_not_text_is_one_line(tmp_path):
    (tmp_path / "0001_a.sql").write_bytes(b"alter table t add column c text; -- \xff\n")
    with pytest.raises(ProbeError, match=r"^migration 0001_a.sql \(or its .down.sql\) is not UTF-8 text: invalid"):
        migration_files(tmp_path)


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
    assert not index.statements[0].traced
    assert drop.destructive == ["drops column public.payments.method"]
    assert [p for t in result.pending for p in t.problems] == []


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
        "0009_no_timeout: takes ShareLock on public.users without lock_timeout, expected lock_timeout set"]  # fmt: skip


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
    assert trace.problems == ['0009_broken: fails on the copy: relation "nowhere" does not exist']


def test_long_transaction_on_the_target_is_seen(box):
    url = Secret("DATABASE_URL", box.environ()["DATABASE_URL"])
    settings = DatabaseSettings()
    box.set_faults(["long-running-transaction"])
    try:
        with read_only_session(url, settings) as session:
            found = long_transactions(session, 5.0)
    finally:
        box.set_faults(())
    (held,) = found
    assert held.state == "idle in transaction"
    assert held.age_s >= 5.0
    assert held.query == "select count(*) from orders where receipt <> ?"
