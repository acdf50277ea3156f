import hashlib
import json
from dataclasses import replace

from golive.checklist import load_checklist
from golive.config import Release
from golive.evidence import Observation, table
from golive.outcomes import Outcome
from golive.report import (
    NO_CHECK_YET,
    CheckResult,
    Stamp,
    document,
    evidence_html,
    item_results,
    leak_scan,
    signoff_html,
    tick_rows,
    verdict,
    write_manifest,
)
from golive.secrets import SecretRegistry

CHECKLIST = load_checklist()
RELEASE = Release(tag="v1", commit="c" * 40, digest="sha256:" + "d" * 64, pipeline="118342")
STAMP = Stamp("preflight", "sandbox", "sandbox", True, RELEASE,
              "run-1", "ops", "2026-11-26T10:00:00+00:00", "2026-11-26T10:01:00+00:00")  # fmt: skip


def result(item_id, outcome, reason="", nodeid=None):
    return CheckResult(nodeid or f"checks/t.py::test_{item_id}", item_id, outcome, reason, 0.5)


def test_every_stage_item_appears_even_without_a_check():
    results = item_results(CHECKLIST, "preflight", [result("ENV-01", Outcome.PASSED)], frozenset({"ENV-01"}))
    assert [r.item.id for r in results] == [i.id for i in CHECKLIST.for_stage("preflight")]
    by_id = {r.item.id: r for r in results}
    assert by_id["ENV-01"].outcome is Outcome.PASSED
    assert (by_id["DB-02"].outcome, by_id["DB-02"].reason) == (Outcome.NOT_VERIFIED, NO_CHECK_YET)


def test_a_check_that_gave_no_result_is_not_called_missing():
    deselected = item_results(CHECKLIST, "preflight", [], frozenset({"ENV-01"}), {"ENV-01": ["checks/t.py::test"]})
    assert deselected[0].reason == "its check was not selected in this run"
    stopped = item_results(CHECKLIST, "preflight", [], frozenset({"ENV-01"}))
    assert stopped[0].reason == "its check was collected but gave no result (the run stopped before it)"


def test_an_item_without_a_result_blocks_in_every_mode():
    """`pytest -m preflight checks/test_environment.py` measures only that module's items: the rest of the stage
    was not measured, and the run is no go-ahead for it, strict or not."""
    passed = [result("ENV-01", Outcome.PASSED), result("ENV-02", Outcome.PASSED), result("ENV-03", Outcome.PASSED)]
    results = item_results(CHECKLIST, "preflight", passed, frozenset({"ENV-01", "ENV-02", "ENV-03"}))
    for strict in (True, False):
        decision = verdict(results, strict=strict)
        assert not decision.go
        assert [r.item.id for r in decision.blocking] == [i.id for i in CHECKLIST.for_stage("preflight")][3:]
        assert {r.reason for r in decision.blocking} == {NO_CHECK_YET}


def test_item_takes_its_worst_test_and_names_the_target():
    tests = [
        result("OBS-01", Outcome.PASSED, nodeid="checks/m.py::test_health[service]"),
        result("OBS-01", Outcome.FAILED, "status 503, expected 200", nodeid="checks/m.py::test_health[instance-2]"),
        result("OBS-01", Outcome.ERROR, "refused", nodeid="checks/m.py::test_health[instance-1]"),
    ]
    (obs01,) = [r for r in item_results(CHECKLIST, "smoke", tests, frozenset()) if r.item.id == "OBS-01"]
    assert obs01.outcome is Outcome.FAILED
    assert obs01.reason == "[instance-2] status 503, expected 200"
    assert obs01.duration_s == 1.5


def test_strict_verdict_blocks_on_anything_unproved():
    unconfigured = result("CAN-01", Outcome.NOT_VERIFIED, "stages.canary is not set")
    tests = [result("OBS-01", Outcome.PASSED), result("OBS-02", Outcome.PASSED), unconfigured]
    results = item_results(CHECKLIST, "canary", tests, frozenset())
    strict = verdict(results, strict=True)
    assert not strict.go
    assert [r.item.id for r in strict.blocking] == ["CAN-01"]
    assert verdict(results, strict=False).go  # a missing setting blocks only strict mode


def test_failures_block_even_when_not_strict():
    results = item_results(CHECKLIST, "canary", [result("OBS-01", Outcome.FAILED)], frozenset())
    assert not verdict(results, strict=False).go


def test_ticks_follow_their_items():
    tests = [result(i, Outcome.PASSED) for i in ("ENV-01", "ENV-02")] + [result("ENV-03", Outcome.FAILED, "x")]
    rows = {t["title"]: t for t in tick_rows(CHECKLIST, item_results(CHECKLIST, "preflight", tests, frozenset()))}
    env_tick = rows["All env vars present & validated"]
    assert (env_tick["status"], env_tick["detail"]) == ("not ticked", "ENV-03 failed")
    assert rows["Canary deploy successful"]["status"] == "elsewhere"


