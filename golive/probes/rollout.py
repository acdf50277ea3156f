"""CAN-02: after the rolling deploy every instance is healthy and serves the release being shipped."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from golive.config import HealthPolicy, JsonScalar
from golive.outcomes import ProbeError
from golive.probes.http import get, judge_health


@dataclass(frozen=True)
class InstanceState:
    """One row of the rolling-deploy table: instance -> version -> health -> latency."""

    name: str
    url: str
    status: int | None
    latency_ms: float | None
    version: str | None
    commit: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    COLUMNS = ("instance", "url", "status", "version", "commit", "latency_ms", "health")

    def row(self) -> list[JsonScalar | None]:
        """One row of the rolling-deploy table (COLUMNS)."""
        health = "ok" if self.ok else "; ".join(self.problems)
        return [self.name, self.url, self.status, self.version, self.commit, self.latency_ms, health]

    def explain(self) -> str:
        return f"{self.name}: GET {self.url}: " + "; ".join(self.problems)


def release_problems(
    body: object, version_field: str, commit_field: str, tag: str, commit: str | None
) -> tuple[str | None, str | None, list[str]]:
    """(version, commit) the health body names, and how they differ from the release being shipped."""
    fields = body if isinstance(body, dict) else {}
    version, served_commit = fields.get(version_field), fields.get(commit_field)
    version = version if isinstance(version, str) else None
    served_commit = served_commit if isinstance(served_commit, str) else None
    problems = []
    if version != tag:
        problems.append(f"{version_field} {version!r}, expected {tag!r}")
    if commit is not None and served_commit != commit:
        problems.append(f"{commit_field} {served_commit!r}, expected {commit!r}")
    return version, served_commit, problems


def instance_state(
    client: httpx.Client,
    name: str,
    url: str,
    policy: HealthPolicy,
    version_field: str,
    commit_field: str,
    tag: str,
    commit: str | None,
) -> InstanceState:
    """GET the instance's health endpoint: healthy by the policy, and on the release (tag, and commit if known)."""
    try:
        answer = get(client, url)
    except ProbeError as exc:
        return InstanceState(name, url, None, None, None, None, (str(exc).removeprefix(f"GET {url}: "),))
    verdict = judge_health(answer, policy.expect_status, policy.expect_body, policy.latency_budget_ms)
    version, served_commit, wrong = release_problems(answer.json_body(), version_field, commit_field, tag, commit)
    return InstanceState(
        name, url, answer.status, answer.latency_ms, version, served_commit, (*verdict.problems, *wrong)
    )
