"""The Sentry stand-in fed by the real sentry-sdk, confirmed through its web API with httpx."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib

import pytest
import sentry_sdk

from golive.sandbox.standins import Store
from tests.standins.accounts import (
    SENTRY_KEY,
    SENTRY_ORG,
    SENTRY_PROJECT,
    SENTRY_PROJECT_ID,
    SENTRY_TOKEN,
    TIMEOUT,
    Faults,
)

UNKNOWN_KEY = "0" * 32
REJECTED = {"detail": "event submission rejected with_reason: ProjectId"}


def send_with_sdk(sentry_url: str, message: str, tags: dict[str, str], key: str = SENTRY_KEY) -> str:
    """Captures one message with the real SDK (gzip transport, as shipped) and waits until it is sent."""
    host = sentry_url.removeprefix("http://")
    client = sentry_sdk.Client(
        dsn=f"http://{key}@{host}/{SENTRY_PROJECT_ID}",
        default_integrations=False,
        release="golive-sandbox@1.4.0",
        environment="production",
    )
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        for name, value in tags.items():
            scope.set_tag(name, value)
        event_id = sentry_sdk.capture_message(message)
    client.flush(timeout=TIMEOUT)
    client.close(timeout=TIMEOUT)
    assert event_id is not None
    return event_id


def envelope(event_id: str, message: str) -> bytes:
    payload = json.dumps({"event_id": event_id, "message": message, "level": "warning", "tags": {"k": "v"}}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return b"\n".join([json.dumps({"event_id": event_id}).encode(), item, payload]) + b"\n"


def event_url(sentry_url: str, event_id: str, org: str = SENTRY_ORG, project: str = SENTRY_PROJECT) -> str:
    return f"{sentry_url}/api/0/projects/{org}/{project}/events/{event_id}/"


def bearer(token: str = SENTRY_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ingest_url(sentry_url: str, project_id: str = SENTRY_PROJECT_ID) -> str:
    return f"{sentry_url}/api/{project_id}/envelope/"


def auth_header(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=golive-tests/1.0"}


def test_sdk_event_arrives_and_the_api_confirms_it(sentry_url, http, store: Store):
    run_id = uuid.uuid4().hex
    event_id = send_with_sdk(sentry_url, f"golive test event {run_id}", {"golive_run": run_id})

    [record] = [event for event in store.sentry_events if event["event_id"] == event_id]
    assert record["tags"] == {"golive_run": run_id}
    assert (record["message"], record["level"], record["visible"]) == (f"golive test event {run_id}", "info", True)
    assert (record["release"], record["environment"]) == ("golive-sandbox@1.4.0", "production")

    response = http.get(event_url(sentry_url, event_id), headers=bearer())
    assert response.status_code == 200
    event = response.json()
    assert (event["id"], event["eventID"], event["projectID"]) == (event_id, event_id, SENTRY_PROJECT_ID)
    assert event["message"] == event["title"] == f"golive test event {run_id}"
    assert {"key": "golive_run", "value": run_id} in event["tags"]
    assert {"key": "environment", "value": "production"} in event["tags"]
    assert {"key": "level", "value": "info"} in event["tags"]
    assert event["tags"] == sorted(event["tags"], key=lambda tag: tag["key"])
    assert event["release"] == {"version": "golive-sandbox@1.4.0"}
    by_project_id = http.get(event_url(sentry_url, event_id, project=SENTRY_PROJECT_ID), headers=bearer())
    assert by_project_id.json()["id"] == event_id


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer"}, 401, "Invalid token header. No credentials provided."),
        (bearer("not-the-token"), 401, "Invalid token"),
        (bearer(), 404, "Event not found"),
    ],
)
def test_event_api_refusals(sentry_url, http, headers, status, detail):
    response = http.get(event_url(sentry_url, uuid.uuid4().hex), headers=headers)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_event_api_hides_other_projects(sentry_url, http):
    response = http.get(event_url(sentry_url, uuid.uuid4().hex, project="another-project"), headers=bearer())
    assert (response.status_code, response.json()) == (404, {"detail": "The requested resource does not exist"})


@pytest.mark.parametrize(
    ("url_project", "headers", "status", "detail"),
    [
        (SENTRY_PROJECT_ID, {}, 401, "missing authorization information"),
        (SENTRY_PROJECT_ID, auth_header("secret"), 400, "bad sentry DSN public key"),
        (SENTRY_PROJECT_ID, auth_header(UNKNOWN_KEY), 403, REJECTED["detail"]),
        ("99", auth_header(SENTRY_KEY), 403, REJECTED["detail"]),
        ("sandbox", auth_header(SENTRY_KEY), 400, "bad project path parameter"),
    ],
)
def test_ingest_refusals_match_relay(sentry_url, http, url_project, headers, status, detail):
    response = http.post(ingest_url(sentry_url, url_project), content=envelope(uuid.uuid4().hex, "x"), headers=headers)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


@pytest.mark.parametrize(("encoding", "encode"), [(None, bytes), ("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_ingest_accepts_query_key_and_each_encoding(sentry_url, http, encoding, encode):
    event_id = uuid.uuid4().hex
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = http.post(
        ingest_url(sentry_url),
        params={"sentry_key": SENTRY_KEY},
        content=encode(envelope(event_id, "q")),
        headers=headers,
    )
    assert (response.status_code, response.json()) == (200, {"id": event_id})
    event = http.get(event_url(sentry_url, event_id), headers=bearer()).json()
    assert (event["message"], {"key": "k", "value": "v"} in event["tags"]) == ("q", True)


def test_ingest_without_trailing_slash(sentry_url, http):
    event_id = uuid.uuid4().hex
    response = http.post(
        ingest_url(sentry_url).rstrip("/"), content=envelope(event_id, "s"), headers=auth_header(SENTRY_KEY)
    )
    assert (response.status_code, response.json()) == (200, {"id": event_id})


def test_ingest_refuses_what_is_not_an_envelope(sentry_url, http):
    garbage = http.post(ingest_url(sentry_url), content=b"not an envelope", headers=auth_header(SENTRY_KEY))
    assert garbage.status_code == 400
    assert garbage.json()["detail"] == "invalid event envelope"
    bad_gzip = http.post(
        ingest_url(sentry_url), content=b"\x1f\x8bnope", headers={**auth_header(SENTRY_KEY), "Content-Encoding": "gzip"}
    )
    assert (bad_gzip.status_code, bad_gzip.json()) == (400, {"detail": "invalid request body"})


def test_fault_ingest_rejects_refuses_the_key(sentry_url, http, store: Store, faults: Faults):
    faults.active.add("sentry-ingest-rejects")
    event_id = send_with_sdk(sentry_url, "refused event", {"golive_run": "refused"})
    assert all(event["event_id"] != event_id for event in store.sentry_events)
    response = http.post(
        ingest_url(sentry_url), content=envelope(uuid.uuid4().hex, "x"), headers=auth_header(SENTRY_KEY)
    )
    assert (response.status_code, response.json()) == (403, REJECTED)


def test_fault_event_lost_answers_200_but_the_api_never_shows_it(sentry_url, http, store: Store, faults: Faults):
    faults.active.add("sentry-event-lost")
    event_id = uuid.uuid4().hex
    response = http.post(ingest_url(sentry_url), content=envelope(event_id, "lost"), headers=auth_header(SENTRY_KEY))
    assert (response.status_code, response.json()) == (200, {"id": event_id})
    assert [event["visible"] for event in store.sentry_events if event["event_id"] == event_id] == [False]
    lookup = http.get(event_url(sentry_url, event_id), headers=bearer())
    assert (lookup.status_code, lookup.json()) == (404, {"detail": "Event not found"})


def test_releases_answer_like_sentry(sentry_url, http, store: Store):
    """GET /api/0/organizations/{org}/releases/{version}/: a release exists once a deploy created it or an event
    named it; the version is URL-encoded in the path; an unknown one is Sentry's 404."""
    store.add_sentry_release("web-app@2.1.0")
    send_with_sdk(sentry_url, "first event of the release", {})  # names golive-sandbox@1.4.0
    for version in ("web-app@2.1.0", "golive-sandbox@1.4.0"):
        answer = http.get(f"{sentry_url}/api/0/organizations/{SENTRY_ORG}/releases/{version.replace('@', '%40')}/",
                          headers=bearer())  # fmt: skip
        assert answer.status_code == 200
        release = answer.json()
        assert release["version"] == version
        assert release["projects"] == [{"id": int(SENTRY_PROJECT_ID), "slug": SENTRY_PROJECT, "name": SENTRY_PROJECT,
                                        "platform": "python"}]  # fmt: skip
    missing = http.get(
        f"{sentry_url}/api/0/organizations/{SENTRY_ORG}/releases/never-deployed%400.0.1/", headers=bearer()
    )
    assert (missing.status_code, missing.json()) == (404, {"detail": "The requested resource does not exist"})
    other_org = http.get(f"{sentry_url}/api/0/organizations/other/releases/web-app%402.1.0/", headers=bearer())
    assert other_org.status_code == 404
    refused = http.get(f"{sentry_url}/api/0/organizations/{SENTRY_ORG}/releases/web-app%402.1.0/")
    assert (refused.status_code, refused.json()) == (401, {"detail": "Authentication credentials were not provided."})
