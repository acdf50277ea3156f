"""3) Monitoring & Observability: health endpoints, error tracking (Sentry), alerts."""

import pytest

from golive.outcomes import not_verified
from golive.probes.alerts import pagerduty_event, post_json, slack_message
from golive.probes.sentry import RUN_ID_TAG, confirm_event, send_test_error


@pytest.mark.preflight
@pytest.mark.canary
@pytest.mark.smoke
@pytest.mark.postlaunch
@pytest.mark.item("OBS-01")
def test_health(health_target, health_check, environment):
    """/api/health answers the expected status and body within the latency budget."""
    verdict = health_check(environment.app.health_path, environment.health.expect_body)
    assert verdict.ok, f"{health_target.name}: {verdict.explain()}"


@pytest.mark.preflight
@pytest.mark.canary
@pytest.mark.smoke
@pytest.mark.postlaunch
@pytest.mark.item("OBS-02")
def test_health_db(health_target, health_check, environment):
    """/api/health/db answers that the app reaches its database, within the latency budget."""
    verdict = health_check(environment.app.health_db_path, environment.health.db_expect_body)
    assert verdict.ok, f"{health_target.name}: {verdict.explain()}"


@pytest.mark.preflight
@pytest.mark.side_effect("sends one test error event to Sentry, tagged with the run id")
@pytest.mark.item("OBS-04")
def test_sentry_receives_test_error(sentry_dsn, sentry_api, http, environment, golive_run, evidence):
    """sentry-sdk sends a tagged test error; Sentry's ingest accepts it and, with API access, shows it."""
    sent = send_test_error(sentry_dsn, http, golive_run.run_id, golive_run.release.tag, environment.name)
    delivery = sent.delivery
    accepted = 200 <= delivery.status < 300
    evidence.record(
        f"Sentry ingest {delivery.endpoint}",
        {"status": delivery.status, "event_id": sent.event_id, "latency_ms": delivery.latency_ms},
        {"status": "2xx"},
        ok=accepted,
    )
    assert accepted, (
        f"Sentry ingest at {delivery.endpoint} answered HTTP {delivery.status} {delivery.body!r}; expected 2xx"
    )
    if sentry_api is None:
        unconfirmed = f"Sentry ingest accepted event {sent.event_id}, but its arrival is unconfirmed"
        evidence.record("Sentry API", {"arrival": "unconfirmed: SENTRY_AUTH_TOKEN or sentry.org/project not set"})
        if environment.is_strict:  # ingest answers 200 for events it drops later: not proof in strict mode
            not_verified(f"{unconfirmed}: set SENTRY_AUTH_TOKEN and sentry.org/sentry.project")
        return
    settings = environment.sentry
    seen = confirm_event(
        http, sentry_api.api_url, sentry_api.org, sentry_api.project, sentry_api.token,
        sent.event_id, settings.confirm_timeout_s, settings.poll_interval_s,
    )  # fmt: skip
    evidence.record(
        f"Sentry API {sentry_api.org}/{sentry_api.project}",
        {"event_id": sent.event_id, "found": seen.found, "polls": seen.polls, "waited_s": seen.waited_s},
        {"found": True, "waited_s": f"<= {settings.confirm_timeout_s}"},
        ok=seen.found,
    )
    assert seen.found, (
        f"event {sent.event_id} accepted by ingest but not visible in {sentry_api.org}/{sentry_api.project} "
        f"after {seen.waited_s}s ({seen.polls} polls; limit {settings.confirm_timeout_s}s)"
    )
    assert seen.tags.get(RUN_ID_TAG) == golive_run.run_id, (
        f"event {sent.event_id} has tag {RUN_ID_TAG}={seen.tags.get(RUN_ID_TAG)!r}, expected {golive_run.run_id!r}"
    )


@pytest.mark.preflight
@pytest.mark.side_effect("posts one test alert to ALERT_WEBHOOK_URL; with PagerDuty, triggers then resolves one")
@pytest.mark.item("OBS-06")
def test_test_alert_delivered(
    alert_webhook, pagerduty_routing_key, pagerduty_url, runbook_url, http, environment, golive_run, evidence
):
    """A test alert reaches the alert webhook (and PagerDuty when configured), linking the runbook."""
    assert runbook_url, "alerts.runbook_url is not set in the environment file: every alert must link its runbook"
    stamp = (golive_run.run_id, golive_run.release.tag, environment.name)
    deliveries = [post_json(http, "alert webhook", alert_webhook.reveal(), slack_message(*stamp, runbook_url))]
    if pagerduty_routing_key is not None:
        for action in ("trigger", "resolve"):
            event = pagerduty_event(pagerduty_routing_key, action, *stamp, runbook_url)
            deliveries.append(post_json(http, f"PagerDuty {action}", pagerduty_url, event))
    for d in deliveries:
        evidence.record(
            f"{d.channel} {d.endpoint}", {"status": d.status, "latency_ms": d.latency_ms, "runbook": runbook_url},
            {"status": "2xx"}, ok=d.delivered,
        )  # fmt: skip
    refused = [
        f"{d.channel} at {d.endpoint} answered HTTP {d.status} {d.body!r}" for d in deliveries if not d.delivered
    ]
    assert not refused, "; ".join(refused) + "; expected 2xx"
