"""The sandbox's go-live state: which release each instance serves, the feature flags and background jobs the
release names, the app's own request counts (for the metrics stand-in), and the canary's faults.

The sandbox starts *before launch*: the baseline instances serve the previous release, the canary serves the
release being shipped, the release's risky flags are off and its non-critical jobs are paused. ``deploy()``
plays the rolling deploy and the operator's post-launch steps: every instance then serves the new release and
the paused jobs run again. ``enter_stage(stage)`` moves to the state a go-live stage expects (smoke and
postlaunch run after the deploy), which is what the demo and the end-to-end tests do between stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sentry_sdk
from sentry_sdk.utils import event_from_exception
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from golive.sandbox.standins import FaultSwitch

# The release the baselines serve before the deploy (the canary's fault "canary-old-version" serves it too).
PREVIOUS_TAG = "v1.3.2"
PREVIOUS_COMMIT = "5d0c3a9e8b7f6a5d4c3b2a1f0e9d8c7b6a5f4e3d"
# "health-other-commit": the release's build reports this commit (an image built from another commit than the tag)
OTHER_BUILD_COMMIT = "e1f0a2b3c4d5e6f708192a3b4c5d6e7f80910203"

# Flags the sandbox's release names as risky (off before launch), and one ordinary flag that is on.
RISKY_FLAGS = ("new-checkout-flow", "bulk-refunds-v2")
ORDINARY_FLAGS = ("dark-mode",)
# Non-critical jobs paused for the go-live, and a critical one that keeps running.
PAUSED_JOBS = ("invoice-reminders", "analytics-export")
CRITICAL_JOBS = ("payment-reconciliation",)

# Canary faults act on the index page, so the canary's /api/health (OBS-01 in the canary stage) stays healthy.
CANARY_FAULT_PATH = "/"
CANARY_5XX_AFTER = 8  # "canary-5xx-later": the canary answers 500 from its 9th index request on
CANARY_FLAP_EVERY = 3  # "canary-flapping": every 3rd index request answers 503
CANARY_SLOW_S = 0.15  # "canary-slow": every canary answer is this much slower than the baselines'
# "canary-errors-in-sentry": the canary's index page swallows an exception and reports it to Sentry (it still
# answers 200, so only the release's error events show it).
CANARY_SENTRY_FAULT = "canary-errors-in-sentry"
# The sandbox's synthetic users: SYNTHETIC_RATE index requests a second, round robin over the baseline instances;
# every 20th answers 500 (the baseline error rate the metrics stand-in shows), every 10th under the fault
# "error-rate-doubled". One counter over both instances, so any window of n requests has n/20 +- 1 errors.
SYNTHETIC_RATE = 40.0
ERROR_EVERY_HEALTHY = 20
ERROR_EVERY_DOUBLED = 10
_KEPT_REQUESTS = 200_000
SYNTHETIC_HEADER = b"x-golive-synthetic-user"


@dataclass(frozen=True)
class Served:
    """One request an app instance answered, as its metrics exporter counts it."""

    at: float  # time.time()
    instance: str
    path: str
    status: int
    seconds: float


class Rollout:
    """The go-live state of one sandbox; safe to read from the servers' loop and switch from other threads."""

    def __init__(
        self, tag: str, commit: str, faults: FaultSwitch, flags_token: str | None = None, jobs_token: str | None = None
    ) -> None:
        self.tag, self.commit = tag, commit
        self.faults = faults
        # the admin API's credentials: an Unleash client token for the flags, a bearer token for the jobs
        self.flags_token, self.jobs_token = flags_token, jobs_token
        self._lock = threading.Lock()
        self._deployed = False
        self._served: deque[Served] = deque(maxlen=_KEPT_REQUESTS)
        self._counters: dict[tuple[str, str], int] = {}
        self._sentry: tuple[str, Path] | None = None  # the app's SENTRY_DSN and the CA its transport trusts
        self._reporter: sentry_sdk.Client | None = None

    def report_errors_to(self, dsn: str, ca_file: Path) -> None:
        """Where the app instances report the errors they swallow (the sandbox's Sentry ingest)."""
        self._sentry = (dsn, ca_file)

    def report_error(self, instance: str, error: Exception) -> None:
        """Report a caught exception to Sentry as the app's SDK does (release, environment, the instance's tag)."""
        with self._lock:
            if self._reporter is None and self._sentry is not None:
                dsn, ca_file = self._sentry
                self._reporter = sentry_sdk.Client(dsn=dsn, ca_certs=str(ca_file), release=self.tag,
                                                   environment="production", default_integrations=False)  # fmt: skip
            reporter = self._reporter
        if reporter is None:
            return
        event, hint = event_from_exception(error, client_options=reporter.options)
        event["tags"] = {"instance": instance}
        reporter.capture_event(event, hint=hint)

    def close(self) -> None:
        """Deliver what the error reporter still holds, then stop it."""
        with self._lock:
            reporter, self._reporter = self._reporter, None
        if reporter is not None:
            transport = reporter.transport
            reporter.close(timeout=2.0)
            # the SDK leaves its kept-alive connection open, which would hold the Sentry stand-in's shutdown
            pool = getattr(transport, "_pool", None)
            if pool is not None:
                pool.clear()

    @property
    def deployed(self) -> bool:
        with self._lock:
            return self._deployed

    def deploy(self, done: bool = True) -> None:
        """The rolling deploy and the post-launch steps (done), or back to before launch (not done)."""
        with self._lock:
            self._deployed = done

    def enter_stage(self, stage: str) -> None:
        """The state a go-live stage runs in: before launch for preflight and canary, deployed after."""
        self.deploy(stage in ("smoke", "postlaunch"))

    def release_of(self, instance: str) -> tuple[str, str]:
        """(tag, commit) the instance serves right now."""
        previous = (PREVIOUS_TAG, PREVIOUS_COMMIT)
        current = (self.tag, OTHER_BUILD_COMMIT if self.faults.on("health-other-commit") else self.commit)
        if instance == "canary":
            return previous if self.faults.on("canary-old-version") else current
        if instance == "instance-2" and self.faults.on("instance-old-version"):
            return previous
        return current if self.deployed else previous

    def flags(self) -> dict[str, bool]:
        enabled = dict.fromkeys(RISKY_FLAGS, False) | dict.fromkeys(ORDINARY_FLAGS, True)
        if self.faults.on("risky-flag-on"):
            enabled[RISKY_FLAGS[0]] = True
        return enabled

    def jobs(self) -> dict[str, str]:
        deployed = self.deployed
        state = dict.fromkeys(CRITICAL_JOBS, "running")
        for job in PAUSED_JOBS:
            state[job] = "running" if deployed else "paused"
        if not deployed and self.faults.on("job-not-paused"):
            state[PAUSED_JOBS[1]] = "running"
        if deployed and self.faults.on("job-not-resumed"):
            state[PAUSED_JOBS[1]] = "paused"
        return state

    def count(self, instance: str, key: str) -> int:
        """The number of times key was seen on instance (the fault counters), counting this one."""
        with self._lock:
            n = self._counters.get((instance, key), 0) + 1
            self._counters[(instance, key)] = n
            return n

    def reset_count(self, instance: str, key: str) -> None:
        with self._lock:
            self._counters.pop((instance, key), None)

    def record(self, served: Served) -> None:
        with self._lock:
            self._served.append(served)

    def served(self, since: float, until: float) -> list[Served]:
        """The requests answered in [since, until] (time.time())."""
        with self._lock:
            return [s for s in self._served if since <= s.at <= until]


