import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from golive.config import parse_environment
from golive.outcomes import ProbeError
from golive.release import (
    ReleaseFile,
    Review,
    check_git_tag,
    check_in_registry,
    check_served_release,
    git_tag,
    pdf_facts,
    previous_release,
    review_access,
    review_artifact,
    review_communication,
    review_contacts,
    review_notification,
    review_signoffs,
    review_training,
    same_person,
    verify_previous,
)
from golive.sandbox.app import Release
from golive.sandbox.releases import (
    OTHER_DIGEST,
    PREVIOUS_DIGEST,
    PREVIOUS_TAG,
    RUNBOOK_LINES,
    make_release_repo,
    runbook_pdf,
    write_release_files,
)
from golive.sandbox.rollout import PREVIOUS_COMMIT
from golive.sandbox.standins.registry import digest_of, image_manifest
from tests.netutil import closed_port, http_server, json_answer

RELEASE = Release()
NOW = datetime.now(UTC)
DAY = timedelta(days=1)
ATTEST = 14 * DAY  # release.attestation_max_age_days
ENV = "sandbox"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http():
    with httpx.Client(timeout=5.0) as client:
        yield client


def release_file(tmp_path, *faults: str, edit=None) -> ReleaseFile:
    path = write_release_files(tmp_path, RELEASE, frozenset(faults))
    if edit:
        path.write_text(edit(path.read_text()))
    return ReleaseFile.load(tmp_path, RELEASE.tag)


FROM_FILE = object()


def signoffs(rf, digest=RELEASE.digest, built_at=FROM_FILE, max_age=timedelta(hours=72), now=NOW):
    built = rf.when("release", "built_at") if built_at is FROM_FILE else built_at
    return review_signoffs(rf, digest, built, max_age, now)


def training(rf, http, max_age=30 * DAY, now=NOW, environment=ENV):
    return review_training(rf, environment, max_age, (60, 90), now, http)


def test_the_healthy_release_file_is_attested_by_name(tmp_path, http):
    rf = release_file(tmp_path)
    review = signoffs(rf)
    assert review.problems == []
    assert [a.split(":")[0] for a in review.attested] == [
        "engineering-lead",
        "product-owner",
        "support-lead",
        "on-call-lead",
    ]
    contacts = review_contacts(rf, NOW, ATTEST)
    assert contacts.problems == []
    assert contacts.attested[0].startswith("contacts (primary-on-call Rohan Das, secondary-on-call Kabir Singh, ")
    assert " confirmed by Priya Nair at 20" in contacts.attested[0]  # who, and when
    team01 = training(rf, http)
    assert team01.problems == []
    assert team01.measured["runbook_updated"].endswith("(runbook.pdf /ModDate)")
    access = review_access(rf, NOW, ATTEST)
    assert access.problems == []
    assert [a.split(" at ")[0] for a in access.attested] == [
        "least privilege: Asha Rao",
        "two-person control: Rohan Das",
    ]
    assert all(" at 20" in a for a in access.attested)
    assert review_communication(rf, NOW, ATTEST).problems == []
    assert review_notification(rf, timedelta(hours=48), NOW).problems == []
    review, previous = previous_release(rf, ENV)
    assert review.problems == []
    assert (previous.tag, previous.digest) == (PREVIOUS_TAG, PREVIOUS_DIGEST)
    assert review_artifact(rf, RELEASE.tag, RELEASE.commit, RELEASE.digest).problems == []


def test_missing_file_fails_every_review_naming_the_path(tmp_path):
    rf = ReleaseFile.load(tmp_path, "v0.0.1")
    assert signoffs(rf).problems == [f"no release file {tmp_path}/v0.0.1.toml for release v0.0.1"]
    assert review_contacts(rf, NOW, ATTEST).problems == [rf.error]
    assert previous_release(rf, ENV)[0].problems == [rf.error]


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


