import re
from datetime import UTC, datetime, timedelta

import pytest

from golive.release import (
    ReleaseFile,
    review_access,
    review_communication,
    review_contacts,
    review_notification,
    review_signoffs,
    review_training,
)
from golive.sandbox.app import Release
from golive.sandbox.releases import OTHER_DIGEST, write_release_files

RELEASE = Release()
NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def release_file(tmp_path, *faults: str, edit=None) -> ReleaseFile:
    path = write_release_files(tmp_path, RELEASE, frozenset(faults))
    if edit:
        path.write_text(edit(path.read_text()))
    return ReleaseFile.load(tmp_path, RELEASE.tag)


FROM_FILE = object()


def signoffs(rf, digest=RELEASE.digest, built_at=FROM_FILE, max_age=timedelta(hours=72), now=NOW):
    built = rf.when("release", "built_at") if built_at is FROM_FILE else built_at
    return review_signoffs(rf, digest, built, max_age, now)


def test_the_healthy_release_file_is_attested_by_name(tmp_path):
    rf = release_file(tmp_path)
    review = signoffs(rf)
    assert review.problems == []
    assert [a.split(":")[0] for a in review.attested] == [
        "engineering-lead",
        "product-owner",
        "support-lead",
        "on-call-lead",
    ]
    assert review_contacts(rf).problems == []
    assert review_training(rf, 30 * DAY, (60, 90), NOW - 14 * DAY, NOW).problems == []
    access = review_access(rf, NOW)
    assert access.problems == []
    assert [a.split(" at ")[0] for a in access.attested] == [
        "least privilege: Asha Rao",
        "two-person control: Rohan Das",
    ]
    assert all(" at 20" in a for a in access.attested)  # who, and when
    assert review_communication(rf, NOW).problems == []
    assert review_notification(rf, timedelta(hours=48), NOW).problems == []


def test_missing_file_fails_every_review_naming_the_path(tmp_path):
    rf = ReleaseFile.load(tmp_path, "v0.0.1")
    assert signoffs(rf).problems == [f"no release file {tmp_path}/v0.0.1.toml for release v0.0.1"]
    assert review_contacts(rf).problems == [rf.error]


def test_malformed_toml_is_named(tmp_path):
    (tmp_path / f"{RELEASE.tag}.toml").write_text("[release\n")
    rf = ReleaseFile.load(tmp_path, RELEASE.tag)
    assert rf.error.startswith(f"{tmp_path}/{RELEASE.tag}.toml: not valid TOML")


def test_signoff_for_another_digest_is_stale(tmp_path):
    problems = signoffs(release_file(tmp_path, "release-signoff-other-digest")).problems
    where = f"{RELEASE.tag}.toml [[signoff]] engineering-lead"
    assert problems == [f"{where}: signed digest {OTHER_DIGEST!r}, the artifact is {RELEASE.digest!r}"]


def test_signoff_rules(tmp_path):
    rf = release_file(tmp_path)
    assert "four distinct people" in signoffs(release_file(tmp_path, "release-signoff-same-person")).problems[0]
    too_old = signoffs(rf, max_age=timedelta(hours=1)).problems
    assert len(too_old) == 4
    assert too_old[0].endswith("signed 2 h ago, limit 1 h")
    before_build = signoffs(rf, built_at=NOW).problems
    assert "before the build at" in before_build[0]
    assert signoffs(rf, built_at=None).problems == [
        f"{RELEASE.tag}.toml [release].built_at: missing (a time with an offset), so no sign-off can be shown to "
        "come after the build"
    ]
    missing = release_file(tmp_path, edit=lambda t: t.replace('role = "on-call-lead"', 'role = "intern"'))
    assert signoffs(missing).problems == [f"{RELEASE.tag}.toml [[signoff]] on-call-lead: missing"]
    local_time = release_file(
        tmp_path, edit=lambda t: re.sub(r'(role = "engineering-lead"\nname = "Asha Rao"\nat = \S+)\+00:00', r"\1", t)
    )
    assert signoffs(local_time).problems == [
        f"{RELEASE.tag}.toml [[signoff]] engineering-lead.at: missing or without a UTC offset"
    ]


@pytest.mark.parametrize(
    ("contact", "ok"),
    [
        ("+91 98450 12345", True),
        ("ops@example.com", True),
        ("98450 12345", False),
        ("ask on Slack", False),
        ("", False),
    ],
)
def test_contacts_must_be_reachable(tmp_path, contact, ok):
    rf = release_file(tmp_path, edit=lambda t: t.replace("kabir.singh@example.com", contact))
    assert (review_contacts(rf).problems == []) is ok


