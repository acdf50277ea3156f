"""REL-03, REL-04 and RB-02 as a user runs them against the sandbox: the per-migration evidence table in the
sign-off report, and migrations taken from the app's migration command set in the environment file."""

from pathlib import Path

from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file

MIGRATION_CHECKS = ("-k", "migration or transactions or reverse_scripts")
MIGRATOR = Path(__file__).resolve().parents[1] / "migrators" / "psql_migrate.sh"
ROW = {"statement", "run", "locks", "rewrites", "valid_constraints", "indexes_built", "destructive", "duration_ms",
       "lock_timeout_ms", "verdict"}  # fmt: skip


def evidence_of(run, item_id):
    return {o["subject"]: o for o in run.item(item_id)["evidence"]}


def test_the_report_holds_a_table_per_migration(healthy, reports):
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, *MIGRATION_CHECKS)
    assert run.item("REL-03")["outcome"] == "passed", run.item("REL-03")
    rows = evidence_of(run, "REL-03")
    column = rows["0002_users_last_login #2"]
    assert set(column["measured"]) == ROW
    assert column["measured"]["locks"] == ["AccessExclusiveLock on public.users"]
    assert (column["measured"]["lock_timeout_ms"], column["measured"]["verdict"], column["ok"]) == (2000, "ok", True)
    index = rows["0003_orders_status_index #1"]["measured"]
    assert (index["run"], index["locks"]) == ("outside", ["ShareUpdateExclusiveLock on public.orders"])
    dry_run = rows["dry-run"]["measured"]
    assert dry_run["pending"] == ["0002_users_last_login", "0003_orders_status_index", "0004_payments_drop_method"]
    assert dry_run["seeded"]["rows"]["public.users"] == 1
    assert dry_run["seeded"]["not_seeded"] == {"migrations.applied": "holds rows on the copy already"}
    assert evidence_of(run, "REL-04")["0004_payments_drop_method"]["measured"] == {
        "destructive": ["drops column public.payments.method"],
        "step": "step 3 of 3 (expand/contract: the app stopped reading payments.method in v1.3.0)",
    }


def test_migrations_from_the_apps_command(healthy, tmp_path, reports):
    """The sandbox's migrations through a migrator that runs each file in one transaction: it fails on the copy at
    the CREATE INDEX CONCURRENTLY file, and the dry-run says why."""
    command = (
        f'command = "sh {MIGRATOR} ${{GOLIVE_SANDBOX_DIR}}/migrations"\ndir = "${{GOLIVE_SANDBOX_DIR}}/migrations"'
    )
    env = env_file(tmp_path, **{'dir = "${GOLIVE_SANDBOX_DIR}/migrations"': command})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, *MIGRATION_CHECKS, env=env)
    item = run.item("REL-03")
    assert item["outcome"] == "failed", item
    assert (
        "CREATE INDEX CONCURRENTLY inside the migration's own transaction block (BEGIN at statement 1)"
        in (item["reason"])
    )
    assert "the migration command exited 3 on the copy" in item["reason"]
    rows = evidence_of(run, "REL-03")
    assert rows["0002_users_last_login #4"]["measured"]["locks"] == ["AccessExclusiveLock on public.users"]
    assert rows["dry-run"]["measured"]["source"].startswith(f"command sh {MIGRATOR}")
    assert (run.item("REL-04")["outcome"], run.item("RB-02")["outcome"]) == ("passed", "passed")
