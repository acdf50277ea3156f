"""The sandbox's named faults: each one breaks exactly one checklist item, and can be switched at runtime."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """A way to break the sandbox: its name, the checklist items it breaks, and what it does.

    ``stage`` is the go-live stage where the broken item shows; ``expect`` are phrases the item's failure
    message must contain (measured and expected values), which the project's tests hold it to.
    """

    name: str
    items: tuple[str, ...]
    description: str
    expect: tuple[str, ...] = ()
    stage: str = "preflight"


def _registry(*faults: Fault) -> dict[str, Fault]:
    return {fault.name: fault for fault in faults}


_LOCAL = "https://127.0.0.1:"

FAULTS: dict[str, Fault] = _registry(
    # --- environment variables (ENV-01..03)
    Fault("env-missing-node-env", ("ENV-01",), "NODE_ENV is not set in the environment",
          ("missing or blank: NODE_ENV (6 of 7 required set)",)),
    Fault("env-node-env-development", ("ENV-02",), "NODE_ENV is 'development'",
          ("NODE_ENV is 'development'; sandbox expects 'production'",)),
    Fault("env-trailing-whitespace", ("ENV-02",), "NODE_ENV is 'production ' (trailing space)",
          ("NODE_ENV has trailing whitespace",)),
    Fault("env-missing-storage-secret", ("ENV-03",), "AWS_SECRET_ACCESS_KEY is not set",
          ("[AWS_SECRET_ACCESS_KEY] AWS_SECRET_ACCESS_KEY (storage) is not set",)),
    Fault("env-malformed-smtp-url", ("ENV-03",), "SMTP_URL has no scheme separator",
          ("[SMTP_URL] SMTP_URL (email) is not a URL with a scheme and host",)),
    # --- monitoring (OBS-01, OBS-02, OBS-04, OBS-06)
    Fault("health-unhealthy", ("OBS-01",), "every app instance answers /api/health with 503",
          (f"[service] service: GET {_LOCAL}", "/api/health: status 503, expected 200",
           "body.status = 'degraded', expected 'ok'")),
    Fault("canary-unhealthy", ("OBS-01",), "the canary instance answers /api/health with 503",
          (f"[canary] canary: GET {_LOCAL}", "/api/health: status 503, expected 200"), stage="canary"),
    Fault("health-db-down", ("OBS-02",), "/api/health/db connects with a wrong password and answers 503",
          (f"[service] service: GET {_LOCAL}", "/api/health/db: status 503, expected 200")),
    Fault("sentry-ingest-rejects", ("OBS-04",), "Sentry ingest refuses the DSN's key",
          (f"Sentry ingest at {_LOCAL}", "; expected 2xx")),
    Fault("sentry-event-lost", ("OBS-04",), "Sentry ingest answers 200 but the event never shows in the API",
          ("accepted by ingest but not visible in golive-sandbox/app after", "limit 10.0s")),
    Fault("alert-webhook-rejects", ("OBS-06",), "the Slack webhook answers 403 invalid_token",
          (f"alert webhook at {_LOCAL}", "answered HTTP 403 'invalid_token'; expected 2xx")),
    Fault("pagerduty-rejects", ("OBS-06",), "PagerDuty Events API answers 400 invalid event",
          (f"PagerDuty trigger at {_LOCAL}", "answered HTTP 400")),
    # --- database (issue: database readiness) — add its faults below this line
    # --- HTTPS, certificates and CDN — add its faults below this line
    # --- payments (Razorpay)
    Fault("razorpay-keys-revoked", ("PAY-01",), "the Razorpay API refuses the key pair with 401 Authentication failed"),
    # --- payments — add its faults below this line
    # --- go-live stages (canary, rolling deploy, smoke, post-launch) — add its faults below this line
    # --- release governance — add its faults below this line
)  # fmt: skip

# What an environment fault does to environ(): a variable's new value, or None to leave it out.
ENV_EDITS: dict[str, Mapping[str, str | None]] = {
    "env-missing-node-env": {"NODE_ENV": None},
    "env-node-env-development": {"NODE_ENV": "development"},
    "env-trailing-whitespace": {"NODE_ENV": "production "},
    "env-missing-storage-secret": {"AWS_SECRET_ACCESS_KEY": None},
    "env-malformed-smtp-url": {"SMTP_URL": "smtp//mail.sandbox.invalid:587"},
}


def validate(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, or ValueError naming the unknown ones and every known fault."""
    wanted = frozenset(names)
    unknown = sorted(wanted - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown sandbox fault(s) {', '.join(unknown)}; known faults: {', '.join(FAULTS)}")
    return wanted


def apply_env_faults(environ: Mapping[str, str], active: Iterable[str]) -> dict[str, str]:
    """A copy of environ with the edits of every active environment fault applied, in registry order."""
    wanted = frozenset(active)
    edited = dict(environ)
    for name, edits in ENV_EDITS.items():
        if name not in wanted:
            continue
        for key, value in edits.items():
            if value is None:
                edited.pop(key, None)
            else:
                edited[key] = value
    return edited


class FaultState:
    """The set of active faults, shared by every server of a sandbox and safe to change while they run."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active = validate(names)

    @property
    def active(self) -> frozenset[str]:
        with self._lock:
            return self._active

    def on(self, name: str) -> bool:
        """Whether the fault is active (a name outside the registry can never be switched on)."""
        with self._lock:
            return name in self._active

    def set(self, names: Iterable[str]) -> None:
        wanted = validate(names)
        with self._lock:
            self._active = wanted
