"""The alert stand-ins: a Slack incoming webhook and the PagerDuty Events API v2, on one server.

Slack, POST {slack_path} with a JSON body (or form-encoded payload=<JSON>, which Slack also takes). Slack
answers in plain words with a text/html content type:
  200 ok                      the message has text, blocks or attachments
  400 invalid_payload         the body is not a JSON object
  400 invalid_blocks_format   blocks is not a list
  400 invalid_blocks          a block is not an object with a type
  400 no_text                 nothing to show
  403 invalid_token           fault alert-webhook-rejects (a revoked or rotated webhook)
  404 no_service              any other path or method: no webhook lives there
PagerDuty, POST /v2/enqueue: 202 {"status":"success","message":"Event processed","dedup_key":...}; an invalid
event, and every event under fault pagerduty-rejects, gets 400 {"status":"invalid event","message":"Event
object is invalid","errors":[...]}.
Every accepted alert is recorded in the Store with its channel.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from golive.sandbox.standins.catch_all import catch_all
from golive.sandbox.standins.store import FaultSwitch, Store

SLACK_REJECTS_FAULT = "alert-webhook-rejects"
PAGERDUTY_REJECTS_FAULT = "pagerduty-rejects"

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "warning", "error", "info")
ROUTING_KEY_LENGTH = 32


def _slack_payload(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """The message a Slack webhook request carries, or None when it cannot be read."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(raw.decode("utf-8", "replace"))
        raw = fields.get("payload", [""])[0].encode()
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _slack_problem(payload: dict[str, Any]) -> str | None:
    blocks = payload.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, list):
            return "invalid_blocks_format"
        if not all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks):
            return "invalid_blocks"
    if not (payload.get("text") or blocks or payload.get("attachments")):
        return "no_text"
    return None


def _pagerduty_errors(event: dict[str, Any], routing_key: str) -> list[str]:
    """What PagerDuty would list as wrong with the event, in its words; empty when the event is valid."""
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not hmac.compare_digest(key.encode(), routing_key.encode()):
        if not isinstance(key, str) or len(key) != ROUTING_KEY_LENGTH:
            errors.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
        else:
            errors.append("Invalid routing key")
    action = event.get("event_action")
    if not action:
        errors.append("'event_action' is missing or blank")
    elif action not in EVENT_ACTIONS:
        errors.append("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
    if action == "trigger":
        payload = event.get("payload")
        details = payload if isinstance(payload, dict) else {}
        missing = [name for name in ("summary", "source", "severity") if not details.get(name)]
        errors.extend(f"'payload.{name}' is missing or blank" for name in missing)
        if details.get("severity") and details["severity"] not in SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"
            )
    elif action in EVENT_ACTIONS and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    return errors


def _invalid_event(errors: list[str]) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return JSONResponse(body, status_code=400)


def create_alerts_app(slack_path: str, pagerduty_routing_key: str, faults: FaultSwitch, store: Store) -> Starlette:
    """Slack's incoming webhook at `slack_path` and PagerDuty's /v2/enqueue for `pagerduty_routing_key`."""

    async def slack(request: Request) -> HTMLResponse:
        if request.method != "POST" or request.url.path != slack_path:
            return HTMLResponse("no_service", status_code=404)
        if faults.on(SLACK_REJECTS_FAULT):
            return HTMLResponse("invalid_token", status_code=403)
        payload = _slack_payload(await request.body(), request.headers.get("content-type", ""))
        if payload is None:
            return HTMLResponse("invalid_payload", status_code=400)
        problem = _slack_problem(payload)
        if problem is not None:
            return HTMLResponse(problem, status_code=400)
        store.record_alert("slack", payload)
        return HTMLResponse("ok")

    async def pagerduty(request: Request) -> JSONResponse:
        try:
            event = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _invalid_event(["Event object is not valid JSON"])
        if not isinstance(event, dict):
            return _invalid_event(["Event object is not a JSON object"])
        errors = _pagerduty_errors(event, pagerduty_routing_key)
        if faults.on(PAGERDUTY_REJECTS_FAULT) and not errors:
            errors = ["Invalid routing key"]
        if errors:
            return _invalid_event(errors)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        store.record_alert("pagerduty", event)
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status_code=202
        )

    return Starlette(routes=[Route("/v2/enqueue", pagerduty, methods=["POST"]), catch_all(slack)])
