"""The Razorpay stand-in driven by the real razorpay SDK, and by httpx where status codes and bodies matter."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
import razorpay
from razorpay.errors import BadRequestError

from golive.sandbox.standins import Store
from golive.sandbox.standins.razorpay_api import REFUND_SETTLE_SECONDS
from tests.standins.accounts import KEY_ID, KEY_SECRET, TIMEOUT, Faults


def na_error(description: str) -> dict:
    return {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": description,
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": {},
        }
    }


def rule_error(description: str, field: str | None = None) -> dict:
    error = {
        "code": "BAD_REQUEST_ERROR",
        "description": description,
        "source": "business",
        "step": "payment_initiation",
        "reason": "input_validation_failed",
        "metadata": {},
    }
    if field is not None:
        error["field"] = field
    return {"error": error}


@pytest.fixture
def client(razorpay_url):
    return razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=razorpay_url)


@pytest.fixture
def api(razorpay_url):
    with httpx.Client(base_url=razorpay_url, auth=(KEY_ID, KEY_SECRET), timeout=TIMEOUT) as session:
        yield session


def new_order(client, **fields) -> dict:
    return client.order.create({"amount": 50000, "currency": "INR", "receipt": "rcpt#1", **fields}, timeout=TIMEOUT)


def pay(api, order_id: str, **fields) -> dict:
    response = api.post("/v1/__sandbox/payments", json={"order_id": order_id, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def captured_payment(client, api) -> dict:
    return pay(api, new_order(client)["id"])


def test_order_payment_capture_refund_through_the_sdk(client, api):
    order = new_order(client, notes={"run": "golive"}, payment_capture=False)
    assert re.fullmatch(r"order_[A-Za-z0-9]{14}", order["id"])
    assert order["status"] == "created"
    assert (order["amount"], order["amount_due"], order["amount_paid"]) == (50000, 50000, 0)
    assert order["notes"] == {"run": "golive"}

    payment = pay(api, order["id"], method="netbanking")
    assert re.fullmatch(r"pay_[A-Za-z0-9]{14}", payment["id"])
    assert (payment["status"], payment["captured"], payment["bank"]) == ("authorized", False, "HDFC")
    assert client.order.fetch(order["id"], timeout=TIMEOUT)["status"] == "attempted"

    captured = client.payment.capture(payment["id"], 50000, {"currency": "INR"}, timeout=TIMEOUT)
    assert (captured["status"], captured["captured"], captured["fee"], captured["tax"]) == ("captured", True, 1180, 180)
    paid = client.order.fetch(order["id"], timeout=TIMEOUT)
    assert (paid["status"], paid["amount_paid"], paid["amount_due"], paid["attempts"]) == ("paid", 50000, 0, 1)

    refund = client.payment.refund(payment["id"], {"amount": 20000}, timeout=TIMEOUT)
    assert re.fullmatch(r"rfnd_[A-Za-z0-9]{14}", refund["id"])
    assert (refund["amount"], refund["payment_id"], refund["status"]) == (20000, payment["id"], "pending")
    partly = client.payment.fetch(payment["id"], timeout=TIMEOUT)
    assert (partly["amount_refunded"], partly["refund_status"], partly["status"]) == (20000, "partial", "captured")

    deadline = time.monotonic() + REFUND_SETTLE_SECONDS + TIMEOUT
    while client.refund.fetch(refund["id"], timeout=TIMEOUT)["status"] != "processed":
        assert time.monotonic() < deadline, "the refund never reached processed"
        time.sleep(0.1)

    rest = client.payment.refund(payment["id"], {}, timeout=TIMEOUT)
    assert rest["amount"] == 30000
    refunded = client.payment.fetch(payment["id"], timeout=TIMEOUT)
    assert (refunded["status"], refunded["refund_status"], refunded["amount_refunded"]) == ("refunded", "full", 50000)
    listing = client.payment.fetch_multiple_refund(payment["id"], timeout=TIMEOUT)
    assert listing["entity"] == "collection"
    assert [item["id"] for item in listing["items"]] == [rest["id"], refund["id"]]
    assert client.order.fetch(order["id"], timeout=TIMEOUT)["status"] == "paid"


def test_automatic_capture_follows_the_order_then_the_account(client, api, store: Store):
    payment = pay(api, new_order(client)["id"], method="upi")
    assert (payment["status"], payment["vpa"], payment["fee"]) == ("captured", "success@razorpay", 1180)
    assert client.order.fetch(payment["order_id"], timeout=TIMEOUT)["status"] == "paid"

    store.razorpay_auto_capture = False
    try:
        assert pay(api, new_order(client)["id"])["status"] == "authorized"
        assert pay(api, new_order(client, payment_capture=True)["id"])["status"] == "captured"
    finally:
        store.razorpay_auto_capture = True


@pytest.mark.parametrize(
    ("auth", "description"),
    [
        (None, "Please provide your api key for authentication purposes."),
        (("rzp_test_Unknown0Key0Id0", KEY_SECRET), "The api key provided is invalid"),
        ((KEY_ID, "not-the-secret"), "The api secret provided is invalid"),
    ],
)
def test_bad_credentials_are_refused_with_401(razorpay_url, auth, description):
    response = httpx.get(f"{razorpay_url}/v1/orders", auth=auth, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == na_error(description)


def test_unreadable_credentials_fail_authentication(razorpay_url):
    response = httpx.get(f"{razorpay_url}/v1/orders", headers={"Authorization": "Basic ***"}, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (401, na_error("Authentication failed"))


def test_sdk_surfaces_the_secret_error(razorpay_url):
    wrong = razorpay.Client(auth=(KEY_ID, "not-the-secret"), base_url=razorpay_url)
    with pytest.raises(BadRequestError, match="The api secret provided is invalid"):
        wrong.order.all({"count": 1}, timeout=TIMEOUT)


def test_revoked_keys_fail_authentication(api, faults: Faults):
    faults.active.add("razorpay-keys-revoked")
    response = api.get("/v1/orders", params={"count": 1})
    assert (response.status_code, response.json()) == (401, na_error("Authentication failed"))


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nowhere"), ("GET", "/v1/payments/pay_00000000000000/capture"), ("DELETE", "/v1/orders")],
)
def test_unserved_urls_get_razorpays_400(razorpay_url, method, path):
    response = httpx.request(method, f"{razorpay_url}{path}", timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json() == na_error("The requested URL was not found on the server.")


def test_paths_answer_with_and_without_trailing_slash(client, api):
    created = api.post("/v1/orders/", json={"amount": 10000, "currency": "INR"})
    assert created.status_code == 200, created.text
    order_id = created.json()["id"]
    assert api.get(f"/v1/orders/{order_id}/").json()["id"] == order_id
    assert api.get(f"/v1/orders/{order_id}").json()["id"] == order_id


@pytest.mark.parametrize(
    ("body", "description", "field"),
    [
        ({"currency": "INR"}, "The amount field is required.", "amount"),
        ({"amount": "5000", "currency": "INR"}, "The amount must be an integer.", "amount"),
        ({"amount": 5000.5, "currency": "INR"}, "The amount must be an integer.", "amount"),
        ({"amount": 99, "currency": "INR"}, "The amount must be at least INR 1.00", "amount"),
        ({"amount": 5000}, "The currency field is required.", "currency"),
        (
            {"amount": 5000, "currency": "INR", "receipt": "r" * 41},
            "The receipt may not be greater than 40 characters.",
            "receipt",
        ),
    ],
)
def test_order_validation_uses_razorpays_error_envelope(api, body, description, field):
    response = api.post("/v1/orders", json=body)
    assert response.status_code == 400
    assert response.json() == rule_error(description, field)


def test_fields_razorpay_does_not_know_are_refused(api):
    response = api.post("/v1/orders", json={"amount": 5000, "currency": "INR", "colour": "red"})
    assert response.json() == rule_error("colour is/are not required and should not be sent")


def test_receipt_of_40_characters_is_accepted(client):
    assert new_order(client, receipt="r" * 40)["receipt"] == "r" * 40


def test_sdk_raises_on_a_string_amount(client):
    with pytest.raises(BadRequestError, match=re.escape("The amount must be an integer.")):
        client.order.create({"amount": "5000", "currency": "INR"}, timeout=TIMEOUT)


def test_order_collection_pages_newest_first(client, api):
    ids = [new_order(client, amount=100 + n)["id"] for n in range(11)]
    default_page = client.order.all(timeout=TIMEOUT)
    assert default_page["entity"] == "collection"
    assert default_page["count"] == 10
    assert [item["id"] for item in default_page["items"]] == ids[::-1][:10]
    second = client.order.all({"count": 2, "skip": 1}, timeout=TIMEOUT)
    assert [item["id"] for item in second["items"]] == [ids[-2], ids[-3]]
    too_many = api.get("/v1/orders", params={"count": 101})
    assert too_many.json() == rule_error("The count may not be greater than 100.", "count")
    assert api.get("/v1/orders", params={"count": "ten"}).json() == rule_error("The count must be an integer.", "count")


def test_unknown_and_malformed_ids(client, api):
    assert api.get("/v1/payments/pay_00000000000000").json() == rule_error("The id provided does not exist")
    assert api.get("/v1/payments/pay_123").json() == rule_error("pay_123 is not a valid id")
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        client.refund.fetch("rfnd_00000000000000", timeout=TIMEOUT)


def test_capture_rules(client, api):
    payment = pay(api, new_order(client, payment_capture=False)["id"])
    capture = f"/v1/payments/{payment['id']}/capture"
    mismatch = api.post(capture, json={"amount": 100, "currency": "INR"})
    assert mismatch.json() == rule_error("Capture amount must be equal to the amount authorized", "amount")
    as_text = api.post(capture, json={"amount": "50000", "currency": "INR"})
    assert as_text.json() == rule_error("The amount must be an integer.", "amount")
    no_currency = api.post(capture, json={"amount": 50000})
    assert no_currency.json() == rule_error("The currency field is required.", "currency")
    assert api.post(capture, json={"amount": 50000, "currency": "INR"}).json()["status"] == "captured"
    again = api.post(capture, json={"amount": 50000, "currency": "INR"})
    assert (again.status_code, again.json()) == (400, rule_error("This payment has already been captured"))


def test_refund_rules(client, api):
    authorized = pay(api, new_order(client, payment_capture=False)["id"])
    not_captured = api.post(f"/v1/payments/{authorized['id']}/refund", json={})
    assert not_captured.json() == rule_error("The payment has not been captured yet")

    refund = f"/v1/payments/{captured_payment(client, api)['id']}/refund"
    too_much = api.post(refund, json={"amount": 50001})
    assert too_much.json() == rule_error("The refund amount provided is greater than amount captured.", "amount")
    as_text = api.post(refund, json={"amount": "100"})
    assert as_text.json() == rule_error("The amount must be an integer.", "amount")
    too_little = api.post(refund, json={"amount": 99})
    assert too_little.json() == rule_error("The amount must be at least INR 1.00", "amount")
    assert api.post(refund, json={}).json()["amount"] == 50000
    assert api.post(refund, json={}).json() == rule_error("The payment has been fully refunded already.")


def test_idempotent_refund_replays_the_same_refund(client, api, store: Store):
    payment = captured_payment(client, api)
    headers = {"X-Refund-Idempotency": "golive-refund-0001"}
    first = client.payment.refund(payment["id"], {"amount": 10000}, headers=dict(headers), timeout=TIMEOUT)
    again = client.payment.refund(payment["id"], {"amount": 10000}, headers=dict(headers), timeout=TIMEOUT)
    assert again["id"] == first["id"]
    assert client.payment.fetch(payment["id"], timeout=TIMEOUT)["amount_refunded"] == 10000
    booked = store.razorpay_refund(first["id"])
    assert booked is not None
    assert (booked["payment_id"], booked["amount"], booked["idempotency_key"], booked["replays"]) == (
        payment["id"], 10000, "golive-refund-0001", 1)  # fmt: skip
    plain = client.payment.refund(payment["id"], {"amount": 5000}, timeout=TIMEOUT)
    assert store.razorpay_refund(plain["id"])["idempotency_key"] is None

    different = api.post(f"/v1/payments/{payment['id']}/refund", json={"amount": 20000}, headers=headers)
    assert different.status_code == 409
    assert different.json() == na_error("Different request with the same idempotency key has already been processed.")


def test_concurrent_duplicate_refund_gets_409(client, api, razorpay_url):
    payment = captured_payment(client, api)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=razorpay_url, auth=(KEY_ID, KEY_SECRET), timeout=TIMEOUT) as session:
            send = [
                session.post(
                    f"/v1/payments/{payment['id']}/refund",
                    json={"amount": 5000},
                    headers={"X-Refund-Idempotency": "golive-refund-race"},
                )
                for _ in range(2)
            ]
            return await asyncio.gather(*send)

    responses = sorted(asyncio.run(both()), key=lambda response: response.status_code)
    assert [response.status_code for response in responses] == [200, 409]
    assert responses[1].json() == na_error("Another request with the same idempotency key is still in progress.")
    assert client.payment.fetch(payment["id"], timeout=TIMEOUT)["amount_refunded"] == 5000


@pytest.mark.parametrize(
    ("key", "description"),
    [
        ("short-key", "The idempotency key must be at least 10 characters long."),
        ("golive refund 1", "The idempotency key must only contain alphanumeric characters, underscores, and hyphens"),
    ],
)
def test_malformed_idempotency_keys_are_refused(client, api, key, description):
    payment = captured_payment(client, api)
    response = api.post(f"/v1/payments/{payment['id']}/refund", json={}, headers={"X-Refund-Idempotency": key})
    assert (response.status_code, response.json()) == (400, na_error(description))


def test_webhooks_list_the_configured_account_webhooks(client, store: Store):
    configured = store.add_razorpay_webhook(
        "https://app.sandbox.test/api/razorpay/webhook", ["payment.captured", "order.paid"]
    )
    listing = client.webhook.all({"count": 10}, timeout=TIMEOUT)
    assert listing["entity"] == "collection"
    [webhook] = [item for item in listing["items"] if item["id"] == configured["id"]]
    assert webhook["url"] == "https://app.sandbox.test/api/razorpay/webhook"
    assert (webhook["entity"], webhook["active"]) == ("webhook", True)
    assert "secret_exists" not in webhook  # as the merchant API lists webhooks (only the partner API reports it)
    assert webhook["events"] == {"payment.captured": True, "order.paid": True}


def test_sandbox_payment_rules(client, api):
    missing = api.post("/v1/__sandbox/payments", json={})
    assert missing.json() == rule_error("The order_id field is required.", "order_id")
    order = new_order(client)
    cash = api.post("/v1/__sandbox/payments", json={"order_id": order["id"], "method": "cash"})
    assert cash.json() == rule_error("The selected method is invalid.", "method")
    pay(api, order["id"])
    declined = api.post("/v1/__sandbox/payments", json={"order_id": order["id"]})
    assert declined.json() == rule_error(
        "Your payment has been declined as the order is already paid. Please initiate the payment with a new order."
    )
