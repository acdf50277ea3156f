"""Every implemented item passes against the healthy sandbox, in every stage it belongs to; the rest are
reported honestly as not verified, and the artifacts are complete, stamped and consistent."""

import hashlib
import json
import xml.etree.ElementTree as ET

import pytest

from golive.checklist import load_checklist
from golive.report import NO_CHECK_YET
from tests.e2e.harness import clean_environ, run_checks
from tests.pending import HEALTHY, IMPLEMENTED

OPERATOR = {"GOLIVE_OPERATOR": "release-bot"}


def assert_only_pending_items_block(run):
    outcomes = run.outcomes()
    for item_id, outcome in outcomes.items():
        if item_id in IMPLEMENTED:
            assert outcome == HEALTHY[item_id], (item_id, run.item(item_id)["reason"], run.output[-3000:])
        else:
            assert (outcome, run.item(item_id)["reason"]) == ("not_verified", NO_CHECK_YET)
    blocking = set(outcomes) - IMPLEMENTED
    assert set(run.doc["blocking"]) == blocking
    assert run.doc["verdict"] == ("go" if not blocking else "no-go")
    assert run.code == (0 if not blocking else 1), run.output[-3000:]


def test_preflight_on_the_healthy_sandbox(healthy, reports):
    environ = healthy.environ()
    # as in GitLab CI: REL-01 passes over the pipeline golive runs in; the report names it
    run = run_checks("preflight", clean_environ({**environ, **OPERATOR, "CI_PIPELINE_ID": "118399"}), reports)
    assert_only_pending_items_block(run)
    assert [item["id"] for item in run.doc["items"]] == [i.id for i in load_checklist().for_stage("preflight")]
    doc = run.doc
    assert doc["release"] == {
        "tag": environ["GOLIVE_RELEASE_TAG"], "commit": environ["GOLIVE_RELEASE_COMMIT"],
        "digest": environ["GOLIVE_RELEASE_DIGEST"], "pipeline": "118399",
    }  # fmt: skip
    assert (doc["environment"], doc["stage"], doc["operator"], doc["strict"]) == (
        "sandbox",
        "preflight",
        "release-bot",
        True,
    )
    assert run.item("OBS-04")["side_effects"] == ["sends one test error event to Sentry, tagged with the run id"]
    # OBS-06: what the alert webhook and PagerDuty received is this run's test alert, linking the runbook
    runbook = "https://runbooks.sandbox.golive.invalid/go-live"
    slack = [a["payload"] for a in healthy.store.alerts_on("slack") if doc["run_id"] in a["payload"]["text"]]
    assert len(slack) == 1
    assert slack[0]["text"].endswith(f"Runbook: {runbook}")
    assert f"<{runbook}|{runbook}>" in slack[0]["blocks"][0]["text"]["text"]
    paged = [a["payload"] for a in healthy.store.alerts_on("pagerduty") if doc["run_id"] in json.dumps(a["payload"])]
    assert paged
    assert all(p["links"] == [{"href": runbook, "text": "Runbook"}] for p in paged if p["event_action"] == "trigger")
    assert run.item("OBS-01")["tests"] == ["checks/test_monitoring.py::test_health[service]"]
    verdict = "NO-GO" if run.doc["blocking"] else "GO"  # NO-GO while some item still waits for a check
    assert f"golive preflight on sandbox (strict), release {environ['GOLIVE_RELEASE_TAG']}: {verdict}" in run.output


def test_artifacts_are_complete_and_verifiable(healthy, reports):
    environ = healthy.environ()
    run = run_checks("preflight", clean_environ({**environ, **OPERATOR}), reports)
    names = [p.name for p in run.artifacts()]
    assert names == ["preflight.html", "preflight.json", "preflight.sha256", "preflight.xml"]
    for line in (reports / "preflight.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((reports / name).read_bytes()).hexdigest() == digest
    html = (reports / "preflight.html").read_text()
    stamp = (environ["GOLIVE_RELEASE_TAG"], environ["GOLIVE_RELEASE_COMMIT"], environ["GOLIVE_RELEASE_DIGEST"])
    pending = ("no check yet",) if run.doc["blocking"] else ()
    verdict = "Verdict: NO-GO" if run.doc["blocking"] else "Verdict: GO"
    for text in ('id="golive-verdict"', verdict, *stamp,
                 doc_run_id := run.doc["run_id"], "Final quick ticks", "[x]</td>", "release-bot",
                 *pending, "Sentry ingest"):  # fmt: skip
        assert text in html, text
    assert html.count(doc_run_id) >= 2  # stamp + metadata
    suite = ET.parse(reports / "preflight.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("name") == "golive-preflight-sandbox"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["golive.release"] == environ["GOLIVE_RELEASE_TAG"]
    assert properties["golive.commit"] == environ["GOLIVE_RELEASE_COMMIT"]
    assert properties["golive.digest"] == environ["GOLIVE_RELEASE_DIGEST"]
    assert properties["golive.run_id"] == doc_run_id
    assert properties["golive.operator"] == run.doc["operator"]
    assert properties["golive.verdict"] == verdict.removeprefix("Verdict: ")
    assert properties["golive.blocking"] == " ".join(run.doc["blocking"])
    cases = suite.iter("testcase")
    assert all(case.get("file", "").startswith("checks/") for case in cases)


@pytest.mark.parametrize(
    ("stage", "targets"),
    [
        ("canary", ["canary"]),
        ("smoke", ["service", "instance-1", "instance-2"]),
        ("postlaunch", ["service", "instance-1", "instance-2"]),
    ],
)
def test_later_stages_probe_their_targets(healthy, reports, stage, targets):
    run = run_checks(stage, clean_environ(healthy.environ()), reports)
    assert_only_pending_items_block(run)
    for item_id, test in (("OBS-01", "test_health"), ("OBS-02", "test_health_db")):
        expected = [f"checks/test_monitoring.py::{test}[{name}]" for name in targets]
        assert run.item(item_id)["tests"] == expected


def test_parallel_run_reports_the_same_outcomes(healthy, tmp_path):
    environ = clean_environ(healthy.environ())
    serial = run_checks("preflight", environ, tmp_path / "serial")
    parallel = run_checks("preflight", environ, tmp_path / "parallel", "-n", "2")
    assert parallel.outcomes() == serial.outcomes()
    assert parallel.code == serial.code
    assert len({serial.doc["run_id"], parallel.doc["run_id"]}) == 2
    evidence = [o for item in parallel.doc["items"] for o in item["evidence"]]
    assert len(evidence) >= 10
