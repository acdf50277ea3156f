"""Razorpay: the key pair (PAY-01), the account's webhooks (PAY-02), the app's webhook endpoint (PAY-03, SMK-03,
POST-03) and a controlled payment and refund (PAY-04, SMK-02).

httpx is used where a check must see Razorpay's status codes (401 and 400 look the same through the SDK); the
official SDK drives orders, captures and refunds, always with ``timeout=`` (it has no default) and with
``cert_path`` pointed at a current CA bundle (its own dates from 2015). No message here ever holds a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import certifi
import httpx
import razorpay
import requests

from golive.config import JsonScalar, PaymentCheck, WebhookAttestation
from golive.outcomes import ProbeError
from golive.probes.alerts import endpoint_of
from golive.probes.db import Session
from golive.probes.http import NoAnswer, Response, request
from golive.probes.variables import RAZORPAY_KEY_ID
from golive.secrets import Secret

URL_NOT_FOUND = "The requested URL was not found on the server."
MAX_WEBHOOK_PAGES = 10
WEBHOOK_PAGE = 100
ACCOUNT_ID = "acc_GoLiveStagedEv"
_ALNUM = string.ascii_letters + string.digits

KeyMode = Literal["live", "test"]
T = TypeVar("T")


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def synthetic_id(prefix: str) -> str:
    """A Razorpay-shaped id (prefix + 14 alphanumerics) that says it is golive's: pay_GoLive12345678."""
    return f"{prefix}GoLive{_random(8)}"


def _razorpay_error(answer: Response) -> dict[str, Any] | None:
    """Razorpay's error envelope ({"error": {"code", "description", ...}}), or None for any other body."""
    body = answer.json_body()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("description"), str):
        return error
    return None


def _description(answer: Response) -> str:
    """Razorpay's error description, or the start of a body that is not Razorpay's envelope."""
    error = _razorpay_error(answer)
    if error is not None:
        return str(error["description"])
    body = answer.json_body()
    if body is not None:
        return json.dumps(body)[:120]
    return answer.text[:120].strip() or "(empty body)"


# -- PAY-01: the keys ------------------------------------------------------------------------------------------


def key_mode(key_id: str) -> KeyMode | None:
    match = RAZORPAY_KEY_ID.match(key_id.strip())
    return match.group(1) if match else None  # type: ignore[return-value]


def mode_problem(key_id: str, expected: KeyMode, env_name: str) -> str | None:
    """ENV-02's wording, so one misconfigured key reads the same in every item that meets it."""
    mode = key_mode(key_id)
    if mode is None:
        return "RAZORPAY_KEY_ID is not rzp_live_/rzp_test_ followed by 14 letters or digits"
    if mode != expected:
        return (
            f"RAZORPAY_KEY_ID is a {mode}-mode key (rzp_{mode}_); {env_name} expects {expected} mode (rzp_{expected}_)"
        )
    return None


def whitespace_problem(secret: Secret) -> str | None:
    value = secret.reveal()
    if value != value.strip():
        side = "leading" if value[:1].isspace() else "trailing"
        return f"{secret.name} has {side} whitespace"
    return None


AUTHENTICATION_FAILED = "Authentication failed"


@dataclass(frozen=True)
class AuthAnswer:
    """Razorpay's answer to the cheapest authenticated read, GET /v1/orders?count=1."""

    status: int
    description: str
    latency_ms: float
    razorpay_error: bool  # the body is Razorpay's error envelope

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def refused(self) -> bool:
        """Razorpay refused the key pair: 401 in its error envelope, or 400 "Authentication failed" (the status
        its docs give that message). A 429, a 5xx or a body of another kind says nothing about the keys."""
        if not self.razorpay_error:
            return False
        return self.status == 401 or (self.status == 400 and self.description == AUTHENTICATION_FAILED)


def _auth_answer(answer: Response) -> AuthAnswer:
    error = _razorpay_error(answer)
    description = "" if answer.status == 200 else _description(answer)
    return AuthAnswer(answer.status, description, answer.latency_ms, error is not None)


def _is_collection(answer: Response) -> bool:
    body = answer.json_body()
    return isinstance(body, dict) and body.get("entity") == "collection" and isinstance(body.get("items"), list)


def _api_get(
    http: httpx.Client, api_url: str, path: str, params: Mapping[str, int], key_pair: tuple[str, str]
) -> Response:
    """GET a Razorpay API path with the key pair (HTTP Basic), within the client's timeouts and body cap."""
    url = f"{api_url.rstrip('/')}{path}"
    return request(http, "GET", url, f"Razorpay API at {api_url}", params=dict(params), auth=key_pair)


def authenticate(http: httpx.Client, api_url: str, key_id: str, key_secret: str) -> AuthAnswer:
    """The pair's answer: accepted (200 with a collection) or refused (see AuthAnswer.refused). Anything else
    (rate limited, Razorpay down, a proxy's page) is a ProbeError: the pair was not judged."""
    url = f"{api_url.rstrip('/')}/v1/orders"
    answer = _api_get(http, api_url, "/v1/orders", {"count": 1}, (key_id, key_secret))
    measured = _auth_answer(answer)
    if measured.ok and not _is_collection(answer):
        raise ProbeError(
            f"GET {url}: HTTP 200 but not a Razorpay collection ({_description(answer)!r}): the key pair was not judged"
        )
    if not measured.ok and not measured.refused:
        raise ProbeError(
            f"GET {url}: HTTP {measured.status} {measured.description!r}, expected 200 or Razorpay's 401 "
            "refusal: the key pair was not judged"
        )
    return measured


