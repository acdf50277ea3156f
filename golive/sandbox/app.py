"""The sandbox's reference app: what a go-live checks (health, login, orders, Razorpay webhooks and the payments
they record, static assets).

Each instance (instance-1, instance-2, canary) is one Starlette app served over HTTPS; the service front is a
round-robin reverse proxy over the baseline instances.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import razorpay
import requests
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from golive.sandbox.rollout import Rollout, RolloutMiddleware, admin_routes
from golive.sandbox.standins import FaultSwitch

# Payment faults (golive.sandbox.faults): how a webhook endpoint or an order endpoint goes wrong in real apps.
WEBHOOK_ACCEPTS_BAD_SIGNATURE = "app-webhook-accepts-bad-signature"
WEBHOOK_RESERIALISES = "app-webhook-verifies-reserialised-json"
WEBHOOK_ACCEPTS_KEY_SECRET = "app-webhook-accepts-key-secret"
WEBHOOK_PROCESSES_DUPLICATES = "app-webhook-processes-duplicates"
WEBHOOK_SLOW = "app-webhook-slow"
WEBHOOK_QUEUES_DUPLICATES = "app-webhook-queues-duplicates"
QUEUE_DELAY_SECONDS = 0.25  # the fault's queue worker credits a redelivered event this long after the answer
REFUND_NOT_RECORDED = "app-refund-not-recorded"
INVOICE_NOT_GENERATED = "app-invoice-not-generated"
WEBHOOK_DOWN = "app-webhook-down"
WEBHOOK_DROPS_EVENTS = "app-webhook-drops-events"
ORDERS_NOT_AT_RAZORPAY = "app-orders-not-at-razorpay"
# TLS-04's: the app answers 400 to a verified event it has no handler for (and plain HTTP forwards to it: edge.py)
WEBHOOK_UNHANDLED_400 = "webhook-plain-http-app-400"
SLOW_WEBHOOK_SECONDS = 6.0

STATIC_ASSET = "/static/app.3f9c2b1e.js"
HSTS = "max-age=31536000; includeSubDomains"
RAZORPAY_TIMEOUT = 10.0
DATABASE_TIMEOUT = 5.0
TOKEN_LIFETIME = 3600

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_ASSET_BODY = b'document.documentElement.dataset.release = "golive-sandbox";\n'
_INDEX_HTML = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>golive sandbox</title><script src="{STATIC_ASSET}" defer></script></head>
<body><h1>golive sandbox</h1></body>
</html>
"""
# Hop-by-hop headers, and Host (which names the front): the front never passes them on.
_NOT_FORWARDED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
# What the front drops: from requests, also the length (recomputed); from responses, also what its own server sets.
_REQUEST_DROPPED = _NOT_FORWARDED | {b"content-length"}
_RESPONSE_DROPPED = _NOT_FORWARDED | {b"date", b"server"}


@dataclass(frozen=True)
class Release:
    """What is deployed: the release tag, its commit and the artifact's digest."""

    tag: str = "v1.4.0"
    commit: str = "5a05267a8904e07aba7bb4efb1958e73ee8f6001"  # what releases.make_release_repo commits
    # the SHA-256 of the image manifest the sandbox's registry holds for it (standins/registry.py)
    digest: str = "sha256:97c40529031b2b56891a3b45784dec8432823f9bca65ef3dbce1e6b36d52bcea"


@dataclass(frozen=True)
class AppSettings:
    """One app instance's configuration (what the real app reads from its environment)."""

    instance: str
    release: Release
    database_url: str = field(repr=False)
    razorpay_url: str
    razorpay_key_id: str
    razorpay_key_secret: str = field(repr=False)
    razorpay_webhook_secret: str = field(repr=False)
    session_secret: bytes = field(repr=False)
    ca_file: Path


def hash_password(password: str) -> str:
    """An scrypt hash of password with its salt, as stored in users.password_hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    scheme, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(computed, bytes.fromhex(digest))


def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def issue_token(secret: bytes, username: str, now: float) -> str:
    """A bearer token any instance can check: base64url(username:expiry).hmac."""
    payload = base64.urlsafe_b64encode(f"{username}:{int(now) + TOKEN_LIFETIME}".encode()).decode()
    return f"{payload}.{_sign(secret, payload.encode())}"


def token_user(secret: bytes, token: str, now: float) -> str | None:
    """The username a valid, unexpired token was issued for, else None."""
    payload, _, signature = token.partition(".")
    if not hmac.compare_digest(_sign(secret, payload.encode()).encode(), signature.encode()):
        return None
    username, _, expiry = base64.urlsafe_b64decode(payload.encode()).decode().rpartition(":")
    return username if expiry.isdigit() and int(expiry) > now else None


def short_reason(error: BaseException, secret: str) -> str:
    """A one-line reason for a database failure, cut to what follows FATAL: and never containing secret."""
    text = " ".join(str(error).split()) or type(error).__name__
    text = text.rpartition("FATAL:")[2].strip() or text
    return text.replace(secret, "***")[:200]


class HSTSMiddleware:
    """Adds Strict-Transport-Security to every HTTPS response that does not carry one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"strict-transport-security" for name, _ in headers):
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


