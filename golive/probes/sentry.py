"""OBS-04: send a real test error through sentry-sdk and confirm Sentry received it; CAN-01: count the error
events of the release being shipped during the canary's window.

sentry-sdk builds the event exactly as the app's SDK would (exception, stack, release, environment, tags);
golive's own transport delivers the envelope with httpx so the check sees Sentry's status code and body
and every request has a timeout. The global SDK state is never touched (no ``sentry_sdk.init``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sentry_sdk.utils import BadDsn, EndpointType, event_from_exception

from golive.outcomes import ProbeError
from golive.probes.http import Response, request
from golive.secrets import Secret

RUN_ID_TAG = "golive.run_id"
# Sentry answers 404 with this detail while an event is not (yet) stored; any other 404 is a wrong org/project.
EVENT_NOT_FOUND = "Event not found"


class GoliveTestError(Exception):
    """The test error golive sends to Sentry (OBS-04); safe to ignore in Sentry."""


@dataclass(frozen=True)
class Delivery:
    """What Sentry's ingest answered to the envelope."""

    endpoint: str
    status: int
    body: str
    latency_ms: float


class _DeliveringTransport(Transport):
    """Sends each envelope synchronously with httpx and keeps Sentry's answer."""

    def __init__(self, dsn: str, http: httpx.Client) -> None:
        super().__init__({"dsn": dsn})
        self._http = http
        self.deliveries: list[Delivery] = []
        self.failures: list[str] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        assert self.parsed_dsn is not None
        auth = self.parsed_dsn.to_auth("golive-sentry-probe/1")
        url = auth.get_api_url(EndpointType.ENVELOPE)
        endpoint = f"{self.parsed_dsn.scheme}://{self.parsed_dsn.netloc}"
        headers = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth.to_header()}
        try:
            answer = request(self._http, "POST", url, f"Sentry ingest at {endpoint}", content=envelope.serialize(),
                             headers=headers)  # fmt: skip
        except ProbeError as exc:
            self.failures.append(str(exc))
            return
        self.deliveries.append(Delivery(endpoint, answer.status, answer.text[:300], answer.latency_ms))


@dataclass(frozen=True)
class SentEvent:
    event_id: str
    delivery: Delivery


def send_test_error(dsn: Secret, http: httpx.Client, run_id: str, release: str, environment: str) -> SentEvent:
    """Raise, catch and send one GoliveTestError tagged with the run id; the ingest answer is returned."""
    try:
        transport = _DeliveringTransport(dsn.reveal(), http)
    except (BadDsn, ValueError):
        raise ProbeError("SENTRY_DSN is not a valid DSN, so no event can be sent (see ENV-02)") from None
    options: dict[str, Any] = {
        "dsn": dsn.reveal(),
        "transport": transport,
        "default_integrations": False,
        "release": release,
        "environment": environment,
        "include_local_variables": False,
    }
    client = sentry_sdk.Client(**options)
    try:
        raise GoliveTestError(f"golive go-live test error (run {run_id}); safe to resolve")
    except GoliveTestError as exc:
        event, hint = event_from_exception(exc, client_options=client.options)
    event["level"] = "error"
    event["tags"] = {RUN_ID_TAG: run_id, "golive.check": "OBS-04"}
    event_id = client.capture_event(event, hint=hint)
    client.close(timeout=0)
    if transport.failures:
        raise ProbeError(transport.failures[0])
    if event_id is None or not transport.deliveries:
        raise ProbeError("sentry-sdk dropped the test event before sending it (sampling or before_send)")
    return SentEvent(event_id=event_id, delivery=transport.deliveries[0])


@dataclass
class Confirmation:
    """Sentry's API view of the event: found or not, after how many polls and how long."""

    found: bool
    polls: int
    waited_s: float
    tags: dict[str, str] = field(default_factory=dict)


def confirm_event(
    http: httpx.Client,
    api_url: str,
    org: str,
    project: str,
    token: Secret,
    event_id: str,
    timeout_s: float,
    interval_s: float,
) -> Confirmation:
    """Poll Sentry's API until the event is visible or ``timeout_s`` passes (bounded, never a hang)."""
    url = f"{api_url.rstrip('/')}/api/0/projects/{org}/{project}/events/{event_id}/"
    headers = {"Authorization": f"Bearer {token.reveal()}"}
    started = time.monotonic()
    polls = 0
    while True:
        polls += 1
        answer = request(http, "GET", url, f"Sentry API at {api_url}", headers=headers)
        waited = round(time.monotonic() - started, 2)
        body = answer.json_body()
        if answer.status == 200 and isinstance(body, dict):
            tags = {t.get("key"): t.get("value") for t in body.get("tags", []) if isinstance(t, dict)}
            return Confirmation(True, polls, waited, {str(k): str(v) for k, v in tags.items()})
        if answer.status in (401, 403):
            raise ProbeError(f"Sentry API refused SENTRY_AUTH_TOKEN (HTTP {answer.status}) for {org}/{project}")
        if answer.status != 404:
            raise ProbeError(f"Sentry API answered HTTP {answer.status} for event {event_id}")
        if _detail(answer) != EVENT_NOT_FOUND:
            raise ProbeError(f"Sentry API: no project {org}/{project} ({_detail(answer) or 'HTTP 404'})")
        if waited + interval_s > timeout_s:
            return Confirmation(False, polls, waited)
        time.sleep(interval_s)


def _detail(answer: Response) -> str:
    body = answer.json_body()
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


