"""REL-01: the release commit's CI pipeline passed, with its unit and integration suites, per GitLab's API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from golive.outcomes import ProbeError
from golive.probes.http import request
from golive.secrets import Secret


@dataclass
class PipelineReview:
    """The pipeline found for the release, its suites, and what is wrong with them."""

    pipeline: dict[str, Any] | None = None
    suites: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _get(http: httpx.Client, url: str, token: Secret, what: str) -> Any:
    answer = request(http, "GET", url, f"GitLab API ({what})", headers={"PRIVATE-TOKEN": token.reveal()})
    if answer.status == 401:
        raise ProbeError(f"GitLab API refused GITLAB_API_TOKEN (HTTP 401) reading {what}")
    if answer.status != 200:
        raise ProbeError(f"GitLab API answered HTTP {answer.status} reading {what}: {answer.text[:120]!r}")
    body = answer.json_body()
    if body is None:
        raise ProbeError(f"GitLab API sent a body that is not JSON reading {what}")
    return body


# A suite's counts as GitLab's test report gives them; total_count includes skipped tests.
_COUNTS = ("total_count", "success_count", "skipped_count", "failed_count", "error_count")


def _count(suite: dict[str, Any], key: str, name: str) -> int:
    value = suite.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeError(f"GitLab API test report: suite {name!r} {key} is {value!r}, not a count")
    return value


def review_pipeline(
    http: httpx.Client,
    api_url: str,
    project: str,
    token: Secret,
    tag: str,
    commit: str,
    required: list[str],
    running_pipeline: str | None = None,
) -> PipelineReview:
    """The newest pipeline for (tag, commit) succeeded and every required suite ran tests, at least one passing
    (a suite whose tests were all skipped proves nothing) and none failing.

    ``running_pipeline`` is the pipeline golive itself runs in (CI_PIPELINE_ID): it is still running, so it is
    not the release's CI verdict and is passed over."""
    base = f"{api_url.rstrip('/')}/api/v4/projects/{quote(project, safe='')}"
    review = PipelineReview()
    found = _get(http, f"{base}/pipelines?sha={commit}&ref={quote(tag, safe='')}&order_by=id&sort=desc", token,
                 f"pipelines of {project}")  # fmt: skip
    if not isinstance(found, list):
        raise ProbeError(f"GitLab API listed the pipelines of {project} as {type(found).__name__}, not a list")
    others = [p for p in found if isinstance(p, dict) and str(p.get("id")) != (running_pipeline or "")]
    if not others:
        own = f" other than the running golive pipeline {running_pipeline}" if running_pipeline and found else ""
        review.problems.append(f"no CI pipeline for {tag} at {commit[:12]} in {project}{own}")
        return review
    pipeline = review.pipeline = others[0]
    status = pipeline.get("status")
    if status != "success":
        review.problems.append(f"pipeline {pipeline.get('id')} for {tag} is {status!r}, expected 'success'")
    report = _get(http, f"{base}/pipelines/{pipeline.get('id')}/test_report", token, f"pipeline {pipeline.get('id')}")
    listed = report.get("test_suites") if isinstance(report, dict) else None
    if not isinstance(listed, list):
        raise ProbeError(f"GitLab API test report of pipeline {pipeline.get('id')} has no test_suites list")
    suites = {s.get("name"): s for s in listed if isinstance(s, dict)}
    for name in required:
        suite = suites.get(name)
        if suite is None:
            review.problems.append(
                f"pipeline {pipeline.get('id')} has no {name!r} test suite (suites: {sorted(suites)})"
            )
            continue
        counts = {k: _count(suite, k, name) for k in _COUNTS}
        review.suites[name] = counts
        if counts["total_count"] == 0:
            review.problems.append(f"suite {name!r} ran no tests")
        elif counts["success_count"] == 0:  # GitLab's total_count counts skipped tests too
            review.problems.append(
                f"suite {name!r}: no test passed ({counts['skipped_count']} skipped of {counts['total_count']}); "
                "expected at least one passing test"
            )
        if counts["failed_count"] or counts["error_count"]:
            review.problems.append(
                f"suite {name!r}: {counts['failed_count']} failed, {counts['error_count']} errors "
                f"of {counts['total_count']}, expected none"
            )
    return review