EventHandler = Callable[[psycopg.AsyncConnection[Any], dict[str, Any]], Awaitable[None]]


async def _payment_captured(conn: psycopg.AsyncConnection[Any], payload: dict[str, Any]) -> None:
    payment = payload["payment"]["entity"]
    await conn.execute(
        "insert into payments (razorpay_payment_id, razorpay_order_id, amount, currency, status, method)"
        " values (%s, %s, %s, %s, %s, %s)"
        " on conflict (razorpay_payment_id) do update set status = excluded.status",
        (
            payment["id"],
            payment.get("order_id"),
            payment["amount"],
            payment["currency"],
            payment["status"],
            payment.get("method"),
        ),
    )


async def _refund_processed(conn: psycopg.AsyncConnection[Any], payload: dict[str, Any]) -> None:
    refund = payload["refund"]["entity"]
    await conn.execute(
        "insert into refunds (razorpay_refund_id, razorpay_payment_id, amount, currency, status)"
        " values (%s, %s, %s, %s, %s)"
        " on conflict (razorpay_refund_id) do update set status = excluded.status",
        (refund["id"], refund["payment_id"], refund["amount"], refund["currency"], refund["status"]),
    )


async def _order_paid(conn: psycopg.AsyncConnection[Any], payload: dict[str, Any]) -> None:
    order = payload["order"]["entity"]
    cursor = await conn.execute(
        "insert into orders (razorpay_order_id, amount, currency, receipt, status)"
        " values (%s, %s, %s, %s, 'paid')"
        " on conflict (razorpay_order_id) do update set status = 'paid'"
        " returning id, amount, currency",
        (order["id"], order["amount"], order["currency"], order.get("receipt")),
    )
    row = await cursor.fetchone()
    assert row is not None  # insert ... returning always yields the row
    await conn.execute(
        "insert into invoices (order_id, amount, currency) values (%s, %s, %s) on conflict (order_id) do nothing",
        row,
    )


async def _payment_captured_adding_up(conn: psycopg.AsyncConnection[Any], payload: dict[str, Any]) -> None:
    """Fault WEBHOOK_PROCESSES_DUPLICATES: a handler that credits the amount again on every delivery."""
    payment = payload["payment"]["entity"]
    await conn.execute(
        "insert into payments (razorpay_payment_id, razorpay_order_id, amount, currency, status, method)"
        " values (%s, %s, %s, %s, %s, %s)"
        " on conflict (razorpay_payment_id) do update set amount = payments.amount + excluded.amount",
        (payment["id"], payment.get("order_id"), payment["amount"], payment["currency"], payment["status"],
         payment.get("method")),
    )  # fmt: skip


async def _order_paid_without_invoice(conn: psycopg.AsyncConnection[Any], payload: dict[str, Any]) -> None:
    """Fault INVOICE_NOT_GENERATED: the order is marked paid, the invoice never written."""
    order = payload["order"]["entity"]
    await conn.execute(
        "insert into orders (razorpay_order_id, amount, currency, receipt, status) values (%s, %s, %s, %s, 'paid')"
        " on conflict (razorpay_order_id) do update set status = 'paid'",
        (order["id"], order["amount"], order["currency"], order.get("receipt")),
    )


EVENT_HANDLERS: dict[str, EventHandler] = {
    "payment.captured": _payment_captured,
    "refund.processed": _refund_processed,
    "order.paid": _order_paid,
}


