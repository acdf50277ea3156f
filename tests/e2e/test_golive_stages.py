"""The go-live stages against the sandbox: bad input (an unreachable or silent canary, a malformed flag source, an
unreachable jobs endpoint, a wrong smoke password, no release) gives a one-line reason within the configured time."""

import json
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.e2e.test_bad_input import env_file
from tests.netutil import blackhole, closed_port


def test_unreachable_canary_fails_within_two_intervals(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'canary_url = "${GOLIVE_SANDBOX_CANARY_URL}"':
                                f'canary_url = "https://127.0.0.1:{closed_port()}"'})  # fmt: skip
    run = run_checks("canary", clean_environ(healthy.environ()), reports, env=env)
    item = run.item("CAN-01")
    assert item["outcome"] == "failed", item
    assert "interval 2 of 6: 2 consecutive intervals with probe errors (limit 1)" in item["reason"]
    assert "/api/health: connection refused" in item["reason"]
    assert item["duration_s"] < 2 * 0.4 + 2.0


def test_silent_canary_fails_within_two_intervals_and_the_probe_timeout(healthy, tmp_path, reports):
    with blackhole() as port:
        env = env_file(tmp_path, **{'canary_url = "${GOLIVE_SANDBOX_CANARY_URL}"':
                                    f'canary_url = "https://127.0.0.1:{port}"',
                                    "probe_timeout_s = 2.0": "probe_timeout_s = 0.5"})  # fmt: skip
        started = time.monotonic()
        run = run_checks("canary", clean_environ(healthy.environ()), reports, "-k", "canary_analysis", env=env)
        elapsed = time.monotonic() - started
    item = run.item("CAN-01")
    assert item["outcome"] == "failed", item
    assert "2 consecutive intervals with probe errors (limit 1)" in item["reason"]
    assert "timed out" in item["reason"]
    assert "\n" not in item["reason"]
    assert item["duration_s"] < 2 * 0.4 + 2 * 0.5 + 1.5, item["duration_s"]  # slack for a loaded machine
    assert elapsed < 120  # the whole pytest process, on a loaded machine; the bound that matters is duration_s


def test_malformed_flag_source_and_unreachable_jobs_endpoint(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'url = "${GOLIVE_SANDBOX_APP_URL}/api/admin/flags"':
                                'url = "${GOLIVE_SANDBOX_APP_URL}/api/health"',
                                'url = "${GOLIVE_SANDBOX_APP_URL}/api/admin/jobs"':
                                f'url = "https://127.0.0.1:{closed_port()}/api/admin/jobs"'})  # fmt: skip
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, "-k", "flags or jobs", env=env)
    flags, jobs = run.item("LIVE-03"), run.item("LIVE-04")
    assert flags["outcome"] == "error"
    assert flags["reason"].endswith(
        "/api/health: not an Unleash features answer (expected features: [{name, enabled}])"
    )
    assert jobs["outcome"] == "error"
    assert jobs["reason"].endswith("/api/admin/jobs: connection refused")


def test_wrong_smoke_password_and_no_release(healthy, reports):
    environ = {**healthy.environ(), "SMOKE_PASSWORD": "not-the-password-at-all"}
    run = run_checks("smoke", clean_environ(environ, drop=("GOLIVE_RELEASE_TAG",)), reports)
    login = run.item("SMK-01")
    assert login["outcome"] == "failed"
    assert "as smoke@golive.test: status 401 ('invalid username or password')" in login["reason"]
    assert "not-the-password" not in run.output
    rollout = run.item("CAN-02")
    assert rollout["outcome"] == "not_verified"
    assert rollout["reason"].startswith("the release being shipped is not known: set GOLIVE_RELEASE_TAG")


