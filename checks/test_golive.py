"""5) Zero-downtime go-live: risky flags off, jobs paused, the canary over its window, the rolling deploy, the
smoke login, and jobs resumed after launch."""

import time
from datetime import timedelta

import pytest

from golive.canary import (
    NO_ERROR_TRACKER,
    Interval,
    Sample,
    analyse,
    decide_inconclusive,
    http_sampler,
    logs_evidence,
    review_decision,
)
from golive.evidence import table
from golive.outcomes import ProbeError, not_verified
from golive.probes.metrics import compare_with_baseline, observe, postlaunch_baseline
from golive.probes.rollout import InstanceState, instance_state, rollout_targets
from golive.probes.smoke import smoke_login
from golive.probes.switches import FLAGS_TOKEN, JOBS_TOKEN, flags_on, jobs_not_in, read_flags, read_jobs


@pytest.mark.preflight
@pytest.mark.item("LIVE-03")
def test_risky_flags_off(flag_source, http, variables, evidence):
    """The feature flags this release names as risky are off in the flag source."""
    flags = read_flags(http, str(flag_source.url), flag_source.format, variables.secret(FLAGS_TOKEN))
    on, unknown = flags_on(flags, flag_source.risky)
    evidence.record(f"flags {flag_source.url} ({flag_source.format})",
                    {f: flags.get(f) for f in flag_source.risky}, dict.fromkeys(flag_source.risky, False),
                    ok=not on and not unknown)  # fmt: skip
    assert not unknown, f"risky flag(s) {', '.join(unknown)} not found in {flag_source.url}; expected them listed"
    assert not on, f"risky flag(s) {', '.join(on)} on in {flag_source.url}; expected off before launch"


@pytest.mark.preflight
@pytest.mark.item("LIVE-04")
def test_noncritical_jobs_paused(job_source, http, variables, evidence):
    """The non-critical jobs this release names are paused before launch."""
    jobs = read_jobs(http, str(job_source.url), variables.secret(JOBS_TOKEN))
    wrong = jobs_not_in(jobs, job_source.pause, job_source.paused_state)
    evidence.record(f"jobs {job_source.url}", {n: jobs.get(n) for n in job_source.pause},
                    dict.fromkeys(job_source.pause, job_source.paused_state), ok=not wrong)  # fmt: skip
    assert not wrong, f"{'; '.join(wrong)} at {job_source.url}; expected {job_source.paused_state!r} before launch"


@pytest.mark.canary
@pytest.mark.item("CAN-01")
def test_canary_analysis(
    environment, canary_http, shipped_release, release_errors, progress, release_file, now, evidence, request
):
    """The canary stays healthy over the observation window, against the baselines, on the release shipped, and
    raises no more new error events of the release than allowed."""
    app, policy = environment.app, environment.stages.canary
    if app.canary_url is None:
        not_verified("app.canary_url is not set")
    if not app.instances:
        not_verified("app.instances is empty: no baseline to compare the canary with")
    targets = {"canary": str(app.canary_url)} | {f"instance-{n}": str(u) for n, u in enumerate(app.instances, 1)}
    stages = environment.stages
    sample = http_sampler(canary_http, targets, app.health_path, environment.health, stages.version_field,
                          stages.commit_field, shipped_release.tag, shipped_release.commit)  # fmt: skip
    paths = [app.health_path, *policy.extra_paths]
    result = analyse(sample, [t for t in targets if t != "canary"], paths, policy, progress, events=release_errors)
    evidence.record("canary analysis", {
        "outcome": result.outcome, "reason": result.reason, "elapsed_s": result.elapsed_s,
        "intervals": f"{len(result.intervals)} of {result.planned_intervals}",
    }, {"window_s": policy.window_s, "interval_s": policy.interval_s, "failure_limit": policy.failure_limit,
        "consecutive_error_limit": policy.consecutive_error_limit, "error_limit": policy.error_limit,
        "score_pass": policy.score_pass},
        ok=result.outcome == "passed")  # fmt: skip
    evidence.record("canary against the baselines", table(result.METRIC_COLUMNS, result.metric_rows()))
    evidence.record(*logs_evidence(result, release_errors, policy.error_events_limit))
    evidence.record("canary intervals", table(Interval.COLUMNS, [i.row() for i in result.intervals]))
    evidence.record("canary samples", table(Sample.COLUMNS, [s.row() for s in result.samples]))
    assert result.outcome != "failed", f"canary {app.canary_url}: {result.reason}"
    # The logs part before a person's decision on an inconclusive analysis: a decision weighs the HTTP analysis,
    # it cannot stand in for error events that were never counted.
    if result.events_problem is not None:
        raise ProbeError(f"the canary's error events could not be counted: {result.events_problem}")
    if release_errors is None and policy.logs_required:
        not_verified(f"the canary's logs were not checked ({NO_ERROR_TRACKER}) and stages.canary.logs_required "
                     "is true")  # fmt: skip
    if result.outcome == "inconclusive":  # never a pass: a person's decision attests it, or it blocks
        decide_inconclusive(result, review_decision(release_file, now, timedelta(hours=policy.decision_max_age_h)),
                            release_file.path.name, evidence, request.node.user_properties)  # fmt: skip


