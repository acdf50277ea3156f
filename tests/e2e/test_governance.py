"""People's confirmations: attested outcomes say who and when; a valid waiver turns a failure into waived."""

import re
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from golive.sandbox.app import Release
from tests.e2e.harness import ROOT, clean_environ, run_checks

SANDBOX_TOML = (ROOT / "environments" / "sandbox.toml").read_text()
RELEASE = Release()


def test_attested_items_name_who_confirmed_and_when(healthy, reports):
    run = run_checks("preflight", clean_environ(healthy.environ()), reports)
    team04 = run.item("TEAM-04")
    assert team04["outcome"] == "attested"
    assert team04["reason"].startswith("attested: engineering-lead: Asha Rao at ")
    assert "on-call-lead: Rohan Das at " in team04["reason"]
    html = (reports / "preflight.html").read_text()
    assert "attested: engineering-lead: Asha Rao at" in html


def test_a_valid_waiver_turns_the_failure_into_waived(sandbox, reports):
    sandbox.set_faults(["release-training-too-old"])
    try:
        environ = sandbox.environ()
        expires = (datetime.now(UTC) + timedelta(days=7)).date()
        waivers = Path(environ["GOLIVE_SANDBOX_DIR"]) / "releases" / f"{environ['GOLIVE_RELEASE_TAG']}.waivers.toml"
        waivers.write_text(
            '[[waiver]]\nitem = "TEAM-01"\napprover = "Asha Rao"\njustification = "walkthrough moved to launch week"\n'
            f'ticket = "OPS-4712"\nexpires = {expires}\n'
        )
        run = run_checks("preflight", clean_environ(environ), reports)
    finally:
        sandbox.set_faults(())
    team01 = run.item("TEAM-01")
    assert team01["outcome"] == "waived"
    assert team01["reason"].startswith(
        f"waived by Asha Rao (OPS-4712, expires {expires}): walkthrough moved to launch week"
    )
    assert "[was failed: " in team01["reason"]
    assert "TEAM-01" not in run.doc["blocking"]


def test_team03_says_who_confirmed_the_contacts_and_when(healthy, reports):
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, "checks/test_team.py")
    team03 = run.item("TEAM-03")
    assert team03["outcome"] == "attested"
    assert team03["reason"].startswith("attested: contacts (primary-on-call Rohan Das, secondary-on-call Kabir Singh")
    assert " confirmed by Priya Nair at 20" in team03["reason"]


def test_what_is_not_configured_is_not_verified_with_the_reason(healthy, tmp_path, reports):
    """Without GITLAB_API_TOKEN, release.repo and release.registry: REL-01, REL-02 and RB-01 are not verified and
    say why, naming both settings; the registry part says so in the evidence too, never passing in silence."""
    repo = 'repo = "${GOLIVE_SANDBOX_DIR}/release-repo"\n'
    text, registries = re.subn(r"(?ms)^\[release\.registry\].*?\n\n", "", SANDBOX_TOML.replace(repo, ""))
    assert registries == 1
    assert repo not in text
    target = tmp_path / "target.toml"
    target.write_text(text)
    environ = clean_environ(healthy.environ(), drop=("GITLAB_API_TOKEN",))
    run = run_checks("preflight", environ, reports, "checks/test_release.py", "checks/test_rollback.py",
                     env=str(target))  # fmt: skip
    rel01, rel02, rb01 = run.item("REL-01"), run.item("REL-02"), run.item("RB-01")
    assert (rel01["outcome"], rel01["reason"]) == (
        "not_verified",
        "CI status unknown: set ci.gitlab_url and ci.project in the environment file and GITLAB_API_TOKEN",
    )
    for item, what in ((rel02, "release digest"), (rb01, "previous release digest")):
        assert (item["outcome"], item["reason"]) == (
            "not_verified", "release.repo is not set: golive cannot see the release's git tags; release.registry is "
            f"not set: golive cannot see the {what} in the registry"), item  # fmt: skip
    (evidence,) = rel02["evidence"]
    assert evidence["measured"]["registry: release digest"] == "not verified: release.registry is not set"
    assert evidence["ok"] is None
    assert run.item("RB-03")["outcome"] == "attested"


def test_a_waiver_for_no_checklist_item_makes_the_run_no_go_and_says_so(healthy, reports):
    environ = healthy.environ()
    waivers = Path(environ["GOLIVE_SANDBOX_DIR"]) / "releases" / f"{environ['GOLIVE_RELEASE_TAG']}.waivers.toml"
    expires = (datetime.now(UTC) + timedelta(days=7)).date()
    waivers.write_text(
        '[[waiver]]\nitem = "TEAM-1"\napprover = "Asha Rao"\njustification = "walkthrough moved to launch week"\n'
        f'ticket = "OPS-4713"\nexpires = {expires}\n'
    )
    try:
        run = run_checks("preflight", clean_environ(environ), reports)
    finally:
        waivers.unlink()
    refusal = (f"waiver refused: {waivers.name} waiver 1 (TEAM-1): TEAM-1 is not a checklist item; no go-live until "
               "the waiver file is fixed")  # fmt: skip
    doc = run.doc
    assert (run.code, doc["verdict"], doc["blocking"]) == (1, "no-go", [])  # every item is fine: the waiver is not
    assert doc["incomplete"] == [refusal]
    assert f"golive: incomplete run: {refusal}" in run.output
    assert escape(refusal) in (reports / "preflight.html").read_text()


def test_a_build_of_another_commit_fails_the_canary_too(sandbox, reports):
    """health-other-commit is REL-02's fault in preflight; the canary analysis sees the same thing."""
    sandbox.set_faults(["health-other-commit"])
    try:
        run = run_checks("canary", clean_environ(sandbox.environ()), reports, "checks/test_golive.py")
    finally:
        sandbox.set_faults(())
    can01 = run.item("CAN-01")
    assert can01["outcome"] == "failed"
    assert f"commit 'e1f0a2b3c4d5e6f708192a3b4c5d6e7f80910203', expected '{RELEASE.commit}'" in can01["reason"]
