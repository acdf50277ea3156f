"""The Razorpay API stand-in: orders, payments, captures, refunds and the webhook list of one test account.

It answers like api.razorpay.com: HTTP Basic auth with the key pair, every path with or without a trailing
slash, entities and collections in Razorpay's shapes, and every error in Razorpay's envelope
(see razorpay_rules). Paths it does not serve get Razorpay's 400 "The requested URL was not found on the server."

Real customers pay through Checkout in a browser; the sandbox has none, so one sandbox-only route stands in for
the customer: POST /v1/__sandbox/payments {"order_id", "method"?} pays an order server-side. The payment is
authorized, then captured at once when the order (payment_capture) or the account (Store.razorpay_auto_capture)
asks for automatic capture, which also marks the order paid.

Every booked refund is recorded in the Store with the X-Refund-Idempotency key it was requested with (and how
many requests with that key were answered with it since), so tests can see what a client really sent.

Refund timing: a refund request stays in flight for REFUND_IN_FLIGHT_SECONDS before it is booked, so a second
request with the same X-Refund-Idempotency key arriving meanwhile gets Razorpay's 409. A booked refund is
"pending" and reads as "processed" from REFUND_SETTLE_SECONDS after its creation on.

Webhooks: like Razorpay, the stand-in POSTs every event to each active account webhook subscribed to it, as
compact PHP-style JSON signed with the webhook's secret (X-Razorpay-Signature, X-Razorpay-Event-Id), and
retries a delivery that gets no 2xx within DELIVERY_TIMEOUT_SECONDS. Events: payment.authorized,
payment.captured and order.paid (on capture), refund.created (on booking) and refund.processed (on settling).

Fault "razorpay-keys-revoked": the key pair is refused with 401 "Authentication failed", as Razorpay answers
for a key that was revoked on the Dashboard.
GET /v1/webhooks lists the account's webhooks as the merchant API does (Razorpay's own plugins read it): events
as a map of name to true, and no secret_exists (only the partner API, /v2/accounts/{id}/webhooks, reports it).

Faults "razorpay-webhook-missing", "razorpay-webhook-inactive", "razorpay-webhook-event-missing": GET /v1/webhooks
lists no webhook, lists them disabled, or lists them without refund.processed (what the Dashboard would show;
deliveries go on, so only the configuration check sees it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from golive.sandbox.standins import razorpay_rules as rules
from golive.sandbox.standins.catch_all import catch_all
from golive.sandbox.standins.razorpay_rules import RazorpayError, invalid, refused
from golive.sandbox.standins.store import FaultSwitch, Store, new_entity_id

REFUND_IN_FLIGHT_SECONDS = 0.3
REFUND_SETTLE_SECONDS = 0.5
KEYS_REVOKED_FAULT = "razorpay-keys-revoked"
WEBHOOK_MISSING_FAULT = "razorpay-webhook-missing"
WEBHOOK_INACTIVE_FAULT = "razorpay-webhook-inactive"
WEBHOOK_EVENT_MISSING_FAULT = "razorpay-webhook-event-missing"
DROPPED_EVENT = "refund.processed"  # what the account's webhook lacks under WEBHOOK_EVENT_MISSING_FAULT
DELIVERY_TIMEOUT_SECONDS = 5.0  # Razorpay's window for a 2xx
DELIVERY_RETRY_DELAYS = (1.0, 2.0)  # then it retries (Razorpay backs off for 24 h; the sandbox gives up sooner)
ACCOUNT_ID = "acc_GoLiveSandbox01"

FEE_RATE = 0.02  # Razorpay's standard domestic fee
GST_RATE = 0.18  # charged on the fee

ORDER_FIELDS = frozenset({"amount", "currency", "receipt", "notes", "partial_payment", "payment_capture"})
CAPTURE_FIELDS = frozenset({"amount", "currency"})
REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
SANDBOX_PAYMENT_FIELDS = frozenset({"order_id", "method"})
PAYMENT_METHODS = ("card", "netbanking", "upi", "wallet")
REFUND_SPEEDS = ("normal", "optimum")

Entity = dict[str, Any]
Handler = Callable[[Request, str], Awaitable[Entity]]


def _public(entity: Entity) -> Entity:
    """The entity as the API shows it: bookkeeping keys (leading underscore) left out."""
    return {key: value for key, value in entity.items() if not key.startswith("_")}


def _method_details(method: str) -> Entity:
    details: Entity = {"card_id": None, "bank": None, "wallet": None, "vpa": None}
    if method == "card":
        details["card_id"] = new_entity_id("card_")
    elif method == "netbanking":
        details["bank"] = "HDFC"
    elif method == "upi":
        details["vpa"] = "success@razorpay"
    else:
        details["wallet"] = "payzapp"
    return details


@dataclass
class _IdempotentRefund:
    request: tuple[str, str]  # (payment id, canonical JSON body) of the first request
    refund_id: str | None = None  # None while that request is still in flight


@dataclass
class _Account:
    key_id: str
    key_secret: str
    faults: FaultSwitch
    store: Store
    orders: dict[str, Entity] = field(default_factory=dict)
    payments: dict[str, Entity] = field(default_factory=dict)
    refunds: dict[str, Entity] = field(default_factory=dict)
    idempotent_refunds: dict[str, _IdempotentRefund] = field(default_factory=dict)
    webhook_verify: ssl.SSLContext | bool = True
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)

    def routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        ident = "(?P<ident>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/v1/orders", self.list_orders),
            ("POST", "/v1/orders", self.create_order),
            ("GET", f"/v1/orders/{ident}", self.fetch_order),
            ("GET", f"/v1/orders/{ident}/payments", self.list_order_payments),
            ("GET", "/v1/payments", self.list_payments),
            ("GET", f"/v1/payments/{ident}", self.fetch_payment),
            ("POST", f"/v1/payments/{ident}/capture", self.capture_payment),
            ("POST", f"/v1/payments/{ident}/refund", self.refund_payment),
            ("GET", f"/v1/payments/{ident}/refunds", self.list_payment_refunds),
            ("GET", "/v1/refunds", self.list_refunds),
            ("GET", f"/v1/refunds/{ident}", self.fetch_refund),
            ("GET", "/v1/webhooks", self.list_webhooks),
            ("POST", "/v1/__sandbox/payments", self.complete_payment),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    def authenticate(self, request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials:
            raise refused(rules.NO_API_KEY, 401)
        try:
            pair = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise refused(rules.AUTHENTICATION_FAILED, 401) from None
        key_id, separator, key_secret = pair.partition(":")
        if not separator:
            raise refused(rules.AUTHENTICATION_FAILED, 401)
        if not key_id:
            raise refused(rules.NO_API_KEY, 401)
        if not hmac.compare_digest(key_id.encode(), self.key_id.encode()):
            raise refused(rules.API_KEY_INVALID, 401)
        if not hmac.compare_digest(key_secret.encode(), self.key_secret.encode()):
            raise refused(rules.API_SECRET_INVALID, 401)
        if self.faults.on(KEYS_REVOKED_FAULT):
            raise refused(rules.AUTHENTICATION_FAILED, 401)

    # -- lookups and collections ------------------------------------------------------------------------------

    @staticmethod
    def find(table: dict[str, Entity], prefix: str, ident: str) -> Entity:
        if not re.fullmatch(f"{prefix}[A-Za-z0-9]{{14}}", ident):
            raise invalid(f"{ident} is not a valid id")
        entity = table.get(ident)
        if entity is None:
            raise invalid(rules.ID_DOES_NOT_EXIST)
        return entity

    @staticmethod
    def page(request: Request, items: Iterable[Entity]) -> Entity:
        """A Razorpay collection, newest first; `items` come oldest first, already as the API shows them."""
        query = request.query_params
        count = rules.query_int(query, "count", minimum=1, maximum=rules.MAX_PAGE) or rules.DEFAULT_PAGE
        skip = rules.query_int(query, "skip") or 0
        since = rules.query_int(query, "from")
        until = rules.query_int(query, "to")
        chosen = [
            item
            for item in reversed(list(items))
            if (since is None or item["created_at"] >= since) and (until is None or item["created_at"] <= until)
        ][skip : skip + count]
        return {"entity": "collection", "count": len(chosen), "items": chosen}

    def refund_view(self, refund: Entity) -> Entity:
        if refund["status"] == "pending" and time.monotonic() >= refund["_settles_at"]:
            refund["status"] = "processed"
        return _public(refund)

    # -- orders -----------------------------------------------------------------------------------------------

    async def list_orders(self, request: Request, _: str) -> Entity:
        return self.page(request, map(_public, self.orders.values()))

    async def create_order(self, request: Request, _: str) -> Entity:
        body = await rules.json_object(request)
        rules.reject_extra_fields(body, ORDER_FIELDS)
        amount = rules.amount_field(body, required=True)
        order = {
            "id": new_entity_id("order_"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": rules.currency_field(body),
            "receipt": rules.receipt_field(body),
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": rules.notes_field(body),
            "created_at": int(time.time()),
            "_auto_capture": rules.capture_preference(body),
        }
        self.orders[order["id"]] = order
        return _public(order)

    async def fetch_order(self, _: Request, order_id: str) -> Entity:
        return _public(self.find(self.orders, "order_", order_id))

    async def list_order_payments(self, request: Request, order_id: str) -> Entity:
        self.find(self.orders, "order_", order_id)
        return self.page(request, (_public(p) for p in self.payments.values() if p["order_id"] == order_id))

    # -- payments ---------------------------------------------------------------------------------------------

    async def list_payments(self, request: Request, _: str) -> Entity:
        return self.page(request, map(_public, self.payments.values()))

    async def fetch_payment(self, _: Request, payment_id: str) -> Entity:
        return _public(self.find(self.payments, "pay_", payment_id))

    async def capture_payment(self, request: Request, payment_id: str) -> Entity:
        payment = self.find(self.payments, "pay_", payment_id)
        body = await rules.json_object(request)
        rules.reject_extra_fields(body, CAPTURE_FIELDS)
        amount = rules.amount_field(body, required=True)
        rules.currency_field(body)
        self.capture(payment, amount)
        return _public(payment)

    def capture(self, payment: Entity, amount: int | None) -> None:
        if payment["status"] != "authorized":
            raise invalid(rules.ALREADY_CAPTURED if payment["captured"] else rules.NOT_AUTHORIZED)
        if amount != payment["amount"]:
            raise invalid(rules.CAPTURE_AMOUNT_MISMATCH, "amount")
        fee = payment["amount"] * FEE_RATE
        payment.update(status="captured", captured=True, fee=round(fee * (1 + GST_RATE)), tax=round(fee * GST_RATE))
        order = self.orders[payment["order_id"]]
        order.update(status="paid", amount_paid=order["amount"], amount_due=0)
        self.emit("payment.captured", payment=payment)
        self.emit("order.paid", payment=payment, order=order)

    async def complete_payment(self, request: Request, _: str) -> Entity:
        """Sandbox only: the customer pays the order, as Checkout would have done in a browser."""
        body = await rules.json_object(request)
        rules.reject_extra_fields(body, SANDBOX_PAYMENT_FIELDS)
        order_id = body.get("order_id")
        if not isinstance(order_id, str):
            raise invalid("The order_id field is required.", "order_id")
        order = self.find(self.orders, "order_", order_id)
        method = rules.choice_field(body, "method", PAYMENT_METHODS)
        if order["status"] == "paid":
            raise invalid(rules.ORDER_ALREADY_PAID)
        payment = {
            "id": new_entity_id("pay_"),
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": "authorized",
            "order_id": order_id,
            "invoice_id": None,
            "international": False,
            "method": method,
            "amount_refunded": 0,
            "refund_status": None,
            "captured": False,
            "description": None,
            **_method_details(method),
            "email": "customer@example.com",
            "contact": "+919000090000",
            "notes": [],
            "fee": None,
            "tax": None,
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
            "acquirer_data": {},
            "created_at": int(time.time()),
        }
        self.payments[payment["id"]] = payment
        order.update(status="attempted", attempts=order["attempts"] + 1)
        self.emit("payment.authorized", payment=payment)
        auto_capture = order["_auto_capture"]
        if auto_capture is None:
            auto_capture = self.store.razorpay_auto_capture
        if auto_capture:
            self.capture(payment, payment["amount"])
        return _public(payment)

    # -- refunds ----------------------------------------------------------------------------------------------

    async def refund_payment(self, request: Request, payment_id: str) -> Entity:
        payment = self.find(self.payments, "pay_", payment_id)
        body = await rules.json_object(request)
        key = rules.idempotency_key(request)
        rules.reject_extra_fields(body, REFUND_FIELDS)
        amount = rules.amount_field(body, required=False)
        speed = rules.choice_field(body, "speed", REFUND_SPEEDS)
        notes = rules.notes_field(body)
        receipt = rules.receipt_field(body)
        if key is not None:
            replay = self.claim_idempotency_key(key, (payment_id, json.dumps(body, sort_keys=True)))
            if replay is not None:
                return replay
        await asyncio.sleep(REFUND_IN_FLIGHT_SECONDS)
        try:
            refund = self.book_refund(payment, amount, speed, notes, receipt)
        except RazorpayError:
            if key is not None:
                del self.idempotent_refunds[key]
            raise
        if key is not None:
            self.idempotent_refunds[key].refund_id = refund["id"]
        self.store.record_razorpay_refund(refund["id"], payment_id, refund["amount"], key)
        return self.refund_view(refund)

    def claim_idempotency_key(self, key: str, request: tuple[str, str]) -> Entity | None:
        """Reserves the key for this request, or answers from the request that already holds it."""
        earlier = self.idempotent_refunds.get(key)
        if earlier is None:
            self.idempotent_refunds[key] = _IdempotentRefund(request)
            return None
        if earlier.refund_id is None:
            raise refused(rules.IDEMPOTENCY_IN_PROGRESS, 409)
        if earlier.request != request:
            raise refused(rules.IDEMPOTENCY_DIFFERENT_REQUEST, 409)
        self.store.record_razorpay_refund_replay(earlier.refund_id)
        return self.refund_view(self.refunds[earlier.refund_id])

    def book_refund(
        self, payment: Entity, amount: int | None, speed: str, notes: Entity | list[Any], receipt: str | None
    ) -> Entity:
        if not payment["captured"]:
            raise invalid(rules.NOT_CAPTURED)
        remaining = payment["amount"] - payment["amount_refunded"]
        if remaining == 0:
            raise invalid(rules.FULLY_REFUNDED)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise invalid(rules.REFUND_TOO_LARGE, "amount")
        payment["amount_refunded"] += amount
        if payment["amount_refunded"] == payment["amount"]:
            payment.update(status="refunded", refund_status="full")
        else:
            payment["refund_status"] = "partial"
        refund = {
            "id": new_entity_id("rfnd_"),
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": payment["id"],
            "notes": notes,
            "receipt": receipt,
            "acquirer_data": {"arn": None},
            "created_at": int(time.time()),
            "batch_id": None,
            "status": "pending",
            "speed_processed": "normal",
            "speed_requested": speed,
            "_settles_at": time.monotonic() + REFUND_SETTLE_SECONDS,
        }
        self.refunds[refund["id"]] = refund
        self.emit("refund.created", refund=refund, payment=payment)
        asyncio.get_running_loop().call_later(REFUND_SETTLE_SECONDS, self.settle, refund["id"])
        return refund

    def settle(self, refund_id: str) -> None:
        """The refund is processed: announced once by webhook, whether or not someone read it meanwhile."""
        refund = self.refunds[refund_id]
        refund["status"] = "processed"
        self.emit("refund.processed", refund=refund, payment=self.payments[refund["payment_id"]])

    async def list_refunds(self, request: Request, _: str) -> Entity:
        return self.page(request, map(self.refund_view, self.refunds.values()))

    async def fetch_refund(self, _: Request, refund_id: str) -> Entity:
        return self.refund_view(self.find(self.refunds, "rfnd_", refund_id))

    async def list_payment_refunds(self, request: Request, payment_id: str) -> Entity:
        self.find(self.payments, "pay_", payment_id)
        mine = (refund for refund in self.refunds.values() if refund["payment_id"] == payment_id)
        return self.page(request, map(self.refund_view, mine))

    # -- webhooks ---------------------------------------------------------------------------------------------

    async def list_webhooks(self, request: Request, _: str) -> Entity:
        webhooks = [] if self.faults.on(WEBHOOK_MISSING_FAULT) else self.store.razorpay_webhook_list()
        for webhook in webhooks:
            if self.faults.on(WEBHOOK_INACTIVE_FAULT):
                webhook.update(active=False, disabled_at=webhook["updated_at"])
            if self.faults.on(WEBHOOK_EVENT_MISSING_FAULT):
                webhook["events"] = {k: v for k, v in webhook["events"].items() if k != DROPPED_EVENT}
        return self.page(request, webhooks)

    def emit(self, event: str, **entities: Entity) -> None:
        """Delivers event to every active webhook subscribed to it, in the background, as Razorpay does."""
        targets = self.store.razorpay_webhook_targets(event)
        if not targets:
            return
        envelope = {
            "entity": "event",
            "account_id": ACCOUNT_ID,
            "event": event,
            "contains": list(entities),
            "payload": {name: {"entity": _public(entity)} for name, entity in entities.items()},
            "created_at": int(time.time()),
        }
        body = json.dumps(envelope, separators=(",", ":")).replace("/", "\\/").encode()
        event_id = new_entity_id("evt_")
        loop = asyncio.get_running_loop()
        for url, secret in targets:
            self.store.razorpay_delivery_started()
            task = loop.create_task(self.deliver(event, event_id, url, secret, body))
            self.deliveries.add(task)
            task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self.deliveries.discard(task)
        self.store.razorpay_delivery_ended()

    async def deliver(self, event: str, event_id: str, url: str, secret: str | None, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id,
                   "User-Agent": "Razorpay-Webhook/v1"}  # fmt: skip
        if secret:
            headers["X-Razorpay-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        timeout = httpx.Timeout(DELIVERY_TIMEOUT_SECONDS)
        async with httpx.AsyncClient(verify=self.webhook_verify, timeout=timeout, trust_env=False) as client:
            for attempt, delay in enumerate((0.0, *DELIVERY_RETRY_DELAYS), start=1):
                await asyncio.sleep(delay)
                record: Entity = {"event": event, "event_id": event_id, "url": url, "attempt": attempt,
                                  "status": None, "error": None, "at": time.time()}  # fmt: skip
                try:
                    answer = await client.post(url, content=body, headers=headers)
                    record["status"] = answer.status_code
                except httpx.HTTPError as error:
                    record["error"] = type(error).__name__
                self.store.record_razorpay_delivery(record)
                if record["status"] is not None and 200 <= record["status"] < 300:
                    return


def create_razorpay_app(
    key_id: str, key_secret: str, faults: FaultSwitch, store: Store, webhook_ca: Path | None = None
) -> Starlette:
    """The Razorpay API of one test account whose key pair is (key_id, key_secret).

    Webhook deliveries verify the receiver's TLS certificate against webhook_ca (else the system store).
    """
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(webhook_ca)) if webhook_ca else True
    account = _Account(key_id, key_secret, faults, store, webhook_verify=verify)
    routes = account.routes()

    async def dispatch(request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/")
        try:
            for method, pattern, handler in routes:
                match = pattern.fullmatch(path)
                if match is not None and method == request.method:
                    account.authenticate(request)
                    return JSONResponse(await handler(request, match.groupdict().get("ident", "")))
            raise refused(rules.URL_NOT_FOUND, 400)
        except RazorpayError as error:
            return JSONResponse({"error": error.body}, status_code=error.status)

    return Starlette(routes=[catch_all(dispatch)])
