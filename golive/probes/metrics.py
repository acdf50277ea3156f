"""OBS-05, POST-02: error rate and p95 latency from a Prometheus HTTP API, the pre-launch baseline, and the
post-launch comparison with it.

A reading never raises for what the source answers: a source that is down, refuses a query or has no traffic
is the finding (``problem``), which OBS-05 reports as the metrics source not being ready.

A Prometheus behind an authenticating proxy (or a hosted one) gets a bearer token (PROMETHEUS_TOKEN) or basic
auth (``stages.metrics.basic_auth_user`` with PROMETHEUS_PASSWORD); the secret is revealed only on the wire.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from golive.config import MetricsSource, Release
from golive.outcomes import ProbeError
from golive.probes.http import request
from golive.secrets import Secret
from golive.stage_order import listed_bytes

BASELINE_SUBJECT = "metrics baseline"


@dataclass(frozen=True)
class Reading:
    """Error rate (share of 5xx), p95 latency and request count over one window ending at ``at``."""

    at: float
    window_s: float
    error_rate: float | None = None
    latency_p95_ms: float | None = None
    requests: float | None = None
    problem: str | None = None

    def measured(self) -> dict[str, float | str | None]:
        return {"error_rate": self.error_rate, "latency_p95_ms": self.latency_p95_ms, "requests": self.requests,
                "window_s": self.window_s, "at": round(self.at, 3)}  # fmt: skip


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``, the token read from its Secret only when the request is sent."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


def prometheus_auth(user: str | None, password: Secret | None, token: Secret | None) -> httpx.Auth | None:
    """Basic auth when a user is configured (with its password), else the bearer token, else none."""
    if user is not None and password is not None:
        return httpx.BasicAuth(user, password.reveal())
    return BearerAuth(token) if token is not None else None


def instant_query(
    client: httpx.Client, base_url: str, query: str, at: float, auth: httpx.Auth | None = None
) -> tuple[float | None, str | None]:
    """(value, problem) of a Prometheus instant query: GET /api/v1/query?query=...&time=..."""
    url = base_url.rstrip("/") + "/api/v1/query"
    try:  # within the client's deadline and body cap: a server that drips its answer cannot hold the stage
        answer = request(client, "GET", url, f"GET {url}", params={"query": query, "time": f"{at:.3f}"}, auth=auth)
    except ProbeError as error:
        return None, str(error)
    if answer.status in (401, 403):
        return None, (f"GET {url}: status {answer.status} ({answer.text[:80].strip()!r}): the credentials "
                      f"({'sent' if auth else 'none sent'}) were refused; set PROMETHEUS_TOKEN, or "
                      "stages.metrics.basic_auth_user and PROMETHEUS_PASSWORD")  # fmt: skip
    body = answer.json_body()
    if answer.status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, dict) else answer.text[:80]
        return None, f"GET {url}: status {answer.status} ({detail!r}) for {query!r}, expected 200 success"
    result = body.get("data", {}).get("result") if isinstance(body.get("data"), dict) else None
    if not isinstance(result, list) or not result:
        return None, f"{query!r} returned no series (no traffic in the window?)"
    if len(result) > 1:  # taking one of them would judge a part of the service as the whole
        labels = ", ".join(json.dumps(r.get("metric", {}), sort_keys=True) for r in result[:3] if isinstance(r, dict))
        return None, (f"{query!r} returned {len(result)} series ({labels}{', ...' if len(result) > 3 else ''}); "
                      "expected one: aggregate it, e.g. sum(...) or sum by () (...)")  # fmt: skip
    try:
        value = float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None, f"{query!r}: not a Prometheus vector sample: {json.dumps(result[0])[:80]}"
    return (None, f"{query!r} is NaN (no requests in the window)") if math.isnan(value) else (value, None)


def read_window(
    client: httpx.Client, source: MetricsSource, at: float, window_s: float, auth: httpx.Auth | None = None
) -> Reading:
    """The error rate, p95 latency and request count over [at - window_s, at]."""
    assert source.prometheus_url is not None
    base, window = str(source.prometheus_url), f"{max(1, round(window_s))}s"
    values: dict[str, float | None] = {}
    for name, query in (("requests", source.request_rate_query), ("error_rate", source.error_rate_query),
                        ("p95", source.latency_p95_query)):  # fmt: skip
        value, problem = instant_query(client, base, query.replace("{window}", window), at, auth)
        if problem is not None:
            return Reading(at, window_s, problem=f"metrics source {problem}")
        values[name] = value
    requests = round((values["requests"] or 0.0) * max(1, round(window_s)), 1)
    reading = Reading(at, window_s, round(values["error_rate"] or 0.0, 6),
                      round((values["p95"] or 0.0) * 1000, 2), requests)  # fmt: skip
    if requests < source.min_requests:
        problem = f"only {requests:.0f} requests in the {window} window, need {source.min_requests} for a baseline"
        return Reading(**{**reading.__dict__, "problem": problem})
    return reading


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def baseline_from_artifact(path: Path, environment: str, release: Release) -> tuple[dict[str, float] | None, str]:
    """The baseline OBS-05 recorded in a preflight artifact of the same environment, release and commit, from an
    OBS-05 that passed, or why there is none (one line: the artifact may be of any shape). The artifact must match
    its digest in the manifest beside it, as the stage order holds it (golive.stage_order.listed_bytes)."""
    if not path.is_file():
        return None, f"no preflight artifact at {path}"
    raw, unlisted = listed_bytes(path)
    if raw is None:
        return None, unlisted
    try:
        doc = json.loads(raw)
    except ValueError:
        return None, f"{path} is not readable JSON"
    if not isinstance(doc, dict):
        return None, f"{path} is not a golive report (a JSON {type(doc).__name__})"
    stamp = doc.get("release") if isinstance(doc.get("release"), dict) else {}
    tag, commit = stamp.get("tag"), stamp.get("commit")
    if doc.get("environment") != environment or tag != release.tag or commit != release.commit:
        return None, (f"{path} is for {doc.get('environment')!r} release {tag!r} at {str(commit)[:12]!r}, "
                      f"not this run's ({environment!r} {release.tag!r} at {release.commit[:12]!r})")  # fmt: skip
    items = doc.get("items") if isinstance(doc.get("items"), list) else []
    for item in (i for i in items if isinstance(i, dict) and i.get("id") == "OBS-05"):
        if item.get("outcome") != "passed":
            return None, f"OBS-05 in {path} is {item.get('outcome')!r}: its measurements are no baseline"
        for observation in (o for o in item.get("evidence") or [] if isinstance(o, dict)):
            measured = observation.get("measured")
            if observation.get("subject") != BASELINE_SUBJECT or not isinstance(measured, dict):
                continue
            values = {key: measured.get(key) for key in ("error_rate", "latency_p95_ms")}
            if all(_number(v) for v in values.values()):
                return {k: float(v) for k, v in values.items()}, f"recorded by preflight in {path}"
    return None, f"{path} has no {BASELINE_SUBJECT!r} evidence with error_rate and latency_p95_ms under OBS-05"


@dataclass(frozen=True)
class Baseline:
    """POST-02's baseline: the values and where they come from, why the preflight artifact was not used (when it
    was not), or why there is no baseline at all (``problem``)."""

    values: dict[str, float] | None
    source: str
    rejected: str | None = None
    problem: str | None = None

    def measured(self) -> dict[str, float | str]:
        return {
            **(self.values or {}),
            **({"preflight_artifact": f"not used: {self.rejected}"} if self.rejected else {}),
        }


def postlaunch_baseline(
    client: httpx.Client, source: MetricsSource, artifact: Path, environment: str, release: Release,
    auth: httpx.Auth | None, now: float,
) -> Baseline:  # fmt: skip
    """The baseline preflight recorded for this release (``artifact``), else the pre-launch window queried: the one
    ending ``baseline_offset_s`` before ``now``."""
    values, found = baseline_from_artifact(artifact, environment, release)
    if values is not None:
        return Baseline(values, found)
    prior = read_window(client, source, now - source.baseline_offset_s, source.baseline_window_s, auth)
    if prior.problem is not None:
        return Baseline(None, "", found, f"no baseline: {found}; the pre-launch window: {prior.problem}")
    queried = f"queried: the {source.baseline_window_s}s window ending {source.baseline_offset_s:g}s ago"
    assert prior.error_rate is not None
    assert prior.latency_p95_ms is not None
    return Baseline({"error_rate": prior.error_rate, "latency_p95_ms": prior.latency_p95_ms}, queried, found)


@dataclass(frozen=True)
class Comparison:
    problems: tuple[str, ...]
    allowed_error_rate: float
    allowed_p95_ms: float


def compare_with_baseline(current: Reading, baseline: dict[str, float], source: MetricsSource) -> Comparison:
    """Post-launch error rate and p95 within tolerance of the baseline: value <= baseline x factor + margin."""
    base_rate, base_p95 = float(baseline["error_rate"]), float(baseline["latency_p95_ms"])
    allowed_rate = max(base_rate * source.error_rate_factor, base_rate + source.error_rate_margin)
    allowed_p95 = base_p95 * source.latency_factor + source.latency_margin_ms
    problems = []
    assert current.error_rate is not None
    assert current.latency_p95_ms is not None
    if current.error_rate > allowed_rate:
        problems.append(f"error rate {current.error_rate:.2%} over the last {current.window_s:g}s, baseline "
                        f"{base_rate:.2%}, allowed {allowed_rate:.2%}")  # fmt: skip
    if current.latency_p95_ms > allowed_p95:
        problems.append(f"p95 latency {current.latency_p95_ms:.1f} ms, baseline {base_p95:.1f} ms, "
                        f"allowed {allowed_p95:.1f} ms")  # fmt: skip
    return Comparison(tuple(problems), round(allowed_rate, 6), round(allowed_p95, 2))


def observe(client: httpx.Client, source: MetricsSource, sleep: float, auth: httpx.Auth | None = None) -> Reading:
    """Wait the observation window (bounded by the configuration), then read it."""
    time.sleep(sleep)
    return read_window(client, source, time.time(), sleep, auth)
