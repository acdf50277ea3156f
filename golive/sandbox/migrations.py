"""The sandbox app's migrations: a directory of SQL files, the applied set in the target's migrations.applied
table, and the faults that add a dangerous migration to the pending ones.

Pending on the healthy sandbox: an additive column with lock_timeout, an index built CONCURRENTLY, and the last
step of an expand/contract plan that drops a column, with its reverse script.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psycopg

from golive.sandbox.postgres import APP_DATABASE, APP_ROLE, SCHEMA, Postgres

APPLIED_TABLE = "migrations.applied"

HEALTHY: dict[str, str] = {
    "0001_init.sql": SCHEMA,
    "0002_users_last_login.sql": "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN last_login timestamptz;\n",
    "0003_orders_status_index.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status);\n",
    "0004_payments_drop_method.sql": (
        "-- golive: step 3 of 3 (expand/contract: the app stopped reading payments.method in v1.3.0)\n"
        "SET lock_timeout = '2s';\nALTER TABLE payments DROP COLUMN method;\n"
    ),
    "0004_payments_drop_method.down.sql": "ALTER TABLE payments ADD COLUMN method text;\n",
}

# fault -> the files it adds
FAULT_FILES: dict[str, dict[str, str]] = {
    "migration-locks-populated-table": {
        "0005_webhook_events_default.sql": (
            "SET lock_timeout = '2s';\nALTER TABLE webhook_events ALTER COLUMN event_type SET DEFAULT 'unknown';\n"
        ),
    },
    "migration-rewrites-table": {
        "0005_refunds_ref.sql": (
            "SET lock_timeout = '2s';\nALTER TABLE refunds ADD COLUMN refund_ref uuid DEFAULT gen_random_uuid();\n"
        ),
    },
    "migration-drop-without-reverse": {
        "0005_invoices_drop_currency.sql": (
            "-- golive: step 2 of 2 (invoices take the currency from their order since v1.4.0)\n"
            "SET lock_timeout = '2s';\nALTER TABLE invoices DROP COLUMN currency;\n"
        ),
    },
    "migration-destructive-unplanned": {
        "0005_orders_rename_receipt.sql": (
            "SET lock_timeout = '2s';\nALTER TABLE orders RENAME COLUMN receipt TO receipt_ref;\n"
        ),
        "0005_orders_rename_receipt.down.sql": "ALTER TABLE orders RENAME COLUMN receipt_ref TO receipt;\n",
    },
}


def create_applied_table(postgres: Postgres) -> None:
    """The target's record of applied migrations (owned by the app role, like the app's own tables)."""
    with psycopg.connect(postgres.superuser_conninfo(postgres.primary_port, APP_DATABASE), autocommit=True) as conn:
        conn.execute(f"set role {APP_ROLE}")
        conn.execute("create schema migrations")
        conn.execute(f"create table {APPLIED_TABLE} (name text primary key, run_on timestamptz not null default now())")
        conn.execute(f"insert into {APPLIED_TABLE} (name) values ('0001_init')")


def write_migrations(directory: Path, active: Iterable[str]) -> None:
    """Lay out the migration files for the active faults (idempotent)."""
    wanted = dict(HEALTHY)
    for fault in active:
        wanted.update(FAULT_FILES.get(fault, {}))
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.sql"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
