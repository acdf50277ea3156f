"""The GitLab REST API (v4) stand-in: the release commit's pipeline and its unit-test report.

GET /api/v4/projects/{id}/pipelines?sha=&ref=       the project's pipelines, newest first
GET /api/v4/projects/{id}/pipelines/{pid}/test_report
Auth as GitLab: `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`; a missing or wrong token gets
401 {"message":"401 Unauthorized"}, another project 404 {"message":"404 Project Not Found"}, another pipeline
404 {"message":"404 Not found"}. The project is named by its numeric id or its URL-encoded path
(acme%2Fweb-app); an unencoded path (acme/web-app) reaches no route: 404 {"error":"404 Not Found"}.
Faults: "ci-pipeline-failed" (the release pipeline failed), "ci-suite-missing" (no integration suite ran),
"ci-suite-skipped" (the integration suite's 57 tests were all skipped: GitLab still counts them in total_count),
"ci-pipeline-rerun-running" (a newer pipeline for the same tag and commit is still running: the one golive runs
in when it is CI_PIPELINE_ID, another one when it is not).
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
SUITE_SKIPPED_FAULT = "ci-suite-skipped"
RERUN_RUNNING_FAULT = "ci-pipeline-rerun-running"
PROJECT_ID = 4021
PIPELINE_ID = 118342
RERUN_PIPELINE_ID = PIPELINE_ID + 57


def _suite(name: str, total: int, failed: int = 0, skipped: int = 0) -> dict[str, Any]:
    """A suite of GitLab's test report: total_count counts every test, skipped ones included."""
    return {
        "name": name, "total_time": round(total * 0.04, 2), "total_count": total,
        "success_count": total - failed - skipped, "failed_count": failed, "skipped_count": skipped,
        "error_count": 0, "suite_error": None, "test_cases": [],
    }  # fmt: skip


def create_gitlab_app(token: str, project_path: str, tag: str, commit: str, faults: FaultSwitch) -> Starlette:
    """The API of one project whose release pipeline ran for (tag, commit)."""

    def authorised(request: Request) -> bool:
        given = request.headers.get("private-token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    def encoded(request: Request) -> bool:
        """Whether the project is one path segment, as GitLab routes it: a path must come URL-encoded (acme%2Fapp);
        acme/app reaches no route (the server decodes %2F only after routing, so the raw path is what counts)."""
        raw = request.scope["raw_path"].decode("latin-1").removeprefix("/api/v4/projects/")
        return "/" not in raw.partition("/pipelines")[0]

    def project_known(request: Request) -> bool:
        name = unquote(request.path_params["project"])
        return name in (str(PROJECT_ID), project_path)

    def failed() -> bool:
        return faults.on(PIPELINE_FAILED_FAULT)

    def pipeline(pid: int, iid: int, status: str, created: str, updated: str) -> dict[str, Any]:
        return {
            "id": pid, "iid": iid, "project_id": PROJECT_ID, "sha": commit, "ref": tag, "source": "push",
            "status": status, "web_url": f"https://gitlab.sandbox.golive.invalid/{project_path}/-/pipelines/{pid}",
            "created_at": created, "updated_at": updated,
        }  # fmt: skip

    def listed() -> list[dict[str, Any]]:
        """Newest first, as GitLab lists them with order_by=id&sort=desc."""
        found = [pipeline(PIPELINE_ID, 311, "failed" if failed() else "success",
                          "2026-11-20T09:01:00.000Z", "2026-11-20T09:14:00.000Z")]  # fmt: skip
        if faults.on(RERUN_RUNNING_FAULT):
            found.insert(0, pipeline(RERUN_PIPELINE_ID, 312, "running", "2026-11-20T10:30:00.000Z",
                                     "2026-11-20T10:31:00.000Z"))  # fmt: skip
        return found

    def refusal(request: Request) -> JSONResponse | None:
        if not encoded(request):
            return JSONResponse({"error": "404 Not Found"}, status_code=404)
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
        return JSONResponse([p for p in listed() if sha in (None, p["sha"]) and ref in (None, p["ref"])])

    async def test_report(request: Request) -> JSONResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        if request.path_params["pipeline"] == str(RERUN_PIPELINE_ID) and faults.on(RERUN_RUNNING_FAULT):
            return JSONResponse({"total_time": 0, "total_count": 0, "success_count": 0, "failed_count": 0,
                                 "skipped_count": 0, "error_count": 0, "test_suites": []})  # fmt: skip
        if request.path_params["pipeline"] != str(PIPELINE_ID):
            return JSONResponse({"message": "404 Not found"}, status_code=404)
        suites = [_suite("unit", 412, failed=3 if failed() else 0)]
        if not faults.on(SUITE_MISSING_FAULT):
            suites.append(_suite("integration", 57, skipped=57 if faults.on(SUITE_SKIPPED_FAULT) else 0))
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