def test_a_later_stage_refuses_to_start_without_a_passed_previous_stage(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{"[stages.jobs]": "[stages.order]\nenforce = true\n\n[stages.jobs]"})
    environ = clean_environ(healthy.environ())
    refused = run_checks("canary", environ, reports, env=env)
    assert refused.code == 1
    line = (
        f"golive: canary refuses to start: no preflight artifact at {reports / 'preflight.json'}; run preflight first"
    )
    assert line in refused.output
    assert "test_canary_analysis PASSED" not in refused.output
    # refused, yet on record: the artifacts say no-go and why, and nothing was run
    assert sorted(p.name for p in reports.glob("canary.*")) == ["canary.html", "canary.json", "canary.sha256",
                                                               "canary.xml"]  # fmt: skip
    assert refused.doc["verdict"] == "no-go"
    assert refused.doc["stage_order"]["in_order"] is False
    assert any(r.startswith("canary refuses to start: no preflight artifact") for r in refused.doc["incomplete"])
    assert refused.item("CAN-01")["outcome"] != "passed"
    started = run_checks("canary", environ, tmp_path / "r2", "--ignore-stage-order", "INC-7: preflight rerun", env=env)
    assert "golive: stage order IGNORED (INC-7: preflight rerun): no preflight artifact at" in started.output
    assert started.item("CAN-01")["outcome"] == "passed"
    # the override and its reason travel with the sign-off: JSON, HTML stamp and JUnit properties
    order = started.doc["stage_order"]
    assert (order["in_order"], order["ignored_because"]) == (False, "INC-7: preflight rerun")
    assert order["refusal"].startswith("no preflight artifact at ")
    assert "started because: INC-7: preflight rerun" in (tmp_path / "r2" / "canary.html").read_text()
    assert "started because: INC-7: preflight rerun" in (tmp_path / "r2" / "canary.xml").read_text()


def test_the_canary_progress_lines_reach_the_terminal_under_xdist(healthy, reports):
    """CI and `golive demo` run every stage with -n: each interval's line still shows, relayed by the controller."""
    run = run_checks("canary", clean_environ(healthy.environ()), reports, "-n", "2")
    assert run.code == 0, run.output
    lines = [line.strip() for line in run.output.splitlines() if line.strip().startswith("canary ")]
    assert [line.split()[1] for line in lines] == [f"{n}/6" for n in range(1, 7)], run.output
    assert all(" success " in line and "| 0 error events" in line for line in lines), lines
    assert run.output.index("canary 6/6") < run.output.index("golive canary on sandbox")
    # the sign-off artifact keeps the whole series and the intervals, as tables, in the JSON and the HTML
    evidence = {o["subject"]: o["measured"] for o in run.item("CAN-01")["evidence"]}
    samples, intervals = evidence["canary samples"], evidence["canary intervals"]
    assert intervals["columns"] == ["index", "kind", "reason", "score", "error_events"]
    assert [row[:2] for row in intervals["rows"]] == [[n, "success"] for n in range(1, 7)]
    assert len(samples["rows"]) == 6 * 2 * 4 * 3  # intervals x paths x requests x (canary + 2 baselines)
    html = (reports / "canary.html").read_text()
    assert f"canary samples: {len(samples['rows'])} rows (at_s, target, path, status, latency_ms, problem)" in html
    assert html.count(f">{samples['rows'][-1][0]}</td>") >= 1


def baselines_down(tmp_path, *more: tuple[str, str]) -> str:
    """The sandbox's environment file, not strict, with every baseline instance refusing connections."""
    dead = f'["https://127.0.0.1:{closed_port()}", "https://127.0.0.1:{closed_port()}"]'
    return env_file(tmp_path, **{"strict = true": "strict = false",
                                 'instances = ["${GOLIVE_SANDBOX_INSTANCE_1_URL}", "${GOLIVE_SANDBOX_INSTANCE_2_URL}"]':
                                 f"instances = {dead}"}, **dict(more))  # fmt: skip