def unleash_features(flags: dict[str, bool]) -> dict[str, Any]:
    """The flags in the shape of Unleash's client API (GET /api/client/features)."""
    features = [
        {
            "name": name,
            "type": "release",
            "enabled": enabled,
            "stale": False,
            "impressionData": False,
            "strategies": [{"name": "default", "constraints": [], "parameters": {}}],
            "variants": [],
        }
        for name, enabled in flags.items()
    ]
    return {"version": 2, "features": features, "query": {"inlineSegmentConstraints": True}}


# Unleash's answer to a client API request without a valid token (401), word for word.
UNLEASH_NO_TOKEN = (
    "This endpoint requires an API token. Please add an authorization header to your request with a valid token"
)


def _presented(request: Request, expected: str | None, scheme: str = "") -> bool:
    """Whether the request carries the credential (none required when expected is None)."""
    if expected is None:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"{scheme}{expected}".encode())


def admin_routes(rollout: Rollout) -> list[Route]:
    """The app's admin API: its feature flags (Unleash client API shape; the client token is the Authorization
    header itself, as Unleash reads it) and its background jobs (a bearer token)."""

    async def flags(request: Request) -> Response:
        if not _presented(request, rollout.flags_token):
            return JSONResponse({"message": UNLEASH_NO_TOKEN}, status_code=401)
        return JSONResponse(unleash_features(rollout.flags()))

    async def jobs(request: Request) -> Response:
        if not _presented(request, rollout.jobs_token, "Bearer "):
            return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)
        listed = [
            {"name": name, "state": state, "critical": name in CRITICAL_JOBS} for name, state in rollout.jobs().items()
        ]
        return JSONResponse({"jobs": listed})

    return [Route("/api/admin/flags", flags), Route("/api/admin/jobs", jobs)]


