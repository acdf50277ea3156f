"""Backup probes: the inventory of a backup source, and the verdicts of DB-02 (latest, readable), DB-03 (retention,
no missed night) and LIVE-02 (a backup within the pre-launch window).

Sources are pluggable (``database.backups.kind``): a directory of dumps (custom or tar format files, or
directory-format dumps: a directory holding ``toc.dat``), dated from a timestamp in their name
(``app-2026-11-25T0200Z.dump``, ``app_20261125.dump``) or, with ``date_from = "mtime"``, their modification time;
logical dumps under an S3 prefix, dated the same way or by LastModified; an RDS instance's automated snapshots
(golive.probes.aws); and a pgBackRest stanza's backups (golive.probes.pgbackrest). Nights are UTC calendar dates.

A time in a name is UTC unless it carries an offset (``T0200+0530``, ``T0200Z``); a dump dated by its name and
its modification time (or LastModified) is dated by the earlier of the two. A backup the inventory itself shows
unusable (empty, left incomplete, taken with errors, not available, dated in the future) counts for no night.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from golive.config import BackupSourceSettings, DirectoryBackups, PgbackrestBackups, S3Backups
from golive.outcomes import ProbeError

_NAME_STAMP = re.compile(
    r"(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})"
    r"(?:[T_ -]?(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}))?(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?)?"
)
CLOCK_SKEW = timedelta(minutes=5)  # a backup dated later than now plus this is dated in the future
# A file its writer has not finished (or abandoned): a download, an upload or a dump still being written.
INCOMPLETE_SUFFIXES = (".partial", ".part", ".tmp", ".incomplete", ".inprogress", ".filepart")


@dataclass(frozen=True)
class Backup:
    """One backup in the inventory: a name, when it was taken, where it is, its size, for a snapshot or a
    pgBackRest backup the state its service reports, and what the inventory shows wrong with it (``problem``:
    empty, left incomplete, taken with errors, not available; None when nothing)."""

    name: str
    taken_at: datetime
    location: str
    size: int
    status: str | None = None
    problem: str | None = None

    def age_h(self, now: datetime) -> float:
        return (now - self.taken_at).total_seconds() / 3600

    def unusable(self, now: datetime) -> str | None:
        """Why this backup cannot count as one (None: nothing in the inventory says so)."""
        if self.taken_at > now + CLOCK_SKEW:
            return f"dated {self.taken_at:%Y-%m-%d %H:%M} UTC, in the future"
        return self.problem


def stamp_from_name(name: str) -> datetime | None:
    """The time written in a file name, in UTC (a time without an offset is UTC), or None when it carries no
    valid date."""
    for match in _NAME_STAMP.finditer(name):
        found = match.groupdict()
        parts = {k: int(v) for k, v in found.items() if v is not None and k != "tz"}
        try:
            zone = _zone(found["tz"])
            stamp = datetime(parts["y"], parts["m"], parts["d"], parts.get("H", 0), parts.get("M", 0),
                             parts.get("S", 0), tzinfo=zone)  # fmt: skip
        except ValueError:
            continue
        return stamp.astimezone(UTC)
    return None


def _zone(offset: str | None) -> tzinfo:
    """The zone of an offset written in a name: Z, +0530, -08:00 (UTC when none)."""
    if offset is None or offset in "Zz":
        return UTC
    hours, minutes = int(offset[1:3]), int(offset[-2:])
    if minutes >= 60:
        raise ValueError(f"offset {offset}")
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))  # ValueError beyond 24 h


def dated(name: str, written: datetime, date_from: str) -> datetime:
    """When a dump was taken: the earlier of the time in its name and when it was written (mtime, LastModified),
    so a name stamped ahead (a wrong zone, a wrong clock) cannot make an old dump look fresh; the write time alone
    with ``date_from`` other than ``name`` or a name without a date."""
    stamp = stamp_from_name(name) if date_from == "name" else None
    return written if stamp is None else min(stamp, written)


def dump_problem(name: str, size: int) -> str | None:
    """What a dump's listing shows wrong with it: no bytes, or a name its writer gives an unfinished file."""
    if size == 0:
        return "0 bytes"
    suffix = next((s for s in INCOMPLETE_SUFFIXES if name.lower().endswith(s)), None)
    return f"an unfinished file ({suffix})" if suffix else None


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
            taken = dated(path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC), source.date_from)
            backups.append(Backup(path.name, taken, str(path), size, problem=dump_problem(path.name, size)))
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
    """Whether the backup can be restored: pg_restore reads a dump (file, directory or S3 object) in full, or only
    its table of contents with ``verify = "toc"``; RDS reports a snapshot available; pgBackRest recorded no error
    while taking it."""
    if isinstance(source, DirectoryBackups | S3Backups) and backup.problem:
        return Readability(False, backup.problem, "listing")  # nothing pg_restore could vouch for
    if isinstance(source, DirectoryBackups):
        return check_readable(backup, timeout_s, source.verify)
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