class ReferenceApp:
    """The endpoints of one app instance, bound to its settings, its faults and its database pool."""

    def __init__(self, settings: AppSettings, faults: FaultSwitch) -> None:
        self.settings = settings
        self.faults = faults
        self.razorpay = razorpay.Client(
            auth=(settings.razorpay_key_id, settings.razorpay_key_secret), base_url=settings.razorpay_url
        )
        self.razorpay.cert_path = str(settings.ca_file)  # the SDK otherwise trusts only its bundled CA list
        self._pool: AsyncConnectionPool | None = None
        self.rollout: Rollout | None = None
        self._background: set[asyncio.Task[None]] = set()  # fault-queued work, kept referenced until done

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("the database pool is opened by the app's lifespan")
        return self._pool

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            self.settings.database_url,
            min_size=1,
            max_size=4,
            timeout=DATABASE_TIMEOUT,
            open=False,
            check=AsyncConnectionPool.check_connection,
            name=self.settings.instance,
        )
        await pool.open(wait=False)
        self._pool = pool
        try:
            yield
        finally:
            await pool.close(timeout=DATABASE_TIMEOUT)
            self.razorpay.session.close()

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index),
            Route(STATIC_ASSET, self.asset),
            Route("/api/health", self.health),
            Route("/api/health/db", self.health_db),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/me", self.me),
            Route("/api/orders", self.create_order, methods=["POST"]),
            Route("/api/webhooks/razorpay", self.razorpay_webhook, methods=["POST"]),
            Route("/api/payments/{payment_id}", self.payment, methods=["GET"]),
        ]

    async def index(self, _request: Request) -> Response:
        return HTMLResponse(_INDEX_HTML, headers={"Cache-Control": "no-cache"})

    async def asset(self, _request: Request) -> Response:
        return Response(
            _ASSET_BODY,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def health(self, _request: Request) -> Response:
        unhealthy = (
            self.faults.on("health-unhealthy")
            or self.faults.on("app-down-after-launch")
            or (self.settings.instance == "canary" and self.faults.on("canary-unhealthy"))
            or (self.settings.instance == "instance-2" and self.faults.on("instance-unhealthy"))
        )
        version, commit = self.settings.release.tag, self.settings.release.commit
        if self.rollout is not None:  # the go-live state says which release this instance serves right now
            version, commit = self.rollout.release_of(self.settings.instance)
        body = {
            "status": "degraded" if unhealthy else "ok",
            "version": version,
            "commit": commit,
            "instance": self.settings.instance,
        }
        return JSONResponse(body, status_code=503 if unhealthy else 200)

    async def health_db(self, _request: Request) -> Response:
        started = time.perf_counter()
        try:
            await self._select_one()
        except (psycopg.Error, TimeoutError) as error:
            reason = short_reason(error, psycopg.conninfo.conninfo_to_dict(self.settings.database_url)["password"])
            return JSONResponse({"status": "error", "database": reason}, status_code=503)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return JSONResponse({"status": "ok", "database": "ok", "latency_ms": latency_ms})

    def _database_unreachable(self) -> bool:
        """The faults that make this instance's database connection fail (a wrong password)."""
        instance = self.settings.instance
        return (
            self.faults.on("health-db-down")
            or self.faults.on("app-down-after-launch")
            or (instance == "canary" and self.faults.on("canary-db-down"))
            or (instance == "instance-2" and self.faults.on("instance-db-down"))
        )

    async def _select_one(self) -> None:
        if self._database_unreachable():
            wrong = psycopg.conninfo.make_conninfo(self.settings.database_url, password=secrets.token_hex(12))
            async with await psycopg.AsyncConnection.connect(wrong) as conn:
                await conn.execute("select 1")
            return
        async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            await conn.execute("select 1")

    async def login(self, request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("username"), str) or not isinstance(body.get("password"), str):
            return _error(400, "expected a JSON object with string fields username and password")
        async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            cursor = await conn.execute("select password_hash from users where username = %s", (body["username"],))
            row = await cursor.fetchone()
        if row is None or not await run_in_threadpool(verify_password, body["password"], row[0]):
            return _error(401, "invalid username or password")
        return JSONResponse({"token": issue_token(self.settings.session_secret, body["username"], time.time())})

    async def me(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        username = token_user(self.settings.session_secret, token, time.time()) if scheme == "Bearer" else None
        if username is None:
            return _error(401, "missing or invalid bearer token")
        return JSONResponse({"username": username})

    async def create_order(self, request: Request) -> Response:
        body = await _json_object(request)
        if body is None:
            return _error(400, "expected a JSON object with amount, currency and receipt")
        amount, currency, receipt = body.get("amount"), body.get("currency"), body.get("receipt")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return _error(400, "amount must be a positive integer (in the currency's smallest unit)")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            return _error(400, "currency must be a three-letter ISO code such as INR")
        if not isinstance(receipt, str) or not 0 < len(receipt) <= 40:
            return _error(400, "receipt must be a string of 1 to 40 characters")
        try:
            if self.faults.on(ORDERS_NOT_AT_RAZORPAY):  # a stubbed gateway left in: an id Razorpay never issued
                order = {"id": "order_" + secrets.token_hex(7), "status": "created"}
            else:
                order = await run_in_threadpool(
                    self.razorpay.order.create,
                    {"amount": amount, "currency": currency, "receipt": receipt},
                    timeout=RAZORPAY_TIMEOUT,
                )
        except razorpay.errors.BadRequestError as error:
            return _error(400, f"Razorpay refused the order: {error}")
        except (razorpay.errors.GatewayError, razorpay.errors.ServerError, requests.RequestException) as error:
            return _error(502, f"Razorpay order creation failed: {type(error).__name__}: {error}")
        async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            cursor = await conn.execute(
                "insert into orders (razorpay_order_id, amount, currency, receipt, status)"
                " values (%s, %s, %s, %s, %s) returning id",
                (order["id"], amount, currency, receipt, order.get("status", "created")),
            )
            row = await cursor.fetchone()
        assert row is not None  # insert ... returning always yields the row
        return JSONResponse({"id": row[0], "razorpay_order_id": order["id"]}, status_code=201)

    async def payment(self, request: Request) -> Response:
        """What the app recorded for a Razorpay payment id (an endpoint golive can read an event's effect from)."""
        payment_id = request.path_params["payment_id"]
        async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            cursor = await conn.execute(
                "select amount, currency, status from payments where razorpay_payment_id = %s", (payment_id,)
            )
            row = await cursor.fetchone()
        if row is None:
            return _error(404, f"no payment {payment_id} recorded")
        amount, currency, status = row
        return JSONResponse(
            {"razorpay_payment_id": payment_id, "amount": amount, "currency": currency, "status": status}
        )

    def _signature_ok(self, raw: bytes, signature: str) -> bool:
        """HMAC over the raw body with the webhook secret; the payment faults break it in their own ways."""
        signed = raw
        if self.faults.on(WEBHOOK_RESERIALISES):  # the "workaround" of razorpay-python#121: parse, dump, verify
            try:
                signed = json.dumps(json.loads(raw), separators=(",", ":")).encode()
            except ValueError:
                return False
        secrets_tried = [self.settings.razorpay_webhook_secret]
        if self.faults.on(WEBHOOK_ACCEPTS_KEY_SECRET):  # "try the key secret too": a forged-event hole
            secrets_tried.append(self.settings.razorpay_key_secret)
        given = signature.encode("latin-1", errors="replace")
        return any(hmac.compare_digest(_sign(s.encode(), signed).encode(), given) for s in secrets_tried)

    def _handler(self, event: str) -> EventHandler | None:
        if event == "refund.processed" and self.faults.on(REFUND_NOT_RECORDED):
            return None
        if event == "order.paid" and self.faults.on(INVOICE_NOT_GENERATED):
            return _order_paid_without_invoice
        if event == "payment.captured" and self.faults.on(WEBHOOK_PROCESSES_DUPLICATES):
            return _payment_captured_adding_up
        return EVENT_HANDLERS.get(event)

    async def _credit_later(self, payload: dict[str, Any]) -> None:
        """Fault WEBHOOK_QUEUES_DUPLICATES: a queue worker that credits a redelivered payment again, a moment
        after the endpoint answered (what only a read after a while can see)."""
        await asyncio.sleep(QUEUE_DELAY_SECONDS)
        async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn, conn.transaction():
            await _payment_captured_adding_up(conn, payload)

    async def razorpay_webhook(self, request: Request) -> Response:
        raw = await request.body()
        signature = request.headers.get("x-razorpay-signature")
        if self.faults.on(WEBHOOK_DOWN):
            return _error(503, "webhook processing is paused")
        if not self.faults.on(WEBHOOK_ACCEPTS_BAD_SIGNATURE):
            if not signature:
                return _error(400, "missing X-Razorpay-Signature header")
            if not self._signature_ok(raw, signature):
                return _error(400, "invalid X-Razorpay-Signature")
        event_id = request.headers.get("x-razorpay-event-id")
        if not event_id:
            return _error(400, "missing X-Razorpay-Event-Id header")
        event = await _json_object(request)
        if event is None or not isinstance(event.get("event"), str) or not isinstance(event.get("payload"), dict):
            return _error(400, "the body is not a Razorpay event (an object with event and payload)")
        handler = self._handler(event["event"])
        if handler is None and self.faults.on(WEBHOOK_UNHANDLED_400):
            return _error(400, f"unhandled event {event['event']}")
        if self.faults.on(WEBHOOK_DROPS_EVENTS):
            return JSONResponse({"status": "processed"})
        try:
            async with self.pool.connection(timeout=DATABASE_TIMEOUT) as conn, conn.transaction():
                cursor = await conn.execute(
                    "insert into webhook_events (event_id, event_type, payload) values (%s, %s, %s)"
                    " on conflict (event_id) do nothing returning id",
                    (event_id, event["event"], Jsonb(event)),
                )
                duplicate = await cursor.fetchone() is None
                if duplicate and self.faults.on(WEBHOOK_QUEUES_DUPLICATES) and event["event"] == "payment.captured":
                    task = asyncio.create_task(self._credit_later(event["payload"]))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
                    return JSONResponse({"status": "queued"})
                if duplicate and not self.faults.on(WEBHOOK_PROCESSES_DUPLICATES):
                    return JSONResponse({"status": "duplicate"})
                if self.faults.on(WEBHOOK_SLOW):
                    await asyncio.sleep(SLOW_WEBHOOK_SECONDS)
                if handler is not None:
                    await handler(conn, event["payload"])
        except (KeyError, TypeError) as error:
            return _error(400, f"malformed {event['event']} payload: {type(error).__name__} {error}")
        return JSONResponse({"status": "processed"})


def create_app(settings: AppSettings, faults: FaultSwitch, rollout: Rollout | None = None) -> Starlette:
    """One instance of the reference app (with the sandbox's go-live state, when given: see rollout.py)."""
    app = ReferenceApp(settings, faults)
    app.rollout = rollout
    routes = app.routes() + (admin_routes(rollout) if rollout is not None else [])
    starlette = Starlette(routes=routes, lifespan=app.lifespan)
    starlette.add_middleware(HSTSMiddleware)
    if rollout is not None:
        starlette.add_middleware(RolloutMiddleware, instance=settings.instance, rollout=rollout)
    return starlette


def proxy_client(ca_file: Path) -> httpx.AsyncClient:
    """The client a sandbox proxy (the front, the CDN edge, port 80) forwards with, verified against the sandbox CA.
    Idle connections are dropped after 1 s, well before uvicorn closes them (5 s): a request sent on a connection
    the upstream is closing fails with "Server disconnected", and the proxy would answer 502 for a healthy app."""
    verify = ssl.create_default_context(cafile=str(ca_file))
    limits = httpx.Limits(keepalive_expiry=1.0)
    return httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(15.0, connect=5.0), limits=limits)


class Front:
    """The service front users reach: forwards each request to the next baseline instance in turn."""

    def __init__(self, upstreams: Sequence[str], ca_file: Path) -> None:
        self._upstreams = itertools.cycle(upstreams)
        self._ca_file = ca_file
        self._client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with proxy_client(self._ca_file) as client:
            self._client = client
            yield

    async def forward(self, request: Request) -> Response:
        if self._client is None:
            raise RuntimeError("the front's HTTP client is opened by its lifespan")
        upstream = next(self._upstreams)
        target = upstream + request.scope["raw_path"].decode("latin-1")
        if request.url.query:
            target += "?" + request.url.query
        headers = [(name, value) for name, value in request.headers.raw if name not in _REQUEST_DROPPED]
        headers += [
            (b"x-forwarded-for", (request.client.host if request.client else "").encode()),
            (b"x-forwarded-proto", request.url.scheme.encode()),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
        ]
        try:
            async with self._client.stream(
                request.method, target, headers=headers, content=await request.body()
            ) as answer:
                body = b"".join([chunk async for chunk in answer.aiter_raw()])
        except httpx.HTTPError as error:
            return _error(502, f"upstream {upstream} failed: {type(error).__name__}: {error}")
        response = Response(body, status_code=answer.status_code)
        kept = [(name.lower(), value) for name, value in answer.headers.raw if name.lower() not in _RESPONSE_DROPPED]
        if not any(name == b"content-length" for name, _ in kept):
            kept.append((b"content-length", str(len(body)).encode()))
        response.raw_headers = kept
        return response


def create_front(upstreams: Sequence[str], ca_file: Path) -> Starlette:
    """The round-robin HTTPS front over the baseline instances at upstreams (verified against ca_file)."""
    front = Front(upstreams, ca_file)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    starlette = Starlette(routes=[Route("/{path:path}", front.forward, methods=methods)], lifespan=front.lifespan)
    starlette.add_middleware(HSTSMiddleware)
    return starlette