def refusal(answer: AuthAnswer, qualifier: str = "") -> str:
    """What a refused key pair means, in Razorpay's words and where it tells, which half is wrong."""
    hint = {
        "The api key provided is invalid": " (RAZORPAY_KEY_ID is wrong)",
        "The api secret provided is invalid": " (RAZORPAY_KEY_SECRET is wrong)",
        AUTHENTICATION_FAILED: " (revoked or regenerated on the Dashboard?)",
    }.get(answer.description, "")
    return f"Razorpay refused the key pair{qualifier}: HTTP {answer.status} {answer.description!r}{hint}"


@dataclass
class KeyVerdict:
    problems: list[str] = field(default_factory=list)
    measured: dict[str, JsonScalar] = field(default_factory=dict)


def check_keys(
    http: httpx.Client,
    api_url: str,
    key_id: Secret,
    key_secret: Secret,
    webhook_secret: Secret | None,
    expected_mode: KeyMode,
    env_name: str,
    min_webhook_secret: int,
) -> KeyVerdict:
    """PAY-01: mode, whitespace, the pair authenticates (as sent, and trimmed), the webhook secret's shape."""
    verdict = KeyVerdict()
    mode = key_mode(key_id.reveal())
    verdict.measured["key_mode"] = mode or "unrecognised"
    problem = mode_problem(key_id.reveal(), expected_mode, env_name)
    if problem:
        verdict.problems.append(problem)
    blanks = [p for p in (whitespace_problem(key_id), whitespace_problem(key_secret)) if p]
    answer = authenticate(http, api_url, key_id.reveal(), key_secret.reveal())
    verdict.measured.update(status=answer.status, latency_ms=answer.latency_ms)
    if blanks:
        trimmed = authenticate(http, api_url, key_id.reveal().strip(), key_secret.reveal().strip())
        verdict.measured["status_trimmed"] = trimmed.status
        as_sent = "Razorpay accepted the pair as sent" if answer.ok else refusal(answer, " as sent")
        after = "the trimmed pair authenticates" if trimmed.ok else "the trimmed pair is refused too"
        verdict.problems.append(f"{'; '.join(blanks)}: {as_sent}; {after}")
    elif not answer.ok:
        verdict.problems.append(refusal(answer))
    if webhook_secret is None:
        verdict.problems.append("RAZORPAY_WEBHOOK_SECRET is not set: webhook signatures cannot be verified")
        return verdict
    length = len(webhook_secret.reveal().strip())
    verdict.measured["webhook_secret_length"] = length
    if hmac.compare_digest(webhook_secret.reveal().strip().encode(), key_secret.reveal().strip().encode()):
        verdict.problems.append("RAZORPAY_WEBHOOK_SECRET equals RAZORPAY_KEY_SECRET; they must differ")
    elif length < min_webhook_secret:
        verdict.problems.append(
            f"RAZORPAY_WEBHOOK_SECRET is {length} characters long; expected at least {min_webhook_secret}"
        )
    return verdict


# -- PAY-02: the account's webhooks ----------------------------------------------------------------------------


class WebhooksApiUnavailable(Exception):
    """The account cannot list its webhooks through the API (Razorpay answers 400 'URL not found')."""


class RazorpayRefused(AssertionError):
    """Razorpay refused what golive asked in the target's name (a bad request, a declined payment, an order it
    does not hold): the target is misconfigured, a failure and not a probe error."""


class KeysRefused(RazorpayRefused):
    """Razorpay refused the key pair itself (401)."""


def list_webhooks(http: httpx.Client, api_url: str, key_id: str, key_secret: str) -> list[dict[str, Any]]:
    """Every webhook of the account (GET /v1/webhooks, asking 100 a page, at most MAX_WEBHOOK_PAGES pages). The
    next page starts after what the last one held, until a page comes back empty: an API that pages by fewer
    than asked must not make a webhook on a later page look absent."""
    url = f"{api_url.rstrip('/')}/v1/webhooks"
    found: list[dict[str, Any]] = []
    for _ in range(MAX_WEBHOOK_PAGES):
        page = {"count": WEBHOOK_PAGE, "skip": len(found)}
        answer = _api_get(http, api_url, "/v1/webhooks", page, (key_id, key_secret))
        refused = _auth_answer(answer)
        if refused.refused:
            raise KeysRefused(f"GET /v1/webhooks: {refusal(refused)}")
        if answer.status == 400 and _description(answer) == URL_NOT_FOUND:
            raise WebhooksApiUnavailable(f"GET /v1/webhooks answered HTTP 400 {URL_NOT_FOUND!r}")
        if answer.status != 200:
            raise ProbeError(f"GET {url}: HTTP {answer.status} {_description(answer)!r}")
        body = answer.json_body()
        items = body.get("items") if isinstance(body, dict) else None
        if items is None:
            raise ProbeError(f"GET {url}: not a Razorpay collection")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ProbeError(f"GET {url}: not a Razorpay collection (items is not a list of webhooks)")
        if not items:
            return found
        found += items
    raise ProbeError(f"GET {url}: more than {MAX_WEBHOOK_PAGES} pages of webhooks; golive reads at most that many")


