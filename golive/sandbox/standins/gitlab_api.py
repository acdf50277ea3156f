"""The GitLab REST API (v4) stand-in: the release commit's pipeline and its unit-test report.

GET /api/v4/projects/{id}/pipelines?sha=&ref=       the project's pipelines, newest first
GET /api/v4/projects/{id}/pipelines/{pid}/test_report
Auth as GitLab: `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`; a missing or wrong token gets
401 {"message":"401 Unauthorized"}, another project 404 {"message":"404 Project Not Found"}, another pipeline
404 {"message":"404 Not found"}. The project is named by its numeric id or its URL-encoded path.
Faults: "ci-pipeline-failed" (the release pipeline failed), "ci-suite-missing" (no integration suite ran).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from golive.sandbox.standins.store import FaultSwitch

PIPELINE_FAILED_FAULT = "ci-pipeline-failed"
SUITE_MISSING_FAULT = "ci-suite-missing"
PROJECT_ID = 4021
PIPELINE_ID = 118342


def _suite(name: str, total: int, failed: int = 0) -> dict[str, Any]:
    return {
        "name": name, "total_time": round(total * 0.04, 2), "total_count": total, "success_count": total - failed,
        "failed_count": failed, "skipped_count": 0, "error_count": 0, "suite_error": None, "test_cases": [],
    }  # fmt: skip


def create_gitlab_app(token: str, project_path: str, tag: str, commit: str, faults: FaultSwitch) -> Starlette:
    """The API of one project whose release pipeline ran for (tag, commit)."""

    def authorised(request: Request) -> bool:
        given = request.headers.get("private-token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    def project_known(request: Request) -> bool:
        name = unquote(request.path_params["project"])
        return name in (str(PROJECT_ID), project_path)

    def failed() -> bool:
        return faults.on(PIPELINE_FAILED_FAULT)

    def pipeline() -> dict[str, Any]:
        return {
            "id": PIPELINE_ID, "iid": 311, "project_id": PROJECT_ID, "sha": commit, "ref": tag, "source": "push",
            "status": "failed" if failed() else "success",
            "web_url": f"https://gitlab.sandbox.golive.invalid/{project_path}/-/pipelines/{PIPELINE_ID}",
            "created_at": "2026-11-20T09:01:00.000Z", "updated_at": "2026-11-20T09:14:00.000Z",
        }  # fmt: skip

    def refusal(request: Request) -> JSONResponse | None:
        if not authorised(request):
            return JSONResponse({"message": "401 Unauthorized"}, status_code=401)
        if not project_known(request):
            return JSONResponse({"message": "404 Project Not Found"}, status_code=404)
        return None

    async def pipelines(request: Request) -> JSONResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        sha, ref = request.query_params.get("sha"), request.query_params.get("ref")
        found = pipeline()
        matches = (sha in (None, found["sha"])) and (ref in (None, found["ref"]))
        return JSONResponse([found] if matches else [])

    async def test_report(request: Request) -> JSONResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        if request.path_params["pipeline"] != str(PIPELINE_ID):
            return JSONResponse({"message": "404 Not found"}, status_code=404)
        suites = [_suite("unit", 412, failed=3 if failed() else 0)]
        if not faults.on(SUITE_MISSING_FAULT):
            suites.append(_suite("integration", 57))
        totals = {key: sum(s[key] for s in suites) for key in
                  ("total_count", "success_count", "failed_count", "skipped_count", "error_count")}  # fmt: skip
        return JSONResponse({"total_time": sum(s["total_time"] for s in suites), **totals, "test_suites": suites})

    async def not_found(request: Request) -> JSONResponse:
        return JSONResponse({"error": "404 Not Found"}, status_code=404)

    return Starlette(
        routes=[
            Route("/api/v4/projects/{project:path}/pipelines", pipelines),
            Route("/api/v4/projects/{project:path}/pipelines/{pipeline}/test_report", test_report),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