@pytest.mark.smoke
@pytest.mark.item("CAN-02")
def test_rolling_deploy_complete(environment, http, shipped_release, evidence):
    """Every configured instance, and every address behind the service's DNS name, is healthy and serves the release
    being shipped; none is left on the old one."""
    app, stages = environment.app, environment.stages
    service = stages.rollout.service_url
    targets = rollout_targets(app, str(service) if service else None, environment.http.connect_timeout_s)
    if not targets:
        not_verified("app.instances is empty and stages.rollout.service_url is not set: list every instance")
    rows = [instance_state(http, target, environment.health, stages.version_field, stages.commit_field,
                           shipped_release.tag, shipped_release.commit) for target in targets]  # fmt: skip
    instances = table(InstanceState.COLUMNS, [row.row() for row in rows])
    evidence.record(f"instances (expected {shipped_release.tag}, health ok)", instances, ok=all(r.ok for r in rows))
    wrong = [row.explain() for row in rows if not row.ok]
    assert not wrong, f"{len(wrong)} of {len(rows)} instances not ready: " + " | ".join(wrong)


@pytest.mark.smoke
@pytest.mark.item("SMK-01")
def test_smoke_login(environment, http, smoke_account, evidence):
    """The smoke account logs in, a token comes back, and the authenticated endpoint answers as that account."""
    result = smoke_login(http, str(environment.app.base_url), environment.stages.smoke, smoke_account.user,
                         smoke_account.password)  # fmt: skip
    evidence.record(f"login {result.login_url} as {smoke_account.user}", result.measured(),
                    {"received": True, "me_status": 200, "me_user": smoke_account.user},
                    ok=result.problem is None)  # fmt: skip
    assert result.problem is None, result.problem


@pytest.mark.postlaunch
@pytest.mark.item("POST-04")
def test_paused_jobs_resumed(job_source, http, variables, evidence):
    """The jobs paused for the launch run again."""
    jobs = read_jobs(http, str(job_source.url), variables.secret(JOBS_TOKEN))
    wrong = jobs_not_in(jobs, job_source.pause, job_source.running_state)
    evidence.record(f"jobs {job_source.url}", {n: jobs.get(n) for n in job_source.pause},
                    dict.fromkeys(job_source.pause, job_source.running_state), ok=not wrong)  # fmt: skip
    assert not wrong, f"{'; '.join(wrong)} at {job_source.url}; expected {job_source.running_state!r} after launch"


@pytest.mark.postlaunch
@pytest.mark.item("POST-02")
def test_error_rate_within_baseline(metrics_source, metrics_auth, http, environment, golive_run, reports_dir, evidence):
    """Over the post-launch observation window, error rate and p95 latency stay within tolerance of the baseline."""
    baseline = postlaunch_baseline(http, metrics_source, reports_dir / "preflight.json", environment.name,
                                   golive_run.release, metrics_auth, time.time())  # fmt: skip
    if baseline.values is None:
        not_verified(str(baseline.problem))
    evidence.record(f"baseline ({baseline.source})", baseline.measured())
    current = observe(http, metrics_source, metrics_source.observe_s, metrics_auth)
    assert current.problem is None, current.problem
    verdict = compare_with_baseline(current, baseline.values, metrics_source)
    allowed = {"error_rate": f"<= {verdict.allowed_error_rate}", "latency_p95_ms": f"<= {verdict.allowed_p95_ms}"}
    evidence.record(f"after launch, {metrics_source.observe_s:g}s observed", current.measured(), allowed,
                    ok=not verdict.problems)  # fmt: skip
    assert not verdict.problems, "; ".join(verdict.problems) + f" (baseline {baseline.source})"
