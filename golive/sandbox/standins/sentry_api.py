"""The Sentry stand-in: Relay's envelope ingest and the web API calls golive makes: confirming an event's arrival
(OBS-04) and counting the release's error events during the canary's window (CAN-01).

Ingest, POST /api/<project_id>/envelope/ (with or without the trailing slash, as Relay trims it), takes what
sentry-sdk 2.x sends: the key in X-Sentry-Auth ("Sentry sentry_key=..., sentry_version=7, ...") or in the
sentry_key query parameter, a body in Content-Encoding gzip (the SDK's default without brotli installed),
deflate or none, holding a newline-delimited envelope. Answers, in Relay's order and words:
  401 {"detail":"missing authorization information"}    no key at all
  400 {"detail":"bad sentry DSN public key"}              a key that is not 32 hex digits
  400 {"detail":"bad project path parameter"}             a project id that is not a number
  400 {"detail":"invalid request body"} / {"detail":"invalid event envelope","causes":[...]}
  403 {"detail":"event submission rejected with_reason: ProjectId"}   unknown key, key of another project,
                                                                       or fault sentry-ingest-rejects
  200 {"id":"<event id>"} ({} for an envelope without one)
Fault sentry-event-lost: ingest still answers 200 but the event never reaches the web API.

Web API, GET /api/0/projects/{org}/{project}/events/{event_id}/ with "Authorization: Bearer <token>"
(project by slug or id): 401 {"detail":"Authentication credentials were not provided."} / {"detail":"Invalid
token"}, 404 {"detail":"The requested resource does not exist"} for another organization or project,
404 {"detail":"Event not found"} for an event it does not hold, else 200 with the event as Sentry serializes it:
tags as a sorted [{"key","value"}] list (level, environment and release among them), release as
{"version": ...} or null, message and title, dateCreated and dateReceived.

Discover, GET /api/0/organizations/{org}/events/?field=count()&query=...&start=...&end=... (the same token;
"project" ids, -1 for all, or "projectSlug" slugs; start and end ISO 8601, both or neither, else statsPeriod such
as 10m or 24h, 14d by default): 200 {"data": [{"count()": n}], "meta": {"fields": {"count()": "integer"}, ...}},
counting events whose timestamp is in the range; with no project of the request in the organization 200
{"data": [], "meta": {"tips": {"query": "Need at least one valid project to query."}}}; 400 {"detail": ...} for no
field, a field other than count(), a bad date, or a query term the stand-in does not evaluate (it knows
event.type, release, environment and level, each "key:value" or 'key:"quoted value"', optionally negated "!key:").

Releases, GET /api/0/organizations/{org}/releases/{version}/ (the same token; the version URL-encoded): 200 with
the release as Sentry serializes it (version, shortVersion, dateCreated, projects [{id, slug, name}], ...), 404
{"detail":"The requested resource does not exist"} for a version it does not know. A release exists once a
deploy created it (Store.add_sentry_release, as `sentry-cli releases new` does) or an event named it.
"""

from __future__ import annotations

import contextlib
import gzip
import hmac
import json
import re
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from golive.sandbox.standins.store import FaultSwitch, Store

INGEST_REJECTS_FAULT = "sentry-ingest-rejects"
EVENT_LOST_FAULT = "sentry-event-lost"

_PROJECT_KEY = re.compile(r"[0-9a-f]{32}")


class EnvelopeError(ValueError):
    """The body is not a Sentry envelope."""


