"""OBS-06: deliver a test alert to the alert webhook (Slack-compatible) and, when configured, PagerDuty.

The alert carries the run id and the runbook link, so whoever receives it knows it is a go-live test
and where the runbook is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from golive.probes.http import request
from golive.secrets import Secret


def alert_text(run_id: str, release: str, environment: str) -> str:
    return f"golive test alert: go-live checks for {release} on {environment} (run {run_id}). No action needed."


def slack_message(run_id: str, release: str, environment: str, runbook_url: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: plain text fallback plus a block with the runbook link."""
    text = alert_text(run_id, release, environment)
    return {
        "text": f"{text} Runbook: {runbook_url}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\nRunbook: <{runbook_url}|{runbook_url}>"}}
        ],
    }


def pagerduty_event(
    routing_key: Secret, action: str, run_id: str, release: str, environment: str, runbook_url: str
) -> dict[str, Any]:
    """A PagerDuty Events API v2 event; the trigger is followed by a resolve with the same dedup key."""
    event: dict[str, Any] = {
        "routing_key": routing_key.reveal(),
        "event_action": action,
        "dedup_key": f"golive-{run_id}",
    }
    if action == "trigger":
        event["payload"] = {
            "summary": alert_text(run_id, release, environment),
            "source": "golive",
            "severity": "info",
            "custom_details": {"run_id": run_id, "release": release, "environment": environment},
        }
        event["links"] = [{"href": runbook_url, "text": "Runbook"}]
    return event


@dataclass(frozen=True)
class AlertDelivery:
    channel: str
    endpoint: str
    status: int
    body: str
    latency_ms: float

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300


MALFORMED = "(malformed URL)"


def endpoint_of(url: str) -> str:
    """scheme://host[:port] of a URL, never its path (webhook paths are secret); lenient with malformed URLs."""
    scheme, sep, rest = url.strip().partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}" if sep and host else MALFORMED


def postable(url: str) -> bool:
    """True for an http(s) URL with a host: anything else cannot carry an alert."""
    return endpoint_of(url) != MALFORMED and url.strip().lower().startswith(("http://", "https://"))


def post_json(http: httpx.Client, channel: str, url: str, payload: dict[str, Any]) -> AlertDelivery:
    """POST one alert within the client's deadline."""
    endpoint = endpoint_of(url)
    answer = request(http, "POST", url, f"{channel} at {endpoint}", json=payload)
    return AlertDelivery(channel, endpoint, answer.status, answer.text[:300].strip(), answer.latency_ms)
