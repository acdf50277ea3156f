"""The sandbox's release file: what the people of a healthy release team would have confirmed for the
sandbox's release (sign-offs, contacts, training and runbook, access control, incident communication,
notifications, owners), with fresh times, and the faults that break one confirmation each.

Written at start and again whenever the faults change, so checks always read the file the faults describe.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from golive.sandbox.app import Release
from golive.sandbox.rollout import PREVIOUS_COMMIT, PREVIOUS_TAG
from golive.sandbox.standins.registry import digest_of, image_manifest

ENVIRONMENT = "sandbox"  # environments/sandbox.toml's name: the previous release is recorded for it
_PREVIOUS_DATE = "2026-11-12T09:00:00+00:00"
_RELEASE_DATE = "2026-11-20T09:00:00+00:00"
PREVIOUS_DIGEST = digest_of(image_manifest(PREVIOUS_TAG, PREVIOUS_COMMIT))  # what the sandbox's registry holds
OTHER_DIGEST = "sha256:" + "0bad" * 16
RUNBOOK_LINES = (
    "Web app go-live runbook",
    "Health: GET /api/health and /api/health/db on every instance.",
    "Rollback: redeploy the previous release by its digest ([previous.<environment>] in the release file).",
    "Payments: escalate webhook failures to the on-call lead.",
)

PEOPLE = {
    "engineering-lead": "Asha Rao",
    "product-owner": "Vikram Mehta",
    "support-lead": "Neha Kapoor",
    "on-call-lead": "Rohan Das",
    "release-manager": "Priya Nair",
    "secondary-on-call": "Kabir Singh",
}


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def _table(name: str, values: dict[str, object]) -> str:
    return f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())


def _pdf_text(line: str) -> str:
    return "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def runbook_pdf(lines: Sequence[str], modified: datetime) -> bytes:
    """A one-page PDF runbook (Helvetica text, one line each) whose /ModDate is ``modified``; the same bytes for
    the same arguments."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    helvetica = {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                 NameObject("/BaseFont"): NameObject("/Helvetica")}  # fmt: skip
    fonts = DictionaryObject({NameObject("/F1"): DictionaryObject(helvetica)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    text = DecodedStreamObject()
    shown = " ".join(f"{_pdf_text(line)} '" for line in lines)
    text.set_data(f"BT /F1 11 Tf 56 790 Td 16 TL {shown} ET".encode("latin-1"))
    page.replace_contents(text)
    stamp = modified.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    writer.add_metadata({"/Title": lines[0], "/CreationDate": stamp, "/ModDate": stamp})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _runbook(path: Path, faults: frozenset[str], now: datetime) -> None:
    if "release-runbook-not-pdf" in faults:
        path.write_text("<html><body>Runbook (exported as HTML by mistake)</body></html>\n", encoding="utf-8")
        return
    # stale: last edited 20 days ago, before the previous release (14 days ago)
    age = timedelta(days=20 if "release-runbook-stale" in faults else 1)
    path.write_bytes(runbook_pdf(RUNBOOK_LINES, now - age))


def write_release_files(directory: Path, release: Release, faults: frozenset[str]) -> Path:
    """Write <tag>.toml (and the runbook, templates and waivers it names) as the active faults describe."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    (directory / "templates").mkdir(exist_ok=True)
    (directory / "templates" / "customer.md").write_text(
        "We are investigating degraded service and will update you within 30 minutes.\n", encoding="utf-8"
    )
    support = directory / "templates" / "support.md"
    if "release-template-missing" in faults:
        support.unlink(missing_ok=True)
    else:
        support.write_text("Acknowledge, link the status page, escalate payments issues to on-call.\n", "utf-8")
    _runbook(directory / "runbook.pdf", faults, now)

    signers = {role: PEOPLE[role] for role in ("engineering-lead", "product-owner", "support-lead", "on-call-lead")}
    if "release-signoff-same-person" in faults:
        signers["support-lead"] = signers["product-owner"]
    signoffs = ""
    for role, name in signers.items():
        digest = (
            OTHER_DIGEST if role == "engineering-lead" and "release-signoff-other-digest" in faults else release.digest
        )
        signoffs += (
            "[[signoff]]\n"
            + "".join(
                f"{k} = {_toml(v)}\n"
                for k, v in {"role": role, "name": name, "at": now - timedelta(hours=2), "digest": digest}.items()
            )
            + "\n"
        )

    contacts = {
        "primary-on-call": {"name": PEOPLE["on-call-lead"], "contact": "+91 98450 12345"},
        "secondary-on-call": {"name": PEOPLE["secondary-on-call"], "contact": "kabir.singh@example.com"},
        "product-owner": {"name": PEOPLE["product-owner"], "contact": "vikram.mehta@example.com"},
        "release-manager": {"name": PEOPLE["release-manager"], "contact": "+91 98450 67890"},
        "support-lead": {"name": PEOPLE["support-lead"], "contact": "neha.kapoor@example.com"},
        # stale: confirmed 20 days ago, for an earlier release (release.attestation_max_age_days is 14)
        "attested": {"name": PEOPLE["release-manager"],
                     "at": now - (timedelta(days=20) if "release-contacts-stale" in faults else timedelta(hours=20))},
    }  # fmt: skip
    if "release-contact-unreachable" in faults:
        contacts["secondary-on-call"]["contact"] = "ask on Slack"
    stale = {"release-training-too-old", "release-waiver-expired"} & faults  # the waiver would cover stale training
    training_age = timedelta(days=45 if stale else 10)
    access_second = PEOPLE["engineering-lead"] if "release-access-same-person" in faults else PEOPLE["on-call-lead"]
    parts = [
        f"# Release file for {release.tag}: what people confirmed (written by golive's sandbox).\n",
        _table(
            "release",
            {
                "tag": release.tag,
                "commit": release.commit,
                "digest": release.digest,
                "artifact": "registry.sandbox.golive.invalid/app:latest"
                if "release-artifact-mutable-tag" in faults
                else f"registry.sandbox.golive.invalid/app@{release.digest}",
                "built_at": now - timedelta(hours=6),
            },
        ),
        _table(
            f"previous.{'staging' if 'release-previous-other-environment' in faults else ENVIRONMENT}",
            {
                "tag": "v1.3.1" if "release-previous-missing" in faults else PREVIOUS_TAG,
                "digest": release.digest if "release-previous-is-shipped" in faults else PREVIOUS_DIGEST,
                "released_at": now - timedelta(days=14),
            },
        ),
        signoffs.rstrip("\n") + "\n",
        _table("contacts", contacts),
        _table(
            "training",
            {
                "held_on": (now - training_age).date(),
                "duration_minutes": 75,
                "runbook": "runbook.pdf",
                "attested": {"name": PEOPLE["support-lead"], "at": now - training_age},
            },
        ),
        _table(
            "access",
            {
                "least_privilege": {"name": PEOPLE["engineering-lead"], "at": now - timedelta(days=1)},
                "two_person_control": {"name": access_second, "at": now - timedelta(days=1)},
            },
        ),
        _table(
            "communication",
            {
                "incident_lead": PEOPLE["on-call-lead"],
                "audiences": ["Product", "Support", "Engineering", "Operations"],
                "customer_template": "templates/customer.md",
                "support_template": "templates/support.md",
                "attested": {"name": PEOPLE["release-manager"], "at": now - timedelta(hours=20)},
            },
        ),
        _table(
            "owners",
            {
                "platform": "Arjun Menon",
                "dba": "Farah Khan",
                "sre": PEOPLE["on-call-lead"],
                "payments": "Dev Patel",
                "release-manager": PEOPLE["release-manager"],
                "engineering-lead": PEOPLE["engineering-lead"],
                "support-lead": PEOPLE["support-lead"],
            },
        ),
    ]
    if "release-not-notified" not in faults:
        parts.append(
            _table(
                "notification",
                {
                    "stakeholders": ["Product", "Support", "Engineering", "Operations"],
                    "on_call": [PEOPLE["on-call-lead"], PEOPLE["secondary-on-call"]],
                    "notified": {"name": PEOPLE["release-manager"], "at": now - timedelta(hours=3)},
                },
            )
        )
    path = directory / f"{release.tag}.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    waivers = directory / f"{release.tag}.waivers.toml"
    if "release-waiver-expired" in faults:
        waivers.write_text(
            "[[waiver]]\n"
            + "".join(
                f"{k} = {_toml(v)}\n"
                for k, v in {
                    "item": "TEAM-01",
                    "approver": PEOPLE["engineering-lead"],
                    "justification": "training rescheduled after the launch",
                    "ticket": "OPS-4711",
                    "expires": (now - timedelta(days=1)).date(),
                }.items()
            ),
            encoding="utf-8",
        )
    else:
        waivers.unlink(missing_ok=True)
    return path


_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "golive sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@golive.invalid",
    "GIT_COMMITTER_NAME": "golive sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@golive.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def make_release_repo(directory: Path, release: Release) -> Path:
    """The app's repository as the release process leaves it: annotated tags on the previous and current release.

    Fixed names and dates make the commits reproducible, so the sandbox's release commit is known in advance.
    """

    def git(*args: str, when: str) -> str:
        env = {**_GIT_IDENTITY, "PATH": "/usr/bin:/bin", "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        done = subprocess.run(
            ["git", "-C", str(directory), *args], env=env, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    directory.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", when=_PREVIOUS_DATE)
    for tag, when in ((PREVIOUS_TAG, _PREVIOUS_DATE), (release.tag, _RELEASE_DATE)):
        (directory / "VERSION").write_text(tag + "\n", encoding="utf-8")
        git("add", "VERSION", when=when)
        git("commit", "-q", "-m", f"Release {tag}", when=when)
        git("tag", "-a", tag, "-m", f"Release {tag}", when=when)
    head = git("rev-parse", "HEAD", when=_RELEASE_DATE)
    if head != release.commit:
        raise RuntimeError(f"the sandbox's release repository made commit {head}, expected {release.commit}")
    return directory
