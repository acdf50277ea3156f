"""Waivers: an approved exception turns a failing item into *waived*, still shown with the waiver.

A waiver file per release (``<release.dir>/<tag>.waivers.toml``) lists ``[[waiver]]`` tables with the item id,
approver, justification, ticket and expiry date. A waiver is valid only when every field is there and not blank, it
has not expired, and the approver is not the person who owns the item (two-person rule: the owners are named in the
release file's ``[owners]`` table, by the checklist's owner roles; names are compared whatever their spacing and
case, as golive.release.same_person does). An invalid waiver waives nothing: the item
keeps its outcome and the reason says why the waiver was refused. A refusal no item can carry (the file is not
valid TOML, an entry names no checklist item) is reported by the run itself, which is then a no-go.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from golive.outcomes import Outcome
from golive.release import same_person
from golive.report import ItemResult

FIELDS = ("item", "approver", "justification", "ticket", "expires")


@dataclass(frozen=True)
class Waiver:
    item: str
    approver: str
    justification: str
    ticket: str
    expires: date

    def describe(self) -> str:
        return f"waived by {self.approver} ({self.ticket}, expires {self.expires}): {self.justification}"


@dataclass(frozen=True)
class WaiverFile:
    """Waivers by item, and the refusals for entries that cannot waive anything (by item, or '' if unknown)."""

    path: Path
    waivers: dict[str, Waiver]
    refused: dict[str, list[str]]

    def unattached(self) -> list[str]:
        """Refusals no item can carry (a file that is not valid TOML, an entry without an item or naming no
        checklist item): the run reports them itself and cannot be a go while they stand."""
        return [
            f"waiver refused: {reason}; no go-live until the waiver file is fixed"
            for reason in self.refused.get("", [])
        ]


def _refuse(refused: dict[str, list[str]], item: str, reason: str) -> None:
    refused.setdefault(item, []).append(reason)


def load_waivers(path: Path, owners: dict[str, str], item_owners: dict[str, str], today: date) -> WaiverFile:
    """Read and judge the waiver file; a missing file means no waivers."""
    waivers: dict[str, Waiver] = {}
    refused: dict[str, list[str]] = {}
    if not path.is_file():
        return WaiverFile(path, waivers, refused)
    try:
        entries: Any = tomllib.loads(path.read_text(encoding="utf-8")).get("waiver", [])
    except OSError as exc:
        _refuse(refused, "", f"{path.name}: cannot be read ({exc.strerror or exc})")
        return WaiverFile(path, waivers, refused)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        _refuse(refused, "", f"{path.name}: not valid TOML ({exc})")
        return WaiverFile(path, waivers, refused)
    if not isinstance(entries, list):
        _refuse(refused, "", f"{path.name}: waiver must be an array of [[waiver]] tables, got {type(entries).__name__}")
        return WaiverFile(path, waivers, refused)
    for number, entry in enumerate(entries, start=1):
        item = str(entry.get("item", "")) if isinstance(entry, dict) else ""
        where = f"{path.name} waiver {number} ({item or 'no item'})"
        if not isinstance(entry, dict):
            _refuse(refused, "", f"{where}: not a table")
            continue
        missing = [name for name in FIELDS if not _given(entry.get(name))]
        if missing:
            _refuse(refused, item if item in item_owners else "", f"{where}: missing {', '.join(missing)}")
            continue
        if item not in item_owners:
            _refuse(refused, "", f"{where}: {item} is not a checklist item")
            continue
        expires = entry["expires"]
        if not isinstance(expires, date) or isinstance(expires, datetime):
            _refuse(refused, item, f"{where}: expires must be a date (YYYY-MM-DD), got {expires!r}")
            continue
        if expires < today:
            _refuse(refused, item, f"{where}: expired on {expires}")
            continue
        role = item_owners[item]
        owner = owners.get(role)
        approver = " ".join(str(entry["approver"]).split())
        if owner is None:
            _refuse(
                refused, item, f"{where}: the {role} owning {item} is not named in [owners]: two-person rule unchecked"
            )
            continue
        if same_person({"name": owner}, {"name": approver}):
            _refuse(refused, item, f"{where}: approver {approver} owns {item} ({role}); someone else must approve")
            continue
        justification, ticket = (str(entry[name]).strip() for name in ("justification", "ticket"))
        waivers[item] = Waiver(item, approver, justification, ticket, expires)
    return WaiverFile(path, waivers, refused)


def _given(value: object) -> bool:
    """A field is given when it is there and, if text, not blank: a name of spaces names nobody."""
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def apply_waivers(results: list[ItemResult], waivers: WaiverFile) -> list[ItemResult]:
    """Waive what a valid waiver covers; say on each item why its waiver was refused."""
    applied = []
    for result in results:
        item = result.item.id
        waiver = waivers.waivers.get(item)
        if waiver is not None and not result.outcome.clears:
            was = f"{result.outcome.value}: {result.reason}" if result.reason else result.outcome.value
            result = replace(result, outcome=Outcome.WAIVED, reason=f"{waiver.describe()} [was {was}]")
        elif item in waivers.refused:
            refusal = "; ".join(waivers.refused[item])
            result = replace(result, reason="; ".join(filter(None, [result.reason, f"waiver refused: {refusal}"])))
        applied.append(result)
    return applied
