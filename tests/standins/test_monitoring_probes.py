"""The OBS-04 and OBS-06 probes against the Sentry and alert stand-ins on loopback: every answer the real services
give (accepted, refused key, wrong project, event not stored yet, an unexpected status) ends in a measured result or
one line naming the service, and a malformed URL never shows its secret path."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from golive.outcomes import ProbeError
from golive.probes.alerts import endpoint_of, pagerduty_event, post_json, postable, slack_message
from golive.probes.sentry import RUN_ID_TAG, confirm_event, send_test_error
from golive.sandbox.standins import Store
from golive.secrets import Secret
from tests.netutil import http_server, json_answer
from tests.standins.accounts import (
    ROUTING_KEY,
    SENTRY_KEY,
    SENTRY_ORG,
    SENTRY_PROJECT,
    SENTRY_PROJECT_ID,
    SENTRY_TOKEN,
    SLACK_PATH,
)

RUNBOOK = "https://runbooks.example.com/go-live"


def dsn(sentry_url: str, key: str = SENTRY_KEY, project_id: str = SENTRY_PROJECT_ID) -> Secret:
    return Secret("SENTRY_DSN", f"http://{key}@{sentry_url.removeprefix('http://')}/{project_id}")


def confirm(http, api_url: str, event_id: str, *, org: str = SENTRY_ORG, project: str = SENTRY_PROJECT,
            token: str = SENTRY_TOKEN, timeout_s: float = 2.0):  # fmt: skip
    return confirm_event(http, api_url, org, project, Secret("SENTRY_AUTH_TOKEN", token), event_id, timeout_s, 0.1)


def test_the_test_error_is_delivered_tagged_and_confirmed(sentry_url, http, store: Store):
    run_id = uuid.uuid4().hex
    sent = send_test_error(dsn(sentry_url), http, run_id, "v9.9.9", "production")
    assert sent.delivery.status == 200
    assert sent.delivery.endpoint == sentry_url
    [stored] = [e for e in store.sentry_events if e["event_id"] == sent.event_id]
    assert stored["tags"][RUN_ID_TAG] == run_id
    assert (stored["release"], stored["environment"]) == ("v9.9.9", "production")
    found = confirm(http, sentry_url, sent.event_id)
    assert found.found
    assert found.tags[RUN_ID_TAG] == run_id
    assert found.polls >= 1


def test_ingest_refusing_the_key_is_measured_not_hidden(sentry_url, http):
    sent = send_test_error(dsn(sentry_url, key="0" * 32), http, "r1", "v1", "production")
    assert sent.delivery.status == 403
    assert "event submission rejected" in sent.delivery.body


def test_a_dsn_that_does_not_parse_is_one_line_without_its_value(http):
    with pytest.raises(ProbeError) as caught:
        send_test_error(Secret("SENTRY_DSN", "not-a-dsn-planted-value"), http, "r1", "v1", "production")
    assert str(caught.value) == "SENTRY_DSN is not a valid DSN, so no event can be sent (see ENV-02)"


def test_a_refused_token_names_the_project_not_the_token(sentry_url, http):
    with pytest.raises(ProbeError) as caught:
        confirm(http, sentry_url, uuid.uuid4().hex, token="sntrys_planted_wrong_token")
    assert str(caught.value) == f"Sentry API refused SENTRY_AUTH_TOKEN (HTTP 401) for {SENTRY_ORG}/{SENTRY_PROJECT}"


def test_a_wrong_project_is_told_apart_from_an_event_not_stored_yet(sentry_url, http):
    with pytest.raises(ProbeError) as caught:
        confirm(http, sentry_url, uuid.uuid4().hex, project="no-such-project")
    assert str(caught.value) == (
        f"Sentry API: no project {SENTRY_ORG}/no-such-project (The requested resource does not exist)"
    )


def test_an_event_never_stored_is_polled_until_the_deadline_then_reported_missing(sentry_url, http):
    started = time.monotonic()
    found = confirm(http, sentry_url, uuid.uuid4().hex, timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert not found.found
    assert found.polls >= 2
    assert elapsed < 1.5  # bounded: never longer than the deadline plus one poll


def test_an_unexpected_status_from_the_api_is_an_error_with_the_status():
    with (
        http_server(lambda method, path, body: json_answer(502, {"detail": "bad gateway"})) as url,
        httpx.Client(timeout=2) as http,
        pytest.raises(ProbeError) as caught,
    ):
        confirm(http, url, "e" * 32)
    assert str(caught.value) == f"Sentry API answered HTTP 502 for event {'e' * 32}"


def test_slack_alert_carries_the_runbook_and_is_delivered(alerts_url, http, store: Store):
    run_id = uuid.uuid4().hex
    message = slack_message(run_id, "v1.2.3", "production", RUNBOOK)
    delivery = post_json(http, "alert webhook", alerts_url + SLACK_PATH, message)
    assert (delivery.status, delivery.delivered, delivery.endpoint) == (200, True, alerts_url)
    assert RUNBOOK in message["text"]
    assert f"<{RUNBOOK}|{RUNBOOK}>" in message["blocks"][0]["text"]["text"]
    assert any(run_id in str(alert) for alert in store.alerts_on("slack"))


def test_slack_webhook_with_a_wrong_path_is_refused_as_slack_refuses_it(alerts_url, http):
    delivery = post_json(
        http, "alert webhook", alerts_url + "/services/T0/B0/wrong", slack_message("r", "v", "p", RUNBOOK)
    )
    assert (delivery.status, delivery.body, delivery.delivered) == (404, "no_service", False)


def test_pagerduty_trigger_and_resolve_share_a_dedup_key(alerts_url, http):
    key = Secret("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    trigger = pagerduty_event(key, "trigger", "run-7", "v1", "production", RUNBOOK)
    resolve = pagerduty_event(key, "resolve", "run-7", "v1", "production", RUNBOOK)
    assert trigger["dedup_key"] == resolve["dedup_key"] == "golive-run-7"
    assert trigger["links"] == [{"href": RUNBOOK, "text": "Runbook"}]
    assert "payload" not in resolve
    for event in (trigger, resolve):
        delivery = post_json(http, "PagerDuty", alerts_url + "/v2/enqueue", event)
        assert delivery.status == 202, delivery.body


def test_pagerduty_refuses_a_wrong_routing_key_with_its_error_body(alerts_url, http):
    event = pagerduty_event(Secret("PAGERDUTY_ROUTING_KEY", "0" * 32), "trigger", "r", "v", "p", RUNBOOK)
    delivery = post_json(http, "PagerDuty", alerts_url + "/v2/enqueue", event)
    assert delivery.status == 400
    assert "invalid" in delivery.body.lower()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/secret-token-path", "https://hooks.slack.com"),
        ("https://user:pw@alerts.example.com:8443/hook/abc", "https://alerts.example.com:8443"),
        ("hooks.slack.com/services/T0/B0/secret-token-path", "(malformed URL)"),
        ("  https://hooks.example.com/x  ", "https://hooks.example.com"),
    ],
)
def test_an_alert_endpoint_is_shown_without_its_secret_path_or_credentials(url, shown):
    assert endpoint_of(url) == shown


def test_a_malformed_alert_url_is_one_line_naming_the_channel(http):
    with pytest.raises(ProbeError) as caught:
        post_json(http, "alert webhook", "hooks/secret-path-value", slack_message("r", "v", "p", RUNBOOK))
    message = str(caught.value)
    assert message.startswith("alert webhook at (malformed URL)"), message
    assert "secret-path-value" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/services/T0/B0/x", True),
        ("http://127.0.0.1:8080/hook", True),
        ("hooks.slack.com/services/T0/B0/x", False),
        ("ftp://files.example.com/hook", False),
        ("https://", False),
        ("", False),
    ],
)
def test_only_an_http_url_with_a_host_can_carry_an_alert(url, ok):
    assert postable(url) is ok