class RolloutMiddleware:
    """Counts every answer of one instance for its metrics, and applies the canary and error-rate faults."""

    def __init__(self, app: ASGIApp, instance: str, rollout: Rollout) -> None:
        self.app = app
        self.instance = instance
        self.rollout = rollout

    def _injected_status(self, path: str, synthetic: bool) -> int | None:
        faults, rollout, instance = self.rollout.faults, self.rollout, self.instance
        if path == "/api/login" and faults.on("login-broken"):
            return 503
        if path != CANARY_FAULT_PATH:
            return None
        if instance != "canary":
            if not synthetic:  # only the sandbox's synthetic users see the baseline's background errors
                return None
            every = ERROR_EVERY_DOUBLED if faults.on("error-rate-doubled") else ERROR_EVERY_HEALTHY
            return 500 if rollout.count("baselines", "synthetic") % every == 0 else None
        if instance == "canary":
            if faults.on("canary-5xx-later"):
                if rollout.count(instance, "5xx-later") > CANARY_5XX_AFTER:
                    return 500
            else:
                rollout.reset_count(instance, "5xx-later")
            if faults.on("canary-flapping") and rollout.count(instance, "flap") % CANARY_FLAP_EVERY == 0:
                return 503
            if faults.on(CANARY_SENTRY_FAULT):
                try:
                    raise LookupError("recommendations unavailable: the index page rendered without them")
                except LookupError as error:
                    rollout.report_error(instance, error)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        status = 500
        if self.instance == "canary" and self.rollout.faults.on("canary-slow"):
            await asyncio.sleep(CANARY_SLOW_S)
        synthetic = any(name == SYNTHETIC_HEADER for name, _ in scope.get("headers", []))
        injected = self._injected_status(path, synthetic)
        try:
            if injected is not None:
                status = injected
                error = "session store unavailable" if path == "/api/login" else "internal error"
                await JSONResponse({"error": error}, status_code=injected)(scope, receive, send)
                return

            async def counted(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, counted)
        finally:
            elapsed = time.perf_counter() - started
            self.rollout.record(Served(time.time(), self.instance, path, status, elapsed))


class SyntheticUsers:
    """Background traffic so the metrics have something to show: a thread GETting / on the baseline instances."""

    def __init__(self, urls: list[str], ca_file: Path, rate: float = SYNTHETIC_RATE) -> None:
        self._urls = urls
        self._verify = ssl.create_default_context(cafile=str(ca_file))
        self._pause = 1.0 / rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="golive-sandbox-users", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        headers = {SYNTHETIC_HEADER.decode(): "1"}
        with httpx.Client(verify=self._verify, timeout=httpx.Timeout(5.0), headers=headers) as client:
            n = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                url = self._urls[n % len(self._urls)] + CANARY_FAULT_PATH
                n += 1
                # an instance that is down (a fault, the sandbox stopping) shows as a gap in the metrics
                with contextlib.suppress(httpx.HTTPError):
                    client.get(url)
                next_at += self._pause
                self._stop.wait(max(0.0, next_at - time.monotonic()))
