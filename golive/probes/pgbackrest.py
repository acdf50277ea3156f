"""pgBackRest as a backup source: a stanza's backups as ``pgbackrest info --output=json`` lists them.

The JSON is a list of stanzas; each has a ``status`` (``code`` 0 and ``message`` "ok" when healthy; 1 missing stanza
path, 2 no valid backups, 3 missing stanza data, 4 different across repos, 5 database mismatch across repos,
99 other), per-repository statuses under ``repo``, and a ``backup`` list, oldest first, of ``label``, ``type``
(full, diff, incr), ``timestamp.start``/``stop`` (epoch seconds), ``database`` (``id``, ``repo-key``), ``archive``
``start``/``stop`` (the WAL the backup needs), ``info.size`` and ``error`` (true when pgBackRest found page checksum
errors while copying; ``error-list`` names the files). A backup is dated by ``timestamp.stop``: from then on it can
be restored.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from golive.config import PgbackrestBackups
from golive.outcomes import ProbeError
from golive.probes.backups import Backup, Inventory, Readability

PROBE = "error"
EXPECTED = "a backup pgBackRest completed without errors"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _Timestamp(_Shape):
    start: int
    stop: int


class _Database(_Shape):
    id: int
    repo_key: int = Field(1, alias="repo-key")


class _Info(_Shape):
    size: int = 0


class _Backup(_Shape):
    label: str
    type: Literal["full", "diff", "incr"]
    timestamp: _Timestamp
    database: _Database | None = None
    info: _Info = _Info()
    error: bool | None = None
    error_list: list[str] = Field(default_factory=list, alias="error-list")


class _Status(_Shape):
    code: int
    message: str


class _Repo(_Shape):
    key: int
    status: _Status


class _Stanza(_Shape):
    name: str
    status: _Status
    repo: list[_Repo] = Field(default_factory=list)
    backup: list[_Backup] = Field(default_factory=list)


_INFO = TypeAdapter(list[_Stanza])


def _run(source: PgbackrestBackups) -> str:
    """The command's standard output; ProbeError when it is missing, fails or outlives the timeout (its whole
    process group is killed then, so a wrapper script's children cannot keep it waiting)."""
    argv = source.argv
    shown = shlex.join(argv)
    if shutil.which(argv[0]) is None:
        raise ProbeError(
            f"{source.where}: {argv[0]} not found (install pgBackRest, or set database.backups.command or info_file)"
        )
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", start_new_session=True)  # fmt: skip
    except OSError as error:
        raise ProbeError(f"{source.where}: {shown} cannot run ({error.strerror or error})") from None
    with process:
        try:
            out, err = process.communicate(timeout=source.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ProbeError(f"{source.where}: {shown} did not finish within {source.timeout_s:g} s") from None
    if process.returncode != 0:
        # pgBackRest logs its errors to the console (stdout) unless log-level-stderr says otherwise
        lines = [line.strip() for line in (err + "\n" + out).splitlines() if line.strip()]
        reason = lines[0] if lines else "no output"
        raise ProbeError(f"{source.where}: {shown} exited with {process.returncode}: {reason}")
    return out


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProbeError(f"{where}: info file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ProbeError(f"{where}: info file {path} cannot be read ({reason})") from None


def parse_info(text: str, source: PgbackrestBackups, origin: str) -> Inventory:
    """The stanza's inventory from pgbackrest info's JSON; ProbeError naming ``origin`` when it is not that shape."""
    try:
        stanzas = _INFO.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ProbeError(
            f"{source.where}: {origin} is not pgbackrest info --output=json ({loc}: {first['msg']})"
        ) from None
    found = [stanza for stanza in stanzas if stanza.name == source.stanza]
    if not found:
        names = ", ".join(stanza.name for stanza in stanzas) or "none"
        raise ProbeError(f"{source.where}: {origin} lists no stanza {source.stanza} (stanzas: {names})")
    stanza = found[0]
    backups = sorted((_backup(b, source.stanza) for b in stanza.backup), key=lambda b: b.taken_at)
    return Inventory(source.where, backups, problems=_status_problems(stanza, source.where))


def _status_problems(stanza: _Stanza, where: str) -> tuple[str, ...]:
    if stanza.status.code == 0:
        return ()
    repos = [f"repo{r.key}: {r.status.code} {r.status.message!r}" for r in stanza.repo if r.status.code != 0]
    detail = f" ({', '.join(repos)})" if repos else ""
    return (f"{where}: status {stanza.status.code} {stanza.status.message!r}{detail}, expected 0 'ok'",)


def _backup(backup: _Backup, stanza: str) -> Backup:
    repo = backup.database.repo_key if backup.database else 1
    problem = None
    if backup.error:
        where = f" in {', '.join(backup.error_list)}" if backup.error_list else ""
        status = f"true (page checksum errors{where})"
        problem = f"taken with errors: {status}"
    else:
        status = "false" if backup.error is False else "not reported"
    return Backup(
        backup.label, datetime.fromtimestamp(backup.timestamp.stop, UTC),
        f"pgBackRest {stanza} repo{repo} {backup.type} backup {backup.label}", backup.info.size, status, problem,
    )  # fmt: skip


def inventory(source: PgbackrestBackups) -> Inventory:
    """The stanza's backups, oldest first, from the command or the saved file."""
    if source.info_file is not None:
        return parse_info(_read(source.info_file, source.where), source, f"info file {source.info_file}")
    return parse_info(_run(source), source, f"the output of {shlex.join(source.argv)}")


def readable(backup: Backup) -> Readability:
    """A pgBackRest backup is restorable unless pgBackRest recorded errors while taking it (the error flag)."""
    return Readability(backup.problem is None, backup.status or "not reported", PROBE, EXPECTED)
