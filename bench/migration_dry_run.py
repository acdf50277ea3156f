"""Benchmark: the migration dry-run on a generated 1,000-table schema, and golive's verdicts beside squawk's on
the corpus of dangerous and safe migrations in tests/migration_corpus/.

    pip install -e '.[bench]'    # squawk-cli
    python bench/migration_dry_run.py [--tables 1000] [--repeat 3]

A scratch PostgreSQL plays the production database (read over a read-only session, as golive reads production).
The corpus target holds the app's schema with 5,000 rows per payments table (below large_table_rows), and each
file's copy is seeded to those counts, as in tests/unit/test_migrations_probe.py.

squawk is run as `squawk --reporter json --pg-version 15 FILE` (exit 1 when it reports anything; the JSON is a
list of violations with `rule_name`). Its verdict here leaves out its style and robustness rules (STYLE below):
they fire on nearly every file, safe or not, and golive measures durations instead of asking for
statement_timeout. Both columns are shown. Without squawk its columns say "not installed".
Timings are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from golive.config import DatabaseSettings, MigrationSettings  # noqa: E402
from golive.probes.db import read_only_session  # noqa: E402
from golive.probes.migrations import DryRun, dry_run, scratch_cluster  # noqa: E402
from golive.sandbox.postgres import SCHEMA  # noqa: E402
from golive.scratch import ScratchPostgres  # noqa: E402
from golive.secrets import Secret  # noqa: E402
from tests.corpus_target import PAYMENT_TABLE_ROWS  # noqa: E402

CORPUS = ROOT / "tests" / "migration_corpus"
STYLE = {"prefer-robust-stmts", "prefer-identity", "prefer-bigint-over-int", "prefer-bigint-over-smallint",
         "prefer-text-field", "prefer-timestamptz", "ban-char-field", "require-statement-timeout"}  # fmt: skip


def run(target: str, migrations: MigrationSettings, scratch: ScratchPostgres | None = None) -> tuple[DryRun, float]:
    settings = DatabaseSettings(min_sslmode="disable", migrations=migrations)
    url = Secret("DATABASE_URL", target)
    started = time.perf_counter()
    with read_only_session(url, settings) as session:
        result = dry_run(url, session, settings, migrations, scratch)
    return result, time.perf_counter() - started


def big_schema(pg: ScratchPostgres, tables: int) -> str:
    target = pg.create_database("big")
    with psycopg.connect(target, autocommit=True) as conn:
        for n in range(tables):
            conn.execute(
                f"create table t{n:04d} (id bigserial primary key, name text not null, ref bigint,"
                f" created_at timestamptz not null default now());"
                f" create index t{n:04d}_created on t{n:04d} (created_at)"
            )
    return target


def bench_big(tables: int, repeat: int) -> None:
    with ScratchPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        target = big_schema(pg, tables)
        print(f"{tables}-table schema created in {time.perf_counter() - made:.1f} s")
        directory = Path(tmp)
        (directory / "0001_add_columns.sql").write_text(
            "SET lock_timeout = '2s';\n" + "".join(f"ALTER TABLE t{n:04d} ADD COLUMN note text;\n" for n in range(20))
        )
        (directory / "0002_indexes.sql").write_text(
            "".join(f"CREATE INDEX CONCURRENTLY t{n:04d}_ref ON t{n:04d} (ref);\n" for n in range(20))
        )
        (directory / "0003_new_table.sql").write_text(
            "CREATE TABLE audit (id bigserial primary key, at timestamptz);\n"
        )
        totals, copies, traces = [], [], []
        for _ in range(repeat):
            result, total = run(target, MigrationSettings(dir=directory))
            totals.append(total)
            copies.append(result.copy_s)
            traces.append(result.trace_s)
        statements = sum(len(t.statements) for t in result.pending)
        print(
            f"dry-run on {tables} tables, 3 migrations / {statements} statements (20 of them CONCURRENTLY, each "
            f"watched), median of {repeat}: total {statistics.median(totals):.2f} s (with the scratch server's "
            f"initdb, start and stop), of which copy (pg_dump + pg_restore) {statistics.median(copies):.2f} s and "
            f"trace {statistics.median(traces):.2f} s"
        )


def squawk(path: Path) -> tuple[list[str] | None, float]:
    exe = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    if not Path(exe).exists():
        return None, 0.0
    started = time.perf_counter()
    done = subprocess.run([exe, "--reporter", "json", "--pg-version", "15", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    try:
        found = json.loads(done.stdout or "[]")
    except ValueError:
        return [f"(unparsed: {done.stdout[:60]})"], seconds
    return sorted({v["rule_name"] for v in found}), seconds


POPULATE = PAYMENT_TABLE_ROWS + "analyze;\n"


def verdict(flagged: bool, expected: str) -> str:
    said = "dangerous" if flagged else "safe"
    return said if said == expected else f"**{said}** (miss)"


def bench_corpus() -> None:
    with scratch_cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        target = pg.create_database("app")
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(POPULATE)
        print("\ncorpus: target with 5,000 rows per payments table, copies seeded to match")
        rows = []
        golive_time = squawk_time = 0.0
        agree = {"golive": 0, "squawk": 0}
        for path in sorted(CORPUS.glob("*.sql")):
            directory = Path(tmp) / path.stem
            directory.mkdir()
            shutil.copyfile(path, directory / path.name)
            result, seconds = run(target, MigrationSettings(dir=directory, seed_rows=True), pg)
            golive_time += seconds
            (trace,) = result.pending
            findings = [f.split(" ", 1)[1].removeprefix(": ") for f in trace.findings]
            rules, s_seconds = squawk(path)
            squawk_time += s_seconds
            expected = path.read_text().splitlines()[0].removeprefix("-- expect: ").split(" ", 1)[0]
            ours = verdict(bool(findings), expected)
            theirs = "not installed" if rules is None else verdict(bool(set(rules) - STYLE), expected)
            agree["golive"] += ours == expected
            agree["squawk"] += theirs == expected
            rows.append((path.stem, expected, ours, "; ".join(findings) or "-", theirs,
                         ", ".join(rules) if rules else ("not installed" if rules is None else "-")))  # fmt: skip
        print("| migration | expected | golive | golive's findings | squawk | squawk's rules |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\nagreement with the expected verdict: golive {agree['golive']}/{len(rows)}, "
              f"squawk {agree['squawk']}/{len(rows)} (squawk's style rules left out)")  # fmt: skip
        print(f"time for the {len(rows)} files: golive {golive_time:.1f} s (a copy, seeded, per file, on one "
              f"running scratch server), squawk {squawk_time:.2f} s (one process per file)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_big(args.tables, args.repeat)
    bench_corpus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
