"""Backup probes: the inventory of a backup source, and the verdicts of DB-02 (latest, readable), DB-03 (retention,
no missed night) and LIVE-02 (a backup within the pre-launch window).

Sources are pluggable (``database.backups.kind``): a directory of dumps (custom or tar format files, or
directory-format dumps: a directory holding ``toc.dat``), dated from a timestamp in their name
(``app-2026-11-25T0200Z.dump``, ``app_20261125.dump``) or, with ``date_from = "mtime"``, their modification time;
logical dumps under an S3 prefix, dated the same way or by LastModified; an RDS instance's automated snapshots
(golive.probes.aws); and a pgBackRest stanza's backups (golive.probes.pgbackrest). Nights are UTC calendar dates.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from golive.config import BackupSourceSettings, DirectoryBackups, PgbackrestBackups, S3Backups
from golive.outcomes import ProbeError

_NAME_STAMP = re.compile(
    r"(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})(?:[T_ -]?(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}))?)?"
)


@dataclass(frozen=True)
class Backup:
    """One backup in the inventory: a name, when it was taken, where it is, its size (and, for a snapshot, the
    state its service reports)."""

    name: str
    taken_at: datetime
    location: str
    size: int
    status: str | None = None

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


@dataclass(frozen=True)
class Inventory:
    """What a backup source holds, oldest first, and what it promises on its own: the retention its service keeps
    by setting (RDS BackupRetentionPeriod), when it started keeping (nothing older can exist), and what it reports
    wrong with itself (a pgBackRest stanza's status)."""

    where: str
    backups: list[Backup]
    retention_setting_days: int | None = None
    kept_since: datetime | None = None
    problems: tuple[str, ...] = ()


def directory_inventory(source: DirectoryBackups) -> list[Backup]:
    """Every dump matching the pattern in the directory, oldest first: a file, or a directory-format dump
    (``pg_dump -Fd``: a directory holding ``toc.dat``, its size the sum of its files); ProbeError when the
    directory cannot be read."""
    directory = Path(source.path)
    if not directory.is_dir():
        raise ProbeError(f"backup directory {directory} does not exist or is not a directory")
    backups = []
    try:
        for path in directory.glob(source.pattern):
            if path.is_file():
                size = path.stat().st_size
            elif (path / "toc.dat").is_file():
                size = sum(part.stat().st_size for part in path.iterdir() if part.is_file())
            else:
                continue
            taken = stamp_from_name(path.name) if source.date_from == "name" else None
            if taken is None:
                taken = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            backups.append(Backup(path.name, taken, str(path), size))
    except OSError as error:
        raise ProbeError(f"backup directory {directory}: {error.strerror or error}") from None
    return sorted(backups, key=lambda b: b.taken_at)


def inventory(source: BackupSourceSettings) -> Inventory:
    """The configured source's inventory; ProbeError (one line naming the source) when it cannot be read."""
    if isinstance(source, DirectoryBackups):
        return Inventory(source.where, directory_inventory(source))
    if isinstance(source, PgbackrestBackups):
        from golive.probes import pgbackrest

        return pgbackrest.inventory(source)
    from golive.probes import aws

    return aws.s3_inventory(source) if isinstance(source, S3Backups) else aws.rds_inventory(source)


def readable(backup: Backup, source: BackupSourceSettings, timeout_s: float) -> Readability:
    """Whether the backup can be restored: pg_restore --list reads a dump (file, directory or S3 object); RDS
    reports a snapshot available; pgBackRest recorded no error while taking it."""
    if isinstance(source, DirectoryBackups):
        return check_readable(backup, timeout_s)
    if isinstance(source, PgbackrestBackups):
        from golive.probes import pgbackrest

        return pgbackrest.readable(backup)
    from golive.probes import aws

    if isinstance(source, S3Backups):
        return aws.s3_readable(backup, source, timeout_s)
    return aws.snapshot_readable(backup)


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (pg_restore, pg_dump): PATH first, then the server's bindir."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise ProbeError(f"{name} not found: install the PostgreSQL client programs")


def pg_restore(dump: str, target: str, timeout_s: float, what: str, password: str | None = None) -> None:
    """Restore a dump (custom, tar or directory format) into the database at ``target`` (a conninfo without the
    password, which goes in PGPASSWORD, never on the command line), stopping at the first error; ProbeError names
    ``what`` was restored and pg_restore's first line of complaint."""
    command = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "-d", target, dump]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProbeError(f"pg_restore of {what} did not finish within {timeout_s:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        raise ProbeError(f"pg_restore of {what} failed: {reason.removeprefix('pg_restore: error: ')}")


@dataclass(frozen=True)
class Readability:
    """A backup's restorability, as its probe saw it: pg_restore --list on a dump, the service's status of a
    snapshot."""

    ok: bool
    entries: int
    tables: int
    detail: str
    probe: str = "pg_restore --list"
    expected: str = "a readable dump"


def check_readable(backup: Backup, timeout_s: float) -> Readability:
    """Whether pg_restore --list reads the dump: a real custom/tar/directory-format archive, not a stub."""
    try:
        done = subprocess.run(
            [pg_tool("pg_restore"), "--list", backup.location],
            capture_output=True, text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Readability(False, 0, 0, f"pg_restore --list did not finish within {timeout_s:g} s")
    return list_archive(done.returncode, done.stdout, done.stderr)


def list_archive(returncode: int, stdout: str, stderr: str) -> Readability:
    """The verdict on what pg_restore --list printed."""
    if returncode != 0:
        reason = (stderr.strip().splitlines() or [f"exit {returncode}"])[0]
        return Readability(False, 0, 0, reason.removeprefix("pg_restore: error: "))
    entries = [line for line in stdout.splitlines() if line and not line.startswith(";")]
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
    measured: dict[str, Any]
    expected: dict[str, Any]
    problems: tuple[str, ...]


def judge_retention(backups: Inventory, now: datetime, retention_days: int) -> RetentionReport:
    """DB-03: the oldest kept backup is at least retention_days old, and no UTC night from now - retention_days to
    the latest backup's night lacks a backup.

    A source that keeps backups by its own setting (RDS BackupRetentionPeriod) must be set to keep them that long;
    when it started keeping later than the window's first night (a new instance), the window starts the night after
    and its oldest backup cannot be older than the source itself."""
    days, kept_since, setting = retention_days, backups.kept_since, backups.retention_setting_days
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days)
    if kept_since is not None:  # the night it started may have ended before its first backup
        first = max(first, kept_since.astimezone(UTC).date() + timedelta(days=1))
    have = {b.taken_at.astimezone(UTC).date() for b in backups.backups}
    # the window ends at the latest backup's night: how fresh the latest is, is DB-02's question
    window_end = backups.backups[-1].taken_at.astimezone(UTC).date() if backups.backups else today
    missing = tuple(night for night in nights(first, window_end) if night not in have)
    oldest = backups.backups[0] if backups.backups else None
    age = round((now - oldest.taken_at).total_seconds() / 86400, 1) if oldest else 0.0
    young = kept_since is not None and (now - kept_since).total_seconds() < days * 86400
    measured: dict[str, Any] = {"count": len(backups.backups), "oldest": oldest.name if oldest else None,
                                "oldest_age_days": age, "window": f"{first}..{window_end}",
                                "missing_nights": [d.isoformat() for d in missing]}  # fmt: skip
    expected: dict[str, Any] = {"oldest_age_days": f">= {days}", "missing_nights": []}
    problems = []
    if setting is not None:
        measured |= {"retention_setting_days": setting,
                     "kept_since": kept_since.isoformat(timespec="seconds") if kept_since else None}  # fmt: skip
        expected |= {"retention_setting_days": f">= {days}",
                     "oldest_age_days": f">= {days}, or as old as the source when it is younger"}  # fmt: skip
        if setting < days:
            problems.append(f"{backups.where} keeps automated backups {setting} days (BackupRetentionPeriod), "
                            f"expected at least {days}")  # fmt: skip
    if oldest is None:
        problems.append(f"no backups found in {backups.where}; expected {days} days of them")
    elif age < days and not (setting is not None and young):
        problems.append(f"oldest backup {oldest.name} is {age:.1f} days old, expected at least {days} days")
    if missing:
        problems.append(f"missing nights: {describe_nights(missing)} "
                        f"({len(missing)} of {(window_end - first).days + 1} nights {first}..{window_end} have no "
                        "backup)")  # fmt: skip
    return RetentionReport(oldest, age, (first, window_end), missing, len(backups.backups), measured, expected,
                           tuple(problems))  # fmt: skip


def describe_nights(missing: tuple[date, ...], limit: int = 8) -> str:
    shown = ", ".join(d.isoformat() for d in missing[:limit])
    return shown + (f" and {len(missing) - limit} more" if len(missing) > limit else "")