def test_an_inconclusive_canary_is_a_no_go_in_every_tier_until_a_waiver_clears_it(healthy, tmp_path, reports):
    environ = clean_environ(healthy.environ())
    env = baselines_down(tmp_path)
    run = run_checks("canary", environ, reports, env=env)
    item = run.item("CAN-01")
    assert item["outcome"] == "not_verified"
    assert item["reason"].startswith("inconclusive: interval 1 of 6: 1 inconclusive interval(s) (limit 0): the "
                                     "baselines gave no data (connection refused)")  # fmt: skip
    assert (run.code, run.doc["strict"], run.doc["verdict"], run.doc["blocking"]) == (1, False, "no-go", ["CAN-01"])
    expires = (datetime.now(UTC) + timedelta(days=2)).date()
    waivers = Path(environ["GOLIVE_SANDBOX_DIR"]) / "releases" / f"{environ['GOLIVE_RELEASE_TAG']}.waivers.toml"
    waivers.write_text('[[waiver]]\nitem = "CAN-01"\napprover = "Asha Rao"\nticket = "OPS-5120"\n'
                       f'justification = "baselines drained; canary watched"\nexpires = {expires}\n')  # fmt: skip
    waived = run_checks("canary", environ, tmp_path / "waived", env=env)
    assert waived.item("CAN-01")["outcome"] == "waived"
    assert "[was not_verified: inconclusive: interval 1 of 6" in waived.item("CAN-01")["reason"]
    assert (waived.code, waived.doc["verdict"]) == (0, "go")


def test_an_inconclusive_canary_still_says_its_logs_could_not_be_counted_or_were_required(healthy, tmp_path, reports):
    """A decision on an inconclusive analysis weighs the HTTP analysis: error events that could not be counted make
    CAN-01 an error, and logs that were required but not checked make it not verified for that reason."""
    environ = clean_environ(healthy.environ())
    refused = run_checks("canary", {**environ, "SENTRY_AUTH_TOKEN": "sntrys_" + "x" * 64}, reports,
                         "-k", "canary_analysis", env=baselines_down(tmp_path))  # fmt: skip
    item = refused.item("CAN-01")
    assert item["outcome"] == "error", item
    assert item["reason"].startswith("the canary's error events could not be counted: Sentry API refused "
                                     "SENTRY_AUTH_TOKEN (HTTP 401)")  # fmt: skip
    untracked = run_checks("canary", clean_environ(environ, drop=("SENTRY_AUTH_TOKEN",)), reports,
                           "-k", "canary_analysis", env=baselines_down(tmp_path)).item("CAN-01")  # fmt: skip
    assert untracked["outcome"] == "not_verified", untracked
    assert untracked["reason"] == (
        "the canary's logs were not checked (SENTRY_AUTH_TOKEN, sentry.org and sentry.project are not all set) and "
        "stages.canary.logs_required is true"
    )


def test_canary_errors_are_counted_under_the_apps_own_sentry_release_and_environment(healthy, tmp_path, reports):
    """A release name Sentry does not know is an error naming it (its count would be 0 whatever the canary does);
    the app's errors in another environment are not the canary's."""
    environ = clean_environ(healthy.environ())
    renamed = env_file(tmp_path, **{'release = "{tag}"': 'release = "web-app@{tag}"'})
    item = run_checks("canary", environ, reports, "-k", "canary_analysis", env=renamed).item("CAN-01")
    assert item["outcome"] == "error", item
    assert item["reason"] == (
        "the canary's error events could not be counted: Sentry has no release 'web-app@v1.4.0' in golive-sandbox "
        "(HTTP 404 'The requested resource does not exist'): the app's events are not counted under that name; set "
        "sentry.release to the release name the app's Sentry SDK reports, or create the release when deploying"
    )
    healthy.set_faults(["canary-errors-in-sentry"])  # the canary reports its swallowed errors as "production"
    try:
        staging = env_file(tmp_path, **{'environment = "production"': 'environment = "staging"'})
        elsewhere = run_checks("canary", environ, reports, "-k", "canary_analysis", env=staging).item("CAN-01")
    finally:
        healthy.set_faults(())
    assert elsewhere["outcome"] == "passed", elsewhere
    logs = next(o for o in elsewhere["evidence"] if o["subject"].startswith("canary logs: "))
    assert logs["subject"] == "canary logs: release v1.4.0 in environment staging in Sentry golive-sandbox/app"


