"""The Slack incoming-webhook and PagerDuty Events API v2 stand-ins, every answer driven with httpx."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from golive.sandbox.standins import Store
from tests.standins.accounts import ROUTING_KEY, SLACK_PATH, Faults


def trigger(**changes) -> dict:
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "golive test alert", "source": "golive-sandbox", "severity": "info"},
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(
    "message",
    [
        {"text": "golive test alert"},
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*golive* test alert"}}]},
        {"attachments": [{"fallback": "golive test alert", "text": "golive test alert"}]},
    ],
)
def test_slack_accepts_a_message_and_records_it(alerts_url, http, store: Store, message):
    marked = {**message, "username": uuid.uuid4().hex}
    response = http.post(f"{alerts_url}{SLACK_PATH}", json=marked)
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["content-type"].startswith("text/html")
    assert store.alerts_on("slack")[-1]["payload"] == marked


def test_slack_accepts_a_form_encoded_payload(alerts_url, http, store: Store):
    message = {"text": f"form alert {uuid.uuid4().hex}"}
    response = http.post(f"{alerts_url}{SLACK_PATH}", data={"payload": json.dumps(message)})
    assert (response.status_code, response.text) == (200, "ok")
    assert store.alerts_on("slack")[-1]["payload"] == message


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        (b"{not json", 400, "invalid_payload"),
        (b"[1, 2]", 400, "invalid_payload"),
        (b"{}", 400, "no_text"),
        (b'{"text": ""}', 400, "no_text"),
        (b'{"blocks": "section"}', 400, "invalid_blocks_format"),
        (b'{"blocks": [{"text": "no type"}]}', 400, "invalid_blocks"),
    ],
)
def test_slack_refuses_bad_payloads(alerts_url, http, store: Store, body, status, answer):
    before = len(store.alerts_on("slack"))
    response = http.post(f"{alerts_url}{SLACK_PATH}", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (status, answer)
    assert len(store.alerts_on("slack")) == before


def test_slack_has_no_service_elsewhere(alerts_url, http):
    wrong_path = http.post(f"{alerts_url}/services/T0SANDBOX/B0SANDBOX/wrong", json={"text": "x"})
    assert (wrong_path.status_code, wrong_path.text) == (404, "no_service")
    wrong_method = http.get(f"{alerts_url}{SLACK_PATH}")
    assert (wrong_method.status_code, wrong_method.text) == (404, "no_service")


def test_fault_alert_webhook_rejects(alerts_url, http, store: Store, faults: Faults):
    faults.active.add("alert-webhook-rejects")
    before = len(store.alerts_on("slack"))
    response = http.post(f"{alerts_url}{SLACK_PATH}", json={"text": "x"})
    assert (response.status_code, response.text) == (403, "invalid_token")
    assert len(store.alerts_on("slack")) == before


def test_pagerduty_trigger_acknowledge_resolve(alerts_url, http, store: Store):
    triggered = http.post(f"{alerts_url}/v2/enqueue", json=trigger())
    assert triggered.status_code == 202
    body = triggered.json()
    assert (body["status"], body["message"]) == ("success", "Event processed")
    assert re.fullmatch(r"[0-9a-f]{32}", body["dedup_key"])
    assert store.alerts_on("pagerduty")[-1]["payload"] == trigger()

    keyed = http.post(f"{alerts_url}/v2/enqueue", json=trigger(dedup_key="golive-run-42"))
    assert keyed.json()["dedup_key"] == "golive-run-42"
    for action in ("acknowledge", "resolve"):
        follow_up = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "golive-run-42"}
        response = http.post(f"{alerts_url}/v2/enqueue", json=follow_up)
        assert (response.status_code, response.json()["dedup_key"]) == (202, "golive-run-42")


SEVERITY_INVALID = (
    "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"
)


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        (trigger(routing_key="short"), ["Length of 'routing_key' is incorrect (should be 32 characters)"]),
        (trigger(routing_key="R" * 32), ["Invalid routing key"]),
        (trigger(event_action=None), ["'event_action' is missing or blank"]),
        (
            trigger(event_action="page"),
            ["'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')"],
        ),
        (
            trigger(payload={}),
            [
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' is missing or blank",
            ],
        ),
        (trigger(payload={"summary": "s", "source": "h", "severity": "high"}), [SEVERITY_INVALID]),
        (trigger(event_action="resolve"), ["'dedup_key' is missing or blank"]),
    ],
)
def test_pagerduty_refuses_invalid_events(alerts_url, http, event, errors):
    response = http.post(f"{alerts_url}/v2/enqueue", json=event)
    assert response.status_code == 400
    assert response.json() == {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def test_pagerduty_refuses_what_is_not_json(alerts_url, http):
    response = http.post(f"{alerts_url}/v2/enqueue", content=b"summary=down")
    assert (response.status_code, response.json()["status"]) == (400, "invalid event")


def test_fault_pagerduty_rejects(alerts_url, http, store: Store, faults: Faults):
    faults.active.add("pagerduty-rejects")
    before = len(store.alerts_on("pagerduty"))
    response = http.post(f"{alerts_url}/v2/enqueue", json=trigger())
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }
    assert len(store.alerts_on("pagerduty")) == before
