"""OBS-03: the uptime monitor checks the health endpoints (UptimeRobot's API v2, getMonitors), or a person
attests that it does (stages.uptime.attestation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx

from golive.config import UptimeAttestation
from golive.outcomes import ProbeError
from golive.probes.http import request
from golive.secrets import Secret

UPTIMEROBOT_STATUS = {0: "paused", 1: "not checked yet", 2: "up", 8: "seems down", 9: "down"}


@dataclass(frozen=True)
class Monitor:
    name: str
    url: str
    status: str
    interval_s: int | None


PAGE = 50  # UptimeRobot's maximum page size for getMonitors
MAX_PAGES = 40  # 2000 monitors: an account larger than that is named, not half-read


def uptimerobot_monitors(client: httpx.Client, api_url: str, api_key: Secret) -> list[Monitor]:
    """Every monitor of the account, page by page. A refused key or an unexpected answer raises ProbeError
    (one line, no key)."""
    url = api_url.rstrip("/") + "/v2/getMonitors"
    found: list[Monitor] = []
    for page in range(MAX_PAGES):
        form = {"api_key": api_key.reveal(), "format": "json", "limit": str(PAGE), "offset": str(page * PAGE)}
        answer = request(client, "POST", url, f"POST {url}", data=form)
        body = answer.json_body()
        if answer.status != 200 or not isinstance(body, dict):
            raise ProbeError(f"POST {url}: status {answer.status}, expected 200 with a JSON body")
        if body.get("stat") != "ok":
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            # UptimeRobot echoes the key it refused in error.passed_value: never show the error verbatim
            raise ProbeError(f"POST {url}: UptimeRobot refused the request ({error.get('type')} "
                             f"{error.get('parameter_name') or ''}; check UPTIMEROBOT_API_KEY)")  # fmt: skip
        monitors = body.get("monitors")
        if not isinstance(monitors, list):
            raise ProbeError(f"POST {url}: no monitors list in the answer")
        found += [
            Monitor(str(m.get("friendly_name")), str(m.get("url")),
                    UPTIMEROBOT_STATUS.get(m.get("status"), f"status {m.get('status')}"), m.get("interval"))
            for m in monitors if isinstance(m, dict)
        ]  # fmt: skip
        pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
        total = pagination.get("total")
        if not monitors or not isinstance(total, int) or (page + 1) * PAGE >= total:
            return found
    raise ProbeError(f"POST {url}: more than {MAX_PAGES * PAGE} monitors; golive reads at most that many")


def missing_checks(monitors: list[Monitor], urls: list[str]) -> list[str]:
    """For each URL that must be monitored: why it is not (no monitor, or only paused ones)."""
    problems = []
    for url in urls:
        matching = [m for m in monitors if m.url.rstrip("/") == url.rstrip("/")]
        if not matching:
            problems.append(f"no monitor checks {url}")
        elif all(m.status == "paused" for m in matching):
            problems.append(f"the monitor of {url} ({matching[0].name}) is paused")
    return problems


@dataclass(frozen=True)
class AttestationReview:
    """A person's confirmation of the uptime monitors, held to its rules: problems, or the attested statement."""

    problems: tuple[str, ...]
    statement: str
    measured: dict[str, str | list[str]]


def review_attestation(
    attestation: UptimeAttestation, urls: list[str], today: date, max_age_days: int
) -> AttestationReview:
    """OBS-03 by attestation: made on a past day within ``max_age_days``, naming a monitor for every URL that must
    be checked (the monitors change rarely, but a confirmation from last quarter proves nothing about today)."""
    where = "stages.uptime.attestation"
    named = [str(url) for url in attestation.monitors]
    problems = []
    age = (today - attestation.on).days
    if age < 0:
        problems.append(f"{where}.on: {attestation.on} is in the future; a confirmation not yet made")
    elif age > max_age_days:
        problems.append(f"{where}.on: {attestation.on} is {age} days ago, limit {max_age_days} "
                        "(stages.uptime.attestation_max_age_days)")  # fmt: skip
    monitored = {url.rstrip("/") for url in named}
    problems += [f"{where}.monitors: no monitor named for {url}" for url in urls if url.rstrip("/") not in monitored]
    statement = (f"{attestation.by} ({attestation.role}) confirmed on {attestation.on} that the uptime monitor checks "
                 + ", ".join(named) + (f" ({attestation.note})" if attestation.note else ""))  # fmt: skip
    measured: dict[str, str | list[str]] = {"by": attestation.by, "role": attestation.role, "on": str(attestation.on),
                                            "monitors": named}  # fmt: skip
    return AttestationReview(tuple(problems), statement, measured)