def subscribed_events(webhook: Mapping[str, Any]) -> set[str]:
    """The events a webhook subscribes to: a list (v2 API) or a map of name to true (the v1 merchant API)."""
    events = webhook.get("events") or []
    if isinstance(events, Mapping):
        return {str(name) for name, on in events.items() if on in (True, 1, "1", "true")}
    return {str(name) for name in events}


# GET /v1/webhooks (the merchant API, which Razorpay's own plugins use) lists a webhook without secret_exists; only
# the partner API reports it. A secret PAY-02 cannot see is then a person's to confirm (razorpay.webhook_attestation).
NOT_REPORTED = "not reported by GET /v1/webhooks"


@dataclass
class WebhookVerdict:
    problems: list[str]
    measured: dict[str, JsonScalar]
    unreported: str | None = None  # what the listing does not show (the secret), for a person to confirm

    @property
    def ok(self) -> bool | None:
        """False with a problem, None when the secret went unreported (not judged), else True."""
        return False if self.problems else (None if self.unreported else True)


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")


def judge_webhooks(webhooks: Sequence[Mapping[str, Any]], url: str, required: Sequence[str]) -> WebhookVerdict:
    """The webhook for url exists, is active, on https, has a secret and subscribes to every required event. A
    listing without secret_exists leaves the secret ``unreported``: not a pass."""
    mine = [w for w in webhooks if _same_url(str(w.get("url", "")), url)]
    if not mine:
        return WebhookVerdict(
            [f"no webhook for {url} among the account's {len(webhooks)} webhooks"],
            # where the other webhooks point, never their paths: third-party hooks often carry a token there
            {
                "webhooks": len(webhooks),
                "hosts": ", ".join(dict.fromkeys(endpoint_of(str(w.get("url"))) for w in webhooks)),
            },
        )
    verdicts = []
    for webhook in mine:
        problems = []
        name = f"webhook {webhook.get('id')} for {url}"
        events = subscribed_events(webhook)
        secret = webhook.get("secret_exists")
        measured: dict[str, JsonScalar] = {
            "id": str(webhook.get("id")),
            "active": webhook.get("active") is True,
            "secret_exists": NOT_REPORTED if secret is None else bool(secret),
            "events": ", ".join(sorted(events)),
        }
        if webhook.get("active") is not True:
            problems.append(f"{name}: active {webhook.get('active')}, expected true")
        if not url.startswith("https://"):
            problems.append(f"webhook URL {url} is not https")
        if secret is not None and not secret:
            problems.append(f"{name} has no secret: its events are not signed")
        missing = [event for event in required if event not in events]
        if missing:
            problems.append(
                f"{name} does not subscribe to {', '.join(missing)} (subscribed: {', '.join(sorted(events)) or 'none'})"
            )
        unreported = f"GET /v1/webhooks does not say whether {name} has a secret" if secret is None else None
        verdicts.append(WebhookVerdict(problems, measured, unreported))
    return min(verdicts, key=lambda v: (len(v.problems), v.unreported is not None))


def attestation_problem(on: date, today: date, max_age_days: int) -> str | None:
    """PAY-02's fallback: a person's confirmation counts only when it is dated, not in the future (a day of slack
    for time zones) and not older than razorpay.webhook_attestation_max_age_days."""
    where = "razorpay.webhook_attestation.on"
    if on > today + timedelta(days=1):
        return f"{where}: {on} is in the future (today is {today}); expected the day the person checked"
    age = (today - on).days
    if age > max_age_days:
        return (
            f"{where}: {on} is {age} days ago, limit {max_age_days} (razorpay.webhook_attestation_max_age_days): "
            "the Dashboard's webhook settings must be confirmed again"
        )
    return None


@dataclass(frozen=True)
class AttestationReview:
    """razorpay.webhook_attestation held to its dates, for what PAY-02 could not see (``gap``)."""

    measured: dict[str, JsonScalar]
    expected: dict[str, JsonScalar]
    problem: str | None  # why it does not count; None: it attests ``statement``
    statement: str


def review_attestation(
    attestation: WebhookAttestation, today: date, max_age_days: int, gap: str, confirmed: str
) -> AttestationReview:
    """What a person's confirmation of the Dashboard's settings covers (``confirmed``), if it is fresh."""
    stale = attestation_problem(attestation.on, today, max_age_days)
    note = f" ({attestation.note})" if attestation.note else ""
    return AttestationReview(
        {"by": attestation.by, "role": attestation.role, "on": str(attestation.on)},
        {"on": f"within {max_age_days} days, not in the future"},
        None if stale is None else f"{gap}; {stale}",
        f"{gap}; {attestation.by} ({attestation.role}) confirmed on {attestation.on} that {confirmed}{note}",
    )


