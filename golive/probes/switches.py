"""LIVE-03, LIVE-04, POST-04: the feature flags and background jobs a release names, read from their source.

Flag formats: ``unleash`` (Unleash's client API, ``GET /api/client/features``: ``{"features": [{"name",
"enabled"}, ...]}``) and ``json`` (an object of flag name -> true/false, optionally under ``"flags"``).
Jobs: ``{"jobs": [{"name", "state"}, ...]}`` or an object of job name -> state.

Credentials: Unleash's client API requires a client token, sent as the ``Authorization`` header itself
(UNLEASH_API_TOKEN; a ``json`` flag source gets it as ``Bearer``); a jobs endpoint may require a bearer token
(JOBS_API_TOKEN). A refusal names the variable, never the token.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from golive.outcomes import ProbeError
from golive.probes.http import Response, request
from golive.secrets import Secret

FLAGS_TOKEN = "UNLEASH_API_TOKEN"
JOBS_TOKEN = "JOBS_API_TOKEN"


def _json(client: httpx.Client, url: str, authorization: str | None, variable: str) -> object:
    headers = {"Authorization": authorization} if authorization else {}
    answer = request(client, "GET", url, f"GET {url}", headers=headers)
    if answer.status in (401, 403):
        sent = f"{variable} was refused" if authorization else f"{variable} is not set"
        raise ProbeError(
            f"GET {url}: status {answer.status} ({_said(answer)!r}): {sent}; expected 200 with a JSON body"
        )
    if answer.status != 200:
        raise ProbeError(f"GET {url}: status {answer.status}, expected 200 with a JSON body")
    body = answer.json_body()
    if body is None:
        raise ProbeError(f"GET {url}: the body is not JSON ({answer.text[:60]!r})")
    return body


def parse_flags(body: object, fmt: str, url: str) -> dict[str, bool]:
    if fmt == "unleash":
        features = body.get("features") if isinstance(body, dict) else None
        if not isinstance(features, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("enabled"), bool)
            for f in features
        ):
            raise ProbeError(f"GET {url}: not an Unleash features answer (expected features: [{{name, enabled}}])")
        return {f["name"]: f["enabled"] for f in features}
    flags = body.get("flags", body) if isinstance(body, dict) else None
    if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
        raise ProbeError(f"GET {url}: not a JSON object of flag name -> true/false")
    return dict(flags)


def _said(answer: Response) -> str:
    """What a refusal says: Unleash's {"message"}, an API's {"error"}, or the start of the body."""
    body = answer.json_body()
    for key in ("message", "error", "detail"):
        if isinstance(body, dict) and isinstance(body.get(key), str):
            return str(body[key])[:120]
    return answer.text[:120]


def read_flags(client: httpx.Client, url: str, fmt: str, token: Secret | None = None) -> dict[str, bool]:
    """The flags; with a token as Unleash's client API wants it (the header is the token) or as a bearer."""
    authorization = None if token is None else token.reveal() if fmt == "unleash" else f"Bearer {token.reveal()}"
    return parse_flags(_json(client, url, authorization, FLAGS_TOKEN), fmt, url)


def parse_jobs(body: object, url: str) -> dict[str, str]:
    jobs = body.get("jobs", body) if isinstance(body, dict) else None
    if isinstance(jobs, list) and all(
        isinstance(j, dict) and isinstance(j.get("name"), str) and isinstance(j.get("state"), str) for j in jobs
    ):
        return {j["name"]: j["state"] for j in jobs}
    if isinstance(jobs, dict) and all(isinstance(v, str) for v in jobs.values()):
        return dict(jobs)
    raise ProbeError(f"GET {url}: not a jobs status answer (expected jobs: [{{name, state}}])")


def read_jobs(client: httpx.Client, url: str, token: Secret | None = None) -> dict[str, str]:
    authorization = None if token is None else f"Bearer {token.reveal()}"
    return parse_jobs(_json(client, url, authorization, JOBS_TOKEN), url)


def flags_on(flags: dict[str, bool], risky: Sequence[str]) -> tuple[list[str], list[str]]:
    """(risky flags that are on, risky flags the source does not know)."""
    return [f for f in risky if flags.get(f) is True], [f for f in risky if f not in flags]


def jobs_not_in(jobs: dict[str, str], names: Sequence[str], state: str) -> list[str]:
    """Named jobs that are not in ``state`` (unknown jobs too): a job that failed or stopped is not running."""
    return [f"{n} is {jobs.get(n, 'not listed')}" for n in names if jobs.get(n) != state]