# CAN-01's logs: the release's error events through Sentry's Discover API ("Query Discover Events in Table
# Format", GET /api/0/organizations/{org}/events/). The project's own events endpoint searches messages only.
COUNT_FIELD = "count()"


@dataclass(frozen=True)
class ReleaseErrors:
    """Sentry's count of error events of a release in one environment of one project over [start, end]."""

    count: int
    query: str
    start: datetime
    end: datetime


def _iso(moment: datetime) -> str:
    """UTC without an offset, to the microsecond: the form Sentry's start and end parameters document."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _quoted(value: str) -> str:
    """A value of Sentry's search syntax, quoted: key:"value"."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class SentryApi:
    """Sentry's web API for one project (an id or a slug) of an organization, reached with SENTRY_AUTH_TOKEN."""

    api_url: str
    org: str
    project: str
    token: Secret

    def get(self, http: httpx.Client, path: str, **params: str) -> Response:
        url = f"{self.api_url.rstrip('/')}/api/0/organizations/{self.org}/{path}"
        return request(http, "GET", url, f"Sentry API at {self.api_url}", params=params,
                       headers={"Authorization": f"Bearer {self.token.reveal()}"})  # fmt: skip

    def refused(self, answer: Response, what: str) -> None:
        if answer.status in (401, 403):
            raise ProbeError(f"Sentry API refused SENTRY_AUTH_TOKEN (HTTP {answer.status}) for {what} of "
                             f"{self.org} (the token needs org:read)")  # fmt: skip


def check_release(http: httpx.Client, sentry: SentryApi, version: str) -> None:
    """The release exists in Sentry for the project (GET /api/0/organizations/{org}/releases/{version}/): counted
    under a name Sentry does not know, the release's errors would be 0 for the wrong reason. ProbeError when it
    does not, naming it (one line, never the token)."""
    answer = sentry.get(http, f"releases/{quote(version, safe='')}/")
    sentry.refused(answer, "the releases")
    if answer.status == 404:
        raise ProbeError(f"Sentry has no release {version!r} in {sentry.org} (HTTP 404 {_detail(answer)!r}): the "
                         "app's events are not counted under that name; set sentry.release to the release name "
                         "the app's Sentry SDK reports, or create the release when deploying")  # fmt: skip
    body = answer.json_body()
    if answer.status != 200 or not isinstance(body, dict) or body.get("version") != version:
        raise ProbeError(f"Sentry API answered HTTP {answer.status} ({_detail(answer) or answer.text[:80]!r}) for "
                         f"release {version!r}; expected 200 with the release")  # fmt: skip
    projects = [p for p in body.get("projects") or [] if isinstance(p, dict)]
    if projects and not any(sentry.project in (str(p.get("slug")), str(p.get("id"))) for p in projects):
        named = ", ".join(str(p.get("slug")) for p in projects)
        raise ProbeError(f"Sentry's release {version!r} in {sentry.org} is of project(s) {named}, not "
                         f"{sentry.project}: its events there are not counted")  # fmt: skip


def count_release_errors(
    http: httpx.Client, sentry: SentryApi, release: str, environment: str, start: datetime, end: datetime
) -> ReleaseErrors:
    """``count()`` of ``event.type:error release:"<release>" environment:"<environment>"`` in the project over
    the window. A refused token, an unknown organization or project, or an answer of another shape raises
    ProbeError (one line, never the token)."""
    query = f"event.type:error release:{_quoted(release)} environment:{_quoted(environment)}"
    params = {"field": COUNT_FIELD, "dataset": "errors", "query": query, "start": _iso(start), "end": _iso(end)}
    params["project" if sentry.project.isdigit() else "projectSlug"] = sentry.project
    answer = sentry.get(http, "events/", **params)
    sentry.refused(answer, "the events")
    if answer.status == 404:
        raise ProbeError(f"Sentry API: no organization {sentry.org} ({_detail(answer) or 'HTTP 404'})")
    body = answer.json_body()
    if answer.status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ProbeError(f"Sentry API answered HTTP {answer.status} ({_detail(answer) or answer.text[:80]!r}) "
                         f"to {query!r}; expected 200 with a data list")  # fmt: skip
    rows = body["data"]
    if not rows:  # Sentry's answer when no project of the request is in the organization
        raise ProbeError(f"Sentry API: no project {sentry.project} in {sentry.org} that SENTRY_AUTH_TOKEN can read")
    value = rows[0].get(COUNT_FIELD) if isinstance(rows[0], dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProbeError(f"Sentry API: {COUNT_FIELD} of {query!r} is {value!r}, not a number")
    return ReleaseErrors(value, query, start, end)


class ReleaseErrorCounter:
    """The release's error events in one environment in Sentry since the counter was made (the canary's
    observation window). The first count checks that Sentry knows the release (check_release)."""

    def __init__(self, http: httpx.Client, sentry: SentryApi, release: str, environment: str) -> None:
        self._http, self._sentry, self._release, self._environment = http, sentry, release, environment
        self._release_known = False
        self.started = datetime.now(UTC)
        self.where = f"release {release} in environment {environment} in Sentry {sentry.org}/{sentry.project}"
        self.last: ReleaseErrors | None = None

    def count(self) -> int:
        if not self._release_known:
            check_release(self._http, self._sentry, self._release)
            self._release_known = True
        self.last = count_release_errors(self._http, self._sentry, self._release, self._environment, self.started,
                                         datetime.now(UTC))  # fmt: skip
        return self.last.count
