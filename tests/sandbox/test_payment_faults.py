"""The payment faults of the sandbox: each breaks the app's webhook endpoint, its order endpoint or the stand-in's
webhook list the way it says, and only while it is on; and the stand-in delivers real payments to the app."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import pytest


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event(payment_id: str, amount: int = 1000) -> bytes:
    payment = {"id": payment_id, "entity": "payment", "amount": amount, "currency": "INR", "status": "captured",
               "order_id": "order_" + secrets.token_hex(7), "method": "upi", "description": "go/faults"}  # fmt: skip
    envelope = {"entity": "event", "event": "payment.captured", "contains": ["payment"],
                "payload": {"payment": {"entity": payment}}, "created_at": 1567674606}  # fmt: skip
    return json.dumps(envelope, separators=(",", ":")).replace("/", "\\/").encode()


@pytest.fixture
def post(https, env):
    def post(body: bytes, signature: str | None, event_id: str | None = None, timeout: float = 10.0):
        headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id or "evt_" + secrets.token_hex(7)}
        if signature is not None:
            headers["X-Razorpay-Signature"] = signature
        url = env["GOLIVE_SANDBOX_APP_URL"] + "/api/webhooks/razorpay"
        return https.post(url, content=body, headers=headers, timeout=timeout)

    return post


def _amount(db, payment_id: str) -> int:
    return db.execute("select coalesce(sum(amount), 0) from payments where razorpay_payment_id = %s",
                      (payment_id,)).fetchone()[0]  # fmt: skip


def test_accepts_bad_signature(post, switch, db):
    switch("app-webhook-accepts-bad-signature")
    payment_id = "pay_" + secrets.token_hex(7)
    assert post(_event(payment_id), None).status_code == 200
    assert _amount(db, payment_id) == 1000
    switch()
    assert post(_event("pay_" + secrets.token_hex(7)), "0" * 64).status_code == 400


def test_reserialised_json_refuses_razorpays_escaped_bodies(post, switch, env):
    body = _event("pay_" + secrets.token_hex(7))
    switch("app-webhook-verifies-reserialised-json")
    assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body)).status_code == 400
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert post(compact, _sign(env["RAZORPAY_WEBHOOK_SECRET"], compact)).status_code == 200
    switch()
    assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body)).status_code == 200


def test_accepts_key_secret(post, switch, env):
    body = _event("pay_" + secrets.token_hex(7))
    switch("app-webhook-accepts-key-secret")
    assert post(body, _sign(env["RAZORPAY_KEY_SECRET"], body)).status_code == 200
    switch()
    body = _event("pay_" + secrets.token_hex(7))
    assert post(body, _sign(env["RAZORPAY_KEY_SECRET"], body)).status_code == 400


def test_processes_duplicates(post, switch, env, db):
    payment_id = "pay_" + secrets.token_hex(7)
    body, event_id = _event(payment_id), "evt_" + secrets.token_hex(7)
    switch("app-webhook-processes-duplicates")
    for _ in range(2):
        assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body), event_id).status_code == 200
    assert _amount(db, payment_id) == 2000
    switch()
    assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body), event_id).json() == {"status": "duplicate"}
    assert _amount(db, payment_id) == 2000


def test_slow_handler(post, switch, env):
    body = _event("pay_" + secrets.token_hex(7))
    switch("app-webhook-slow")
    started = time.monotonic()
    assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body)).status_code == 200
    assert time.monotonic() - started >= 5.5


def test_webhook_down_and_drops_events(post, switch, env, db):
    for fault, status in (("app-webhook-down", 503), ("app-webhook-drops-events", 200)):
        payment_id = "pay_" + secrets.token_hex(7)
        body = _event(payment_id)
        switch(fault)
        assert post(body, _sign(env["RAZORPAY_WEBHOOK_SECRET"], body)).status_code == status
        assert _amount(db, payment_id) == 0


def _paid_order(https, env) -> dict:
    created = https.post(env["GOLIVE_SANDBOX_APP_URL"] + "/api/orders",
                         json={"amount": 5000, "currency": "INR", "receipt": "faults"}).json()  # fmt: skip
    auth = (env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"])
    payment = https.post(env["GOLIVE_SANDBOX_RAZORPAY_URL"] + "/v1/__sandbox/payments", auth=auth,
                         json={"order_id": created["razorpay_order_id"]}).json()  # fmt: skip
    return {**created, "payment_id": payment["id"]}


def _wait(db, query: str, params: tuple, want: object, seconds: float = 8.0) -> object:
    deadline = time.monotonic() + seconds
    while True:
        got = db.execute(query, params).fetchone()[0]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_the_stand_in_delivers_payments_and_refunds_to_the_app(https, env, db):
    order = _paid_order(https, env)
    assert _wait(db, "select status from orders where id = %s", (order["id"],), "paid") == "paid"
    assert _wait(db, "select count(*) from invoices where order_id = %s", (order["id"],), 1) == 1
    auth = (env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"])
    refund = https.post(f"{env['GOLIVE_SANDBOX_RAZORPAY_URL']}/v1/payments/{order['payment_id']}/refund",
                        auth=auth, json={"amount": 1000}).json()  # fmt: skip
    query = "select count(*) from refunds where razorpay_refund_id = %s and status = 'processed'"
    assert _wait(db, query, (refund["id"],), 1) == 1


def test_refund_not_recorded_and_invoice_not_generated(https, env, db, switch):
    switch("app-refund-not-recorded", "app-invoice-not-generated")
    order = _paid_order(https, env)
    assert _wait(db, "select status from orders where id = %s", (order["id"],), "paid") == "paid"
    auth = (env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"])
    refund = https.post(f"{env['GOLIVE_SANDBOX_RAZORPAY_URL']}/v1/payments/{order['payment_id']}/refund",
                        auth=auth, json={"amount": 1000}).json()  # fmt: skip
    time.sleep(1.5)
    assert db.execute("select count(*) from invoices where order_id = %s", (order["id"],)).fetchone() == (0,)
    assert db.execute("select count(*) from refunds where razorpay_refund_id = %s", (refund["id"],)).fetchone() == (0,)


def test_orders_not_at_razorpay(https, env, switch):
    switch("app-orders-not-at-razorpay")
    created = https.post(env["GOLIVE_SANDBOX_APP_URL"] + "/api/orders",
                         json={"amount": 5000, "currency": "INR", "receipt": "stub"}).json()  # fmt: skip
    auth = (env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"])
    held = https.get(f"{env['GOLIVE_SANDBOX_RAZORPAY_URL']}/v1/orders/{created['razorpay_order_id']}", auth=auth)
    assert (held.status_code, held.json()["error"]["description"]) == (400, "The id provided does not exist")


def test_webhook_list_faults(https, env, switch):
    auth = (env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"])

    def listing() -> list[dict]:
        return https.get(env["GOLIVE_SANDBOX_RAZORPAY_URL"] + "/v1/webhooks", auth=auth).json()["items"]

    [healthy] = listing()
    assert healthy["url"] == env["GOLIVE_SANDBOX_APP_URL"] + "/api/webhooks/razorpay"
    assert env["RAZORPAY_WEBHOOK_SECRET"] not in json.dumps(healthy)
    switch("razorpay-webhook-missing")
    assert listing() == []
    switch("razorpay-webhook-inactive")
    assert listing()[0]["active"] is False
    switch("razorpay-webhook-event-missing")
    assert "refund.processed" not in listing()[0]["events"]


def test_key_faults_edit_the_environment(sandbox, env, switch):
    switch(
        "razorpay-key-trailing-whitespace", "razorpay-webhook-secret-is-key-secret", "razorpay-test-key-in-production"
    )
    faulty = sandbox.environ()
    assert faulty["RAZORPAY_KEY_ID"] == env["RAZORPAY_KEY_ID"] + " "
    assert faulty["RAZORPAY_WEBHOOK_SECRET"] == env["RAZORPAY_KEY_SECRET"]
    assert faulty["GOLIVE_SANDBOX_RAZORPAY_KEY_MODE"] == "live"
