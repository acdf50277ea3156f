"""Every check is proven to fail: each sandbox fault breaks exactly its item, with a message that names what
was measured and what was expected, while every other implemented item still passes."""

import pytest

from golive.sandbox.faults import FAULTS
from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_stages import IMPLEMENTED

# What each fault's failure message must say (measured and expected values).
MESSAGES = {
    "env-missing-node-env": "missing or blank: NODE_ENV (6 of 7 required set)",
    "env-node-env-development": "NODE_ENV is 'development'; sandbox expects 'production'",
    "env-trailing-whitespace": "NODE_ENV has trailing whitespace",
    "env-missing-storage-secret": "[AWS_SECRET_ACCESS_KEY] AWS_SECRET_ACCESS_KEY (storage) is not set",
    "env-malformed-smtp-url": "[SMTP_URL] SMTP_URL (email) is not a URL with a scheme and host",
    "health-unhealthy": "[service] service: GET https://127.0.0.1:",
    "canary-unhealthy": "[canary] canary: GET https://127.0.0.1:",
    "health-db-down": "[service] service: GET https://127.0.0.1:",
    "sentry-ingest-rejects": "Sentry ingest at https://127.0.0.1:",
    "sentry-event-lost": "accepted by ingest but not visible in golive-sandbox/app after",
    "alert-webhook-rejects": "alert webhook at https://127.0.0.1:",
    "pagerduty-rejects": "PagerDuty trigger at https://127.0.0.1:",
}
DETAILS = {
    "health-unhealthy": "/api/health: status 503, expected 200; body.status = 'degraded', expected 'ok'",
    "canary-unhealthy": "/api/health: status 503, expected 200",
    "health-db-down": "/api/health/db: status 503, expected 200",
    "alert-webhook-rejects": "answered HTTP 403 'invalid_token'; expected 2xx",
    "pagerduty-rejects": "answered HTTP 400",
    "sentry-event-lost": "limit 10.0s",
}
THIS_ISSUE = [name for name, fault in FAULTS.items() if set(fault.items) <= IMPLEMENTED]


def test_every_fault_of_the_implemented_items_is_covered():
    assert sorted(THIS_ISSUE) == sorted(MESSAGES)


@pytest.mark.parametrize("fault", THIS_ISSUE)
def test_fault_breaks_exactly_its_item(sandbox, reports, fault):
    stage = "canary" if fault.startswith("canary-") else "preflight"
    sandbox.set_faults([fault])
    try:
        run = run_checks(stage, clean_environ(sandbox.environ()), reports)
    finally:
        sandbox.set_faults(())
    broken = set(FAULTS[fault].items)
    outcomes = run.outcomes()
    for item_id in IMPLEMENTED & set(outcomes):
        if item_id in broken:
            item = run.item(item_id)
            assert item["outcome"] == "failed", (fault, item)
            assert MESSAGES[fault] in item["reason"], item["reason"]
            assert DETAILS.get(fault, "") in item["reason"], item["reason"]
            assert "\n" not in item["reason"]
        else:
            assert outcomes[item_id] == "passed", (fault, item_id, run.item(item_id)["reason"])
    assert run.code == 1
    assert run.doc["verdict"] == "no-go"
    assert broken <= set(run.doc["blocking"])