def test_document_and_signoff_table_carry_the_stamp_and_escape_text():
    observation = Observation("<script>alert(1)</script>", {"status": 503}, {"status": 200}, ok=False)
    tests = [CheckResult("checks/t.py::test_x", "ENV-01", Outcome.FAILED, "bad <b>", 0.1, [observation])]
    results = item_results(CHECKLIST, "preflight", tests, frozenset())
    decision = verdict(results, strict=True)
    ticks = tick_rows(CHECKLIST, results)
    doc = document(STAMP, results, decision, ticks)
    assert doc["verdict"] == "no-go"
    assert doc["release"] == {"tag": "v1", "commit": "c" * 40, "digest": "sha256:" + "d" * 64, "pipeline": "118342"}
    assert doc["items"][0]["evidence"] == [
        {"subject": "<script>alert(1)</script>", "measured": {"status": 503}, "expected": {"status": 200}, "ok": False}
    ]
    json.dumps(doc)
    html = signoff_html(STAMP, results, decision, ticks)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Verdict: NO-GO" in html
    assert "status 503 (expected 200)" in html


def test_manifest_is_sha256sum_compatible(tmp_path):
    a = tmp_path / "a.json"
    a.write_text("{}")
    write_manifest([a], tmp_path / "m.sha256")
    assert (tmp_path / "m.sha256").read_text() == f"{hashlib.sha256(b'{}').hexdigest()}  a.json\n"


def test_leak_scan_removes_every_artifact_on_a_hit(tmp_path):
    registry = SecretRegistry()
    registry.add("RAZORPAY_KEY_SECRET", "Pl4ntedKeySecret")
    clean, dirty = tmp_path / "a.xml", tmp_path / "b.json"
    clean.write_text("<ok/>")
    dirty.write_text('{"x": "Pl4ntedKeySecret"}')
    leaks = leak_scan(registry, [clean, dirty])
    assert [str(leak) for leak in leaks] == [f"{dirty}: the value of RAZORPAY_KEY_SECRET appears (plain)"]
    assert not clean.exists()
    assert not dirty.exists()


def test_an_undecided_item_blocks_in_every_mode_until_it_is_cleared():
    undecided = CheckResult("checks/t.py::test_canary", "CAN-01", Outcome.NOT_VERIFIED, "inconclusive: x", 0.1,
                            undecided=True)  # fmt: skip
    others = [result("OBS-01", Outcome.PASSED), result("OBS-02", Outcome.PASSED)]
    results = item_results(CHECKLIST, "canary", [*others, undecided], frozenset())
    assert [r.item.id for r in verdict(results, strict=False).blocking] == ["CAN-01"]
    assert not verdict(results, strict=False).go
    unconfigured = item_results(CHECKLIST, "canary", [*others, result("CAN-01", Outcome.NOT_VERIFIED)], frozenset())
    assert verdict(unconfigured, strict=False).go  # a missing setting blocks only strict mode
    waived = [replace(r, outcome=Outcome.WAIVED) if r.item.id == "CAN-01" else r for r in results]
    assert verdict(waived, strict=False).go


def test_a_table_measurement_is_shown_whole_in_the_html_and_kept_in_the_json():
    rows = [[n * 0.4, "canary", "/api/health", 200, 10.0 + n, "<b>x</b>" if n == 7 else None] for n in range(400)]
    samples = Observation("canary samples", table(("at_s", "target", "path", "status", "latency_ms", "problem"), rows))
    assert samples.summary() == "[info] canary samples: 400 rows (at_s, target, path, status, latency_ms, problem)"
    tests = [CheckResult("checks/t.py::test_canary", "CAN-01", Outcome.PASSED, "", 1.0, [samples])]
    results = item_results(CHECKLIST, "canary", tests, frozenset())
    decision = verdict(results, strict=False)
    html = signoff_html(STAMP, results, decision, tick_rows(CHECKLIST, results))
    assert html.count("<td ") - html.count("golive-items") >= 400 * 6
    assert (
        '<td style="border:1px solid #ddd;padding:1px 4px;text-align:left;color:#1f2328">409.0</td>' in html
    )  # the last
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert "<details" in html
    assert "<summary>[info] canary samples: 400 rows" in html
    doc = document(STAMP, results, decision, tick_rows(CHECKLIST, results))
    (can01,) = [i for i in doc["items"] if i["id"] == "CAN-01"]
    assert can01["evidence"][0]["measured"]["rows"] == rows
    assert Observation("x", {"rows": [], "columns": ["a"], "more": 1}).table is None  # a table is exactly that


def test_a_short_table_is_shown_unfolded():
    instances = Observation("instances", table(("instance", "version"), [["instance-1", "v2"], ["instance-2", "v1"]]))
    assert evidence_html(instances).startswith('<details class="golive-table" open><summary>[info] instances: 2 rows')
    assert evidence_html(Observation("plain", {"status": 200})) == "[info] plain: status 200"
