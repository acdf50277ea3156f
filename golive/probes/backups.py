"""Backup probes: the inventory of a backup source, and the verdicts of DB-02 (latest, readable), DB-03 (retention,
no missed night) and LIVE-02 (a backup within the pre-launch window).

Sources are pluggable; a directory of dumps is the first: each file's time comes from a timestamp in its name
(``app-2026-11-25T0200Z.dump``, ``app_20261125.dump``) or, with ``date_from = "mtime"``, its modification time.
Nights are UTC calendar dates.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from golive.config import BackupSourceSettings
from golive.outcomes import ProbeError

_NAME_STAMP = re.compile(
    r"(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})(?:[T_ -]?(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}))?)?"
)


@dataclass(frozen=True)
class Backup:
    """One backup in the inventory: a name, when it was taken, where it is, its size."""

    name: str
    taken_at: datetime
    location: str
    size: int

    def age_h(self, now: datetime) -> float:
        return (now - self.taken_at).total_seconds() / 3600


def stamp_from_name(name: str) -> datetime | None:
    """The UTC time written in a file name, or None when it carries no valid date."""
    for match in _NAME_STAMP.finditer(name):
        parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
        try:
            return datetime(parts["y"], parts["m"], parts["d"], parts.get("H", 0), parts.get("M", 0),
                            parts.get("S", 0), tzinfo=UTC)  # fmt: skip
        except ValueError:
            continue
    return None


def directory_inventory(source: BackupSourceSettings) -> list[Backup]:
    """Every file matching the pattern in the directory, oldest first; ProbeError when it cannot be read."""
    directory = Path(source.path)
    if not directory.is_dir():
        raise ProbeError(f"backup directory {directory} does not exist or is not a directory")
    backups = []
    try:
        for path in directory.glob(source.pattern):
            if not path.is_file():
                continue
            status = path.stat()
            taken = stamp_from_name(path.name) if source.date_from == "name" else None
            if taken is None:
                taken = datetime.fromtimestamp(status.st_mtime, UTC)
            backups.append(Backup(path.name, taken, str(path), status.st_size))
    except OSError as error:
        raise ProbeError(f"backup directory {directory}: {error.strerror or error}") from None
    return sorted(backups, key=lambda b: b.taken_at)


def inventory(source: BackupSourceSettings) -> list[Backup]:
    match source.kind:
        case "directory":
            return directory_inventory(source)
    raise ProbeError(f"backup source kind {source.kind!r} is not supported")  # pragma: no cover


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (pg_restore, pg_dump): PATH first, then the server's bindir."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise ProbeError(f"{name} not found: install the PostgreSQL client programs")


def pg_restore(dump: str, target: str, timeout_s: float, what: str) -> None:
    """Restore a custom-format dump into the database at ``target`` (a scratch database's conninfo), stopping at
    the first error; ProbeError names ``what`` was restored and pg_restore's first line of complaint."""
    command = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "-d", target, dump]
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PGCONNECT_TIMEOUT": "5"})  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProbeError(f"pg_restore of {what} did not finish within {timeout_s:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        raise ProbeError(f"pg_restore of {what} failed: {reason.removeprefix('pg_restore: error: ')}")


@dataclass(frozen=True)
class Readability:
    ok: bool
    entries: int
    tables: int
    detail: str


def check_readable(backup: Backup, timeout_s: float) -> Readability:
    """Whether pg_restore --list reads the dump: a real custom/tar/directory-format archive, not a stub."""
    try:
        done = subprocess.run(
            [pg_tool("pg_restore"), "--list", backup.location],
            capture_output=True, text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Readability(False, 0, 0, f"pg_restore --list did not finish within {timeout_s:g} s")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        return Readability(False, 0, 0, reason.removeprefix("pg_restore: error: "))
    entries = [line for line in done.stdout.splitlines() if line and not line.startswith(";")]
    tables = sum(1 for line in entries if " TABLE DATA " in line)
    return Readability(True, len(entries), tables, f"{len(entries)} entries, {tables} tables with data")


def nights(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class RetentionReport:
    oldest: Backup | None
    oldest_age_days: float
    window: tuple[date, date]
    missing: tuple[date, ...]
    count: int


def judge_retention(backups: list[Backup], now: datetime, retention_days: int) -> RetentionReport:
    """The oldest kept backup's age, and every UTC night from now - retention_days to the latest backup's night
    without a backup."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=retention_days)
    have = {b.taken_at.astimezone(UTC).date() for b in backups}
    # the window ends at the latest backup's night: how fresh the latest is, is DB-02's question
    window_end = backups[-1].taken_at.astimezone(UTC).date() if backups else today
    missing = tuple(night for night in nights(first, window_end) if night not in have)
    oldest = backups[0] if backups else None
    age = (now - oldest.taken_at).total_seconds() / 86400 if oldest else 0.0
    return RetentionReport(oldest, round(age, 1), (first, window_end), missing, len(backups))


def describe_nights(missing: tuple[date, ...], limit: int = 8) -> str:
    shown = ", ".join(d.isoformat() for d in missing[:limit])
    return shown + (f" and {len(missing) - limit} more" if len(missing) > limit else "")