def _detail(status: int, detail: str, causes: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if causes:
        body["causes"] = causes
    return JSONResponse(body, status_code=status)


def _sentry_key(request: Request) -> str | None:
    auth = request.headers.get("x-sentry-auth", "")
    scheme, _, pairs = auth.partition(" ")
    if scheme.lower() == "sentry":
        for pair in pairs.split(","):
            name, _, value = pair.strip().partition("=")
            if name == "sentry_key":
                return value
    return request.query_params.get("sentry_key")


def _decode(body: bytes, encoding: str | None) -> bytes:
    """The body without its Content-Encoding; OSError and zlib.error when it is not what it claims."""
    name = (encoding or "identity").strip().lower()
    if name == "gzip":
        return gzip.decompress(body)
    if name == "deflate":
        return zlib.decompress(body)
    if name == "identity":
        return body
    raise OSError(f"unsupported content encoding {name!r}")


def _parse_envelope(raw: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """An envelope's header and its (item header, payload) pairs.

    An item header with "length" is followed by exactly that many payload bytes; without it the payload runs
    to the end of the line.
    """
    first, _, rest = raw.partition(b"\n")
    header = _json_line(first, "envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item = _json_line(line, "item header")
        length = item.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        elif isinstance(length, int) and 0 <= length <= len(rest):
            payload, rest = rest[:length], rest[length:].removeprefix(b"\n")
        else:
            raise EnvelopeError(f"item length {length!r} does not fit the envelope")
        items.append((item, payload))
    return header, items


def _json_line(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EnvelopeError(f"invalid {what}: {error}") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"invalid {what}: not a JSON object")
    return value


def _events(items: list[tuple[dict[str, Any], bytes]]) -> list[dict[str, Any]]:
    """The event payloads of an envelope; one that is not a JSON object is dropped after ingest, as Relay does."""
    events = []
    for item, payload in items:
        if item.get("type") != "event":
            continue
        try:
            event = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _normal_id(event_id: object) -> str:
    """An event id as Sentry stores it: 32 lowercase hex digits, no dashes."""
    return str(event_id or "").replace("-", "").lower()


def _message(event: dict[str, Any]) -> str | None:
    """The event's message as Sentry shows it: logentry.formatted, else the plain message."""
    for name in ("logentry", "message"):
        value = event.get(name)
        if isinstance(value, dict):
            value = value.get("formatted") or value.get("message")
        if isinstance(value, str) and value:
            return value
    return None


def _tags(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags") or {}
    pairs = tags.items() if isinstance(tags, dict) else (pair for pair in tags if len(pair) == 2)
    return {str(key): str(value) for key, value in pairs if value is not None}


def _record(event: dict[str, Any], event_id: str, visible: bool) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tags": _tags(event),
        "message": _message(event),
        "level": event.get("level") or "error",
        "release": event.get("release"),
        "environment": event.get("environment"),
        "platform": event.get("platform") or "other",
        "type": "error" if event.get("exception") else "default",
        "timestamp": event.get("timestamp"),
        "received_at": time.time(),
        "visible": visible,
    }


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def _event_created(record: dict[str, Any]) -> str:
    timestamp = record["timestamp"]
    if isinstance(timestamp, int | float):
        return _iso(timestamp)
    if isinstance(timestamp, str):
        return timestamp
    return _iso(record["received_at"])


def _event_time(record: dict[str, Any]) -> float:
    """When the event happened (its timestamp), else when it arrived: what Discover's start and end filter on."""
    timestamp = record["timestamp"]
    if isinstance(timestamp, int | float):
        return float(timestamp)
    if isinstance(timestamp, str):
        with contextlib.suppress(ValueError):
            return _parse_moment(timestamp)
    return float(record["received_at"])


def _parse_moment(text: str) -> float:
    """An ISO 8601 time as Sentry reads start and end: without an offset it is UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


_PERIOD = re.compile(r"^(\d+)([smhdw])$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TERM = re.compile(r'(!?)([a-z][a-z._]*):("(?:[^"\\]|\\.)*"|[^\s"]+)')
_QUERY_FIELDS = {"event.type": "type", "release": "release", "environment": "environment", "level": "level"}


class QueryError(ValueError):
    """A Discover request the stand-in answers 400 to, with this detail."""


def _date_range(params: Any, now: float) -> tuple[float, float]:
    start, end, period = params.get("start"), params.get("end"), params.get("statsPeriod")
    if start or end:
        if not (start and end):
            raise QueryError("start and end are both required")
        try:
            return _parse_moment(start), _parse_moment(end)
        except ValueError:
            raise QueryError(f"{start if end else end} is not a valid ISO8601 date query") from None
    match = _PERIOD.match(period or "14d")
    if match is None:
        raise QueryError(f"Invalid statsPeriod: {period!r}")
    return now - int(match.group(1)) * _PERIOD_SECONDS[match.group(2)], now


def _terms(query: str) -> list[tuple[bool, str, str]]:
    """(negated, record field, value) of each term; anything else is a term the stand-in cannot evaluate."""
    terms, rest = [], query
    for match in _TERM.finditer(query):
        negated, key, value = match.groups()
        if key not in _QUERY_FIELDS:
            raise QueryError(f"Invalid query. The sandbox's Sentry stand-in does not search {key!r}")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        terms.append((negated == "!", _QUERY_FIELDS[key], value))
        rest = rest.replace(match.group(0), "", 1)
    if rest.strip():
        raise QueryError(f"Invalid query. The sandbox's Sentry stand-in does not evaluate {rest.strip()!r}")
    return terms


def _matches(record: dict[str, Any], terms: list[tuple[bool, str, str]]) -> bool:
    return all((str(record.get(name)) == value) != negated for negated, name, value in terms)


def _serialize_event(record: dict[str, Any], project_id: str) -> dict[str, Any]:
    """The event in the shape of Sentry's event details endpoint."""
    tags = dict(record["tags"], level=record["level"])
    for name in ("environment", "release"):
        if record[name]:
            tags[name] = record[name]
    message = record["message"] or "<unlabeled event>"
    return {
        "id": record["event_id"],
        "eventID": record["event_id"],
        "groupID": str(zlib.crc32(message.encode())),
        "projectID": project_id,
        "type": "default",
        "platform": record["platform"],
        "message": message,
        "title": message,
        "culprit": None,
        "location": None,
        "tags": [{"key": key, "value": value} for key, value in sorted(tags.items())],
        "entries": [{"type": "message", "data": {"formatted": message}}],
        "release": {"version": record["release"]} if record["release"] else None,
        "dateCreated": _event_created(record),
        "dateReceived": _iso(record["received_at"]),
        "user": None,
        "contexts": {},
        "context": {},
        "errors": [],
        "nextEventID": None,
        "previousEventID": None,
    }


def create_sentry_app(
    public_key: str,
    project_id: str,
    auth_token: str,
    org: str,
    project: str,
    faults: FaultSwitch,
    store: Store,
) -> Starlette:
    """Sentry for one organization `org` with one project (slug `project`, numeric id `project_id`)."""

    async def ingest(request: Request) -> JSONResponse:
        key = _sentry_key(request)
        if not key:
            return _detail(401, "missing authorization information")
        if not _PROJECT_KEY.fullmatch(key):
            return _detail(400, "bad sentry DSN public key")
        path_project = request.path_params["project_id"]
        if not path_project.isdigit():
            return _detail(400, "bad project path parameter")
        try:
            raw = _decode(await request.body(), request.headers.get("content-encoding"))
        except (OSError, EOFError, zlib.error):
            return _detail(400, "invalid request body")
        try:
            header, items = _parse_envelope(raw)
        except EnvelopeError as error:
            return _detail(400, "invalid event envelope", [str(error)])
        known = hmac.compare_digest(key, public_key) and path_project == project_id
        if not known or faults.on(INGEST_REJECTS_FAULT):
            return _detail(403, "event submission rejected with_reason: ProjectId")
        visible = not faults.on(EVENT_LOST_FAULT)
        for event in _events(items):
            event_id = event.get("event_id") or header.get("event_id")
            store.record_sentry_event(_record(event, _normal_id(event_id), visible))
            if visible and isinstance(event.get("release"), str) and event["release"]:
                store.add_sentry_release(event["release"])  # Sentry creates a release its first event names
        event_id = header.get("event_id")
        return JSONResponse({"id": _normal_id(event_id)} if event_id else {})

    def refused(request: Request) -> JSONResponse | None:
        """Sentry's answer to a request without the organization's token (None when it carries it)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return _detail(401, "Authentication credentials were not provided.")
        if not token:
            return _detail(401, "Invalid token header. No credentials provided.")
        if not hmac.compare_digest(token.encode(), auth_token.encode()):
            return _detail(401, "Invalid token")
        return None

    async def event_details(request: Request) -> JSONResponse:
        if (refusal := refused(request)) is not None:
            return refusal
        params = request.path_params
        if params["org"] != org or params["project"] not in (project, project_id):
            return _detail(404, "The requested resource does not exist")
        record = store.visible_sentry_event(_normal_id(params["event_id"]))
        if record is None:
            return _detail(404, "Event not found")
        return JSONResponse(_serialize_event(record, project_id))

    async def release_details(request: Request) -> JSONResponse:
        if (refusal := refused(request)) is not None:
            return refusal
        found = store.sentry_release(request.path_params["version"])
        if request.path_params["org"] != org or found is None:
            return _detail(404, "The requested resource does not exist")
        created = _iso(found["dateCreated"])
        return JSONResponse({
            "version": found["version"], "shortVersion": found["version"], "ref": None, "url": None,
            "dateCreated": created, "dateReleased": None, "newGroups": 0, "commitCount": 0, "deployCount": 0,
            "lastEvent": None, "firstEvent": None, "owner": None, "status": "open",
            "projects": [{"id": int(project_id), "slug": project, "name": project, "platform": "python"}],
        })  # fmt: skip

    def in_request(params: Any) -> bool:
        """Whether the request's projects (ids, -1 for all, or slugs) include the organization's one project."""
        ids, slugs = params.getlist("project"), params.getlist("projectSlug")
        if not ids and not slugs:
            return True
        return bool({"-1", project_id} & set(ids)) or bool({"$all", project} & set(slugs))

    async def discover(request: Request) -> JSONResponse:
        if (refusal := refused(request)) is not None:
            return refusal
        if request.path_params["org"] != org:
            return _detail(404, "The requested resource does not exist")
        params = request.query_params
        fields = params.getlist("field")
        if not fields:
            return _detail(400, "No columns selected")
        if fields != ["count()"]:
            return _detail(400, f"The sandbox's Sentry stand-in selects only count(), not {', '.join(fields)}")
        try:
            since, until = _date_range(params, time.time())
            terms = _terms(params.get("query", ""))
        except QueryError as error:
            return _detail(400, str(error))
        if not in_request(params):
            return JSONResponse({"data": [], "meta": {"tips": {"query": "Need at least one valid project to query."}}})
        count = sum(
            1
            for record in store.visible_sentry_events()
            if since <= _event_time(record) <= until and _matches(record, terms)
        )
        meta = {"fields": {"count()": "integer"}, "units": {"count()": None}, "isMetricsData": False,
                "tips": {}, "dataset": "errors"}  # fmt: skip
        return JSONResponse({"data": [{"count()": count}], "meta": meta})

    return Starlette(
        routes=[
            Route("/api/{project_id}/envelope/", ingest, methods=["POST"]),
            Route("/api/{project_id}/envelope", ingest, methods=["POST"]),
            Route("/api/0/projects/{org}/{project}/events/{event_id}/", event_details, methods=["GET"]),
            Route("/api/0/organizations/{org}/events/", discover, methods=["GET"]),
            Route("/api/0/organizations/{org}/releases/{version}/", release_details, methods=["GET"]),
        ]
    )
