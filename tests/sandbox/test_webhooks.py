"""POST /api/webhooks/razorpay: HMAC over the raw body, dedupe by event id, effects in the database."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import pytest


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event(kind: str, **entities: dict) -> bytes:
    """A compact event body with PHP-style escapes, as Razorpay sends it: re-serialising it breaks the HMAC."""
    envelope = {
        "entity": "event",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "event": kind,
        "contains": list(entities),
        "payload": {name: {"entity": entity} for name, entity in entities.items()},
        "created_at": 1567674606,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(7)


@pytest.fixture
def deliver(https, env):
    def deliver(body: bytes, *, signature: str | None = "sign", event_id: str | None = None):
        headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id or _id("evt_")}
        if signature == "sign":
            signature = _sign(env["RAZORPAY_WEBHOOK_SECRET"], body)
        if signature is not None:
            headers["X-Razorpay-Signature"] = signature
        return https.post(env["GOLIVE_SANDBOX_APP_URL"] + "/api/webhooks/razorpay", content=body, headers=headers)

    return deliver


def _payment(order_id: str) -> dict:
    return {"id": _id("pay_"), "entity": "payment", "amount": 1000, "currency": "INR", "status": "captured",
            "order_id": order_id, "method": "upi", "vpa": "success@razorpay", "notes": [],
            "description": "golive/sandbox ₹10"}  # fmt: skip


def test_signed_raw_body_is_processed(deliver, db):
    payment = _payment(_id("order_"))
    body = _event("payment.captured", payment=payment)
    assert json.dumps(json.loads(body), separators=(",", ":")).encode() != body
    answer = deliver(body)
    assert answer.status_code == 200
    assert answer.json() == {"status": "processed"}
    row = db.execute("select amount, status, method from payments where razorpay_payment_id = %s", (payment["id"],))
    assert row.fetchone() == (1000, "captured", "upi")


def test_the_app_answers_what_it_recorded_for_a_payment(https, env, deliver):
    payment = _payment(_id("order_"))
    url = env["GOLIVE_SANDBOX_APP_URL"] + "/api/payments/"
    unknown = https.get(url + payment["id"])
    assert (unknown.status_code, unknown.json()) == (404, {"error": f"no payment {payment['id']} recorded"})
    assert deliver(_event("payment.captured", payment=payment)).status_code == 200
    recorded = https.get(url + payment["id"])
    expected = {"razorpay_payment_id": payment["id"], "amount": 1000, "currency": "INR", "status": "captured"}
    assert (recorded.status_code, recorded.json()) == (200, expected)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (None, "missing X-Razorpay-Signature"),
        ("", "missing X-Razorpay-Signature"),
        ("0" * 64, "invalid X-Razorpay-Signature"),
        ("key-secret", "invalid X-Razorpay-Signature"),
        ("uppercase", "invalid X-Razorpay-Signature"),
        ("re-serialised", "invalid X-Razorpay-Signature"),
    ],
)
def test_bad_or_missing_signature_is_refused_and_writes_nothing(deliver, env, db, signature, message):
    body = _event("payment.captured", payment=_payment(_id("order_")))
    forged = {
        "key-secret": _sign(env["RAZORPAY_KEY_SECRET"], body),
        "uppercase": _sign(env["RAZORPAY_WEBHOOK_SECRET"], body).upper(),
        "re-serialised": _sign(env["RAZORPAY_WEBHOOK_SECRET"], json.dumps(json.loads(body)).encode()),
    }
    event_id = _id("evt_")
    answer = deliver(body, signature=forged.get(signature, signature), event_id=event_id)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert db.execute("select count(*) from webhook_events where event_id = %s", (event_id,)).fetchone() == (0,)


def test_duplicate_event_id_is_processed_once(deliver, db):
    event_id = _id("evt_")
    refund = {"id": _id("rfnd_"), "entity": "refund", "amount": 500, "currency": "INR",
              "payment_id": _id("pay_"), "status": "processed", "notes": []}  # fmt: skip
    body = _event("refund.processed", refund=refund, payment=_payment(_id("order_")))
    first, second = deliver(body, event_id=event_id), deliver(body, event_id=event_id)
    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert (second.status_code, second.json()) == (200, {"status": "duplicate"})
    assert db.execute("select count(*) from webhook_events where event_id = %s", (event_id,)).fetchone() == (1,)
    assert db.execute(
        "select count(*), min(amount) from refunds where razorpay_refund_id = %s", (refund["id"],)
    ).fetchone() == (1, 500)


def test_order_paid_marks_the_order_paid_and_invoices_it(https, env, deliver, db):
    created = https.post(
        env["GOLIVE_SANDBOX_APP_URL"] + "/api/orders", json={"amount": 1000, "currency": "INR", "receipt": "inv-1"}
    ).json()
    order = {"id": created["razorpay_order_id"], "entity": "order", "amount": 1000, "amount_paid": 1000,
             "amount_due": 0, "currency": "INR", "receipt": "inv-1", "status": "paid", "attempts": 1}  # fmt: skip
    answer = deliver(_event("order.paid", payment=_payment(order["id"]), order=order))
    assert answer.status_code == 200
    assert db.execute("select status from orders where id = %s", (created["id"],)).fetchone() == ("paid",)
    invoice = db.execute("select amount, currency from invoices where order_id = %s", (created["id"],))
    assert invoice.fetchone() == (1000, "INR")


def test_signed_body_that_is_not_an_event_is_refused(deliver):
    answer = deliver(b'{"hello":"world"}')
    assert answer.status_code == 400
    assert "not a Razorpay event" in answer.json()["error"]
