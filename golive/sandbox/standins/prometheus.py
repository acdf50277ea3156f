"""A Prometheus HTTP API stand-in fed by the sandbox app's own request counts (OBS-05, POST-02).

``GET|POST /api/v1/query`` with ``query`` and an optional ``time`` (unix seconds or RFC 3339) answers like
Prometheus: ``{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [t,
"v"]}]}}``, or ``400 {"status": "error", "errorType": "bad_data", "error": "..."}``. It evaluates the PromQL
shapes golive's defaults use over the requests the app instances answered (``http_requests_total`` by
``instance``, ``path``, ``status``, and ``http_request_duration_seconds_bucket``):

    sum(rate(http_requests_total{<matchers>}[<range>]))
    sum(rate(http_requests_total{<matchers>}[<range>])) / sum(rate(http_requests_total{<matchers>}[<range>]))
    (sum(rate(http_requests_total{<matchers>}[<range>])) or vector(0)) / sum(rate(...))
    histogram_quantile(<q>, sum by (le) (rate(http_request_duration_seconds_bucket{<matchers>}[<range>])))

(the quantile is taken from the raw durations, where Prometheus interpolates within buckets). As in Prometheus, a
sum over no sample in the range is an empty vector (``"result": []``), and so is a ratio with an empty side,
unless the numerator is ``or vector(0)``. Fault ``metrics-down``: every request answers 503, as a Prometheus
behind a failing proxy does. With a token, it sits behind an authenticating proxy: a request without
``Authorization: Bearer <token>`` gets 401 ``Unauthorized``.
"""

from __future__ import annotations

import hmac
import math
import re
import time
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from golive.sandbox.rollout import Rollout, Served
from golive.sandbox.standins.store import FaultSwitch

METRICS_DOWN_FAULT = "metrics-down"
_RANGE = r"\[(\d+)(ms|s|m|h)\]"
_MATCHERS = r"(?:\{([^}]*)\})?"
_RATE = r"sum\s*\(\s*rate\s*\(\s*http_requests_total" + _MATCHERS + r"\s*" + _RANGE + r"\s*\)\s*\)"
_QUANTILE = (r"histogram_quantile\s*\(\s*([0-9.]+)\s*,\s*sum\s+by\s*\(\s*le\s*\)\s*\(\s*rate\s*\(\s*"
             r"http_request_duration_seconds_bucket" + _MATCHERS + r"\s*" + _RANGE + r"\s*\)\s*\)\s*\)")  # fmt: skip
_MATCHER = re.compile(r'\s*([a-z_]+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_LABELS = ("instance", "path", "status")


class QueryError(ValueError):
    """PromQL the stand-in cannot evaluate (Prometheus answers bad_data)."""


def _selector(matchers: str | None) -> list[tuple[str, str, str]]:
    parsed = []
    for part in filter(str.strip, (matchers or "").split(",")):
        match = _MATCHER.fullmatch(part)
        if match is None or match.group(1) not in _LABELS:
            raise QueryError(f"parse error: unsupported label matcher {part.strip()!r}")
        parsed.append((match.group(1), match.group(2), match.group(3)))
    return parsed


def _matches(served: Served, selector: list[tuple[str, str, str]]) -> bool:
    for label, op, value in selector:
        actual = {"instance": served.instance, "path": served.path, "status": str(served.status)}[label]
        hit = re.fullmatch(value, actual) is not None if op in ("=~", "!~") else actual == value
        if hit == (op in ("!=", "!~")):
            return False
    return True


def _window(rollout: Rollout, at: float, amount: str, unit: str, matchers: str | None) -> tuple[list[Served], float]:
    seconds = int(amount) * _UNITS[unit]
    selector = _selector(matchers)
    return [s for s in rollout.served(at - seconds, at) if _matches(s, selector)], seconds


_OR_ZERO = r"\(\s*" + _RATE + r"\s+or\s+vector\s*\(\s*0\s*\)\s*\)"


def _rate(rollout: Rollout, at: float, match: re.Match[str], first: int) -> float | None:
    """sum(rate(...)) over the range: no sample of any matching series is an empty vector (None), as in Prometheus."""
    served, seconds = _window(rollout, at, match.group(first + 1), match.group(first + 2), match.group(first))
    return len(served) / seconds if served else None


def evaluate(rollout: Rollout, query: str, at: float) -> float | None:
    """The value of one supported PromQL expression at time ``at`` (unix seconds); None for an empty vector."""
    q = query.strip()
    rate = re.fullmatch(_RATE, q)
    if rate:
        return _rate(rollout, at, rate, 1)
    ratio = re.fullmatch(f"({_RATE}|{_OR_ZERO})" + r"\s*/\s*" + _RATE, q)
    if ratio:
        or_zero = ratio.group(6) is not None  # the numerator is (sum(rate(...)) or vector(0))
        top = _rate(rollout, at, ratio, 5 if or_zero else 2)
        bottom = _rate(rollout, at, ratio, 8)
        if top is None and or_zero:
            top = 0.0
        return None if top is None or bottom is None else top / bottom
    quantile = re.fullmatch(_QUANTILE, q)
    if quantile:
        phi = float(quantile.group(1))
        served, _ = _window(rollout, at, quantile.group(3), quantile.group(4), quantile.group(2))
        if not served:
            return None
        ordered = sorted(s.seconds for s in served)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(phi * len(ordered)) - 1))]
    raise QueryError(f"the sandbox's Prometheus stand-in does not evaluate {query[:80]!r}")


def _time(raw: str | None) -> float:
    if raw is None or raw == "":
        return time.time()
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise QueryError(f'invalid parameter "time": cannot parse "{raw}" to a valid timestamp') from None


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "errorType": "bad_data", "error": message}, status_code=400)


def create_prometheus_app(rollout: Rollout, faults: FaultSwitch, token: str | None = None) -> Starlette:
    async def query(request: Request) -> Response:
        if faults.on(METRICS_DOWN_FAULT):
            return PlainTextResponse("upstream connect error or disconnect/reset before headers", status_code=503)
        presented = request.headers.get("authorization", "").encode()
        if token is not None and not hmac.compare_digest(presented, f"Bearer {token}".encode()):
            return PlainTextResponse("Unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(await request.form()))
        expression = params.get("query")
        if not expression:
            return _bad('invalid parameter "query": unknown query')  # Prometheus' words for a missing query
        try:
            at = _time(params.get("time"))
            value = evaluate(rollout, str(expression), at)
        except QueryError as error:
            return _bad(str(error))
        result = [] if value is None else [{"metric": {}, "value": [at, repr(round(value, 9))]}]
        return JSONResponse({"status": "success", "data": {"resultType": "vector", "result": result}})

    async def other(_request: Request) -> Response:
        return PlainTextResponse("404 page not found", status_code=404)

    return Starlette(
        routes=[
            Route("/api/v1/query", query, methods=["GET", "POST"]),
            Route("/{path:path}", other, methods=["GET", "POST"]),
        ]
    )
