"""The database items against the sandbox: a full preflight writes nothing to the target; bad DATABASE_URLs,
an unreachable or black-holed server and a missing backup directory each give one line within the timeout."""

import re
import time

import psycopg

from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file
from tests.netutil import blackhole, closed_port

COUNTERS = ("tup_inserted", "tup_updated", "tup_deleted", "temp_files", "conflicts", "deadlocks")


# Autovacuum's ANALYZE of a freshly seeded table writes one pg_statistic row per column (orders: 7) whenever it
# comes round, and long samples go to pg_statistic's TOAST table; those rows are the server's own, so they are
# taken out of the database's tuple counters.
ANALYZE_ROWS = """
select coalesce(sum(n_tup_ins), 0)::bigint, coalesce(sum(n_tup_upd), 0)::bigint, coalesce(sum(n_tup_del), 0)::bigint
from pg_stat_sys_tables
where relid in (select oid from pg_class where oid = 'pg_catalog.pg_statistic'::regclass
                union select reltoastrelid from pg_class where oid = 'pg_catalog.pg_statistic'::regclass)
"""


def counters(sandbox) -> dict[str, int]:
    pg = sandbox.postgres
    with psycopg.connect(pg.superuser_conninfo(pg.primary_port, dbname="app"), autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        row = conn.execute(f"select {', '.join(COUNTERS)} from pg_stat_database where datname = 'app'").fetchone()
        analyze = conn.execute(ANALYZE_ROWS).fetchone()
        tables = conn.execute(
            "select schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_all_tables"
        ).fetchall()
    totals = dict(zip(COUNTERS, row, strict=True))
    for name, value in zip(("tup_inserted", "tup_updated", "tup_deleted"), analyze, strict=True):
        totals[name] -= value
    totals["tables"] = {name: (ins, upd, dele) for name, ins, upd, dele in tables}
    return totals


# PostgreSQL 15 flushes a backend's statistics between transactions at most once a second; a backend that goes
# idle within that second reports them when its idle timeout fires, 10 s later (PGSTAT_IDLE_INTERVAL).
STATS_IDLE_FLUSH_S = 10.0


def settled_counters(sandbox, timeout_s: float = 60.0) -> dict:
    """The counters once nothing has changed for a whole idle flush interval: then every write committed before
    the read is in them (a shorter wait can miss a write made in the last second)."""
    deadline = time.monotonic() + timeout_s
    previous = counters(sandbox)
    while True:
        time.sleep(STATS_IDLE_FLUSH_S + 0.5)
        current = counters(sandbox)
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current


def changed(before: dict, after: dict) -> dict:
    """What differs, the tables that were written named."""
    diff = {k: (before[k], after[k]) for k in COUNTERS if before[k] != after[k]}
    tables = {t: (before["tables"].get(t), v) for t, v in after["tables"].items() if before["tables"].get(t) != v}
    return {**diff, "tables": tables} if diff else {}


def test_a_full_preflight_writes_nothing_to_the_target_database(healthy, tmp_path, reports):
    """Every check runs; those marked side_effect (a staged webhook the app stores...) are not allowed to."""
    env = env_file(tmp_path, **{"[side_effects]\nallowed = true": "[side_effects]\nallowed = false"})
    # what earlier tests set going lands first: Razorpay's webhook deliveries (and their retries) to the app
    assert healthy.store.wait_for_deliveries(timeout_s=15)
    before = settled_counters(healthy)
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    assert run.item("DB-01")["outcome"] == "passed", run.item("DB-01")
    after = settled_counters(healthy)
    assert changed(before, after) == {}


def db01(run) -> dict:
    item = run.item("DB-01")
    assert "Traceback" not in run.output
    assert "\n" not in item["reason"]
    return item


def test_unreachable_database_is_an_error_with_one_line(healthy, reports):
    port = closed_port()
    url = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", healthy.environ()["DATABASE_URL"])
    item = db01(run_checks("preflight", clean_environ({**healthy.environ(), "DATABASE_URL": url}), reports))
    assert item["outcome"] == "error"
    assert item["reason"].startswith(f"DATABASE_URL at 127.0.0.1:{port}/app: connection to server at"), item
    assert "Connection refused" in item["reason"]


def test_wrong_password_is_named_without_the_password(healthy, reports):
    good = healthy.environ()["DATABASE_URL"]
    wrong = re.sub(r"//app:[^@]+@", "//app:WrongPassw0rdXyz@", good)
    run = run_checks("preflight", clean_environ({**healthy.environ(), "DATABASE_URL": wrong}), reports)
    item = db01(run)
    assert item["outcome"] == "error"
    assert 'password authentication failed for user "app"' in item["reason"], item
    assert "WrongPassw0rdXyz" not in run.output


def test_malformed_database_url(healthy, reports):
    environ = {**healthy.environ(), "DATABASE_URL": "postgresql://app:x@127.0.0.1:notaport/app"}
    item = db01(run_checks("preflight", clean_environ(environ), reports))
    assert item["outcome"] == "error"
    assert item["reason"] == (
        'DATABASE_URL at 127.0.0.1:notaport/app: connection is bad: invalid integer value "notaport" '
        'for connection option "port"'
    )


def test_black_holed_database_ends_within_the_connect_timeout(healthy, tmp_path, reports):
    with blackhole() as port:
        url = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", healthy.environ()["DATABASE_URL"])
        env = env_file(tmp_path, **{"connect_timeout_s = 5.0\nmin_sslmode": "connect_timeout_s = 2.0\nmin_sslmode"})
        run = run_checks("preflight", clean_environ({**healthy.environ(), "DATABASE_URL": url}), reports, env=env)
    item = db01(run)
    assert item["outcome"] == "error"
    assert "timeout expired" in item["reason"], item
    assert item["duration_s"] < 5


def test_missing_backup_directory_is_an_error(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'path = "${GOLIVE_SANDBOX_DIR}/backups"': f'path = "{tmp_path}/nowhere"'})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    for item_id in ("DB-02", "DB-03", "LIVE-02"):
        item = run.item(item_id)
        assert (item["outcome"], item["reason"]) == (
            "error", f"backup directory {tmp_path}/nowhere does not exist or is not a directory")  # fmt: skip


def test_malformed_backup_source_is_a_usage_error(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'kind = "directory"': 'kind = "tape"'})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    assert run.code == 4
    assert "database.backups: kind should be 'directory', 's3', 'rds' or 'pgbackrest'" in run.output


def test_missing_migrations_directory_is_an_error(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'dir = "${GOLIVE_SANDBOX_DIR}/migrations"': f'dir = "{tmp_path}/none"'})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    for item_id in ("REL-03", "REL-04", "RB-02"):
        item = run.item(item_id)
        assert (item["outcome"], item["reason"]) == (
            "error", f"migrations directory {tmp_path}/none does not exist or is not a directory")  # fmt: skip
