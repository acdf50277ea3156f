"""3) Monitoring & Observability: uptime checks on the health endpoints, the metrics source and the baseline."""

import time

import pytest

from golive.outcomes import record_attestation
from golive.probes.metrics import BASELINE_SUBJECT, read_window
from golive.probes.uptime import missing_checks, review_attestation, uptimerobot_monitors


@pytest.mark.preflight
@pytest.mark.item("OBS-03")
def test_uptime_checks_configured(uptime_monitor, environment, http, now, evidence, request):
    """The uptime monitor checks /api/health and /api/health/db of the service, and neither check is paused (read
    from the monitor's API, or attested by a person when there is none)."""
    urls, attestation = uptime_monitor.urls, uptime_monitor.attestation
    if attestation is not None:
        review = review_attestation(attestation, urls, now.date(), environment.stages.uptime.attestation_max_age_days)
        evidence.record("uptime monitor (attestation)", review.measured, {"monitored": urls}, ok=not review.problems)
        assert not review.problems, "; ".join(review.problems)
        record_attestation(request.node.user_properties, [review.statement])
        return
    assert uptime_monitor.api_key is not None
    monitors = uptimerobot_monitors(http, uptime_monitor.api_url, uptime_monitor.api_key)
    for m in monitors:
        evidence.record(f"monitor {m.name}", {"url": m.url, "status": m.status, "interval_s": m.interval_s})
    problems = missing_checks(monitors, urls)
    evidence.record(f"UptimeRobot {uptime_monitor.api_url}", {"monitors": len(monitors), "problems": problems},
                    {"monitored": urls}, ok=not problems)  # fmt: skip
    assert not problems, "; ".join(problems) + f" ({len(monitors)} monitors in the account)"


@pytest.mark.preflight
@pytest.mark.item("OBS-05")
def test_metrics_baseline_recorded(metrics_source, metrics_auth, http, evidence):
    """The metrics source answers, and the pre-launch error rate and p95 latency are recorded as the baseline."""
    reading = read_window(http, metrics_source, time.time(), metrics_source.baseline_window_s, metrics_auth)
    evidence.record(BASELINE_SUBJECT, reading.measured(), {"requests": f">= {metrics_source.min_requests}"},
                    ok=reading.problem is None)  # fmt: skip
    assert reading.problem is None, reading.problem