def test_a_role_signed_twice_is_an_error_not_a_replacement(tmp_path):
    twice = release_file(tmp_path, edit=lambda t: t.replace('role = "on-call-lead"', 'role = "product-owner"'))
    assert signoffs(twice).problems == [
        f"{RELEASE.tag}.toml [[signoff]] product-owner: signed 2 times (entries 2, 4); one sign-off per role",
        f"{RELEASE.tag}.toml [[signoff]] on-call-lead: missing",
    ]


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ({"name": "Vikram Mehta"}, {"name": "  vikram   MEHTA "}, True),
        ({"name": "Vikram Mehta", "email": "vm@example.com"}, {"name": "V. Mehta", "email": "VM@example.com "}, True),
        (
            {"name": "Amit Shah", "email": "amit.shah@example.com"},
            {"name": "Amit Shah", "email": "ashah@example.com"},
            False,
        ),
        ({"name": "Neha K", "handle": "@nkapoor"}, {"name": "Neha Kapoor", "handle": "NKapoor"}, True),
        ({"name": "Neha Kapoor", "email": "nk@example.com"}, {"name": "neha kapoor"}, True),  # only names to compare
    ],
)
def test_people_are_told_apart_by_email_or_handle_else_by_normalised_name(one, other, same):
    assert same_person(one, other) is same


