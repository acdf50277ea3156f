"""HTTPS enforcement probes (TLS-03, TLS-04): plain HTTP redirects permanently to the same host and path on
https, Strict-Transport-Security is long enough, and webhooks posted over plain HTTP are not processed."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from golive.config import HttpSettings
from golive.outcomes import ProbeError
from golive.probes.http import Unanswered, request

PERMANENT = (301, 308)
PROBE_PATH = "/redirect-probe?from=tls03"
# A page read for its headers (a redirect, HSTS) is read whole, within the client's deadline, up to this size.
PAGE_MAX_BYTES = 16 * 1024 * 1024


def http_url(https_url: str, http_port: int) -> str:
    """The plain-HTTP twin of an https URL: same host and path, scheme http, on http_port."""
    parts = urlsplit(https_url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + ("" if http_port == 80 else f":{http_port}")
    return urlunsplit(("http", netloc, parts.path or "/", parts.query, ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    host = parts.hostname or ""
    return f"{parts.scheme}://{(f'[{host}]' if ':' in host else host)}{port}"


@dataclass(frozen=True)
class RedirectVerdict:
    url: str
    status: int
    location: str | None
    expected: str
    problems: tuple[str, ...]


def check_redirect(client: httpx.Client, https_base: str, http_port: int, path: str = PROBE_PATH) -> RedirectVerdict:
    """GET the plain-HTTP twin of ``https_base + path``: it must answer 301/308 to exactly that https URL."""
    expected = _origin(https_base) + path
    url = http_url(expected, http_port)
    answer = request(client, "GET", url, f"GET {url}", max_bytes=PAGE_MAX_BYTES)
    location = answer.headers.get("location")
    problems = []
    if answer.status not in PERMANENT:
        what = f"answered {answer.status}" + (f" to {location}" if location else "")
        problems.append(f"GET {url} {what}; expected a permanent redirect (301 or 308) to {expected}")
    if location is None and answer.status in PERMANENT:
        problems.append(f"GET {url} answered {answer.status} without a Location header; expected {expected}")
    if location is not None and answer.status in (*PERMANENT, 302, 303, 307):
        absolute = str(httpx.URL(url).join(location))  # httpx already refused a Location that is not a URL
        if absolute != expected:
            problems.append(f"GET {url} redirects to {absolute}; expected {expected}")
    return RedirectVerdict(url, answer.status, location, expected, tuple(problems))


_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", re.IGNORECASE)


@dataclass(frozen=True)
class HstsVerdict:
    url: str
    header: str | None
    max_age: int | None
    include_subdomains: bool
    problems: tuple[str, ...]


def judge_hsts(url: str, header: str | None, min_age: int, need_subdomains: bool) -> HstsVerdict:
    if header is None:
        return HstsVerdict(url, None, None, False, (
            f"GET {url}: no Strict-Transport-Security header; expected max-age >= {min_age}",))  # fmt: skip
    match = _MAX_AGE.search(header)
    max_age = int(match.group(1)) if match else None
    subdomains = any(d.strip().lower() == "includesubdomains" for d in header.split(";"))
    problems = []
    if max_age is None:
        problems.append(f"GET {url}: Strict-Transport-Security {header!r} has no max-age; expected >= {min_age}")
    elif max_age < min_age:
        problems.append(f"GET {url}: Strict-Transport-Security {header!r}: max-age {max_age} s, expected >= {min_age}")
    if need_subdomains and not subdomains:
        problems.append(f"GET {url}: Strict-Transport-Security {header!r} lacks includeSubDomains (required)")
    return HstsVerdict(url, header, max_age, subdomains, tuple(problems))


def header_client(settings: HttpSettings) -> httpx.Client:
    """An httpx client that reads what a domain answers whatever its certificate (TLS-03's HSTS header): the
    certificate is TLS-01's finding, so a bad one fails TLS-01 alone. Nothing secret is sent with it."""
    timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    return httpx.Client(timeout=timeout, verify=False, follow_redirects=False, trust_env=False)


def check_hsts(client: httpx.Client, url: str, min_age: int, need_subdomains: bool) -> HstsVerdict:
    answer = request(client, "GET", url, f"GET {url}", max_bytes=PAGE_MAX_BYTES)
    return judge_hsts(url, answer.headers.get("strict-transport-security"), min_age, need_subdomains)


_T = TypeVar("_T")


@dataclass(frozen=True)
class EnforcementPolicy:
    """What TLS-03 asks of every public domain over HTTP: the redirect of the probe path, and HSTS."""

    path: str
    hsts_min_age_s: int
    hsts_include_subdomains: bool


@dataclass(frozen=True)
class DomainHttps:
    """TLS-03's redirect and HSTS header of one public domain, each a verdict or the reason it was not measured."""

    redirect: RedirectVerdict | str
    hsts: HstsVerdict | str

    def require_redirect(self) -> RedirectVerdict:
        return _required(self.redirect)

    def require_hsts(self) -> HstsVerdict:
        return _required(self.hsts)


def _required(measured: _T | str) -> _T:
    if isinstance(measured, str):
        raise ProbeError(measured)
    return measured


def _measured(probe: Callable[[], _T]) -> _T | str:
    try:
        return probe()
    except ProbeError as error:
        return str(error)


def check_domains(
    client: httpx.Client, header_reader: httpx.Client, origins: Sequence[tuple[str, int]], policy: EnforcementPolicy,
    concurrency: int,
) -> list[DomainHttps]:  # fmt: skip
    """For every (https origin, its plain-HTTP port): the redirect (with ``client``) and the HSTS header (with
    ``header_reader``), at most ``concurrency`` domains at once, in the order given; one domain's failure is its
    own."""

    def one(target: tuple[str, int]) -> DomainHttps:
        origin, http_port = target
        return DomainHttps(
            _measured(lambda: check_redirect(client, origin, http_port, policy.path)),
            _measured(lambda: check_hsts(header_reader, origin + "/", policy.hsts_min_age_s,
                                         policy.hsts_include_subdomains)),
        )  # fmt: skip

    with ThreadPoolExecutor(max(1, min(concurrency, len(origins)))) as pool:
        return list(pool.map(one, origins))


# ------------------------------------------------------------------------------------------------ TLS-04


@dataclass(frozen=True)
class WebhookProbe:
    """A signed test event posted over plain HTTP, what the endpoint answered and how many records it left."""

    url: str
    event_id: str
    status: int | None  # None: the connection was refused, reset or closed without an answer
    location: str | None
    answer: str  # "connection refused", "answered 308 to https://...", "answered 400"
    records: int
    refusal_statuses: tuple[int, ...]  # tls.webhook_refusal_statuses: what the edge answers instead of forwarding

    @property
    def refused(self) -> bool:
        """Refused before any webhook handler: at the network, by a redirect to https, or with one of the edge's
        refusal statuses. Any other answer came from a handler reached over plain HTTP (an app that verifies the
        signature and answers 400 "unhandled event" has read the event in clear)."""
        if self.status is None:
            return True
        if 300 <= self.status < 400 and self.location:
            return httpx.URL(self.url).join(self.location).scheme == "https"
        return self.status in self.refusal_statuses

    def problem(self, recorded_where: str) -> str | None:
        """What is wrong (one line), or None: nothing recorded and refused before any handler."""
        sent = f"POST {self.url} over plain HTTP {self.answer}"
        if self.records:
            return (f"{sent}: {self.records} row(s) {recorded_where} for event {self.event_id}; expected refused or "
                    "redirected, nothing processed")  # fmt: skip
        if self.refused:
            return None
        return (
            f"{sent}: the webhook handler was reached over plain HTTP (nothing recorded {recorded_where}); expected "
            f"{self.expected()}"
        )

    def expected(self) -> str:
        """What a plain-HTTP webhook answer must be, as the failure message says it."""
        statuses = ", ".join(map(str, self.refusal_statuses))
        edge = f" or a refusal by the edge ({statuses})" if statuses else ""
        return f"the connection refused, a redirect to https{edge}"


def probe_event(run_id: str) -> tuple[str, bytes]:
    """A Razorpay-shaped event no handler acts on, with a unique id: (event id, raw body)."""
    event_id = f"evt_tls04probe_{run_id}_{secrets.token_hex(4)}"[:64]
    body = {
        "entity": "event",
        "account_id": "acc_tls04probe",
        "event": "https_probe.tls04",
        "contains": [],
        "payload": {},
        "created_at": int(time.time()),
    }
    return event_id, json.dumps(body, separators=(",", ":")).encode()


_SETTLE_POLL_S = 0.2


def settled_count(count_records: Callable[[str], int], event_id: str, settle_s: float) -> int:
    """What the app recorded for the event: counted until a record shows or ``settle_s`` has passed (an app that
    queues webhooks answers first and writes a moment later)."""
    deadline = time.monotonic() + settle_s
    while True:
        records = count_records(event_id)
        left = deadline - time.monotonic()
        if records or left <= 0:
            return records
        time.sleep(min(_SETTLE_POLL_S, left))


def post_webhook_over_http(
    client: httpx.Client, https_url: str, http_port: int, webhook_secret: str, run_id: str,
    count_records: Callable[[str], int], settle_s: float, refusal_statuses: Sequence[int] = (403, 426),
) -> WebhookProbe:  # fmt: skip
    """POST a correctly signed test event to the plain-HTTP twin of the webhook URL (redirects not followed),
    within the client's deadline, then count what the app recorded for its event id, for up to ``settle_s``:
    refusing by status code alone is not proof. A timeout (or any exchange that cannot be measured) is a
    ProbeError; a connection refused, reset or closed without an answer is a refusal."""
    url = http_url(https_url, http_port)
    event_id, raw = probe_event(run_id)
    signature = hmac.new(webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-razorpay-signature": signature, "x-razorpay-event-id": event_id}
    status: int | None = None
    location = None
    try:
        answer = request(client, "POST", url, f"POST {url}", content=raw, headers=headers)
        status, location = answer.status, answer.headers.get("location")
        said = f"answered {status}" + (f" to {location}" if location else "")
    except Unanswered as error:
        said = error.reason
    records = settled_count(count_records, event_id, settle_s)
    return WebhookProbe(url, event_id, status, location, said, records, tuple(refusal_statuses))