LIST = "pg_restore --list"  # reads the header and the table of contents
FULL = "pg_restore -f /dev/null"  # reads every entry's data as a restore would, writing the script nowhere


@dataclass(frozen=True)
class Readability:
    """A backup's restorability, as its probe saw it: what pg_restore read of a dump, the service's status of a
    snapshot."""

    ok: bool
    detail: str
    probe: str = LIST
    expected: str = "a readable dump"


def list_then_read(run: Callable[[str], Readability], verify: str) -> Readability:
    """``run`` pg_restore --list, then, with ``verify = "full"``, pg_restore -f /dev/null: the first failure, or
    what both read. A dump cut short after its table of contents passes the first and fails the second."""
    listed = run(LIST)
    if not listed.ok or verify == "toc":
        return listed
    read = run(FULL)
    return Readability(True, f"{listed.detail}, all data read", FULL) if read.ok else read


def check_readable(backup: Backup, timeout_s: float, verify: str = "full") -> Readability:
    """Whether pg_restore reads the dump file or directory (custom, tar or directory format), each run within
    timeout_s (see :func:`list_then_read`)."""
    return list_then_read(lambda probe: _pg_restore_file(probe, backup.location, timeout_s), verify)


def _pg_restore_file(probe: str, location: str, timeout_s: float) -> Readability:
    try:
        done = subprocess.run(
            [pg_tool("pg_restore"), *probe.split()[1:], location], capture_output=True, text=True, errors="replace",
            timeout=timeout_s, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Readability(False, f"did not finish within {timeout_s:g} s", probe)
    return pg_restore_verdict(probe, done.returncode, done.stdout, done.stderr)


def pg_restore_verdict(probe: str, returncode: int, stdout: str, stderr: str) -> Readability:
    """The verdict on what pg_restore printed: its first complaint, or (for --list) the entries it listed."""
    if returncode != 0:
        reason = (stderr.strip().splitlines() or [f"exit {returncode}"])[0]
        return Readability(False, reason.removeprefix("pg_restore: error: "), probe)
    if probe != LIST:
        return Readability(True, "all data read", probe)
    entries = [line for line in stdout.splitlines() if line and not line.startswith(";")]
    tables = sum(1 for line in entries if " TABLE DATA " in line)
    return Readability(True, f"{len(entries)} entries, {tables} tables with data", probe)


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
    """DB-03: the oldest kept usable backup is at least retention_days old, and no UTC night from now -
    retention_days to the latest usable backup's night lacks one. A backup the inventory shows unusable
    (Backup.unusable) counts for no night; when no usable backup is as recent as the window's first night, every
    night of the window up to last night is missing.

    A source that keeps backups by its own setting (RDS BackupRetentionPeriod) must be set to keep them that long;
    when it started keeping later than the window's first night (a new instance), the window starts the night after
    and its oldest backup cannot be older than the source itself."""
    days, kept_since, setting = retention_days, backups.kept_since, backups.retention_setting_days
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days)
    if kept_since is not None:  # the night it started may have ended before its first backup
        first = max(first, kept_since.astimezone(UTC).date() + timedelta(days=1))
    excluded = [(b, why) for b in backups.backups if (why := b.unusable(now)) is not None]
    usable = [b for b in backups.backups if b.unusable(now) is None]
    have = {b.taken_at.astimezone(UTC).date() for b in usable}
    # the window ends at the latest usable backup's night: how fresh the latest is, is DB-02's question
    latest_night = usable[-1].taken_at.astimezone(UTC).date() if usable else None
    window_end = latest_night if latest_night is not None and latest_night >= first else today - timedelta(days=1)
    missing = tuple(night for night in nights(first, window_end) if night not in have)
    oldest = usable[0] if usable else None
    age = round((now - oldest.taken_at).total_seconds() / 86400, 1) if oldest else 0.0
    young = kept_since is not None and (now - kept_since).total_seconds() < days * 86400
    measured: dict[str, Any] = {"count": len(usable), "oldest": oldest.name if oldest else None,
                                "oldest_age_days": age, "window": f"{first}..{window_end}",
                                "missing_nights": [d.isoformat() for d in missing],
                                "not_counted": [f"{b.name}: {why}" for b, why in excluded]}  # fmt: skip
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
        found = f" ({len(excluded)} unusable: {describe_excluded(excluded)})" if excluded else ""
        problems.append(f"no usable backups found in {backups.where}{found}; expected {days} days of them")
    elif age < days and not (setting is not None and young):
        problems.append(f"oldest backup {oldest.name} is {age:.1f} days old, expected at least {days} days")
    if missing:
        window = (window_end - first).days + 1
        skipped = [(b, why) for b, why in excluded if b.taken_at.astimezone(UTC).date() in missing]
        not_counted = f"; not counted: {describe_excluded(skipped)}" if skipped else ""
        problems.append(f"missing nights: {describe_nights(missing)} ({len(missing)} of {window} nights "
                        f"{first}..{window_end} have no backup{not_counted})")  # fmt: skip
    return RetentionReport(oldest, age, (first, window_end), missing, len(usable), measured, expected,
                           tuple(problems))  # fmt: skip


