"""Stage order: a later go-live stage starts only after the previous one passed, for the same release and
environment, recently.

preflight -> canary -> smoke -> postlaunch. Before a stage runs, the previous stage's JSON artifact
(``reports/<previous>.json``, which GitLab CI passes between jobs) must exist, be listed with its digest in
``<previous>.sha256``, name the same environment, release tag and commit, say ``"verdict": "go"``, and have
finished within ``stages.order.max_age_h``. Otherwise the stage refuses to start with one line saying why;
``--ignore-stage-order REASON`` lets it start and the reason is recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from golive.config import Release
from golive.report import FORMAT

PREVIOUS_STAGE = {"canary": "preflight", "smoke": "canary", "postlaunch": "smoke"}
# What golive.config.release_from stamps when the release is not known: an artifact stamped so names no release.
PLACEHOLDERS = {"release tag": "unreleased", "release commit": "unknown"}


@dataclass(frozen=True)
class Gate:
    """Whether the stage may start: ``refusal`` is None when it may, else the one-line reason it may not."""

    stage: str
    previous: str | None
    artifact: Path | None
    refusal: str | None
    override: str | None = None

    @property
    def may_start(self) -> bool:
        return self.refusal is None or self.override is not None

    def record(self) -> dict[str, str | bool | None]:
        """What the report should carry about the stage order (see the module's docstring)."""
        return {
            "stage": self.stage,
            "previous": self.previous,
            "artifact": str(self.artifact) if self.artifact else None,
            "in_order": self.refusal is None,
            "refusal": self.refusal,
            "ignored_because": self.override,
        }

    def line(self) -> str:
        if self.refusal is None:
            return f"golive: stage order: {self.previous} passed for this release ({self.artifact})"
        if self.override is not None:
            return f"golive: stage order IGNORED ({self.override}): {self.refusal}"
        return (
            f"golive: {self.stage} refuses to start: {self.refusal}; "
            f"run {self.previous} first, or pass --ignore-stage-order REASON"
        )


def _manifest_digest(manifest: Path, name: str) -> str | None:
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, listed = line.partition("  ")
        if listed.strip() == name:
            return digest.strip()
    return None


def listed_bytes(path: Path) -> tuple[bytes, None] | tuple[None, str]:
    """The artifact's bytes when they match their digest in the manifest golive.report writes beside it
    (``<stem>.sha256``), else None and why not, in one line: a hand-edited or unreadable artifact is no record."""
    manifest = path.with_suffix(".sha256")
    if not manifest.is_file():
        return None, f"{path} has no manifest {manifest.name} beside it"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"{path} cannot be read ({exc.strerror or exc})"
    try:
        listed = _manifest_digest(manifest, path.name)
    except OSError as exc:
        return None, f"{manifest} cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError as exc:
        return None, f"{manifest} is not UTF-8 text ({exc.reason} at byte {exc.start})"
    if listed != hashlib.sha256(raw).hexdigest():
        return None, f"{path} does not match its digest in {manifest.name} (changed after the run?)"
    return raw, None


def refusal(
    stage: str, reports: Path, environment: str, release: Release, now: datetime, max_age: timedelta
) -> tuple[str | None, Path | None]:
    """(why the stage may not start or None, the artifact consulted)."""
    previous = PREVIOUS_STAGE.get(stage)
    if previous is None:
        return None, None
    path = reports / f"{previous}.json"
    ours = {"release tag": release.tag, "release commit": release.commit}
    unknown = [f"{what} {ours[what]!r}" for what, placeholder in PLACEHOLDERS.items() if ours[what] == placeholder]
    if unknown:
        return (
            f"this run's {' and '.join(unknown)}: the {previous} artifact cannot be tied to a release "
            "(set GOLIVE_RELEASE_TAG and GOLIVE_RELEASE_COMMIT, or run on a CI tag)",
            path,
        )
    if not path.is_file():
        return f"no {previous} artifact at {path}", path
    raw, unlisted = listed_bytes(path)
    if raw is None:
        return unlisted, path
    try:
        doc = json.loads(raw)
    except ValueError:
        return f"{path} is not JSON", path
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return f"{path} is not a {FORMAT} document", path
    got_release = doc.get("release") if isinstance(doc.get("release"), dict) else {}
    checks = [
        ("stage", doc.get("stage"), previous),
        ("environment", doc.get("environment"), environment),
        ("release tag", got_release.get("tag"), release.tag),
        ("release commit", got_release.get("commit"), release.commit),
        ("verdict", doc.get("verdict"), "go"),
    ]
    for what, got, want in checks:
        if got != want:
            return f"{path}: {what} {got!r}, expected {want!r}", path
    try:
        finished = datetime.fromisoformat(str(doc.get("finished_at")))
    except ValueError:
        return f"{path}: finished_at {doc.get('finished_at')!r} is not an ISO time", path
    if finished.tzinfo is None:
        return f"{path}: finished_at {doc.get('finished_at')!r} has no time zone", path
    age = now - finished
    if age < -timedelta(minutes=5):  # beyond clock skew: a report from the future is not a record of a run
        return f"{path}: finished_at {doc.get('finished_at')!r} is in the future", path
    if age > max_age:
        hours = age.total_seconds() / 3600
        return f"{path}: finished {hours:.1f} h ago, older than {max_age.total_seconds() / 3600:g} h", path
    return None, path


def gate(
    stage: str | None,
    reports: Path,
    environment: str,
    release: Release,
    now: datetime,
    max_age: timedelta,
    override: str | None = None,
) -> Gate | None:
    """The stage-order gate of a run, or None when the run is not one of the later stages."""
    if stage not in PREVIOUS_STAGE:
        return None
    why, artifact = refusal(stage, reports, environment, release, now, max_age)
    return Gate(stage, PREVIOUS_STAGE[stage], artifact, why, override if why is not None else None)