# -- PAY-03, SMK-03, POST-03: events to the app's webhook endpoint ---------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """Razorpay's webhook signature: lowercase hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(payment_id: str, order_id: str, amount: int, run_id: str, marker: str) -> bytes:
    """A payment.captured event as Razorpay sends it: compact, PHP-escaped (``\\/`` and ``\\uXXXX``)."""
    payment = {
        "id": payment_id,
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "base_amount": amount,
        "status": "captured",
        "order_id": order_id,
        "invoice_id": None,
        "international": False,
        "method": "upi",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": True,
        "description": f"golive/{marker} \u20b9{amount / 100:.2f}",
        "vpa": "success@razorpay",
        "email": "golive@example.com",
        "contact": "+919000090000",
        "notes": {"golive_run_id": run_id, "golive": marker},
        "fee": 0,
        "tax": 0,
        "error_code": None,
        "created_at": int(time.time()),
    }
    envelope = {
        "entity": "event",
        "account_id": ACCOUNT_ID,
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {"payment": {"entity": payment}},
        "created_at": int(time.time()),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


@dataclass(frozen=True)
class Delivery:
    status: int | None  # None: no answer within the timeout
    latency_ms: float

    def accepted(self, deadline_s: float) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.latency_ms <= deadline_s * 1000

    def describe(self, deadline_s: float) -> str:
        if self.status is None:
            return f"no answer within {self.latency_ms / 1000:.1f} s"
        late = self.latency_ms > deadline_s * 1000
        return f"HTTP {self.status}" + (f" after {self.latency_ms / 1000:.1f} s" if late else "")


def deliver(
    http: httpx.Client, url: str, body: bytes, signature: str | None, event_id: str, deadline_s: float
) -> Delivery:
    """POST the event as Razorpay would; waits a little past the deadline so a slow answer is measured."""
    headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id, "User-Agent": "golive-webhook"}
    if signature is not None:
        headers["X-Razorpay-Signature"] = signature
    started = time.perf_counter()
    # The connect budget stays the client's: an endpoint that never accepts is unreachable, not slow.
    timeout = httpx.Timeout(deadline_s + 2.0, connect=http.timeout.connect)
    try:
        answer = request(http, "POST", url, f"POST {url}", content=body, headers=headers, timeout=timeout)
    except NoAnswer:
        return Delivery(None, round((time.perf_counter() - started) * 1000, 1))
    return Delivery(answer.status, answer.latency_ms)


def query_value(db: Session, query: str, params: Mapping[str, Any], setting: str) -> Any:
    """The first column of the first row of a configured query (None without a row), in golive's read-only session
    on the app's database; a query the database refuses is a ProbeError naming the setting."""
    try:
        found = db.rows(query, params)
    except ProbeError as exc:
        raise ProbeError(f"{setting} {query!r}: {exc}") from None
    return found[0][0] if found else None


def _whole_amount(value: Any) -> int | None:
    """A recorded amount as whole paise: an integer, a whole float or a string of digits (0 for nothing)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    try:
        return int(value) if int(value) == value else None  # Decimal from numeric columns
    except (TypeError, ValueError, ArithmeticError):
        return None


class QueryEffect:
    """What the app recorded for a payment, read with payments.effect_query on its database (read-only)."""

    def __init__(self, db: Session, query: str) -> None:
        self.db = db
        self.query = query
        self.source = "payments.effect_query on DATABASE_URL"

    def amount(self, payment_id: str) -> int:
        value = query_value(self.db, self.query, {"payment_id": payment_id}, "payments.effect_query")
        amount = _whole_amount(value)
        if amount is None:
            raise ProbeError(f"payments.effect_query returned {value!r}; expected a number (0 when nothing)")
        return amount


def json_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer ("" is the whole document); KeyError naming the missing step."""
    if pointer == "":
        return document
    value = document
    for raw in pointer[1:].split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise KeyError(step)
    return value


class EndpointEffect:
    """What the app recorded for a payment, read from its own endpoint (payments.effect_url): the number at
    payments.effect_pointer in the JSON answer; 404 means nothing recorded."""

    def __init__(self, http: httpx.Client, url: str, pointer: str) -> None:
        self.http = http
        self.url = url
        self.pointer = pointer
        self.source = f"GET {url} at {pointer or '(the whole answer)'}"

    def amount(self, payment_id: str) -> int:
        url = self.url.replace("{payment_id}", quote(payment_id, safe=""))
        answer = request(self.http, "GET", url, f"GET {url} (payments.effect_url)")
        if answer.status == 404:
            return 0
        if answer.status != 200:
            raise ProbeError(
                f"GET {url}: HTTP {answer.status}, expected 200 (or 404 when nothing is recorded) (payments.effect_url)"
            )
        try:
            value = json_pointer(json.loads(answer.text), self.pointer)
        except ValueError:
            raise ProbeError(f"GET {url}: the answer is not JSON (payments.effect_url)") from None
        except KeyError:
            raise ProbeError(f"GET {url}: no {self.pointer!r} in the answer (payments.effect_pointer)") from None
        amount = _whole_amount(value)
        if amount is None:
            raise ProbeError(
                f"GET {url}: {self.pointer} is {value!r}; expected a whole number of paise (payments.effect_pointer)"
            )
        return amount


