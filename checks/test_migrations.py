"""4) CI / Release: the migration dry-run; 5) zero-downtime: additive migrations; 6) rollback: reverse scripts."""

import pytest

from golive.probes.migrations import describe_activity, long_transactions


def record_traces(dry_run_result, evidence):
    """Evidence: a table per migration, one row per statement (locks, rewrites, duration, verdict and why)."""
    if not dry_run_result.pending:
        evidence.record("pending migrations", {"pending": 0, "applied": dry_run_result.applied}, ok=True)
    for trace in dry_run_result.pending:
        for number, statement in enumerate(trace.statements, 1):
            evidence.record(f"{trace.name} #{number}", statement.summary(), ok=not statement.problems)
        if trace.error:
            evidence.record(f"{trace.name}", {"error": trace.error}, ok=False)


@pytest.mark.preflight
@pytest.mark.item("REL-03")
def test_migration_dry_run(dry_run_result, migrations, evidence):
    """Pending migrations, traced on a copy of the production schema: no lock that blocks the app on a large
    table or without lock_timeout, no table rewrite, no statement over the budget."""
    record_traces(dry_run_result, evidence)
    seeding = dry_run_result.seeding
    evidence.record(
        "dry-run",
        {"source": dry_run_result.source, "pending": [t.name for t in dry_run_result.pending],
         "applied": dry_run_result.applied, "copy_s": dry_run_result.copy_s, "trace_s": dry_run_result.trace_s,
         "seeded": seeding.summary() if seeding else "no (schema only)"},
    )  # fmt: skip
    problems = [problem for trace in dry_run_result.pending for problem in trace.problems]
    assert not problems, "; ".join(problems)


@pytest.mark.preflight
@pytest.mark.item("REL-03")
def test_no_long_transactions_on_the_target(target_db, migrations, evidence):
    """No transaction on the target is older than max_transaction_age_s or waiting on a lock right now (a
    session's, an anti-wraparound autovacuum's, a prepared transaction's): a migration's lock would queue behind
    it, and every query of the app behind the migration."""
    found = long_transactions(target_db, migrations.max_transaction_age_s)
    described = [describe_activity(a, migrations.max_transaction_age_s) for a in found]
    evidence.record(
        f"transactions on {target_db.where}", {"long_or_blocked": described},
        {"long_or_blocked": f"none older than {migrations.max_transaction_age_s:g} s, none waiting on a lock"},
        ok=not found,
    )  # fmt: skip
    assert not found, "; ".join(described)


@pytest.mark.preflight
@pytest.mark.item("REL-04")
def test_migrations_backward_compatible(dry_run_result, evidence):
    """Destructive changes (drop or rename a table or column, a type change, NOT NULL on an existing column) only
    as a marked step of a multi-step plan (`-- golive: step N of M`)."""
    for trace in dry_run_result.pending:
        evidence.record(
            trace.name, {"destructive": trace.destructive, "step": trace.migration.step},
            ok=not trace.destructive or trace.migration.step is not None,
        )  # fmt: skip
    unplanned = [t.unplanned for t in dry_run_result.pending if t.unplanned]
    assert not unplanned, "; ".join(unplanned)


@pytest.mark.preflight
@pytest.mark.item("RB-02")
def test_reverse_scripts_for_destructive_migrations(dry_run_result, evidence):
    """Every destructive pending migration has its reverse script (NAME.down.sql, not empty)."""
    destructive = [t for t in dry_run_result.pending if t.destructive]
    for trace in destructive:
        reverse = trace.migration.reverse
        evidence.record(
            trace.name, {"destructive": trace.destructive, "reverse": reverse.name if reverse else None},
            {"reverse": f"{trace.name}.down.sql"}, ok=reverse is not None,
        )  # fmt: skip
    missing = [t.irreversible for t in destructive if t.irreversible]
    assert not missing, "; ".join(missing)
