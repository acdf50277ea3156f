"""An UptimeRobot API v2 stand-in (OBS-03): ``POST /v2/getMonitors`` with the form field ``api_key``.

Answers like UptimeRobot: ``{"stat": "ok", "pagination": {...}, "monitors": [{"id", "friendly_name", "url",
"type", "interval", "status"}]}`` (status 0 paused, 1 not checked yet, 2 up, 8 seems down, 9 down); a wrong key
gets ``{"stat": "fail", "error": {"type": "invalid_parameter", "parameter_name": "api_key", "passed_value":
<the key>}}`` with HTTP 200, as UptimeRobot does (so a client must never print the error verbatim).
The account monitors the service's /api/health and /api/health/db; fault ``uptime-db-check-missing`` drops the
second, fault ``uptime-check-paused`` pauses the first.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from golive.sandbox.standins.store import FaultSwitch


def create_uptimerobot_app(api_key: str, service_url: str, faults: FaultSwitch, others: int = 0) -> Starlette:
    """``others``: that many monitors of other services listed first (an account larger than one page)."""

    def monitors() -> list[dict[str, object]]:
        filler = [{"id": 700000 + n, "friendly_name": f"other service {n}", "url": f"https://other-{n}.invalid/",
                   "type": 1, "interval": 300, "status": 2} for n in range(others)]  # fmt: skip
        found = [
            {"id": 793001, "friendly_name": "app health", "url": service_url + "/api/health", "type": 1,
             "interval": 60, "status": 0 if faults.on("uptime-check-paused") else 2},
            {"id": 793002, "friendly_name": "app database health", "url": service_url + "/api/health/db",
             "type": 1, "interval": 60, "status": 2},
        ]  # fmt: skip
        return filler + (found[:1] if faults.on("uptime-db-check-missing") else found)

    async def get_monitors(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = form.get("api_key", [""])[0]
        if not hmac.compare_digest(key.encode(), api_key.encode()):
            error = {"type": "invalid_parameter", "parameter_name": "api_key", "passed_value": key}
            return JSONResponse({"stat": "fail", "error": error})
        listed = monitors()
        try:  # UptimeRobot pages by offset and limit (at most 50)
            offset = max(0, int(form.get("offset", ["0"])[0]))
            limit = min(50, max(1, int(form.get("limit", ["50"])[0])))
        except ValueError:
            return JSONResponse({"stat": "fail", "error": {"type": "invalid_parameter", "parameter_name": "offset"}})
        pagination = {"offset": offset, "limit": limit, "total": len(listed)}
        return JSONResponse({"stat": "ok", "pagination": pagination, "monitors": listed[offset : offset + limit]})

    async def other(_request: Request) -> Response:
        return PlainTextResponse("Not Found", status_code=404)

    return Starlette(
        routes=[
            Route("/v2/getMonitors", get_monitors, methods=["POST"]),
            Route("/{path:path}", other, methods=["GET", "POST"]),
        ]
    )
