"""People's confirmations: attested outcomes say who and when; a valid waiver turns a failure into waived."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import clean_environ, run_checks


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