class EffectReader(Protocol):
    """Where golive sees what the app recorded for a payment id: the amount, 0 when nothing."""

    source: str

    def amount(self, payment_id: str) -> int: ...


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout_s: float, interval_s: float) -> tuple[T, float]:
    """fetch() until done(value) or timeout_s would pass before the next try; the last value and the seconds
    waited (a bounded wait: never longer than timeout_s, never a sleep past it)."""
    started = time.monotonic()
    while True:
        value = fetch()
        waited = round(time.monotonic() - started, 2)
        if done(value) or waited + interval_s > timeout_s:
            return value, waited
        time.sleep(interval_s)


@dataclass(frozen=True)
class Case:
    """One delivery of the signature-enforcement drill and what a correct app does with it."""

    name: str
    payment_id: str
    event_id: str
    delivery: Delivery
    accept: bool
    effect: int = 0
    expected_effect: int = 0
    body: bytes = field(default=b"", repr=False)
    settled_s: float = 0.0  # how long the app took to show the effect of an accepted event

    def problems(self, deadline_s: float) -> list[str]:
        found = []
        if self.accept and not self.delivery.accepted(deadline_s):
            found.append(f"{self.name}: {self.delivery.describe(deadline_s)}, expected 2xx within {deadline_s} s")
        if not self.accept and (self.delivery.status is None or not 400 <= self.delivery.status < 500):
            found.append(f"{self.name}: {self.delivery.describe(deadline_s)}, expected 4xx")
        if self.effect != self.expected_effect:
            found.append(f"{self.name}: effect {self.effect}, expected {self.expected_effect}")
        return found


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: Secret
    deadline_s: float
    effect: EffectReader
    timeout_s: float
    interval_s: float


def staged_event(http: httpx.Client, target: WebhookTarget, run_id: str, marker: str, amount: int) -> Case:
    """One correctly signed payment.captured with a synthetic payment id: accepted in time and recorded."""
    payment_id = synthetic_id("pay_")
    event_id = f"evt_golive_{run_id}_{_random(6)}"
    body = event_body(payment_id, synthetic_id("order_"), amount, run_id, marker)
    delivery = deliver(http, target.url, body, sign(target.secret.reveal(), body), event_id, target.deadline_s)
    waited = 0.0
    if delivery.status is not None and 200 <= delivery.status < 300:
        seen, waited = poll(lambda: target.effect.amount(payment_id), lambda got: got >= amount, target.timeout_s,
                            target.interval_s)  # fmt: skip
    else:
        seen = target.effect.amount(payment_id)
    return Case("signed event", payment_id, event_id, delivery, True, seen, amount, body, waited)


DRILL_AMOUNT = 10000  # paise: PAY-03's events where test events are harmless (staging, the sandbox)
SMALLEST_AMOUNT = 100  # paise: Razorpay's minimum (INR 1.00), all PAY-03 posts into a live app when allowed
# SMK-03's and POST-03's one event, in every tier: the checklist itself asks for a staged test webhook in production
# (after the deploy and after launch), so side_effects.allowed is their only gate. Unlike PAY-03 they post no
# forgery and no redelivery, only one correctly signed event with a synthetic pay_GoLive id and the run id in its
# notes, and always of the smallest amount, so a live app that credits it credits INR 1.00.
STAGED_EVENT_AMOUNT = SMALLEST_AMOUNT


def drill_amount(tier: str, expected_mode: KeyMode, key_id: Secret | None, allowed: bool) -> tuple[int, str | None]:
    """PAY-03's event amount, or why it must not run. In production, or with live keys (RAZORPAY_KEY_ID's mode,
    live unless it is clearly rzp_test_; without it, the mode the environment expects), the drill would post a
    signed payment.captured (with its redelivery and forgeries) into a live app: it runs there only when the
    environment allows it, and then with the smallest amount Razorpay knows."""
    live_keys = (key_mode(key_id.reveal()) if key_id is not None else expected_mode) != "test"
    where = [name for name, on in (("production", tier == "production"), ("live keys", live_keys)) if on]
    if not where:
        return DRILL_AMOUNT, None
    if allowed:
        return SMALLEST_AMOUNT, None
    return SMALLEST_AMOUNT, (
        f"{' with '.join(where)}: PAY-03 would post a signed payment.captured event, its redelivery and forged "
        "events into the live app; it runs there only when the environment sets "
        "payments.allow_production_events = true (then with INR 1.00 events)"
    )


@dataclass(frozen=True)
class Drill:
    """PAY-03's deliveries, and the cases golive could not send (name, why)."""

    cases: list[Case]
    unsent: list[tuple[str, str]]


