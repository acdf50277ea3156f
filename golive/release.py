"""The release file: what people confirm for one release (sign-offs, contacts, training, access control,
incident communication, notifications), and the rules each confirmation must meet.

One file per release, ``<release.dir>/<tag>.toml`` (see releases/example.toml). Each section is checked on
its own: a missing or malformed section fails only its item, and every finding names the file and the field.
Times are TOML datetimes with an offset (``2026-11-26T08:30:00+05:30``).
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SIGNOFF_ROLES: tuple[str, ...] = ("engineering-lead", "product-owner", "support-lead", "on-call-lead")
CONTACT_ROLES: tuple[str, ...] = (
    "primary-on-call",
    "secondary-on-call",
    "product-owner",
    "release-manager",
    "support-lead",
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+[1-9][0-9 ()-]{6,18}[0-9]$")


@dataclass(frozen=True)
class ReleaseFile:
    """A loaded release file: its path and raw TOML tables (None when the file is missing or unreadable)."""

    path: Path
    data: dict[str, Any] | None
    error: str = ""

    @classmethod
    def load(cls, directory: Path, tag: str) -> ReleaseFile:
        path = directory / f"{tag}.toml"
        if not path.is_file():
            return cls(path, None, f"no release file {path} for release {tag}")
        try:
            return cls(path, tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return cls(path, None, f"{path}: not valid TOML ({exc})")
        except OSError as exc:
            return cls(path, None, f"{path}: cannot be read ({exc.strerror or exc})")

    def section(self, name: str) -> dict[str, Any] | list[Any] | None:
        return None if self.data is None else self.data.get(name)

    def when(self, table: str, key: str) -> datetime | None:
        """A datetime (with an offset) from one of the file's tables: [release] built_at, [previous] released_at."""
        raw = self.section(table)
        return _when(raw.get(key)) if isinstance(raw, dict) else None

    def text(self, table: str, key: str) -> str | None:
        raw = self.section(table)
        value = raw.get(key) if isinstance(raw, dict) else None
        return value if isinstance(value, str) and value else None


