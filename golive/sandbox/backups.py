"""The sandbox's nightly backups and restore record, as a backup job and a restore job would leave them.

One real logical dump (``pg_dump -Fc`` of the app database) is taken at start; the nightly inventory is that dump
copied under a dated name for each of the last 35 nights (each copy is a real archive ``pg_restore --list``
reads). The restore record says a drill restored the latest backup two days ago. Faults rewrite the directory
or the record: a stale latest backup, a missing night, short retention, an unreadable dump, a dump whose data is cut
short, a latest backup dated in the future, empty files for two nights, a stale record.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from golive.probes.restore import write_record
from golive.sandbox.postgres import APP_DATABASE, Postgres

NIGHTS = 35
RECORD_NAME = "last-restore.json"

# fault -> what it does to the inventory (DB-02, DB-03, LIVE-02) or the restore record (DB-05)
BACKUP_FAULTS = frozenset(
    {"backup-stale", "backup-not-before-launch", "backup-unreadable", "backup-short-retention",
     "backup-missing-nights", "restore-record-stale", "restore-record-failed", "backup-data-truncated",
     "backup-dated-in-future", "backup-empty-nights"}
)  # fmt: skip
TRUNCATED_BYTES = 16  # cut from the end of a dump: its table of contents reads, its last table's data does not


def dump_name(taken: datetime) -> str:
    return f"{APP_DATABASE}-{taken:%Y-%m-%dT%H%MZ}.dump"


class SandboxBackups:
    """The backup directory and the restore record of one sandbox."""

    def __init__(self, workdir: Path, postgres: Postgres) -> None:
        self.postgres = postgres
        self.directory = workdir / "backups"
        self.record = workdir / "restore" / RECORD_NAME
        self.base = workdir / "base.dump"
        self._applied: frozenset[str] | None = None

    def start(self, active: Iterable[str]) -> None:
        """Take the one real dump, then lay out the nights and the record for the active faults."""
        self.directory.mkdir(parents=True, exist_ok=True)
        pg = self.postgres
        pg.account.run(
            [str(pg.bindir / "pg_dump"), "-Fc", "-h", str(pg.socket_dir), "-p", str(pg.primary_port),
             "-U", "postgres", "-d", APP_DATABASE, "-f", str(pg.root / "base.dump")],
            cwd=pg.root,
        )  # fmt: skip
        shutil.copyfile(pg.root / "base.dump", self.base)
        self.apply(active)

    def apply(self, active: Iterable[str]) -> None:
        wanted = frozenset(active) & BACKUP_FAULTS
        if wanted == self._applied:
            return
        now = datetime.now(UTC)
        self._layout(wanted, now)
        self._write_record(wanted, now)
        self._applied = wanted

    def _layout(self, faults: frozenset[str], now: datetime) -> None:
        for old in self.directory.glob("*.dump"):
            old.unlink()
        latest = now - timedelta(hours=1)
        if "backup-stale" in faults:
            latest = now - timedelta(hours=30)
        elif "backup-not-before-launch" in faults:
            latest = now - timedelta(hours=25)
        elif "backup-dated-in-future" in faults:
            latest = now + timedelta(hours=3)  # the backup host's clock is 4 hours ahead
        count = 20 if "backup-short-retention" in faults else NIGHTS
        skipped = {10, 11} if "backup-missing-nights" in faults else set()
        empty = {10, 11} if "backup-empty-nights" in faults else set()
        base = self.base.read_bytes()
        for night in range(count):
            if night in skipped:
                continue
            taken = latest - timedelta(days=night)
            path = self.directory / dump_name(taken)
            if night in empty:
                path.write_bytes(b"")  # the job created the file and failed before writing to it
            elif night == 0 and "backup-unreadable" in faults:
                path.write_bytes(base[:64])  # a dump cut short by a full disk
            elif night == 0 and "backup-data-truncated" in faults:
                path.write_bytes(base[:-TRUNCATED_BYTES])  # cut short while writing the table data
            else:
                path.write_bytes(base)
            os.utime(path, (taken.timestamp(), taken.timestamp()))

    def latest_dump(self) -> Path:
        return max(self.directory.glob("*.dump"))

    def _write_record(self, faults: frozenset[str], now: datetime) -> None:
        finished = now - timedelta(days=9 if "restore-record-stale" in faults else 2)
        before = [p for p in self.directory.glob("*.dump") if p.stat().st_mtime < finished.timestamp()]
        latest = max(before) if before else self.latest_dump()
        failed = "restore-record-failed" in faults
        write_record(
            self.record,
            {
                "started_at": (finished - timedelta(seconds=3)).isoformat(timespec="seconds"),
                "finished_at": finished.isoformat(timespec="seconds"),
                "backup": latest.name,
                "target": "staging (sandbox restore job)",
                "duration_s": 3.0,
                "row_counts": {"public.users": 1},
                "checked": "1 table(s) of database.restore_tables non-empty and within 10% of the source's statistics",
                "checks": [{"table": "public.users", "restored": 1, "source_estimate": 1, "ok": True}],
                "result": "failed" if failed else "ok",
                "detail": "pg_restore: error: could not read from input file: end of file" if failed else "",
            },
        )