def signature_drill(
    http: httpx.Client, target: WebhookTarget, key_secret: Secret | None, run_id: str, amount: int
) -> Drill:
    """PAY-03: a correctly signed event, its redelivery, and every kind of bad signature or altered body."""
    secret = target.secret.reveal()
    first = staged_event(http, target, run_id, "signature-check", amount)
    cases = [Case("correctly signed", first.payment_id, first.event_id, first.delivery, True, first.effect, amount)]
    if first.delivery.status is None:
        # An endpoint that does not answer a good event cannot show that it rejects bad ones: each further case
        # would only wait out the same timeout.
        return Drill(cases, [])
    # Razorpay redelivers an event unchanged: the same body, signature and X-Razorpay-Event-Id.
    again = deliver(http, target.url, first.body, sign(secret, first.body), first.event_id, target.deadline_s)
    cases.append(Case("same event id twice", first.payment_id, first.event_id, again, True, 0, amount))

    def bad(name: str, make: Any) -> None:
        payment_id = synthetic_id("pay_")
        original = event_body(payment_id, synthetic_id("order_"), amount, run_id, "signature-check")
        sent, signature = make(original, sign(secret, original))
        event_id = f"evt_golive_{run_id}_{_random(6)}"
        cases.append(Case(name, payment_id, event_id, deliver(http, target.url, sent, signature, event_id,
                                                                target.deadline_s), False))  # fmt: skip

    amount_field = f'"amount":{amount},'.encode()
    bad("wrong signature", lambda body, _sig: (body, sign(secrets.token_hex(16), body)))
    bad("missing signature header", lambda body, _sig: (body, None))
    bad("uppercase signature", lambda body, sig: (body, sig.upper()))
    bad("garbled signature", lambda body, sig: (body, sig[:-6] + "zz-zz!"))
    bad("body altered after signing",
        lambda body, sig: (body.replace(amount_field, f'"amount":{amount + 1},'.encode(), 1), sig))  # fmt: skip
    bad("body re-serialised after signing", lambda body, sig: (json.dumps(json.loads(body)).encode(), sig))
    unsent = []
    if key_secret is None:
        unsent.append(("signed with the API key secret", "not sent: RAZORPAY_KEY_SECRET is not set"))
    else:
        # The secret as the app would hold it: stray whitespace in the variable must not make the forgery miss.
        bad("signed with the API key secret", lambda body, _sig: (body, sign(key_secret.reveal().strip(), body)))
    sent_at = time.monotonic()
    # An app that processes events in the background shows a wrongly applied redelivery or forgery late: give it
    # twice as long as the good event took (at least five polls, at most the effect timeout) before reading.
    settle = min(target.timeout_s, max(2 * first.settled_s, 5 * target.interval_s))
    time.sleep(max(0.0, settle - (time.monotonic() - sent_at)))
    measured = []
    for case in cases:
        seen = target.effect.amount(case.payment_id)
        measured.append(Case(**{**case.__dict__, "effect": seen}))
    return Drill(measured, unsent)


# -- PAY-04, SMK-02: orders, a controlled payment and refund ---------------------------------------------------


def sdk_client(api_url: str, key_id: str, key_secret: str, ca_bundle: Path | None) -> razorpay.Client:
    """The official SDK against api_url, trusting the configured CA bundle (else certifi's, never its 2015 one)."""
    client = razorpay.Client(auth=(key_id, key_secret), base_url=api_url.rstrip("/"))
    client.cert_path = str(ca_bundle) if ca_bundle is not None else certifi.where()
    return client


SDK_REFUSALS = (razorpay.errors.BadRequestError, razorpay.errors.GatewayError)