@dataclass
class Review:
    """The outcome of checking one section: problems (each naming the field) and who attested what."""

    subject: str = ""
    problems: list[str] = field(default_factory=list)
    attested: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)

    def need(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return condition

    def explain(self) -> str:
        return "; ".join(self.problems)


def _when(value: object) -> datetime | None:
    """A TOML datetime with an offset, in UTC; None for anything else (a local time is ambiguous)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None


def _person(review: Review, where: str, raw: object, now: datetime) -> tuple[str, datetime] | None:
    """A `{ name, at }` confirmation: a named person at a past time with an offset."""
    if not isinstance(raw, dict):
        review.problems.append(f"{where}: missing (expected {{ name = ..., at = <datetime with offset> }})")
        return None
    name, at = raw.get("name"), _when(raw.get("at"))
    ok = review.need(isinstance(name, str) and bool(name.strip()), f"{where}.name: missing")
    ok &= review.need(at is not None, f"{where}.at: missing or without a UTC offset")
    if at is not None:
        ok &= review.need(at <= now + timedelta(minutes=5), f"{where}.at: {at.isoformat()} is in the future")
    return (str(name).strip(), at) if ok and at is not None else None


def _section(release: ReleaseFile, name: str) -> tuple[Review, dict[str, Any] | None, str]:
    """A review of one [name] table: the review, the table (None when missing: the review says so), its label."""
    review = Review(subject=f"{release.path.name} [{name}]")
    if release.data is None:
        review.problems.append(release.error)
        return review, None, review.subject
    raw = release.section(name)
    if not isinstance(raw, dict):
        review.problems.append(f"{release.path}: no [{name}] table")
        return review, None, review.subject
    return review, raw, review.subject


def review_signoffs(
    release: ReleaseFile, digest: str, built_at: datetime | None, max_age: timedelta, now: datetime
) -> Review:
    """TEAM-04: the four roles signed this artifact digest, four distinct people, after the build, recently."""
    review = Review(subject=f"{release.path.name} [[signoff]]")
    if release.data is None:
        review.problems.append(release.error)
        return review
    raw = release.section("signoff")
    entries = raw if isinstance(raw, list) else []
    by_role: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("role") in SIGNOFF_ROLES:
            by_role[str(entry["role"])] = entry
    signers: dict[str, str] = {}
    review.need(
        built_at is not None,
        f"{release.path.name} [release].built_at: missing (a time with an offset), so no sign-off can be shown to "
        "come after the build",
    )
    for role in SIGNOFF_ROLES:
        where = f"{release.path.name} [[signoff]] {role}"
        entry = by_role.get(role)
        if entry is None:
            review.problems.append(f"{where}: missing")
            continue
        person = _person(review, where, entry, now)
        signed = entry.get("digest")
        if not review.need(signed == digest, f"{where}: signed digest {signed!r}, the artifact is {digest!r}"):
            continue
        if person is None:
            continue
        name, at = person
        if built_at is not None:
            review.need(
                at >= built_at, f"{where}: signed at {at.isoformat()}, before the build at {built_at.isoformat()}"
            )
        age = now - at
        review.need(
            age <= max_age,
            f"{where}: signed {_hours(age)} h ago, limit {_hours(max_age)} h",
        )
        if name.casefold() in (n.casefold() for n in signers.values()):
            other = next(r for r, n in signers.items() if n.casefold() == name.casefold())
            review.problems.append(f"{where}: {name} also signed as {other}; four distinct people must sign")
        signers[role] = name
        review.attested.append(f"{role}: {name} at {at.isoformat()}")
    review.measured = {"signers": signers, "digest": digest}
    return review


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.0f}"


def _reachable(contact: str) -> bool:
    return bool(EMAIL.match(contact) or PHONE.match(contact))


def review_contacts(release: ReleaseFile) -> Review:
    """TEAM-03: every emergency role has a named person with a well-formed phone (+country...) or email."""
    review, table, section = _section(release, "contacts")
    if table is None:
        return review
    for role in CONTACT_ROLES:
        where = f"{section} {role}"
        entry = table.get(role)
        if not isinstance(entry, dict):
            review.problems.append(f"{where}: missing")
            continue
        name, contact = entry.get("name"), entry.get("contact")
        if review.need(isinstance(name, str) and bool(name.strip()), f"{where}.name: missing"):
            reachable = isinstance(contact, str) and _reachable(contact.strip())
            if review.need(reachable, f"{where}.contact: {contact!r} is neither an email nor a +country phone"):
                review.attested.append(f"{role}: {name}")
    review.measured = {"roles": sorted(k for k in table if k in CONTACT_ROLES)}
    return review


def _resolve(base: Path, reference: str) -> Path:
    path = Path(reference)
    return path if path.is_absolute() else base / path


def review_training(
    release: ReleaseFile, max_age: timedelta, minutes: tuple[int, int], previous_at: datetime | None, now: datetime
) -> Review:
    """TEAM-01: a 60-90 minute support walkthrough held recently, and the runbook PDF published and current."""
    review, table, where = _section(release, "training")
    if table is None:
        return review
    held = table.get("held_on")
    if review.need(isinstance(held, date), f"{where}.held_on: missing (a date)"):
        assert isinstance(held, date)
        held_day = held if not isinstance(held, datetime) else held.date()
        age = now.date() - held_day
        if review.need(age.days >= 0, f"{where}.held_on: {held_day} is in the future; a training not yet held"):
            review.need(age <= max_age, f"{where}.held_on: {held_day} is {age.days} days ago, limit {max_age.days}")
        review.measured["held_on"] = str(held_day)
    duration = table.get("duration_minutes")
    low, high = minutes
    if review.need(isinstance(duration, int), f"{where}.duration_minutes: missing"):
        review.need(low <= duration <= high, f"{where}.duration_minutes: {duration}, expected {low}-{high}")
        review.measured["duration_minutes"] = duration
    runbook = table.get("runbook")
    if review.need(isinstance(runbook, str) and bool(runbook), f"{where}.runbook: missing (a path to the PDF)"):
        path = _resolve(release.path.parent, str(runbook))
        review.measured["runbook"] = path.name
        if review.need(path.is_file(), f"{where}.runbook: {path} does not exist"):
            pages = _pdf_pages(path)
            if review.need(pages > 0, f"{where}.runbook: {path.name} is not a readable PDF with pages"):
                review.measured["runbook_pages"] = pages
            updated = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            review.measured["runbook_updated"] = updated.isoformat(timespec="seconds")
            if previous_at is None:
                review.measured["runbook_freshness"] = "not compared: the release file has no [previous] released_at"
            else:
                review.need(
                    updated > previous_at,
                    f"{where}.runbook: last updated {updated.isoformat()}, "
                    f"before the previous release ({previous_at.isoformat()})",
                )
    person = _person(review, f"{where}.attested", table.get("attested"), now)
    if person is not None and not review.problems:
        review.attested.append(f"training held: {person[0]} at {person[1].isoformat()}")
    return review


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader  # imported when a runbook is read, not by every run that loads the plugin
    from pypdf.errors import PdfReadError

    try:
        return len(PdfReader(str(path)).pages)
    except (PdfReadError, OSError, ValueError):
        return 0


def review_access(release: ReleaseFile, now: datetime) -> Review:
    """TEAM-02: least privilege and two-person control, attested by two different people."""
    review, table, where = _section(release, "access")
    if table is None:
        return review
    people = [
        _person(review, f"{where}.{key}", table.get(key), now) for key in ("least_privilege", "two_person_control")
    ]
    if all(people):
        names = [p[0] for p in people if p]
        review.need(
            names[0].casefold() != names[1].casefold(),
            f"{where}: both attested by {names[0]}; two different people must attest",
        )
        for what, person in zip(("least privilege", "two-person control"), people, strict=True):
            if person is not None:
                review.attested.append(f"{what}: {person[0]} at {person[1].isoformat()}")
    return review


def review_communication(release: ReleaseFile, now: datetime) -> Review:
    """RB-03: an incident lead, the audiences to notify, and non-empty customer and support templates."""
    review, table, where = _section(release, "communication")
    if table is None:
        return review
    lead = table.get("incident_lead")
    review.need(isinstance(lead, str) and bool(lead.strip()), f"{where}.incident_lead: missing")
    audiences = table.get("audiences")
    review.need(isinstance(audiences, list) and len(audiences) > 0, f"{where}.audiences: missing or empty")
    for key in ("customer_template", "support_template"):
        reference = table.get(key)
        if not review.need(isinstance(reference, str) and bool(reference), f"{where}.{key}: missing"):
            continue
        path = _resolve(release.path.parent, str(reference))
        exists = review.need(path.is_file(), f"{where}.{key}: {path} does not exist")
        if exists:
            review.need(
                bool(path.read_text(encoding="utf-8", errors="replace").strip()), f"{where}.{key}: {path.name} is empty"
            )
    person = _person(review, f"{where}.attested", table.get("attested"), now)
    if person is not None and not review.problems:
        review.attested.append(
            f"incident lead {lead}, audiences {', '.join(map(str, audiences or []))}: "
            f"{person[0]} at {person[1].isoformat()}"
        )
    return review


def review_notification(release: ReleaseFile, max_age: timedelta, now: datetime) -> Review:
    """LIVE-01: stakeholders and on-call notified, by whom and when (within the pre-launch window)."""
    review, table, where = _section(release, "notification")
    if table is None:
        return review
    for key in ("stakeholders", "on_call"):
        value = table.get(key)
        review.need(isinstance(value, list) and len(value) > 0, f"{where}.{key}: missing or empty (who was notified)")
    person = _person(review, f"{where}.notified", table.get("notified"), now)
    if person is not None:
        age = now - person[1]
        review.need(
            age <= max_age,
            f"{where}.notified.at: {_hours(age)} h ago, limit {_hours(max_age)} h",
        )
        if not review.problems:
            review.attested.append(f"notified by {person[0]} at {person[1].isoformat()}")
    return review


@dataclass(frozen=True)
class GitTag:
    """What a repository says about a tag: annotated or lightweight, and the commit it points to."""

    name: str
    annotated: bool
    commit: str


def git_tag(repo: Path, tag: str, timeout: float = 10.0) -> GitTag | None:
    """The tag as the repository holds it, or None when it does not exist. Raises OSError when repo is not a repo."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    if git("rev-parse", "--git-dir").returncode != 0:
        raise OSError(f"{repo} is not a git repository")
    kind = git("cat-file", "-t", f"refs/tags/{tag}")
    if kind.returncode != 0:
        return None
    commit = git("rev-parse", f"refs/tags/{tag}^{{commit}}").stdout.strip()
    return GitTag(tag, kind.stdout.strip() == "tag", commit)


def review_artifact(release: ReleaseFile, tag: str, commit: str, digest: str, repo_tag: GitTag | None) -> Review:
    """REL-02: an annotated tag on the commit shipped, and the artifact referenced by its immutable digest.

    That the running instances serve this commit is proved after the deploy, by CAN-02.
    """
    review, table, where = _section(release, "release")
    review.measured = {"tag": tag, "commit": commit, "digest": digest}
    review.need(bool(DIGEST.match(digest)), f"release digest {digest!r} is not sha256:<64 hex> (GOLIVE_RELEASE_DIGEST)")
    if table is not None:
        for key, expected in (("tag", tag), ("commit", commit), ("digest", digest)):
            review.need(table.get(key) == expected, f"{where}.{key}: {table.get(key)!r}, this run ships {expected!r}")
        artifact = str(table.get("artifact", ""))
        review.measured["artifact"] = artifact
        if review.need(bool(artifact), f"{where}.artifact: missing (e.g. registry.example.com/app@sha256:...)"):
            name, _, pinned = artifact.partition("@")
            if not pinned:
                repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
                review.problems.append(
                    f"{where}.artifact: {artifact} is referenced by a mutable tag, not by its digest "
                    f"({repository}@{digest})"
                )
            else:
                review.need(pinned == digest, f"{where}.artifact: pinned to {pinned}, this run ships {digest}")
    if repo_tag is None:
        review.problems.append(f"git tag {tag} does not exist in the release repository")
    else:
        review.measured["git_tag"] = "annotated" if repo_tag.annotated else "lightweight"
        review.need(repo_tag.annotated, f"git tag {tag} is lightweight; releases need an annotated tag (git tag -a)")
        review.need(repo_tag.commit == commit, f"git tag {tag} points to {repo_tag.commit}, this run ships {commit}")
    return review


def review_previous(release: ReleaseFile, tag: str, previous_tag: GitTag | None) -> Review:
    """RB-01: the previous stable release (tag and digest) is recorded and still exists, ready to redeploy."""
    review, table, where = _section(release, "previous")
    if table is None:
        return review
    recorded, digest = table.get("tag"), table.get("digest")
    review.measured = {"tag": recorded, "digest": digest}
    review.need(isinstance(recorded, str) and bool(recorded), f"{where}.tag: missing")
    review.need(recorded != tag, f"{where}.tag: {recorded!r} is the release being shipped, not the previous one")
    review.need(
        isinstance(digest, str) and bool(DIGEST.match(digest)), f"{where}.digest: {digest!r} is not sha256:<64 hex>"
    )
    if isinstance(recorded, str) and recorded:
        review.need(previous_tag is not None, f"{where}.tag: {recorded} no longer exists in the release repository")
    return review
