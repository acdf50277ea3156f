"""pgBackRest on PATH for the backup-source tests: a real executable named ``pgbackrest`` that answers
``pgbackrest info --output=json --stanza=NAME`` the way pgBackRest 2.x does, from stanzas a test lays out.

A stanza it holds is printed as a one-element JSON list; an unknown one as pgBackRest reports it (status 1,
"missing stanza path"). A test can also make it fail as pgBackRest fails (an ``ERROR: [055]`` line on the console
and exit code 55) or hang in a child process (a wrapper script's ``sleep`` that keeps the pipes open).
The stanzas follow pgBackRest's shape (tests/pgbackrest-info.json is a saved two-repository example): nightly
backups, a full one every seventh night and incrementals between, each dated by ``timestamp.stop``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("pgbackrest-info.json")
STANZA = "main"
REPO_ERROR = (
    "P00  ERROR: [055]: repo1: unable to load info file '/var/lib/pgbackrest/backup/main/backup.info' or "
    "'/var/lib/pgbackrest/backup/main/backup.info.copy':"
)

_SCRIPT = """#!/bin/sh
# golive's test stand-in for pgBackRest 2.x: `pgbackrest info --output=json --stanza=NAME` only.
home="${0%/*}/.."
stanza=""; command=""; output=text
for arg in "$@"; do
  case "$arg" in
    --stanza=*) stanza=${arg#--stanza=} ;;
    --output=*) output=${arg#--output=} ;;
    info) command=info ;;
  esac
done
if [ -f "$home/hang" ]; then sleep 60; exit 0; fi
if [ -f "$home/fail" ]; then cat "$home/fail"; exit 55; fi
if [ "$command" != info ] || [ "$output" != json ]; then
  echo "P00  ERROR: [031]: golive's stand-in answers only info --output=json"; exit 31
fi
if [ -f "$home/stanzas/$stanza.json" ]; then
  printf '[%s]\\n' "$(cat "$home/stanzas/$stanza.json")"
else
  printf '[{"archive":[],"backup":[],"cipher":"none","db":[],"name":"%s","repo":[{"cipher":"none","key":1,'\\
'"status":{"code":1,"message":"missing stanza path"}}],"status":{"code":1,"lock":{"backup":{"held":false},'\\
'"restore":{"held":false}},"message":"missing stanza path"}}]\\n' "$stanza"
fi
"""


def backup(taken: datetime, kind: str, full: str | None, prior: str | None, error: bool = False) -> dict[str, Any]:
    """One entry of a stanza's ``backup`` list: started at ``taken``, finished 90 s later."""
    start = int(taken.timestamp())
    stamp = f"{taken:%Y%m%d-%H%M%S}{kind[0].upper()}"
    label = stamp if full is None else f"{full}_{stamp}"
    entry: dict[str, Any] = {
        "archive": {"start": "000000010000000000000010", "stop": "000000010000000000000010"},
        "backrest": {"format": 5, "version": "2.54.0"},
        "database": {"id": 1, "repo-key": 1},
        "error": error,
        "info": {"delta": 2_097_152, "repository": {"delta": 262_144, "size": 3_407_872}, "size": 31_457_280},
        "label": label,
        "prior": prior,
        "reference": None if full is None else [full],
        "timestamp": {"start": start, "stop": start + 90},
        "type": kind,
    }
    if error:
        entry["error-list"] = ["base/16384/16402"]
    return entry


def stanza(name: str, backups: list[dict[str, Any]], code: int = 0, message: str = "ok") -> dict[str, Any]:
    return {
        "archive": [{"database": {"id": 1, "repo-key": 1}, "id": "15-1", "max": "000000010000000000000010",
                     "min": "000000010000000000000001"}],
        "backup": backups,
        "cipher": "none",
        "db": [{"id": 1, "repo-key": 1, "system-id": 7440561826340571137, "version": "15"}],
        "name": name,
        "repo": [{"cipher": "none", "key": 1, "status": {"code": code, "message": message}}],
        "status": {"code": code, "lock": {"backup": {"held": False}, "restore": {"held": False}}, "message": message},
    }  # fmt: skip


def nightly(latest: datetime, nights: int = 35, skip: frozenset[int] = frozenset(), error_latest: bool = False,
            code: int = 0, message: str = "ok") -> dict[str, Any]:  # fmt: skip
    """A stanza with one backup a night, the latest at ``latest``: full every seventh night, incremental between."""
    entries: list[dict[str, Any]] = []
    full: str | None = None
    for night in range(nights - 1, -1, -1):
        if night in skip:
            continue
        taken = latest - timedelta(days=night)
        if full is None or night % 7 == 6:
            entries.append(backup(taken, "full", None, None))
            full = entries[-1]["label"]
        else:
            entries.append(backup(taken, "incr", full, entries[-1]["label"], error=error_latest and night == 0))
    return stanza(STANZA, entries, code, message)


class PgbackrestStandIn:
    """``bin/pgbackrest`` under ``home``, with the stanzas it reports; put ``bin_dir`` first on PATH."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin_dir = home / "bin"
        (home / "stanzas").mkdir(parents=True, exist_ok=True)
        self.bin_dir.mkdir(exist_ok=True)
        script = self.bin_dir / "pgbackrest"
        script.write_text(_SCRIPT, encoding="utf-8")
        script.chmod(0o755)

    def path(self, environ_path: str) -> str:
        return f"{self.bin_dir}:{environ_path}"

    def holds(self, *stanzas: dict[str, Any]) -> None:
        """Report exactly these stanzas, healthy (no failure, no hang)."""
        for old in (self.home / "stanzas").glob("*.json"):
            old.unlink()
        for entry in stanzas:
            (self.home / "stanzas" / f"{entry['name']}.json").write_text(json.dumps(entry), encoding="utf-8")
        for mode in ("fail", "hang"):
            (self.home / mode).unlink(missing_ok=True)

    def fails(self, line: str = REPO_ERROR) -> None:
        (self.home / "fail").write_text(line + "\n", encoding="utf-8")

    def hangs(self) -> None:
        (self.home / "hang").touch()