def test_an_inconclusive_canary_is_attested_by_a_fresh_decision_and_never_by_a_future_one(healthy, tmp_path, reports):
    environ = clean_environ(healthy.environ())
    env = baselines_down(tmp_path)
    release_file = Path(environ["GOLIVE_SANDBOX_DIR"]) / "releases" / f"{environ['GOLIVE_RELEASE_TAG']}.toml"
    written = release_file.read_text()

    def decided(at: datetime) -> dict:
        when = at.isoformat(timespec="seconds")
        release_file.write_text(written + '\n[canary]\ndecision = "promote"\nreason = "baselines drained for the '
                                'migration; canary error rate flat on the dashboards"\ndecided_by = "Rohan Das"\n'
                                f'role = "on-call-lead"\ndecided_at = {when}\n')  # fmt: skip
        return run_checks("canary", environ, reports, env=env)

    attested = decided(datetime.now(UTC) - timedelta(minutes=20))
    item = attested.item("CAN-01")
    assert item["outcome"] == "attested", item
    assert item["reason"].startswith("attested: inconclusive canary analysis: Rohan Das (on-call-lead) decided "
                                     "'promote' at ")  # fmt: skip
    assert (attested.code, attested.doc["verdict"]) == (0, "go")
    future = decided(datetime.now(UTC) + timedelta(hours=3)).item("CAN-01")
    assert future["outcome"] == "not_verified"
    assert "; the decision is refused: v1.4.0.toml [canary].decided_at: " in future["reason"]
    assert future["reason"].endswith("is in the future")


def test_obs03_attested_without_a_monitor_api_fresh_and_complete(healthy, tmp_path, reports):
    environ = clean_environ(healthy.environ())
    api = 'provider = "uptimerobot"\napi_url = "${GOLIVE_SANDBOX_UPTIME_URL}"'

    def attested(on, monitors='"${GOLIVE_SANDBOX_APP_URL}/api/health", "${GOLIVE_SANDBOX_APP_URL}/api/health/db"'):
        attestation = (f'attestation = {{ by = "Kabir Singh", role = "sre", on = {on}, monitors = [{monitors}], '
                       'note = "Better Stack, 1 min interval" }')  # fmt: skip
        env = env_file(tmp_path, **{api: attestation})
        return run_checks("preflight", environ, reports, "-k", "uptime", env=env).item("OBS-03")

    today = datetime.now(UTC).date()
    ok = attested(today - timedelta(days=3))
    assert ok["outcome"] == "attested", ok
    assert ok["reason"].startswith(f"attested: Kabir Singh (sre) confirmed on {today - timedelta(days=3)} that the "
                                   "uptime monitor checks https://127.0.0.1:")  # fmt: skip
    future = attested(today + timedelta(days=2))
    assert future["outcome"] == "failed"
    assert future["reason"] == (f"stages.uptime.attestation.on: {today + timedelta(days=2)} is in the future; a "
                                "confirmation not yet made")  # fmt: skip
    partial = attested(today, '"${GOLIVE_SANDBOX_APP_URL}/api/health"')
    assert partial["outcome"] == "failed"
    assert partial["reason"].startswith("stages.uptime.attestation.monitors: no monitor named for https://127.0.0.1:")
    assert partial["reason"].endswith("/api/health/db")


