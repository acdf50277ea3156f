"""The Razorpay stand-in delivers events like Razorpay: signed compact JSON to each subscribed active webhook,
retried when not answered 2xx; the webhook list never shows a secret, and its faults change only the listing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import razorpay

from golive.sandbox.standins import Store
from tests.standins.accounts import KEY_ID, KEY_SECRET, TIMEOUT, Faults

SECRET = "Wh7Lm2Np9Rs4Tv6Wy8Za1Bc3Dd5Ee7Fq"


@contextmanager
def receiver(statuses: list[int]) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP webhook receiver answering the given statuses in turn (then 200); yields its URL and the requests."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append({"headers": dict(self.headers), "body": body})
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def webhook(store: Store, url: str, events: list[str]) -> Iterator[dict]:
    configured = store.add_razorpay_webhook(url, events, secret=SECRET)
    try:
        yield configured
    finally:
        with store.lock:
            store.razorpay_webhooks[:] = [w for w in store.razorpay_webhooks if w["id"] != configured["id"]]


def wait_for(received: list[dict], count: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while len(received) < count:
        assert time.monotonic() < deadline, f"{len(received)} deliveries, expected {count}"
        time.sleep(0.05)


@pytest.fixture
def client(razorpay_url):
    return razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=razorpay_url)


def pay(razorpay_url: str, order_id: str) -> dict:
    answer = httpx.post(f"{razorpay_url}/v1/__sandbox/payments", json={"order_id": order_id},
                        auth=(KEY_ID, KEY_SECRET), timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_capture_and_refund_are_delivered_signed(client, razorpay_url, store: Store):
    events = ["payment.captured", "order.paid", "refund.processed"]
    with receiver([]) as (url, received), webhook(store, url, events):
        order = client.order.create({"amount": 5000, "currency": "INR", "receipt": "hooks/1"}, timeout=TIMEOUT)
        payment = pay(razorpay_url, order["id"])
        wait_for(received, 2)
        client.payment.refund(payment["id"], {"amount": 1000}, timeout=TIMEOUT)
        deadline = time.monotonic() + 5
        while not any(b'"refund.processed"' in d["body"] and payment["id"].encode() in d["body"] for d in received):
            assert time.monotonic() < deadline, "refund.processed never delivered"
            time.sleep(0.05)
    mine = [d for d in received if payment["id"].encode() in d["body"]]  # refunds of other tests settle too
    kinds = []
    for delivery in mine:
        headers, body = delivery["headers"], delivery["body"]
        assert headers["X-Razorpay-Signature"] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Razorpay-Event-Id"].startswith("evt_")
        assert b", " not in body
        event = json.loads(body)
        assert event["entity"] == "event"
        kinds.append(event["event"])
    assert sorted(kinds) == ["order.paid", "payment.captured", "refund.processed"]
    refund_event = next(json.loads(d["body"]) for d in mine if b'"refund.processed"' in d["body"])
    assert refund_event["contains"] == ["refund", "payment"]
    assert refund_event["payload"]["refund"]["entity"]["status"] == "processed"
    assert refund_event["payload"]["payment"]["entity"]["amount_refunded"] == 1000
    order_paid = next(d["body"] for d in mine if b'"order.paid"' in d["body"])
    assert json.loads(order_paid)["payload"]["order"]["entity"]["status"] == "paid"
    assert b"_auto_capture" not in order_paid
    assert b"hooks\\/1" in order_paid  # PHP-style escapes


def test_an_unanswered_delivery_is_retried_with_the_same_event_id(client, razorpay_url, store: Store):
    with receiver([500]) as (url, received), webhook(store, url, ["payment.captured"]):
        pay(razorpay_url, client.order.create({"amount": 5000, "currency": "INR"}, timeout=TIMEOUT)["id"])
        wait_for(received, 2)
    received = [d for d in received if b'"payment.captured"' in d["body"]]
    assert received[0]["headers"]["X-Razorpay-Event-Id"] == received[1]["headers"]["X-Razorpay-Event-Id"]
    assert received[0]["body"] == received[1]["body"]
    attempts = [d for d in store.razorpay_deliveries if d["url"] == url]
    assert [(d["attempt"], d["status"]) for d in attempts] == [(1, 500), (2, 200)]


def test_unsubscribed_webhooks_get_nothing(client, razorpay_url, store: Store):
    with receiver([]) as (url, received), webhook(store, url, ["refund.created"]):
        pay(razorpay_url, client.order.create({"amount": 5000, "currency": "INR"}, timeout=TIMEOUT)["id"])
        time.sleep(0.5)
    assert received == []


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("razorpay-webhook-missing", lambda mine: mine is None),
        ("razorpay-webhook-inactive", lambda mine: mine["active"] is False and mine["disabled_at"] > 0),
        ("razorpay-webhook-event-missing", lambda mine: "refund.processed" not in mine["events"]),
    ],
)
def test_listing_faults(client, store: Store, faults: Faults, fault, check):
    with webhook(store, "https://shop.example/hook", ["payment.captured", "refund.processed"]) as configured:
        faults.active.add(fault)
        listing = client.webhook.all({"count": 100}, timeout=TIMEOUT)
        mine = next((w for w in listing["items"] if w["id"] == configured["id"]), None)
        assert check(mine)
        faults.active.clear()
        healthy = client.webhook.all({"count": 100}, timeout=TIMEOUT)
    assert all("_secret" not in w and SECRET not in json.dumps(w) for w in healthy["items"])
    assert any(w["id"] == configured["id"] and w["active"] for w in healthy["items"])
