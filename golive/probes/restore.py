"""The restore record (DB-05): a JSON file the restore job (or ``golive restore-drill``) writes after each drill.

Format ``golive.restore/1``::

    {"format": "golive.restore/1", "started_at": "...", "finished_at": "...", "backup": "app-....dump",
     "backup_taken_at": "...", "target": "scratch PostgreSQL 15.18 (local, temporary)", "duration_s": 2.1,
     "row_counts": {"public.users": 1200}, "checked": "1 table(s) of database.restore_tables non-empty and ...",
     "checks": [{"table": "public.users", "restored": 1200, "source_estimate": 1190, "ok": true}],
     "result": "ok", "detail": ""}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

RECORD_FORMAT = "golive.restore/1"
CLOCK_SKEW = timedelta(minutes=5)  # a record finished later than now plus this cannot be trusted


@dataclass(frozen=True)
class RestoreVerdict:
    path: str
    found: bool
    finished_at: datetime | None
    age_days: float | None
    result: str | None
    backup: str | None
    duration_s: float | None
    row_counts: dict[str, Any]
    problem: str | None

    @property
    def measured(self) -> dict[str, Any]:
        return {
            "record": self.path,
            "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None,
            "age_days": self.age_days,
            "result": self.result,
            "backup": self.backup,
            "duration_s": self.duration_s,
            "row_counts": self.row_counts,
        }


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def judge_restore_record(path: Path, now: datetime, max_age_days: float) -> RestoreVerdict:
    """Stale, failed, malformed or missing record: a problem naming what was found and what was expected."""
    shown = str(path)

    def verdict(problem: str | None, doc: dict[str, Any] | None = None, finished: datetime | None = None,
                age: float | None = None) -> RestoreVerdict:  # fmt: skip
        doc = doc or {}
        duration = doc.get("duration_s")
        counts = doc.get("row_counts")
        return RestoreVerdict(
            shown, doc != {}, finished, age, doc.get("result") if isinstance(doc.get("result"), str) else None,
            doc.get("backup") if isinstance(doc.get("backup"), str) else None,
            float(duration) if isinstance(duration, int | float) else None,
            counts if isinstance(counts, dict) else {}, problem,
        )  # fmt: skip

    expected = f"expected a successful restore drill within {max_age_days:g} days"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return verdict(f"no restore record at {shown}; {expected}")
    except OSError as error:
        return verdict(f"restore record {shown} cannot be read ({error.strerror}); {expected}")
    try:
        doc = json.loads(text)
    except ValueError:
        return verdict(f"restore record {shown} is not JSON; {expected}")
    if not isinstance(doc, dict):
        return verdict(f"restore record {shown} is not a JSON object; {expected}")
    finished = _parse_time(doc.get("finished_at"))
    if finished is None:
        return verdict(f"restore record {shown} has no finished_at timestamp with a timezone; {expected}", doc)
    age = round((now - finished).total_seconds() / 86400, 1)
    backup = doc.get("backup", "an unnamed backup")
    if finished > now + CLOCK_SKEW:
        ahead = (finished - now).total_seconds() / 3600
        return verdict(
            f"restore record {shown} finished_at {finished.isoformat(timespec='seconds')} is {ahead:.1f} h in the "
            f"future (now {now.isoformat(timespec='seconds')}); {expected}", doc, finished, age,
        )  # fmt: skip
    if doc.get("result") != "ok":
        detail = doc.get("detail") or "no detail"
        return verdict(
            f"last restore drill ({backup}, {finished.isoformat(timespec='seconds')}) has result "
            f"{doc.get('result')!r} ({detail}); {expected}", doc, finished, age,
        )  # fmt: skip
    if age > max_age_days:
        return verdict(
            f"last restore drill finished {age:.1f} days ago ({finished.isoformat(timespec='seconds')}, "
            f"backup {backup}), limit {max_age_days:g} days", doc, finished, age,
        )  # fmt: skip
    return verdict(None, doc, finished, age)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a restore record atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps({"format": RECORD_FORMAT, **record}, indent=2) + "\n", encoding="utf-8")
    staging.replace(path)