def test_two_roles_signed_by_one_person_under_different_spellings_fail(tmp_path):
    spelled = release_file(
        tmp_path, edit=lambda t: t.replace('name = "Neha Kapoor"\nat', 'name = "  vikram MEHTA"\nat')
    )
    assert signoffs(spelled).problems == [
        f"{RELEASE.tag}.toml [[signoff]] support-lead: vikram MEHTA also signed as product-owner; four distinct "
        "people must sign"
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
    assert (review_contacts(rf, NOW, ATTEST).problems == []) is ok


def test_contacts_need_who_confirmed_them_and_when(tmp_path):
    unconfirmed = release_file(tmp_path, edit=lambda t: re.sub(r"(\[contacts\]\n(?:.+\n)*?)attested = .*\n", r"\1", t))
    assert review_contacts(unconfirmed, NOW, ATTEST).problems == [
        f"{RELEASE.tag}.toml [contacts].attested: missing (expected {{ name = ..., at = <datetime with offset> }})"
    ]


def test_training_rules(tmp_path, http):
    assert training(release_file(tmp_path), http, max_age=5 * DAY).problems[0].endswith("is 10 days ago, limit 5")
    before = training(release_file(tmp_path), http, now=NOW - 20 * DAY)
    held = (NOW - 10 * DAY).date()
    assert f"{RELEASE.tag}.toml [training].held_on: {held} is in the future; a training not yet held" in before.problems
    short = release_file(tmp_path, edit=lambda t: t.replace("duration_minutes = 75", "duration_minutes = 30"))
    assert training(short, http).problems == [f"{RELEASE.tag}.toml [training].duration_minutes: 30, expected 60-90"]
    not_pdf = training(release_file(tmp_path, "release-runbook-not-pdf"), http)
    assert len(not_pdf.problems) == 1
    assert not_pdf.problems[0].startswith(
        f"{RELEASE.tag}.toml [training].runbook: runbook.pdf is not a readable PDF with pages ("
    )


def test_a_stale_runbook_fails_whatever_its_file_time_says(tmp_path, http):
    rf = release_file(tmp_path, "release-runbook-stale")
    os.utime(tmp_path / "runbook.pdf")  # a fresh checkout: the file's mtime is now
    (problem,) = training(rf, http).problems
    assert problem.startswith(f"{RELEASE.tag}.toml [training].runbook: runbook.pdf last updated ")
    assert problem.endswith(
        f"(runbook.pdf /ModDate), before the previous release "
        f"({rf.previous(ENV)['released_at'].astimezone(UTC).isoformat()}, {RELEASE.tag}.toml "
        f"[previous.{ENV}].released_at)"
    )


def test_the_runbook_date_needs_the_previous_release_of_this_environment(tmp_path, http):
    rf = release_file(tmp_path, edit=lambda t: re.sub(r"(?m)^released_at = .*\n", "", t))
    assert training(rf, http).problems == [
        f"{RELEASE.tag}.toml [previous.{ENV}].released_at: missing (a time with an offset), so the runbook cannot "
        "be shown to be updated after the previous release"
    ]
    other = training(release_file(tmp_path, "release-previous-other-environment"), http)
    assert other.problems[0].startswith(f"{RELEASE.tag}.toml [previous.{ENV}].released_at: missing")
    assert (
        training(release_file(tmp_path), http, environment="production")
        .problems[0]
        .startswith(f"{RELEASE.tag}.toml [previous.production].released_at: missing")
    )


def test_a_pdf_without_a_date_takes_the_declared_one_or_fails_naming_both(tmp_path, http):
    rf = release_file(tmp_path)
    undated = tmp_path / "runbook.pdf"
    undated.write_bytes(re.sub(rb"/(ModDate|CreationDate) \([^)]*\)\n", b"", undated.read_bytes()))
    assert pdf_facts(undated.read_bytes()).modified is None
    assert training(rf, http).problems == [
        f"{RELEASE.tag}.toml [training].runbook: runbook.pdf has no modification date (/ModDate) and "
        f"{RELEASE.tag}.toml [training].runbook_updated is not set"
    ]
    declared = (NOW - DAY).replace(microsecond=0).isoformat()
    with_date = lambda t: t.replace('runbook = "runbook.pdf"', f'runbook = "runbook.pdf"\nrunbook_updated = {declared}')  # noqa: E731
    rf = release_file(tmp_path, edit=with_date)
    undated.write_bytes(re.sub(rb"/(ModDate|CreationDate) \([^)]*\)\n", b"", undated.read_bytes()))
    review = training(rf, http)
    assert review.problems == []
    assert review.measured["runbook_updated"].endswith(f"({RELEASE.tag}.toml [training].runbook_updated)")


def test_a_runbook_dated_in_the_future_proves_nothing(tmp_path, http):
    rf = release_file(tmp_path)
    (tmp_path / "runbook.pdf").write_bytes(runbook_pdf(RUNBOOK_LINES, NOW + 3 * DAY))
    (problem,) = training(rf, http).problems
    assert problem.startswith(f"{RELEASE.tag}.toml [training].runbook: runbook.pdf /ModDate ")
    assert problem.endswith(" is in the future")


@pytest.mark.parametrize(
    "content",
    [b"", b"%PDF-1.7\n", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n"],
    ids=["empty", "header-only", "dangling-pages"],
)
def test_a_malformed_pdf_is_one_line_never_a_traceback(content):
    facts = pdf_facts(content)
    assert facts.pages == 0
    assert facts.error
    assert "\n" not in facts.error


def test_a_runbook_url_is_downloaded_and_read(tmp_path, http):
    pdf = runbook_pdf(RUNBOOK_LINES, NOW - DAY)

    def answer(method, path, body):
        if path == "/runbook.pdf":
            return 200, {"Content-Type": "application/pdf"}, pdf
        if path == "/page.pdf":
            return 200, {"Content-Type": "text/html"}, b"<html>Sign in to view this page</html>"
        return json_answer(404, {"error": "not found"})

    with http_server(answer) as base:
        for path, expected in (
            ("/runbook.pdf", []),
            ("/missing.pdf", [f"{RELEASE.tag}.toml [training].runbook: GET {base}/missing.pdf answered HTTP 404, "
                              "expected 200"]),
        ):  # fmt: skip
            rf = release_file(tmp_path, edit=lambda t, p=path: t.replace('"runbook.pdf"', f'"{base}{p}"'))
            assert training(rf, http).problems == expected
        login = release_file(tmp_path, edit=lambda t: t.replace('"runbook.pdf"', f'"{base}/page.pdf"'))
        assert (
            training(login, http)
            .problems[0]
            .startswith(f"{RELEASE.tag}.toml [training].runbook: page.pdf is not a readable PDF with pages (")
        )
    unreachable = release_file(
        tmp_path, edit=lambda t: t.replace('"runbook.pdf"', f'"http://127.0.0.1:{closed_port()}/r.pdf"')
    )
    with pytest.raises(ProbeError, match=r"\[training\]\.runbook: GET http://127.0.0.1:\d+/r.pdf: connection refused"):
        training(unreachable, http)


def test_access_needs_two_people(tmp_path):
    review = review_access(release_file(tmp_path, "release-access-same-person"), NOW, ATTEST)
    assert review.problems == [
        f"{RELEASE.tag}.toml [access]: both attested by Asha Rao; two different people must attest"
    ]
    spelled = release_file(
        tmp_path,
        edit=lambda t: t.replace(
            'two_person_control = { name = "Rohan Das"', 'two_person_control = { name = " asha  rao"'
        ),
    )
    assert review_access(spelled, NOW, ATTEST).problems[0].endswith("two different people must attest")


@pytest.mark.parametrize(
    ("review", "fields"),
    [(review_contacts, ["[contacts].attested"]),
     (review_access, ["[access].least_privilege", "[access].two_person_control"]),
     (review_communication, ["[communication].attested"])],
)  # fmt: skip
def test_an_attestation_older_than_the_limit_is_stale_naming_the_field(tmp_path, review, fields):
    rf = release_file(tmp_path)
    assert review(rf, NOW, ATTEST).problems == []
    later = NOW + 20 * DAY  # the same confirmations, read 20 days on
    stale = review(rf, later, ATTEST).problems
    assert len(stale) == len(fields)
    for problem, field in zip(stale, fields, strict=True):
        assert problem.startswith(f"{RELEASE.tag}.toml {field}.at: ")
        assert re.search(r" is 2[01] days ago, limit 14 days \(release.attestation_max_age_days\); expected a "
                         r"confirmation for this release$", problem), problem  # fmt: skip
    assert review(rf, later, 30 * DAY).problems == []


def test_communication_templates_must_exist_and_say_something(tmp_path):
    rf = release_file(tmp_path)
    (tmp_path / "templates" / "customer.md").write_text("  \n")
    assert review_communication(rf, NOW, ATTEST).problems == [
        f"{RELEASE.tag}.toml [communication].customer_template: customer.md is empty"
    ]
    missing = review_communication(release_file(tmp_path, "release-template-missing"), NOW, ATTEST).problems
    assert missing[0].endswith("templates/support.md does not exist")


def test_notification_must_be_recent_and_name_who_was_told(tmp_path):
    rf = release_file(tmp_path)
    assert review_notification(rf, timedelta(hours=1), NOW).problems[0].endswith("3 h ago, limit 1 h")
    assert review_notification(release_file(tmp_path, "release-not-notified"), DAY, NOW).problems == [
        f"{tmp_path}/{RELEASE.tag}.toml: no [notification] table"
    ]
    future = review_notification(rf, DAY, NOW - DAY)
    assert any("is in the future" in p for p in future.problems)


def test_the_previous_release_is_recorded_per_environment(tmp_path):
    name = f"{RELEASE.tag}.toml"
    other = previous_release(release_file(tmp_path, "release-previous-other-environment"), ENV)
    assert other[0].problems == [
        f"{name} [previous.{ENV}]: missing, the previous release of {ENV} is not recorded (recorded for: staging)"
    ]
    flat = release_file(tmp_path, edit=lambda t: t.replace(f"[previous.{ENV}]", "[previous]"))
    assert previous_release(flat, ENV)[0].problems == [
        f"{name} [previous]: records no environment; write [previous.{ENV}] with tag, digest and released_at"
    ]
    none = release_file(tmp_path, edit=lambda t: t.replace(f"[previous.{ENV}]", "[earlier]"))
    assert previous_release(none, ENV)[0].problems == [f"{tmp_path}/{name}: no [previous.{ENV}] table (the previous "
                                                       f"release of {ENV})"]  # fmt: skip
    bad = release_file(tmp_path, edit=lambda t: t.replace(PREVIOUS_DIGEST, "app:v1.3.2"))
    assert previous_release(bad, ENV) == (
        Review(f"{name} [previous.{ENV}]", [f"{name} [previous.{ENV}].digest: 'app:v1.3.2' is not sha256:<64 hex>"],
               measured={"environment": ENV, "tag": PREVIOUS_TAG, "digest": "app:v1.3.2"}),
        None,
    )  # fmt: skip


def test_the_previous_release_must_not_be_the_one_being_shipped(tmp_path, http):
    environment = parse_environment(f'name = "{ENV}"\ntier = "sandbox"\n[app]\nbase_url = "https://app.example"\n',
                                    "t.toml", {})  # fmt: skip
    healthy = verify_previous(release_file(tmp_path), environment, RELEASE, None, http)
    assert (healthy.problems, len(healthy.unverified)) == ([], 2)  # no release.repo, no release.registry
    shipped = verify_previous(release_file(tmp_path, "release-previous-is-shipped"), environment, RELEASE, None, http)
    where = f"{RELEASE.tag}.toml [previous.{ENV}]"
    assert shipped.problems == [
        f"{where}.digest: {RELEASE.digest} is the artifact being shipped (GOLIVE_RELEASE_DIGEST {RELEASE.digest}); "
        "expected the image a rollback redeploys"
    ]
    same_tag = release_file(tmp_path, edit=lambda t: t.replace(f'tag = "{PREVIOUS_TAG}"', f'tag = "{RELEASE.tag}"'))
    assert verify_previous(same_tag, environment, RELEASE, None, http).problems == [
        f"{where}.tag: {RELEASE.tag!r} is the release being shipped (GOLIVE_RELEASE_TAG {RELEASE.tag!r}); expected "
        "the release a rollback returns to"
    ]


def test_the_documented_example_release_file_passes_every_rule_it_can_alone():
    """releases/example.toml with what it ships beside it (releases/example/): every rule that needs no git
    repository, registry or running app."""
    example = ReleaseFile.load(ROOT / "releases", "example")
    when = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    release = example.section("release")
    digest, built = release["digest"], example.when("release", "built_at")
    assert review_artifact(example, release["tag"], release["commit"], digest).problems == []
    assert review_signoffs(example, digest, built, timedelta(hours=72), when).problems == []
    assert review_contacts(example, when, ATTEST).problems == []
    assert review_access(example, when, ATTEST).problems == []
    assert review_communication(example, when, ATTEST).problems == []
    assert review_notification(example, timedelta(hours=48), when).problems == []
    for environment in ("production", "staging"):
        review, previous = previous_release(example, environment)
        assert (review.problems, previous is not None) == ([], True), environment
    with httpx.Client(timeout=1.0) as no_network:  # the example's runbook is a file: nothing is downloaded
        team01 = review_training(example, "production", timedelta(days=30), (60, 90), when, no_network)
    assert team01.problems == []
    assert team01.measured["runbook_pages"] == 1
    assert team01.measured["runbook_updated"] == "2026-11-19T12:30:00+00:00 (runbook.pdf /ModDate)"


def test_the_sandbox_release_repository_is_reproducible(tmp_path):
    repo = make_release_repo(tmp_path / "repo", RELEASE)  # raises unless HEAD is exactly Release().commit
    current = git_tag(repo, RELEASE.tag)
    assert current is not None
    assert (current.annotated, current.commit) == (True, RELEASE.commit)
    assert git_tag(repo, PREVIOUS_TAG) is not None
    assert git_tag(repo, "v0.0.0") is None
    with pytest.raises(OSError, match="is not a git repository"):
        git_tag(tmp_path, RELEASE.tag)


def test_the_sandbox_digests_are_the_sha256_of_the_manifests_its_registry_holds():
    assert RELEASE.digest == digest_of(image_manifest(RELEASE.tag, RELEASE.commit))
    assert digest_of(image_manifest(PREVIOUS_TAG, PREVIOUS_COMMIT)) == PREVIOUS_DIGEST


def test_artifact_rules(tmp_path):
    rf = release_file(tmp_path / "files")
    assert review_artifact(rf, RELEASE.tag, RELEASE.commit, RELEASE.digest).problems == []
    mutable = release_file(tmp_path / "files", "release-artifact-mutable-tag")
    assert review_artifact(mutable, RELEASE.tag, RELEASE.commit, RELEASE.digest).problems == [
        f"{RELEASE.tag}.toml [release].artifact: registry.sandbox.golive.invalid/app:latest is referenced by a "
        f"mutable tag, not by its digest (registry.sandbox.golive.invalid/app@{RELEASE.digest})"
    ]
    assert review_artifact(rf, RELEASE.tag, RELEASE.commit, "latest").problems[0] == (
        "release digest 'latest' is not sha256:<64 hex> (GOLIVE_RELEASE_DIGEST)"
    )


def test_git_tag_rules(tmp_path):
    repo = make_release_repo(tmp_path / "repo", RELEASE)
    review = Review()
    check_git_tag(review, repo, RELEASE.tag, "gone", RELEASE.commit)
    assert (review.problems, review.measured["git_tag"]) == ([], f"{RELEASE.tag} annotated on {RELEASE.commit}")
    subprocess.run(["git", "-C", str(repo), "tag", "-f", RELEASE.tag, "HEAD~1"], check=True, capture_output=True)
    moved = Review()
    check_git_tag(moved, repo, RELEASE.tag, "gone", RELEASE.commit)
    assert moved.problems[0] == f"git tag {RELEASE.tag} is lightweight; releases need an annotated tag (git tag -a)"
    assert moved.problems[1].startswith(f"git tag {RELEASE.tag} points to ")
    missing = Review()
    check_git_tag(missing, repo, "v1.3.1", "v1.3.1 no longer exists")
    assert missing.problems == ["v1.3.1 no longer exists"]
    unset = Review()
    check_git_tag(unset, None, RELEASE.tag, "gone", RELEASE.commit)
    assert (unset.problems, unset.unverified, unset.ok) == (
        [], ["release.repo is not set: golive cannot see the release's git tags"], None)  # fmt: skip
    with pytest.raises(ProbeError, match=r"release.repo: .* is not a git repository"):
        check_git_tag(Review(), tmp_path, RELEASE.tag, "gone")


def test_without_a_registry_that_part_is_not_verified_and_the_item_is_not_either(http):
    review = Review()
    check_in_registry(review, http, None, RELEASE.digest, "release digest")
    assert review.measured == {"registry: release digest": "not verified: release.registry is not set"}
    assert (review.problems, review.ok) == ([], None)
    assert review.unverified == ["release.registry is not set: golive cannot see the release digest in the registry"]


def test_the_app_must_report_the_release_commit_for_the_release_version(http):
    bodies = {
        "/service": {"status": "ok", "version": PREVIOUS_TAG, "commit": PREVIOUS_COMMIT},
        "/canary": {"status": "ok", "version": RELEASE.tag, "commit": "e" * 40},
        "/good": {"status": "ok", "version": RELEASE.tag, "commit": RELEASE.commit},
    }
    with http_server(lambda method, path, body: json_answer(200, bodies[path])) as base:
        urls = [("service", f"{base}/service"), ("canary", f"{base}/canary")]
        review = Review()
        check_served_release(review, http, urls, ("version", "commit"), RELEASE.tag, RELEASE.commit)
        assert review.problems == [
            f"[canary] GET {base}/canary: version {RELEASE.tag!r} with commit {'e' * 40!r}; this run ships "
            f"{RELEASE.tag} at {RELEASE.commit!r}: the image was built from another commit"
        ]
        assert review.measured["health bodies"] == {
            "service": f"version {PREVIOUS_TAG} at commit {PREVIOUS_COMMIT}",
            "canary": f"version {RELEASE.tag} at commit {'e' * 40}",
        }
        before_deploy = Review()
        urls = [("service", f"{base}/service"), ("canary", f"http://127.0.0.1:{closed_port()}/api/health")]
        check_served_release(before_deploy, http, urls, ("version", "commit"), RELEASE.tag, RELEASE.commit)
        assert before_deploy.problems == []
        assert before_deploy.measured["health bodies"]["canary"].endswith(": connection refused)")
        assert before_deploy.measured["health bodies"]["note"] == (
            f"no instance serves {RELEASE.tag} yet: CAN-01 and CAN-02 compare the commit after the deploy"
        )
        deployed = Review()
        check_served_release(deployed, http, [("service", f"{base}/good")], ("version", "commit"), RELEASE.tag,
                             RELEASE.commit)  # fmt: skip
        assert (deployed.problems, "note" in deployed.measured["health bodies"]) == ([], False)