def sdk_call(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """One SDK call. Razorpay's refusals (a bad request, a gateway declining) fail the check: they name the
    problem. Razorpay's own server errors (5xx, or an answer of no known kind) and transport errors are errors:
    nothing about the target was measured."""
    try:
        return call(*args, **kwargs)
    except SDK_REFUSALS as exc:
        raise RazorpayRefused(f"{what}: Razorpay answered {type(exc).__name__} {str(exc)!r}") from None
    except razorpay.errors.ServerError as exc:
        raise ProbeError(f"{what}: Razorpay had a server error ({str(exc)!r}): nothing measured, try again") from None
    except requests.RequestException as exc:
        raise ProbeError(f"{what}: {type(exc).__name__}: {str(exc)[:160]}") from None


@dataclass(frozen=True)
class AppOrder:
    status: int
    body: str
    order_id: str | None
    latency_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.order_id is not None


def create_order(http: httpx.Client, url: str, payload: Mapping[str, JsonScalar], id_field: str) -> AppOrder:
    """POST the configured payload to the app's order endpoint; the Razorpay order id it answers with."""
    answer = request(http, "POST", url, f"POST {url}", json=dict(payload))
    body = answer.json_body()
    order_id = body.get(id_field) if isinstance(body, dict) else None
    found = order_id if isinstance(order_id, str) else None
    return AppOrder(answer.status, answer.text[:200], found, answer.latency_ms)


def order_payload(template: Mapping[str, JsonScalar], run_id: str) -> dict[str, JsonScalar]:
    """The configured payload with {run_id} filled in, receipts cut to Razorpay's 40 characters."""
    filled: dict[str, JsonScalar] = {}
    for key, value in template.items():
        if isinstance(value, str):
            value = value.replace("{run_id}", run_id)
            value = value[:40] if key == "receipt" else value
        filled[key] = value
    return filled


@dataclass
class PaymentFlow:
    """What PAY-04 did and saw, step by step."""

    source: str
    steps: list[tuple[str, dict[str, JsonScalar]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checks: list[tuple[PaymentCheck, Any, bool]] = field(default_factory=list)
    checks_about: str = ""  # whose order the database checks look at, when it is not the run's own
    unverified: list[PaymentCheck] = field(default_factory=list)  # checks that could not show this run's effect
    unverified_why: str = ""

    def step(self, name: str, **measured: JsonScalar) -> None:
        self.steps.append((name, measured))

    def check_name(self, check: PaymentCheck) -> str:
        return f"{check.what} ({self.checks_about})" if self.checks_about else check.what

    def unverified_reason(self) -> str:
        return f"{', '.join(repr(check.what) for check in self.unverified)} not verified: {self.unverified_why}"


# The database checks' parameters that only this run's refund can satisfy: a check without one of them, run against
# an existing payment's order (paid long ago, and every run refunds the same refund_amount), holds whatever the app
# does now.
RUN_PARAMETERS = ("refund_id", "run_id")


def uses_this_run(query: str) -> bool:
    """The query names a value only this run produces (%(refund_id)s, %(run_id)s)."""
    return any(f"%({name})s" in query for name in RUN_PARAMETERS)


def idempotency_key(run_id: str, purpose: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"golive-{run_id}-{purpose}")[:64]


def sandbox_payment(http: httpx.Client, api_url: str, key_id: str, key_secret: str, order_id: str) -> str:
    """The sandbox stand-in's customer: pays the order server-side (real Razorpay needs Checkout in a browser)."""
    url = f"{api_url.rstrip('/')}/v1/__sandbox/payments"
    answer = request(http, "POST", url, f"POST {url}", json={"order_id": order_id}, auth=(key_id, key_secret))
    if answer.status != 200:
        raise RazorpayRefused(f"the sandbox payment for {order_id}: HTTP {answer.status} {_description(answer)!r}")
    body = answer.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise ProbeError(f"POST {url}: HTTP 200 but no payment id ({_description(answer)!r})")
    return body["id"]


@dataclass(frozen=True)
class PaymentPlan:
    """PAY-04's settings, resolved: where to order, how the payment comes about, what the database must show."""

    order_url: str
    payload: dict[str, JsonScalar]
    id_field: str
    payment: Literal["sandbox", "existing"]
    test_payment_id: str | None
    refund_amount: int
    checks: Sequence[PaymentCheck]
    timeout_s: float
    interval_s: float
    sdk_timeout: tuple[float, float]

    @property
    def amount(self) -> int | None:
        """The order amount in paise, or None when payments.order_payload.amount is not a whole number."""
        amount = self.payload.get("amount")
        return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


def matches(value: Any, expect: JsonScalar) -> bool:
    """A database value against the configured expectation (numbers compare as numbers, text as text)."""
    if value is None:
        return False
    if isinstance(expect, bool):
        return bool(value) is expect
    if isinstance(expect, int | float):
        try:
            return float(value) == float(expect)
        except (TypeError, ValueError):
            return False
    return str(value) == expect


def capture_if_needed(
    sdk: razorpay.Client, payment: dict[str, Any], timeout: tuple[float, float]
) -> tuple[dict[str, Any], dict[str, JsonScalar] | None]:
    """Captures an authorized payment (an account or order without automatic capture) for its full amount; the
    payment afterwards, and what the capture measured (None when there was nothing to capture)."""
    if payment.get("status") != "authorized":
        return payment, None
    payment_id, amount = str(payment["id"]), payment["amount"]
    started = time.perf_counter()
    # The SDK's capture(id, amount, data): the amount positionally, the currency in data (its docs get this wrong).
    captured = sdk_call(f"capture {payment_id}", sdk.payment.capture, payment_id, amount,
                        {"currency": payment["currency"]}, timeout=timeout)  # fmt: skip
    latency = round((time.perf_counter() - started) * 1000, 1)
    return captured, {"id": payment_id, "amount": amount, "status_before": "authorized",
                      "status": captured.get("status"), "latency_ms": latency}  # fmt: skip


def payment_and_refund(
    http: httpx.Client,
    sdk: razorpay.Client,
    db: Session,
    plan: PaymentPlan,
    api_url: str,
    key_pair: tuple[str, str],
    run_id: str,
) -> PaymentFlow:
    """PAY-04: order through the app, a test payment, capture if needed, an idempotent refund until processed,
    then the app's database shows the order paid, the refund recorded and the invoice (bounded waits)."""
    source = (
        "the sandbox stand-in completes the payment server-side"
        if plan.payment == "sandbox"
        else f"existing test payment {plan.test_payment_id}, made once by a person (payments.test_payment_id)"
    )
    flow = PaymentFlow(source=source)
    timeout = plan.sdk_timeout
    order = create_order(http, plan.order_url, plan.payload, plan.id_field)
    flow.step("order through the app", status=order.status, order_id=order.order_id, latency_ms=order.latency_ms)
    if not order.ok or order.order_id is None:
        flow.problems.append(
            f"POST {plan.order_url}: HTTP {order.status} {order.body!r}, expected 2xx with {plan.id_field}"
        )
        return flow
    if plan.payment == "sandbox":
        payment_id = sandbox_payment(http, api_url, *key_pair, order.order_id)
    else:
        assert plan.test_payment_id is not None
        payment_id = plan.test_payment_id
    payment = sdk_call(f"GET /v1/payments/{payment_id}", sdk.payment.fetch, payment_id, timeout=timeout)
    payment, captured = capture_if_needed(sdk, payment, timeout)
    if captured is not None:
        flow.step("capture", **captured)
    order_id = str(payment.get("order_id") or order.order_id)
    if plan.payment == "existing":
        flow.checks_about = (
            f"order {order_id} of existing payment {payment_id}; the run's own order {order.order_id} is not paid"
        )
    flow.step("payment", id=payment_id, status=payment.get("status"), amount=payment.get("amount"),
              order_id=order_id, source=source)  # fmt: skip
    if payment.get("status") not in ("captured", "refunded") and not payment.get("captured"):
        flow.problems.append(f"payment {payment_id}: status {payment.get('status')!r}, expected captured")
        return flow
    body = {"amount": plan.refund_amount, "speed": "normal", "notes": {"golive_run_id": run_id}}
    headers = {"X-Refund-Idempotency": idempotency_key(run_id, "pay04")}
    refund = sdk_call(f"refund {payment_id}", sdk.payment.refund, payment_id, body, headers=headers, timeout=timeout)
    refund, waited = poll(
        lambda: sdk_call(f"GET /v1/refunds/{refund['id']}", sdk.refund.fetch, refund["id"], timeout=timeout),
        lambda r: r.get("status") in ("processed", "failed"),
        plan.timeout_s,
        plan.interval_s,
    )
    flow.step("refund", id=refund["id"], amount=refund.get("amount"), status=refund.get("status"), waited_s=waited,
              idempotency_key=headers["X-Refund-Idempotency"])  # fmt: skip
    if refund.get("status") != "processed":
        flow.problems.append(
            f"refund {refund['id']}: status {refund.get('status')!r} after {waited} s, expected processed "
            f"(limit {plan.timeout_s} s)"
        )
        return flow
    params = {"order_id": order_id, "payment_id": payment_id, "refund_id": refund["id"],
              "amount": payment.get("amount"), "refund_amount": plan.refund_amount, "run_id": run_id}  # fmt: skip
    checks = list(plan.checks)
    if plan.payment == "existing":
        checks = [check for check in plan.checks if uses_this_run(check.query)]
        flow.unverified = [check for check in plan.checks if check not in checks]
        flow.unverified_why = (
            f"with payment = 'existing' their queries name none of this run's values "
            f"({', '.join(f'%({name})s' for name in RUN_PARAMETERS)}): they read order {order_id}, paid once by a "
            "person, and hold whatever the app does now"
        )
    if not checks:
        return flow
    results, waited = poll(
        lambda: [(check, query_value(db, check.query, params, f"payments.checks {check.what!r}")) for check in checks],
        lambda found: all(matches(value, check.expect) for check, value in found),
        plan.timeout_s,
        plan.interval_s,
    )
    for check, value in results:
        ok = matches(value, check.expect)
        flow.checks.append((check, value, ok))
        if not ok:
            flow.problems.append(
                f"{flow.check_name(check)}: measured {value!r}, expected {check.expect!r} "
                f"(after {waited} s, limit {plan.timeout_s} s)"
            )
    return flow


@dataclass(frozen=True)
class OrderComparison:
    problems: list[str]
    measured: dict[str, JsonScalar]


def compare_order(order: Mapping[str, Any], payload: Mapping[str, JsonScalar]) -> OrderComparison:
    """SMK-02: the order Razorpay holds carries what the app was asked for."""
    measured: dict[str, JsonScalar] = {"id": str(order.get("id")), "status": str(order.get("status"))}
    problems = []
    for key in ("amount", "currency", "receipt"):
        if key in payload:
            measured[key] = order.get(key)
            if order.get(key) != payload[key]:
                problems.append(
                    f"order {order.get('id')} at Razorpay: {key} {order.get(key)!r}, expected {payload[key]!r}"
                )
    if order.get("status") not in ("created", "attempted", "paid"):
        problems.append(f"order {order.get('id')} at Razorpay: status {order.get('status')!r}, expected created")
    return OrderComparison(problems, measured)


def live_money_guard(
    key_id: str,
    expected: KeyMode,
    env_name: str,
    amount: int | None,
    refund_amount: int,
    allow: bool,
    cap: int | None,
) -> tuple[Literal["fail", "refuse"], str] | None:
    """PAY-04 with live keys (any key not clearly rzp_test_: an unrecognised one may move real money): a failure
    where test keys belong, else a refusal unless allowed with a cap that holds both the money charged (the order
    amount) and the money refunded (with an existing payment, the only money PAY-04 moves)."""
    if key_mode(key_id) == "test":
        return None
    if expected != "live":
        return "fail", f"{mode_problem(key_id, expected, env_name)}: refusing to move real money"
    if not allow or cap is None:
        return "refuse", (
            "live keys: PAY-04 would charge and refund real money; it runs only when the environment sets "
            "payments.allow_live = true with payments.live_amount_cap (paise)"
        )
    if amount is None:
        return "refuse", (
            "live keys: payments.order_payload.amount is not a whole number of paise, so it cannot be held to "
            f"payments.live_amount_cap {cap}"
        )
    if amount > cap:
        return "refuse", f"live keys: the order amount {amount} exceeds payments.live_amount_cap {cap} (paise)"
    if refund_amount > cap:
        return "refuse", (
            f"live keys: the refund amount {refund_amount} (payments.refund_amount) exceeds "
            f"payments.live_amount_cap {cap} (paise)"
        )
    return None