def describe_excluded(excluded: list[tuple[Backup, str]], limit: int = 4) -> str:
    shown = ", ".join(f"{backup.name} ({why})" for backup, why in excluded[:limit])
    return shown + (f" and {len(excluded) - limit} more" if len(excluded) > limit else "")


@dataclass(frozen=True)
class LatestReport:
    """DB-02 or LIVE-02 on the latest backup: what was measured, against what, and what is wrong."""

    subject: str
    measured: dict[str, Any]
    expected: dict[str, Any]
    problems: tuple[str, ...]


def judge_latest(backups: Inventory, now: datetime, restorable: Readability | None, limit_h: float,
                 limit: str) -> LatestReport:  # fmt: skip
    """The latest backup (usable or not: a failed last night is not hidden behind the night before): taken in the
    past, at most limit_h hours ago (``limit`` says which limit, in the message), and restorable; and nothing
    wrong with the source itself (a pgBackRest stanza's status)."""
    problems = list(backups.problems)
    if not backups.backups:
        problems.append(f"no backups found in {backups.where}; expected one younger than {limit_h:g} h")
        return LatestReport(f"backup source {backups.where}", {"problems": list(backups.problems), "count": 0},
                            {"problems": [], "age_h": f"<= {limit_h:g}"}, tuple(problems))  # fmt: skip
    latest = backups.backups[-1]
    age = latest.age_h(now)
    taken = f"{latest.taken_at:%Y-%m-%d %H:%M} UTC"
    measured: dict[str, Any] = {"taken_at": latest.taken_at.isoformat(timespec="seconds"), "age_h": round(age, 1),
                                "size": latest.size}  # fmt: skip
    expected: dict[str, Any] = {"age_h": f"0 .. {limit_h:g}"}
    if backups.problems:
        measured["source_problems"] = list(backups.problems)
        expected["source_problems"] = []
    if latest.taken_at > now + CLOCK_SKEW:
        problems.append(
            f"latest backup {latest.name} in {backups.where} is dated {taken}, {-age:.1f} h in the future (now "
            f"{now:%Y-%m-%d %H:%M} UTC); expected a backup taken in the past: its name or its clock is wrong"
        )
    elif age > limit_h:
        problems.append(f"latest backup {latest.name} in {backups.where} is {age:.1f} h old (taken {taken}), {limit}")
    if restorable is not None:
        measured[restorable.probe] = restorable.detail
        expected[restorable.probe] = restorable.expected
        if not restorable.ok:
            problems.append(f"latest backup {latest.name} is not {restorable.expected}: {restorable.probe}: "
                            f"{restorable.detail}")  # fmt: skip
    return LatestReport(f"latest backup {latest.location}", measured, expected, tuple(problems))


def describe_nights(missing: tuple[date, ...], limit: int = 8) -> str:
    shown = ", ".join(d.isoformat() for d in missing[:limit])
    return shown + (f" and {len(missing) - limit} more" if len(missing) > limit else "")
