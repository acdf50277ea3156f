"""The release file: what people confirm for one release (sign-offs, contacts, training, access control,
incident communication, notifications), the rules each confirmation must meet, and the release's artifact
(REL-02) and the previous release kept for a rollback (RB-01) as the git repository, the registry and the
running app show them.

One file per release, ``<release.dir>/<tag>.toml`` (see releases/example.toml). Each section is checked on
its own: a missing or malformed section fails only its item, and every finding names the file and the field.
Times are TOML datetimes with an offset (``2026-11-26T08:30:00+05:30``).
"""

from __future__ import annotations

import io
import re
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from golive.config import Environment, Release
from golive.outcomes import ProbeError
from golive.probes.http import get, request
from golive.probes.registry import Registry, lookup_manifest
from golive.probes.rollout import release_problems
from golive.targets import stage_targets

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
RUNBOOK_MAX_BYTES = 50 * 1024 * 1024  # a runbook downloaded from a URL may be this large


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
        """A datetime (with an offset) from one of the file's tables: [release] built_at."""
        raw = self.section(table)
        return _when(raw.get(key)) if isinstance(raw, dict) else None

    def text(self, table: str, key: str) -> str | None:
        """A non-empty string from one of the file's tables, None otherwise."""
        raw = self.section(table)
        value = raw.get(key) if isinstance(raw, dict) else None
        return value if isinstance(value, str) and value else None

    def previous(self, environment: str) -> dict[str, Any] | None:
        """The ``[previous.<environment>]`` table, None when the file has none."""
        tables = self.section("previous")
        table = tables.get(environment) if isinstance(tables, dict) else None
        return table if isinstance(table, dict) else None