def test_training_rules(tmp_path):
    assert (
        review_training(release_file(tmp_path), 5 * DAY, (60, 90), None, NOW)
        .problems[0]
        .endswith("is 10 days ago, limit 5")
    )
    before = review_training(release_file(tmp_path), 30 * DAY, (60, 90), None, NOW - 20 * DAY)
    held = (NOW - 10 * DAY).date()
    assert f"{RELEASE.tag}.toml [training].held_on: {held} is in the future; a training not yet held" in before.problems
    unanchored = review_training(release_file(tmp_path), 30 * DAY, (60, 90), None, NOW)
    assert unanchored.measured["runbook_freshness"] == "not compared: the release file has no [previous] released_at"
    short = release_file(tmp_path, edit=lambda t: t.replace("duration_minutes = 75", "duration_minutes = 30"))
    assert review_training(short, 30 * DAY, (60, 90), None, NOW).problems == [
        f"{RELEASE.tag}.toml [training].duration_minutes: 30, expected 60-90"
    ]
    stale_runbook = review_training(release_file(tmp_path), 30 * DAY, (60, 90), NOW + DAY, NOW + DAY).problems
    assert "before the previous release" in stale_runbook[0]
    not_pdf = review_training(release_file(tmp_path, "release-runbook-not-pdf"), 30 * DAY, (60, 90), None, NOW)
    assert not_pdf.problems == [f"{RELEASE.tag}.toml [training].runbook: runbook.pdf is not a readable PDF with pages"]


def test_access_needs_two_people(tmp_path):
    review = review_access(release_file(tmp_path, "release-access-same-person"), NOW)
    assert review.problems == [
        f"{RELEASE.tag}.toml [access]: both attested by Asha Rao; two different people must attest"
    ]


def test_communication_templates_must_exist_and_say_something(tmp_path):
    rf = release_file(tmp_path)
    (tmp_path / "templates" / "customer.md").write_text("  \n")
    assert review_communication(rf, NOW).problems == [
        f"{RELEASE.tag}.toml [communication].customer_template: customer.md is empty"
    ]
    missing = review_communication(release_file(tmp_path, "release-template-missing"), NOW).problems
    assert missing[0].endswith("templates/support.md does not exist")


def test_notification_must_be_recent_and_name_who_was_told(tmp_path):
    rf = release_file(tmp_path)
    assert review_notification(rf, timedelta(hours=1), NOW).problems[0].endswith("3 h ago, limit 1 h")
    assert review_notification(release_file(tmp_path, "release-not-notified"), DAY, NOW).problems == [
        f"{tmp_path}/{RELEASE.tag}.toml: no [notification] table"
    ]
    future = review_notification(rf, DAY, NOW - DAY)
    assert any("is in the future" in p for p in future.problems)


def test_the_documented_example_release_file_is_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "releases"
    example = ReleaseFile.load(root, "example")
    when = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    digest = example.section("release")["digest"]
    built = example.when("release", "built_at")
    assert review_signoffs(example, digest, built, timedelta(hours=72), when).problems == []
    assert review_contacts(example).problems == []
    assert review_access(example, when).problems == []
    assert review_notification(example, timedelta(hours=48), when).problems == []


def test_the_sandbox_release_repository_is_reproducible(tmp_path):
    from golive.release import git_tag
    from golive.sandbox.releases import PREVIOUS_TAG, make_release_repo

    repo = make_release_repo(tmp_path / "repo", RELEASE)  # raises unless HEAD is exactly Release().commit
    current = git_tag(repo, RELEASE.tag)
    assert current is not None
    assert (current.annotated, current.commit) == (True, RELEASE.commit)
    assert git_tag(repo, PREVIOUS_TAG) is not None
    assert git_tag(repo, "v0.0.0") is None
    with pytest.raises(OSError, match="is not a git repository"):
        git_tag(tmp_path, RELEASE.tag)


def test_artifact_and_previous_release_rules(tmp_path):
    import subprocess

    from golive.release import GitTag, git_tag, review_artifact, review_previous
    from golive.sandbox.releases import make_release_repo

    rf = release_file(tmp_path / "files")
    tag = GitTag(RELEASE.tag, True, RELEASE.commit)
    assert review_artifact(rf, RELEASE.tag, RELEASE.commit, RELEASE.digest, tag).problems == []
    mutable = release_file(tmp_path / "files", "release-artifact-mutable-tag")
    assert (
        review_artifact(mutable, RELEASE.tag, RELEASE.commit, RELEASE.digest, tag)
        .problems[0]
        .endswith(
            "app:latest is referenced by a mutable tag, not by its digest "
            f"(registry.sandbox.golive.invalid/app@{RELEASE.digest})"
        )
    )
    repo = make_release_repo(tmp_path / "repo", RELEASE)
    subprocess.run(["git", "-C", str(repo), "tag", "-f", RELEASE.tag, "HEAD~1"], check=True, capture_output=True)
    moved = git_tag(repo, RELEASE.tag)
    problems = review_artifact(rf, RELEASE.tag, RELEASE.commit, RELEASE.digest, moved).problems
    assert problems[0] == f"git tag {RELEASE.tag} is lightweight; releases need an annotated tag (git tag -a)"
    assert problems[1].startswith(f"git tag {RELEASE.tag} points to ")
    assert review_artifact(rf, RELEASE.tag, RELEASE.commit, "latest", tag).problems[0] == (
        "release digest 'latest' is not sha256:<64 hex> (GOLIVE_RELEASE_DIGEST)"
    )
    assert review_previous(rf, RELEASE.tag, GitTag("v1.3.2", True, "c" * 40)).problems == []
    gone = review_previous(release_file(tmp_path / "files", "release-previous-missing"), RELEASE.tag, None)
    assert gone.problems == [f"{RELEASE.tag}.toml [previous].tag: v1.3.1 no longer exists in the release repository"]