def readme_smoke_example(tmp_path: Path) -> Path:
    """A team's project: golive's checklist, fixtures and environments, and in checks/ only the README's example."""
    example = re.search(r"```python\n(# checks/(test_\w+\.py)\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert example is not None, "README.md has no smoke-scenario example"
    project = tmp_path / "project"
    (project / "checks").mkdir(parents=True)
    for name in ("pyproject.toml", "checklist.toml", "conftest.py"):
        shutil.copy(ROOT / name, project / name)
    for name in ("fixtures", "environments"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "checks" / example.group(2)).write_text(example.group(1))
    return project


def test_the_readme_smoke_scenario_runs_as_written(healthy, tmp_path, reports):
    project = readme_smoke_example(tmp_path)
    environ = clean_environ(healthy.environ())
    run = run_checks("smoke", environ, reports, cwd=project)
    item = run.item("SMK-01")
    assert (item["outcome"], item["tests"]) == (
        "passed",
        ["checks/test_smoke_home.py::test_home_page_loads_its_script"],
    )
    assert item["evidence"][0]["measured"] == {"status": 200, "script": "/static/app.3f9c2b1e.js", "script_status": 200}
    # against a service whose home page is missing, it fails saying what it measured
    env = env_file(
        tmp_path, **{'base_url = "${GOLIVE_SANDBOX_APP_URL}"': 'base_url = "${GOLIVE_SANDBOX_PROMETHEUS_URL}"'}
    )
    missing = run_checks("smoke", environ, tmp_path / "missing", env=env, cwd=project).item("SMK-01")
    assert missing["outcome"] == "failed"
    assert re.fullmatch(r"GET https://127\.0\.0\.1:\d+/: status 404, expected 200", missing["reason"]), missing


def test_post02_takes_its_baseline_from_the_preflight_of_the_same_release(healthy, reports):
    environ = clean_environ(healthy.environ())
    preflight = run_checks("preflight", environ, reports, "-k", "metrics_baseline")
    assert preflight.item("OBS-05")["outcome"] == "passed", preflight.item("OBS-05")["reason"]
    recorded = preflight.item("OBS-05")["evidence"][0]["measured"]
    post = run_checks("postlaunch", environ, reports, "-k", "error_rate_within_baseline").item("POST-02")
    assert post["outcome"] == "passed", post
    baseline = post["evidence"][0]
    assert baseline["subject"] == f"baseline (recorded by preflight in {reports / 'preflight.json'})"
    assert baseline["measured"] == {"error_rate": recorded["error_rate"], "latency_p95_ms": recorded["latency_p95_ms"]}
    # a hand-edited artifact (a baseline raised to let a worse launch pass) no longer matches its manifest: it is
    # refused, and the evidence says why beside the baseline queried instead
    doc = json.loads((reports / "preflight.json").read_text())
    doc["items"] = [{**i, "evidence": [{**o, "measured": {**o["measured"], "error_rate": 0.5}} for o in i["evidence"]]}
                    if i["id"] == "OBS-05" else i for i in doc["items"]]  # fmt: skip
    (reports / "preflight.json").write_text(json.dumps(doc))
    queried = run_checks("postlaunch", environ, reports, "-k", "error_rate_within_baseline").item("POST-02")
    assert queried["evidence"][0]["subject"] == "baseline (queried: the 5s window ending 8s ago)"
    assert queried["evidence"][0]["measured"]["preflight_artifact"] == (
        f"not used: {reports / 'preflight.json'} does not match its digest in preflight.sha256 (changed after the run?)"
    )


def test_ignoring_the_stage_order_needs_a_reason(healthy, reports):
    for blank in ("", "   "):
        run = run_checks("canary", clean_environ(healthy.environ()), reports, f"--ignore-stage-order={blank}")
        assert run.code == 4, run.output
        assert "Traceback" not in run.output
        errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
        assert errors == ["ERROR: golive: --ignore-stage-order needs a reason (who decided, and why)"], run.output
        assert "test_canary_analysis" not in run.output