@dataclass
class Review:
    """The outcome of checking one section: problems (each naming the field), who attested what, and the parts
    that could not be verified (each with the reason)."""

    subject: str = ""
    problems: list[str] = field(default_factory=list)
    attested: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    unverified: list[str] = field(default_factory=list)

    def need(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return condition

    def explain(self) -> str:
        return "; ".join(self.problems)

    @property
    def ok(self) -> bool | None:
        """For the evidence: False with a problem, None (not known) with a part not verified, else True."""
        return False if self.problems else (None if self.unverified else True)


def _when(value: object) -> datetime | None:
    """A TOML datetime with an offset, in UTC; None for anything else (a local time is ambiguous)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None


def _person(
    review: Review, where: str, raw: object, now: datetime, max_age: timedelta | None = None
) -> tuple[str, datetime] | None:
    """A `{ name, at }` confirmation: a named person at a past time with an offset; with ``max_age``, no older
    than that (release.attestation_max_age_days)."""
    if not isinstance(raw, dict):
        review.problems.append(f"{where}: missing (expected {{ name = ..., at = <datetime with offset> }})")
        return None
    name, at = raw.get("name"), _when(raw.get("at"))
    ok = review.need(isinstance(name, str) and bool(name.strip()), f"{where}.name: missing")
    ok &= review.need(at is not None, f"{where}.at: missing or without a UTC offset")
    if at is not None:
        ok &= review.need(at <= now + timedelta(minutes=5), f"{where}.at: {at.isoformat()} is in the future")
        if max_age is not None:
            ok &= review.need(
                now - at <= max_age,
                f"{where}.at: {at.isoformat()} is {(now - at).days} days ago, limit {max_age.days} days "
                "(release.attestation_max_age_days); expected a confirmation for this release",
            )
    return (" ".join(str(name).split()), at) if ok and at is not None else None


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


def _identity(entry: Mapping[str, Any], key: str) -> str:
    """A person's email or handle, normalised ('' when not given)."""
    value = entry.get(key)
    if not isinstance(value, str):
        return ""
    return value.strip().removeprefix("@").casefold() if key == "handle" else value.strip().casefold()


def same_person(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two entries name the same person: by email, else by handle when both give one; else by name,
    whatever its spacing and case."""
    for key in ("email", "handle"):
        mine, theirs = _identity(one, key), _identity(other, key)
        if mine and theirs:
            return mine == theirs
    names = [" ".join(str(e.get("name", "")).split()).casefold() for e in (one, other)]
    return names[0] == names[1]


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
    by_role: dict[str, list[int]] = {}
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, dict) and entry.get("role") in SIGNOFF_ROLES:
            by_role.setdefault(str(entry["role"]), []).append(number)
    signers: dict[str, dict[str, Any]] = {}
    review.need(
        built_at is not None,
        f"{release.path.name} [release].built_at: missing (a time with an offset), so no sign-off can be shown to "
        "come after the build",
    )
    for role in SIGNOFF_ROLES:
        where = f"{release.path.name} [[signoff]] {role}"
        numbers = by_role.get(role, [])
        if not numbers:
            review.problems.append(f"{where}: missing")
            continue
        if len(numbers) > 1:
            listed = ", ".join(map(str, numbers))
            review.problems.append(f"{where}: signed {len(numbers)} times (entries {listed}); one sign-off per role")
            continue
        entry = entries[numbers[0] - 1]
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
        review.need(age <= max_age, f"{where}: signed {_hours(age)} h ago, limit {_hours(max_age)} h")
        other = next((r for r, e in signers.items() if same_person(e, entry)), None)
        if other is not None:
            review.problems.append(f"{where}: {name} also signed as {other}; four distinct people must sign")
        signers[role] = entry
        review.attested.append(f"{role}: {name} at {at.isoformat()}")
    review.measured = {"signers": {r: " ".join(str(e.get("name")).split()) for r, e in signers.items()},
                       "digest": digest}  # fmt: skip
    return review


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.0f}"


def _reachable(contact: str) -> bool:
    return bool(EMAIL.match(contact) or PHONE.match(contact))


def review_contacts(release: ReleaseFile, now: datetime, max_age: timedelta) -> Review:
    """TEAM-03: every emergency role has a named person with a well-formed phone (+country...) or email, and a
    person confirmed the list (who and when, within ``max_age``)."""
    review, table, section = _section(release, "contacts")
    if table is None:
        return review
    listed = []
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
                listed.append(f"{role} {name}")
    review.measured = {"roles": sorted(k for k in table if k in CONTACT_ROLES)}
    person = _person(review, f"{section}.attested", table.get("attested"), now, max_age)
    if person is not None and not review.problems:
        review.attested.append(f"contacts ({', '.join(listed)}) confirmed by {person[0]} at {person[1].isoformat()}")
    return review


def _resolve(base: Path, reference: str) -> Path:
    path = Path(reference)
    return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class PreviousRelease:
    """The previous stable release recorded for one environment: what a rollback redeploys."""

    tag: str
    digest: str
    released_at: datetime | None


def previous_release(release: ReleaseFile, environment: str) -> tuple[Review, PreviousRelease | None]:
    """RB-01's record: ``[previous.<environment>]`` with tag, digest and released_at, for the environment this run
    checks (a rollback of production redeploys what production ran, not what staging ran)."""
    label = f"[previous.{environment}]"
    review = Review(subject=f"{release.path.name} {label}")
    if release.data is None:
        review.problems.append(release.error)
        return review, None
    tables, table = release.section("previous"), release.previous(environment)
    if not isinstance(tables, dict):
        review.problems.append(f"{release.path}: no {label} table (the previous release of {environment})")
        return review, None
    if table is None:
        flat = "tag" in tables or "digest" in tables
        recorded = ", ".join(k for k, v in tables.items() if isinstance(v, dict)) or "none"
        review.problems.append(
            f"{release.path.name} [previous]: records no environment; write {label} with tag, digest and released_at"
            if flat
            else f"{release.path.name} {label}: missing, the previous release of {environment} is not recorded "
            f"(recorded for: {recorded})"
        )
        return review, None
    where = f"{release.path.name} {label}"
    tag, digest = table.get("tag"), table.get("digest")
    review.measured = {"environment": environment, "tag": tag, "digest": digest}
    ok = review.need(isinstance(tag, str) and bool(tag), f"{where}.tag: missing")
    ok &= review.need(
        isinstance(digest, str) and bool(DIGEST.match(digest)), f"{where}.digest: {digest!r} is not sha256:<64 hex>"
    )
    at = _when(table.get("released_at"))
    if not ok:
        return review, None
    return review, PreviousRelease(str(tag), str(digest), at)


def _runbook_bytes(review: Review, where: str, reference: str, base: Path, http: httpx.Client) -> bytes | None:
    """The runbook as published: a file beside the release file, or a URL (downloaded within the client's
    timeouts); None when it is not there (the review says so). ProbeError when the URL cannot be fetched."""
    if reference.startswith(("https://", "http://")):
        answer = request(http, "GET", reference, f"{where}: GET {reference}", max_bytes=RUNBOOK_MAX_BYTES)
        if review.need(answer.status == 200, f"{where}: GET {reference} answered HTTP {answer.status}, expected 200"):
            return answer.content
        return None
    path = _resolve(base, reference)
    if not review.need(path.is_file(), f"{where}: {path} does not exist"):
        return None
    return path.read_bytes()


@dataclass(frozen=True)
class PdfFacts:
    """What pypdf reads from a file: its page count and its own modification date (/ModDate)."""

    pages: int
    modified: datetime | None
    error: str = ""


def pdf_facts(content: bytes) -> PdfFacts:
    """Open the bytes with pypdf; a malformed file is an error in one line, whatever pypdf raises."""
    from pypdf import PdfReader  # imported when a runbook is read, not by every run that loads the plugin

    try:
        reader = PdfReader(io.BytesIO(content))
        pages = len(reader.pages)
    except Exception as exc:  # pypdf raises many kinds of exception on malformed input
        return PdfFacts(0, None, " ".join(f"{type(exc).__name__}: {exc}".split())[:160])
    try:
        modified = reader.metadata.modification_date if reader.metadata is not None else None
    except Exception:  # a /ModDate that is not a PDF date is no date
        modified = None
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)  # a PDF date without an offset: taken as UTC
    return PdfFacts(pages, modified.astimezone(UTC) if modified else None)


def _runbook_updated(
    review: Review, where: str, name: str, facts: PdfFacts, declared: object
) -> tuple[datetime | None, str]:
    """When the runbook was last updated, and by what account: the PDF's own /ModDate, else the release file's
    [training].runbook_updated. A file's mtime is never used: any checkout resets it."""
    review.measured["runbook_moddate"] = facts.modified.isoformat() if facts.modified else None
    if facts.modified is not None:
        return facts.modified, f"{name} /ModDate"
    if declared is not None:
        updated = _when(declared)
        review.need(updated is not None, f"{where}.runbook_updated: {declared!r} is not a time with an offset")
        return updated, f"{where}.runbook_updated"
    review.problems.append(
        f"{where}.runbook: {name} has no modification date (/ModDate) and {where}.runbook_updated is not set"
    )
    return None, ""


def review_training(
    release: ReleaseFile,
    environment: str,
    max_age: timedelta,
    minutes: tuple[int, int],
    now: datetime,
    http: httpx.Client,
) -> Review:
    """TEAM-01: a 60-90 minute support walkthrough held recently, and the runbook PDF published (a file or a URL),
    a real PDF with pages, updated after the previous release of this environment."""
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
    if review.need(isinstance(runbook, str) and bool(runbook), f"{where}.runbook: missing (a path or URL of the PDF)"):
        _review_runbook(review, where, release, environment, str(runbook), table.get("runbook_updated"), now, http)
    person = _person(review, f"{where}.attested", table.get("attested"), now)
    if person is not None and not review.problems:
        review.attested.append(f"training held: {person[0]} at {person[1].isoformat()}")
    return review


def _review_runbook(
    review: Review,
    where: str,
    release: ReleaseFile,
    environment: str,
    reference: str,
    declared: object,
    now: datetime,
    http: httpx.Client,
) -> None:
    name = reference.rsplit("/", 1)[-1]
    review.measured["runbook"] = reference
    content = _runbook_bytes(review, f"{where}.runbook", reference, release.path.parent, http)
    if content is None:
        return
    facts = pdf_facts(content)
    detail = f" ({facts.error})" if facts.error else ""
    if not review.need(facts.pages > 0, f"{where}.runbook: {name} is not a readable PDF with pages{detail}"):
        return
    review.measured["runbook_pages"] = facts.pages
    updated, source = _runbook_updated(review, where, name, facts, declared)
    previous = release.previous(environment)
    released = _when(previous.get("released_at")) if previous is not None else None
    field_name = f"{release.path.name} [previous.{environment}].released_at"
    if updated is None:
        return
    review.measured["runbook_updated"] = f"{updated.isoformat()} ({source})"
    if not review.need(updated <= now + timedelta(minutes=5), f"{where}.runbook: {source} {updated} is in the future"):
        return
    if review.need(
        released is not None,
        f"{field_name}: missing (a time with an offset), so the runbook cannot be shown to be updated after the "
        "previous release",
    ):
        assert released is not None
        review.need(
            updated > released,
            f"{where}.runbook: {name} last updated {updated.isoformat()} ({source}), before the previous release "
            f"({released.isoformat()}, {field_name})",
        )


def review_access(release: ReleaseFile, now: datetime, max_age: timedelta) -> Review:
    """TEAM-02: least privilege and two-person control, attested by two different people within ``max_age``."""
    review, table, where = _section(release, "access")
    if table is None:
        return review
    people = [
        _person(review, f"{where}.{key}", table.get(key), now, max_age)
        for key in ("least_privilege", "two_person_control")
    ]
    if all(people):
        first, second = (table[key] for key in ("least_privilege", "two_person_control"))
        review.need(
            not same_person(first, second),
            f"{where}: both attested by {people[0][0] if people[0] else ''}; two different people must attest",
        )
        for what, person in zip(("least privilege", "two-person control"), people, strict=True):
            if person is not None:
                review.attested.append(f"{what}: {person[0]} at {person[1].isoformat()}")
    return review


def review_communication(release: ReleaseFile, now: datetime, max_age: timedelta) -> Review:
    """RB-03: an incident lead, the audiences to notify, and non-empty customer and support templates, confirmed
    by a person within ``max_age``."""
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
    person = _person(review, f"{where}.attested", table.get("attested"), now, max_age)
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


def review_artifact(release: ReleaseFile, tag: str, commit: str, digest: str) -> Review:
    """REL-02 in the release file: it names this run's tag, commit and digest, and the artifact is referenced by
    its immutable digest, never a mutable tag."""
    review, table, where = _section(release, "release")
    review.measured = {"tag": tag, "commit": commit, "digest": digest}
    review.need(bool(DIGEST.match(digest)), f"release digest {digest!r} is not sha256:<64 hex> (GOLIVE_RELEASE_DIGEST)")
    if table is None:
        return review
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
    return review


def check_git_tag(review: Review, repo: Path | None, tag: str, missing: str, commit: str | None = None) -> None:
    """The tag exists in the app's repository (release.repo); with ``commit``, annotated and on that commit.
    Without release.repo this part is not verified; a repo that is not a git repository is a ProbeError."""
    if repo is None:
        review.unverified.append("release.repo is not set: golive cannot see the release's git tags")
        return
    try:
        found = git_tag(repo, tag)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProbeError(f"release.repo: {exc}") from None
    if not review.need(found is not None, missing):
        return
    assert found is not None
    review.measured["git_tag"] = f"{tag} {'annotated' if found.annotated else 'lightweight'} on {found.commit}"
    if commit is not None:
        review.need(found.annotated, f"git tag {tag} is lightweight; releases need an annotated tag (git tag -a)")
        review.need(found.commit == commit, f"git tag {tag} points to {found.commit}, this run ships {commit}")


def check_in_registry(review: Review, http: httpx.Client, registry: Registry | None, digest: str, what: str) -> None:
    """The digest's manifest exists in the registry. Without release.registry this part is not verified: the
    evidence says so and the item is then not verified (as without release.repo), never passed in silence."""
    key = f"registry: {what}"
    if registry is None:
        review.measured[key] = "not verified: release.registry is not set"
        review.unverified.append(f"release.registry is not set: golive cannot see the {what} in the registry")
        return
    found = lookup_manifest(http, registry, digest)
    review.measured[key] = {"reference": found.reference, **found.measured()}
    if review.need(found.found, f"{what} {digest} is not in the registry: {found.reference} answered {found.error}"):
        review.need(
            found.served_digest == digest,
            f"{what}: the registry serves {found.reference} as {found.served_digest} ({found.digest_from}), "
            f"expected {digest}",
        )


def health_urls(environment: Environment) -> list[tuple[str, str]]:
    """Every health endpoint the environment names: the service, its instances and the canary."""
    path = environment.app.health_path
    return [(t.name, t.endpoint(path)) for t in stage_targets(environment, None) if t.url is not None]


def check_served_release(
    review: Review, http: httpx.Client, urls: list[tuple[str, str]], fields: tuple[str, str], tag: str, commit: str
) -> None:
    """REL-02 in the running app: every instance whose health body reports this release's version reports its
    commit (an image built from another commit than the tag fails). An instance on another version is not
    compared (before the deploy the service runs the previous release; CAN-01 and CAN-02 compare after it), nor
    is one that does not answer (OBS-01 reports that)."""
    version_field, commit_field = fields
    served: dict[str, str] = {}
    for name, url in urls:
        try:
            answer = get(http, url)
        except ProbeError as exc:
            served[name] = f"not read ({exc})"
            continue
        version, served_commit, _ = release_problems(answer.json_body(), version_field, commit_field, tag, commit)
        served[name] = f"{version_field} {version} at {commit_field} {served_commit}"
        if version == tag:
            review.need(
                served_commit == commit,
                f"[{name}] GET {url}: {version_field} {version!r} with {commit_field} {served_commit!r}; this run "
                f"ships {tag} at {commit!r}: the image was built from another commit",
            )
    if not any(value.startswith(f"{version_field} {tag} ") for value in served.values()):
        served["note"] = f"no instance serves {tag} yet: CAN-01 and CAN-02 compare the commit after the deploy"
    review.measured["health bodies"] = served


def verify_artifact(
    release: ReleaseFile, shipped: Release, environment: Environment, registry: Registry | None, http: httpx.Client
) -> Review:
    """REL-02: the release file pins this run's artifact by digest, the git tag is annotated and on the shipped
    commit, the running app reports that commit for this version, and the registry holds the digest."""
    review = review_artifact(release, shipped.tag, shipped.commit, shipped.digest)
    check_git_tag(review, environment.release.repo, shipped.tag,
                  f"git tag {shipped.tag} does not exist in the release repository", shipped.commit)  # fmt: skip
    fields = (environment.stages.version_field, environment.stages.commit_field)
    check_served_release(review, http, health_urls(environment), fields, shipped.tag, shipped.commit)
    if DIGEST.match(shipped.digest):
        check_in_registry(review, http, registry, shipped.digest, "release digest")
    return review


def verify_previous(
    release: ReleaseFile, environment: Environment, shipped: Release, registry: Registry | None, http: httpx.Client
) -> Review:
    """RB-01: the previous stable release of this environment is recorded (tag, digest), is not the release being
    shipped (a rollback to it would change nothing), and still exists: its git tag in release.repo and its
    manifest in the registry, ready to redeploy."""
    review, previous = previous_release(release, environment.name)
    if previous is None:
        return review
    where = review.subject
    review.need(
        previous.tag != shipped.tag,
        f"{where}.tag: {previous.tag!r} is the release being shipped (GOLIVE_RELEASE_TAG {shipped.tag!r}); "
        "expected the release a rollback returns to",
    )
    review.need(
        previous.digest != shipped.digest,
        f"{where}.digest: {previous.digest} is the artifact being shipped (GOLIVE_RELEASE_DIGEST {shipped.digest}); "
        "expected the image a rollback redeploys",
    )
    check_git_tag(review, environment.release.repo, previous.tag,
                  f"{where}.tag: {previous.tag} no longer exists in the release repository")  # fmt: skip
    check_in_registry(review, http, registry, previous.digest, "previous release digest")
    return review
