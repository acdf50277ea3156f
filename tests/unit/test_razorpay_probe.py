"""golive.probes.razorpay against the real Razorpay stand-in on loopback (and tiny servers for odd answers)."""

import hashlib
import hmac
import json
import re
import threading
import time
from contextlib import contextmanager
from datetime import date

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from golive.config import PaymentCheck
from golive.outcomes import ProbeError
from golive.probes.razorpay import (
    Case,
    Delivery,
    EndpointEffect,
    KeysRefused,
    PaymentPlan,
    RazorpayRefused,
    WebhooksApiUnavailable,
    WebhookTarget,
    attestation_problem,
    capture_if_needed,
    check_keys,
    compare_order,
    create_order,
    deliver,
    drill_amount,
    event_body,
    idempotency_key,
    json_pointer,
    judge_webhooks,
    list_webhooks,
    live_money_guard,
    matches,
    mode_problem,
    order_payload,
    review_attestation,
    sdk_call,
    sdk_client,
    sign,
    signature_drill,
    subscribed_events,
    synthetic_id,
    uses_this_run,
)
from golive.sandbox.standins import Store, create_razorpay_app
from golive.secrets import Secret
from tests.netutil import blackhole, closed_port, dripping_server, http_server, json_answer

KEY_ID = "rzp_test_Ab1x7Yq2Lm9Pz4"
KEY_SECRET = "Tk8Vq2hRr5TtW1yZc3nM6pL0"
WEBHOOK_SECRET = "Wh7Lm2Np9Rs4Tv6Wy8Za1Bc3Dd5Ee7F"
NOT_SUBSCRIBED = (
    "webhook wh_1 for https://a.example/hook does not subscribe to refund.processed (subscribed: payment.captured)"
)
EVENTS = ["payment.captured", "payment.failed", "refund.processed", "order.paid"]


class NoFaults:
    def __init__(self):
        self.active = set()

    def on(self, name):
        return name in self.active


@contextmanager
def serve(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert thread.is_alive(), "stand-in did not start"
        assert time.monotonic() < deadline, "stand-in did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def faults():
    return NoFaults()


@pytest.fixture(scope="module")
def store():
    return Store()


@pytest.fixture(scope="module")
def api(faults, store):
    with serve(create_razorpay_app(KEY_ID, KEY_SECRET, faults, store)) as url:
        yield url


@pytest.fixture
def http():
    with httpx.Client(timeout=httpx.Timeout(2.0, connect=1.0)) as client:
        yield client


def keys(key_id=KEY_ID, key_secret=KEY_SECRET, webhook=WEBHOOK_SECRET):
    return (
        Secret("RAZORPAY_KEY_ID", key_id),
        Secret("RAZORPAY_KEY_SECRET", key_secret),
        None if webhook is None else Secret("RAZORPAY_WEBHOOK_SECRET", webhook),
    )


def verdict_for(http, api, mode="test", **given):
    return check_keys(http, api, *keys(**given), mode, "staging", 20)


def test_a_good_pair_passes_with_evidence(http, api):
    verdict = verdict_for(http, api)
    assert verdict.problems == []
    assert verdict.measured["key_mode"] == "test"
    assert verdict.measured["status"] == 200
    assert verdict.measured["webhook_secret_length"] == len(WEBHOOK_SECRET)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"key_secret": "WrongSecret0123456789abc"},
         "Razorpay refused the key pair: HTTP 401 'The api secret provided is invalid' (RAZORPAY_KEY_SECRET is wrong)"),
        ({"key_id": "rzp_test_Zz9x7Yq2Lm9Pz4"},
         "Razorpay refused the key pair: HTTP 401 'The api key provided is invalid' (RAZORPAY_KEY_ID is wrong)"),
        ({"key_secret": KEY_SECRET + "\n"},
         "RAZORPAY_KEY_SECRET has trailing whitespace: Razorpay refused the key pair as sent: HTTP 401 "
         "'The api secret provided is invalid' (RAZORPAY_KEY_SECRET is wrong); the trimmed pair authenticates"),
        ({"webhook": KEY_SECRET}, "RAZORPAY_WEBHOOK_SECRET equals RAZORPAY_KEY_SECRET; they must differ"),
        ({"webhook": "short-secret"}, "RAZORPAY_WEBHOOK_SECRET is 12 characters long; expected at least 20"),
        ({"webhook": None}, "RAZORPAY_WEBHOOK_SECRET is not set: webhook signatures cannot be verified"),
    ],
)  # fmt: skip
def test_each_key_problem_is_named_without_the_value(http, api, given, problem):
    verdict = verdict_for(http, api, **given)
    assert verdict.problems == [problem]
    for value in given.values():
        if value and len(value.strip()) > 6:
            assert value.strip() not in " ".join(verdict.problems) + json.dumps(verdict.measured)


def test_key_mode_must_match_the_environment(http, api):
    verdict = verdict_for(http, api, mode="live")
    assert verdict.problems == ["RAZORPAY_KEY_ID is a test-mode key (rzp_test_); staging expects live mode (rzp_live_)"]
    assert mode_problem("rzp_live_Ab1x7Yq2Lm9Pz4", "test", "sandbox") == (
        "RAZORPAY_KEY_ID is a live-mode key (rzp_live_); sandbox expects test mode (rzp_test_)"
    )
    assert mode_problem("key_123", "test", "sandbox").startswith("RAZORPAY_KEY_ID is not rzp_live_/rzp_test_")


def test_revoked_keys_say_so(http, api, faults):
    faults.active.add("razorpay-keys-revoked")
    try:
        verdict = verdict_for(http, api)
    finally:
        faults.active.clear()
    assert verdict.problems == [
        "Razorpay refused the key pair: HTTP 401 'Authentication failed' (revoked or regenerated on the Dashboard?)"
    ]


def razorpay_error(description: str, code: str = "BAD_REQUEST_ERROR") -> dict:
    return {"error": {"code": code, "description": description, "source": "NA", "step": "NA", "reason": "NA",
                      "metadata": {}}}  # fmt: skip


def html(status: int, text: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/html"}, f"<html><body>{text}</body></html>".encode()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (json_answer(401, razorpay_error("Authentication failed")),
         "Razorpay refused the key pair: HTTP 401 'Authentication failed' (revoked or regenerated on the Dashboard?)"),
        # Razorpay's docs give "Authentication failed" the status 400: a refusal too.
        (json_answer(400, razorpay_error("Authentication failed")),
         "Razorpay refused the key pair: HTTP 400 'Authentication failed' (revoked or regenerated on the Dashboard?)"),
    ],
)  # fmt: skip
def test_only_razorpays_refusals_fail_the_key_pair(http, answer, problem):
    with http_server(lambda *_: answer) as base:
        assert verdict_for(http, base).problems == [problem]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (json_answer(503, razorpay_error("We are facing some trouble completing your request", "SERVER_ERROR")),
         "HTTP 503 'We are facing some trouble completing your request', expected 200 or Razorpay's 401 refusal"),
        (json_answer(429, razorpay_error("Too many requests")),
         "HTTP 429 'Too many requests', expected 200 or Razorpay's 401 refusal"),
        (json_answer(500, {"message": "upstream"}),
         """HTTP 500 '{"message": "upstream"}', expected 200 or Razorpay's 401 refusal"""),
        (html(502, "Bad Gateway"), "HTTP 502 '<html><body>Bad Gateway</body></html>', expected 200"),
        (html(401, "proxy login"), "HTTP 401 '<html><body>proxy login</body></html>', expected 200"),
        (json_answer(400, razorpay_error("The requested URL was not found on the server.")),
         "HTTP 400 'The requested URL was not found on the server.', expected 200"),
        (html(200, "captive portal"), "HTTP 200 but not a Razorpay collection ('<html><body>captive portal"),
    ],
)  # fmt: skip
def test_answers_that_say_nothing_about_the_keys_are_probe_errors(http, answer, message):
    with http_server(lambda *_: answer) as base, pytest.raises(ProbeError) as caught:
        verdict_for(http, base)
    assert str(caught.value).startswith(f"GET {base}/v1/orders: {message}"), caught.value
    assert str(caught.value).endswith("the key pair was not judged")


def test_unreachable_api_is_a_one_line_probe_error(http):
    port = closed_port()
    with pytest.raises(ProbeError, match=rf"^Razorpay API at http://127.0.0.1:{port}: connection refused$"):
        verdict_for(http, f"http://127.0.0.1:{port}")


def test_black_holed_api_ends_within_the_timeout(http):
    with blackhole() as port:
        started = time.monotonic()
        with pytest.raises(ProbeError, match="timed out"):
            verdict_for(http, f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 4


def test_webhooks_are_listed_and_judged(http, api, store):
    url = "https://shop.example.com/api/webhooks/razorpay"
    store.add_razorpay_webhook(url, EVENTS, secret=WEBHOOK_SECRET)
    found = list_webhooks(http, api, KEY_ID, KEY_SECRET)
    assert all("_secret" not in w and WEBHOOK_SECRET not in json.dumps(w) for w in found)
    verdict = judge_webhooks(found, url + "/", EVENTS)
    assert verdict.problems == []
    assert verdict.measured["active"] is True


def test_listing_with_a_wrong_key_is_a_failure(http, api):
    with pytest.raises(KeysRefused, match="GET /v1/webhooks: Razorpay refused the key pair: HTTP 401"):
        list_webhooks(http, api, KEY_ID, "WrongSecret0123456789abc")


def test_an_account_without_the_webhooks_api_is_told_apart():
    body = {"error": {"code": "BAD_REQUEST_ERROR", "description": "The requested URL was not found on the server."}}
    with (
        http_server(lambda *_: json_answer(400, body)) as url,
        httpx.Client(timeout=2) as client,
        pytest.raises(WebhooksApiUnavailable, match="HTTP 400"),
    ):
        list_webhooks(client, url, KEY_ID, KEY_SECRET)


@pytest.mark.parametrize(
    ("webhook", "problem"),
    [
        ({"active": False}, "webhook wh_1 for https://a.example/hook: active False, expected true"),
        ({"secret_exists": False}, "webhook wh_1 for https://a.example/hook has no secret: its events are not signed"),
        ({"events": ["payment.captured"]},
         NOT_SUBSCRIBED),
        ({"events": {"payment.captured": True, "refund.processed": False}},
         NOT_SUBSCRIBED),
    ],
)  # fmt: skip
def test_each_webhook_problem_is_named(webhook, problem):
    configured = {"id": "wh_1", "url": "https://a.example/hook", "active": True, "secret_exists": True,
                  "events": {"payment.captured": True, "refund.processed": True}, **webhook}  # fmt: skip
    verdict = judge_webhooks([configured], "https://a.example/hook", ["payment.captured", "refund.processed"])
    assert verdict.problems == [problem]


def test_missing_webhook_and_plain_http_url():
    other = {"id": "wh_2", "url": "https://other.example/hook", "active": True, "events": []}
    assert judge_webhooks([other], "https://a.example/hook", []).problems == [
        "no webhook for https://a.example/hook among the account's 1 webhooks"
    ]
    plain = {"id": "wh_3", "url": "http://a.example/hook", "active": True, "events": []}
    assert judge_webhooks([plain], "http://a.example/hook", []).problems == [
        "webhook URL http://a.example/hook is not https"
    ]
    assert subscribed_events({"events": None}) == set()


def test_the_accounts_other_webhooks_are_named_by_host_only():
    """Third-party webhooks often carry a token in their path or query: the evidence keeps scheme://host."""
    others = [{"id": "wh_2", "url": "https://hooks.example.com/services/T0001/B0002/xoxb-s3cr3t-t0k3n"},
              {"id": "wh_3", "url": "https://erp.example.in/razorpay?token=abc123def456"},
              {"id": "wh_4", "url": "https://hooks.example.com/services/T0003/B0004/other"}]  # fmt: skip
    verdict = judge_webhooks(others, "https://a.example/hook", [])
    assert verdict.measured == {"webhooks": 3, "hosts": "https://hooks.example.com, https://erp.example.in"}
    assert verdict.problems == ["no webhook for https://a.example/hook among the account's 3 webhooks"]


def test_a_listing_without_secret_exists_leaves_the_secret_unverified_not_passed():
    """GET /v1/webhooks (the merchant API) lists webhooks without secret_exists: PAY-02 cannot see the secret."""
    listed = {"id": "wh_1", "url": "https://a.example/hook", "entity": "webhook", "active": True,
              "events": {"payment.captured": True}}  # fmt: skip
    verdict = judge_webhooks([listed], "https://a.example/hook", ["payment.captured"])
    assert verdict.problems == []
    assert (
        verdict.unreported
        == "GET /v1/webhooks does not say whether webhook wh_1 for https://a.example/hook has a secret"
    )
    assert (verdict.ok, verdict.measured["secret_exists"]) == (None, "not reported by GET /v1/webhooks")
    # of two webhooks for the URL, the one that shows its secret is judged
    shown = judge_webhooks([listed, {**listed, "id": "wh_2", "secret_exists": True}], "https://a.example/hook", [])
    assert (shown.ok, shown.unreported, shown.measured["id"]) == (True, None, "wh_2")


def test_an_attestation_covers_what_the_listing_cannot_show_while_it_is_fresh():
    from golive.config import WebhookAttestation

    gap = "GET /v1/webhooks does not say whether webhook wh_1 for https://a.example/hook has a secret"
    attestation = WebhookAttestation(by="Priya Nair", role="payments lead", on=date(2026, 12, 1), note="REL-123")
    fresh = review_attestation(attestation, date(2026, 12, 5), 30, gap, "it has a secret (its events are signed)")
    assert fresh.problem is None
    assert fresh.statement == (f"{gap}; Priya Nair (payments lead) confirmed on 2026-12-01 that it has a secret "
                               "(its events are signed) (REL-123)")  # fmt: skip
    assert fresh.measured == {"by": "Priya Nair", "role": "payments lead", "on": "2026-12-01"}
    stale = review_attestation(attestation, date(2027, 1, 15), 30, gap, "it has a secret")
    assert stale.problem == (f"{gap}; razorpay.webhook_attestation.on: 2026-12-01 is 45 days ago, limit 30 "
                             "(razorpay.webhook_attestation_max_age_days): the Dashboard's webhook settings must be "
                             "confirmed again")  # fmt: skip


def test_event_body_is_razorpays_compact_escaped_json():
    body = event_body("pay_GoLive12345678", "order_GoLive12345678", 10000, "run-1", "unit")
    assert b"\\/" in body
    assert b"\\u20b9" in body
    assert b", " not in body
    event = json.loads(body)
    assert event["payload"]["payment"]["entity"]["notes"] == {"golive_run_id": "run-1", "golive": "unit"}
    assert json.dumps(event, separators=(",", ":")).encode() != body  # re-serialising changes the bytes
    assert sign("s3cret", body) == hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert len(synthetic_id("pay_")) == len("pay_") + 14


def test_delivery_measures_slow_answers_and_gives_up_past_the_deadline():
    def slow(method, path, body):
        time.sleep(0.6)
        return json_answer(200, {"ok": True})

    with http_server(slow) as url, httpx.Client(timeout=5) as client:
        late = deliver(client, url, b"{}", "sig", "evt_1", deadline_s=0.3)
        assert late.status == 200
        assert not late.accepted(0.3)
        assert late.describe(0.3).startswith("HTTP 200 after 0.")
    with blackhole() as port, httpx.Client(timeout=5) as client:
        started = time.monotonic()
        silent = deliver(client, f"http://127.0.0.1:{port}", b"{}", None, "evt_2", deadline_s=0.2)
        assert silent.status is None
        assert time.monotonic() - started < 4
        assert silent.describe(0.2).startswith("no answer within")


def test_case_problems_name_measured_and_expected():
    ok = Delivery(200, 12.0)
    assert Case("correctly signed", "p", "e", ok, True, 100, 100).problems(5.0) == []
    assert Case("wrong signature", "p", "e", ok, False, 100, 0).problems(5.0) == [
        "wrong signature: HTTP 200, expected 4xx",
        "wrong signature: effect 100, expected 0",
    ]
    refused = Delivery(400, 3.0)
    assert Case("correctly signed", "p", "e", refused, True, 0, 100).problems(5.0)[0] == (
        "correctly signed: HTTP 400, expected 2xx within 5.0 s"
    )


def test_database_values_match_expectations():
    assert matches("paid", "paid")
    assert matches(1, 1)
    assert matches(2500, 2500.0)
    assert not matches(None, 0)
    assert not matches("created", "paid")
    assert matches(True, True)
    assert not matches("x", 1)


def test_live_keys_are_refused_unless_allowed_with_a_cap():
    live = "rzp_live_Ab1x7Yq2Lm9Pz4"
    assert live_money_guard(KEY_ID, "test", "staging", 10000, 100, False, None) is None
    kind, reason = live_money_guard(live, "test", "staging", 10000, 100, False, None)
    assert kind == "fail"
    assert reason.endswith("staging expects test mode (rzp_test_): refusing to move real money")
    kind, reason = live_money_guard(live, "live", "production", 10000, 100, False, None)
    assert (kind, "payments.allow_live = true" in reason) == ("refuse", True)
    assert live_money_guard(live, "live", "production", 10000, 100, True, 500) == (
        "refuse", "live keys: the order amount 10000 exceeds payments.live_amount_cap 500 (paise)")  # fmt: skip
    assert live_money_guard(live, "live", "production", 100, 100, True, 500) is None
    # an amount that is not whole paise ("100", 99.5) cannot be held to the cap: refused, never let through
    kind, reason = live_money_guard(live, "live", "production", None, 100, True, 500)
    assert (kind, reason.startswith("live keys: payments.order_payload.amount is not a whole number")) == (
        "refuse", True)  # fmt: skip


def test_a_key_that_is_not_clearly_a_test_key_is_held_to_the_live_money_rules():
    unclear = "rzp_Ab1x7Yq2Lm9Pz4Xy"  # neither rzp_test_ nor rzp_live_: it may well move real money
    kind, reason = live_money_guard(unclear, "test", "staging", 10000, 100, False, None)
    assert (kind, reason) == ("fail", "RAZORPAY_KEY_ID is not rzp_live_/rzp_test_ followed by 14 letters or digits: "
                                      "refusing to move real money")  # fmt: skip
    kind, reason = live_money_guard(unclear, "live", "production", 10000, 100, False, None)
    assert (kind, "payments.allow_live = true" in reason) == ("refuse", True)
    amount, refusal = drill_amount("staging", "test", Secret("RAZORPAY_KEY_ID", unclear), False)
    assert amount == 100
    assert refusal.startswith("live keys: PAY-03 would post")


def test_with_live_keys_the_refund_is_held_to_the_cap_too():
    """With an existing payment the order moves no money; the refund does, and the cap holds it."""
    live = "rzp_live_Ab1x7Yq2Lm9Pz4"
    assert live_money_guard(live, "live", "production", 100, 500, True, 500) is None
    assert live_money_guard(live, "live", "production", 100, 501, True, 500) == (
        "refuse",
        "live keys: the refund amount 501 (payments.refund_amount) exceeds payments.live_amount_cap 500 (paise)",
    )


def test_the_order_amount_is_whole_paise_or_none():
    def plan(amount):
        return PaymentPlan("https://app/api/orders", {"amount": amount}, "id", "sandbox", None, 100, (), 1, 0.1,
                           (1, 1))  # fmt: skip

    assert [plan(a).amount for a in (10000, "10000", 99.5, True)] == [10000, None, None, None]


def test_order_payload_and_idempotency_key_carry_the_run_id():
    payload = order_payload({"amount": 100, "receipt": "golive-{run_id}-" + "x" * 40}, "20261126T101500Z-3fa2c1")
    assert payload["amount"] == 100
    assert payload["receipt"].startswith("golive-20261126T101500Z-3fa2c1-")
    assert len(payload["receipt"]) == 40
    assert idempotency_key("20261126T101500Z-3fa2c1", "pay04") == "golive-20261126T101500Z-3fa2c1-pay04"
    assert idempotency_key("a b/c", "x") == "golive-a-b-c-x"


def test_order_comparison():
    order = {"id": "order_1", "amount": 100, "currency": "INR", "receipt": "r", "status": "created"}
    assert compare_order(order, {"amount": 100, "currency": "INR", "receipt": "r"}).problems == []
    assert compare_order(order, {"amount": 200}).problems == ["order order_1 at Razorpay: amount 100, expected 200"]


def test_with_an_existing_payment_only_checks_naming_this_runs_refund_or_run_id_can_show_its_effect():
    assert uses_this_run("select count(*) from refunds where razorpay_refund_id = %(refund_id)s")
    assert uses_this_run("select count(*) from audit where note like '%%' || %(run_id)s")
    # the existing payment's order was paid long ago; every run refunds the same amount of it
    assert not uses_this_run("select status from orders where razorpay_order_id = %(order_id)s")
    assert not uses_this_run("select count(*) from refunds where payment_id = %(payment_id)s and amount = "
                             "%(refund_amount)s")  # fmt: skip


def test_payment_check_model_is_strict():
    check = PaymentCheck(what="order paid", query="select 1", expect="paid")
    assert check.expect == "paid"
    with pytest.raises(ValueError, match="extra"):
        PaymentCheck(what="x", query="select 1", expect=1, colour="red")


def test_payment_settings_refuse_half_configurations():
    from golive.config import PaymentSettings

    with pytest.raises(ValueError, match="payment = 'existing' needs test_payment_id"):
        PaymentSettings(payment="existing")
    with pytest.raises(ValueError, match="allow_live needs live_amount_cap"):
        PaymentSettings(allow_live=True)
    settings = PaymentSettings(payment="existing", test_payment_id="pay_X", allow_live=True, live_amount_cap=100)
    assert settings.order_payload["receipt"] == "golive-{run_id}"


@pytest.mark.parametrize(
    ("status", "body", "raised", "message"),
    [
        (400, {"error": {"code": "BAD_REQUEST_ERROR", "description": "The id provided does not exist"}},
         RazorpayRefused,
         "GET /v1/payments/pay_x: Razorpay answered BadRequestError 'The id provided does not exist'"),
        (500, {"error": {"code": "SERVER_ERROR", "description": "We are facing some trouble completing your request"}},
         ProbeError, "GET /v1/payments/pay_x: Razorpay had a server error ('We are facing some trouble"),
        (502, {"error": {"code": "", "description": "Bad gateway"}}, ProbeError,
         "GET /v1/payments/pay_x: Razorpay had a server error ('Bad gateway'): nothing measured"),
    ],
)  # fmt: skip
def test_razorpay_refusals_fail_and_its_outages_are_errors(status, body, raised, message):
    with http_server(lambda method, path, _: json_answer(status, body)) as base:
        sdk = sdk_client(base, KEY_ID, "s" * 24, None)
        with pytest.raises(raised) as caught:
            sdk_call("GET /v1/payments/pay_x", sdk.payment.fetch, "pay_x", timeout=(1, 2))
    assert str(caught.value).startswith(message), caught.value
    assert not isinstance(caught.value, KeysRefused)  # an unknown id, a server error: the keys were accepted


def test_webhooks_on_later_pages_are_found_when_the_api_pages_by_fewer_than_asked(http):
    hooks = [{"id": f"wh_{n:014d}", "url": f"https://shop.example.com/{n}", "active": True} for n in range(5)]
    asked = []

    def handle(method, path, _body):
        query = dict(p.split("=") for p in path.partition("?")[2].split("&"))
        asked.append(int(query["skip"]))
        page = hooks[int(query["skip"]) :][:2]  # at most 2 a page, whatever count asks for
        return json_answer(200, {"entity": "collection", "count": len(page), "items": page})

    with http_server(handle) as base:
        found = list_webhooks(http, base, KEY_ID, KEY_SECRET)
    assert [w["id"] for w in found] == [h["id"] for h in hooks]
    assert asked == [0, 2, 4, 5]


def test_a_webhook_collection_of_another_shape_is_one_line(http):
    odd = {"entity": "collection", "items": {"id": "wh_1"}}
    with http_server(lambda *_: json_answer(200, odd)) as base, pytest.raises(ProbeError, match="items is not a list"):
        list_webhooks(http, base, KEY_ID, KEY_SECRET)


def payments_app(recorded: dict[str, object]):
    """An app endpoint answering what it recorded for a payment id, as GET /api/payments/<id> does."""

    def handle(method, path, _body):
        payment_id = path.rpartition("/")[2]
        if payment_id == "pay_Broken00000000":
            return json_answer(500, {"error": "database unavailable"})
        if payment_id == "pay_NotJson0000000":
            return 200, {"Content-Type": "text/html"}, b"<html>ok</html>"
        if payment_id not in recorded:
            return json_answer(404, {"error": f"no payment {payment_id} recorded"})
        return json_answer(200, recorded[payment_id])

    return http_server(handle)


def test_the_effect_endpoint_gives_the_amount_at_the_pointer(http):
    recorded = {"pay_Plain000000000": {"amount": 10000, "status": "captured"},
                "pay_Nested00000000": {"payment": {"amounts": [{"paise": "2500"}]}},
                "pay_Null0000000000": {"amount": None}}  # fmt: skip
    with payments_app(recorded) as base:
        url = base + "/api/payments/{payment_id}"
        assert EndpointEffect(http, url, "/amount").amount("pay_Plain000000000") == 10000
        assert EndpointEffect(http, url, "/payment/amounts/0/paise").amount("pay_Nested00000000") == 2500
        assert EndpointEffect(http, url, "/amount").amount("pay_Null0000000000") == 0
        assert EndpointEffect(http, url, "/amount").amount("pay_Unknown0000000") == 0  # 404: nothing recorded
        assert EndpointEffect(http, url, "/amount").source == f"GET {url} at /amount"


@pytest.mark.parametrize(
    ("payment_id", "pointer", "message"),
    [
        ("pay_Broken00000000", "/amount",
         "/api/payments/pay_Broken00000000: HTTP 500, expected 200 (or 404 when nothing is recorded) "
         "(payments.effect_url)"),
        ("pay_NotJson0000000", "/amount",
         "/api/payments/pay_NotJson0000000: the answer is not JSON (payments.effect_url)"),
        ("pay_Plain000000000", "/total", "/api/payments/pay_Plain000000000: no '/total' in the answer "
         "(payments.effect_pointer)"),
        ("pay_Plain000000000", "/status", "/api/payments/pay_Plain000000000: /status is 'captured'; expected a whole "
         "number of paise (payments.effect_pointer)"),
    ],
)  # fmt: skip
def test_effect_endpoint_problems_are_one_line_probe_errors(http, payment_id, pointer, message):
    with payments_app({"pay_Plain000000000": {"amount": 100, "status": "captured"}}) as base:
        reader = EndpointEffect(http, base + "/api/payments/{payment_id}", pointer)
        with pytest.raises(ProbeError) as caught:
            reader.amount(payment_id)
    assert str(caught.value) == f"GET {base}{message}"


def test_unreachable_effect_endpoint_is_a_probe_error(http):
    port = closed_port()
    reader = EndpointEffect(http, f"http://127.0.0.1:{port}/p/{{payment_id}}", "/amount")
    with pytest.raises(ProbeError) as caught:
        reader.amount("pay_X")
    assert str(caught.value) == f"GET http://127.0.0.1:{port}/p/pay_X (payments.effect_url): connection refused"


def test_an_effect_url_httpx_cannot_parse_is_one_line(http):
    reader = EndpointEffect(http, "https://app.example.com:8o80/payments/{payment_id}", "/amount")  # a typo'd port
    with pytest.raises(ProbeError) as caught:
        reader.amount("pay_X")
    assert str(caught.value) == "GET https://app.example.com:8o80/payments/pay_X (payments.effect_url): not a valid URL"


def test_endpoints_that_never_end_their_answer_are_cut_at_the_deadline():
    """httpx's read timeout is per read: a server dripping bytes would hold a probe without request()'s deadline."""
    with dripping_server() as base, httpx.Client(timeout=httpx.Timeout(0.5, connect=0.5)) as client:
        started = time.monotonic()
        reader = EndpointEffect(client, base + "/payments/{payment_id}", "/amount")
        with pytest.raises(ProbeError, match=r"\(payments.effect_url\): no complete answer within 1 s$"):
            reader.amount("pay_X")
        with pytest.raises(ProbeError, match=r"^POST .*/api/orders: no complete answer within 1 s$"):
            create_order(client, base + "/api/orders", {"amount": 100}, "razorpay_order_id")
        with pytest.raises(ProbeError, match=r"^Razorpay API at http://127.0.0.1:\d+: no complete answer within 1 s$"):
            list_webhooks(client, base, KEY_ID, KEY_SECRET)
        # a webhook endpoint that keeps its answer coming has not answered in time: measured, not an error
        silent = deliver(client, base + "/webhook", b"{}", "sig", "evt_1", deadline_s=0.3)
        assert silent.status is None
        assert 2.8 <= silent.latency_ms / 1000 < 4, silent  # its connect plus read timeout (deadline + 2 s)
    assert time.monotonic() - started < 8


def test_json_pointer_follows_rfc_6901():
    document = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert json_pointer(document, "") is document
    assert json_pointer(document, "/a~1b/m~0n/1") == 20
    assert json_pointer(document, "/") == 1
    with pytest.raises(KeyError):
        json_pointer(document, "/a~1b/m~0n/2")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"effect_url": "/api/payments"}, "must contain {payment_id}"),
        ({"effect_url": "api/payments/{payment_id}"}, "expected a path under app.base_url (/...) or an http(s):// URL"),
        ({"effect_pointer": "amount"}, "expected a JSON pointer such as /amount"),
        ({"effect_url": "/api/payments/{payment_id}", "effect_query": "select 1"},
         "set effect_query or effect_url, not both"),
    ],
)  # fmt: skip
def test_effect_settings_are_validated(settings, message):
    from golive.config import PaymentSettings

    with pytest.raises(ValueError, match=re.escape(message)):
        PaymentSettings(**settings)


class WebhookReceiver:
    """A small app webhook endpoint on loopback: HMAC-SHA256 over the raw body with the secrets it trusts, one
    effect per X-Razorpay-Event-Id, and GET /payments/<id> answering the amount recorded (404 when none)."""

    def __init__(self, *trusted: str) -> None:
        self.trusted = trusted
        self.events: set[str] = set()
        self.amounts: dict[str, int] = {}

    async def webhook(self, request: Request) -> JSONResponse:
        raw, signature = await request.body(), request.headers.get("x-razorpay-signature", "")
        if not any(hmac.compare_digest(sign(secret, raw), signature) for secret in self.trusted):
            return JSONResponse({"error": "invalid X-Razorpay-Signature"}, status_code=400)
        event_id = request.headers["x-razorpay-event-id"]
        if event_id not in self.events:
            self.events.add(event_id)
            payment = json.loads(raw)["payload"]["payment"]["entity"]
            self.amounts[payment["id"]] = self.amounts.get(payment["id"], 0) + payment["amount"]
        return JSONResponse({"status": "processed"})

    async def payment(self, request: Request) -> JSONResponse:
        amount = self.amounts.get(request.path_params["payment_id"])
        return JSONResponse({"amount": amount}, status_code=404 if amount is None else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/webhook", self.webhook, methods=["POST"]),
                                 Route("/payments/{payment_id}", self.payment)])  # fmt: skip


@contextmanager
def webhook_target(http, *trusted):
    with serve(WebhookReceiver(*trusted).app()) as base:
        effect = EndpointEffect(http, base + "/payments/{payment_id}", "/amount")
        yield WebhookTarget(base + "/webhook", keys()[2], 2.0, effect, 2.0, 0.01)


def drill_problems(drill):
    return [problem for case in drill.cases for problem in case.problems(2.0)]


def test_the_drill_passes_against_an_app_that_verifies_signatures(http):
    with webhook_target(http, WEBHOOK_SECRET) as target:
        drill = signature_drill(http, target, keys()[1], "run-1", 100)
    assert drill_problems(drill) == []
    assert drill.unsent == []
    assert [case.name for case in drill.cases][-1] == "signed with the API key secret"
    assert (len(drill.cases), drill.cases[0].effect, drill.cases[1].effect) == (9, 100, 100)


def test_without_the_key_secret_its_case_is_not_sent_and_said_so(http):
    with webhook_target(http, WEBHOOK_SECRET) as target:
        drill = signature_drill(http, target, None, "run-1", 10000)
    assert drill_problems(drill) == []
    assert len(drill.cases) == 8
    assert drill.unsent == [("signed with the API key secret", "not sent: RAZORPAY_KEY_SECRET is not set")]


def test_stray_whitespace_in_the_key_secret_does_not_hide_an_app_that_accepts_it(http):
    """The app trusts the key secret as it holds it (trimmed); the forgery is signed with the trimmed secret."""
    with webhook_target(http, WEBHOOK_SECRET, KEY_SECRET) as target:
        drill = signature_drill(http, target, Secret("RAZORPAY_KEY_SECRET", KEY_SECRET + "\n"), "run-1", 10000)
    assert drill_problems(drill) == [
        "signed with the API key secret: HTTP 200, expected 4xx",
        "signed with the API key secret: effect 10000, expected 0",
    ]


@pytest.mark.parametrize(
    ("tier", "mode", "key_id", "allowed", "amount", "refused"),
    [
        ("staging", "test", KEY_ID, False, 10000, None),
        ("sandbox", "test", None, False, 10000, None),
        ("production", "live", "rzp_live_Ab1x7Yq2Lm9Pz4", False, 100, "production with live keys: PAY-03 would"),
        ("production", "test", KEY_ID, False, 100, "production: PAY-03 would post a signed payment.captured event"),
        ("staging", "test", "rzp_live_Ab1x7Yq2Lm9Pz4", False, 100, "live keys: PAY-03 would post"),
        ("staging", "live", None, False, 100, "live keys: PAY-03 would post"),
        ("staging", "live", KEY_ID, False, 10000, None),  # a test key where live ones belong: PAY-01's finding
        ("production", "live", "rzp_live_Ab1x7Yq2Lm9Pz4", True, 100, None),
    ],
)  # fmt: skip
def test_the_drill_posts_into_a_live_app_only_when_allowed_and_then_the_smallest_amount(
    tier, mode, key_id, allowed, amount, refused
):
    secret = None if key_id is None else Secret("RAZORPAY_KEY_ID", key_id)
    got, refusal = drill_amount(tier, mode, secret, allowed)
    assert got == amount
    if refused is None:
        assert refusal is None
    else:
        assert refusal.startswith(refused)
        assert refusal.endswith("only when the environment sets payments.allow_production_events = true "
                                "(then with INR 1.00 events)")  # fmt: skip


def sandbox_payment(http, api, store, auto_capture):
    """A payment of a new order, as the stand-in's customer makes it, with the account's capture setting."""
    order = http.post(api + "/v1/orders", json={"amount": 5000, "currency": "INR"}, auth=(KEY_ID, KEY_SECRET)).json()
    store.razorpay_auto_capture = auto_capture
    try:
        return http.post(
            api + "/v1/__sandbox/payments", json={"order_id": order["id"]}, auth=(KEY_ID, KEY_SECRET)
        ).json()
    finally:
        store.razorpay_auto_capture = True


def test_an_authorized_payment_is_captured_and_the_capture_measured(http, api, store):
    sdk = sdk_client(api, KEY_ID, KEY_SECRET, None)
    authorized = sandbox_payment(http, api, store, auto_capture=False)
    assert authorized["status"] == "authorized"
    payment, measured = capture_if_needed(sdk, authorized, (1, 2))
    assert payment["status"] == "captured"
    assert {k: v for k, v in measured.items() if k != "latency_ms"} == {
        "id": authorized["id"], "amount": 5000, "status_before": "authorized", "status": "captured"}  # fmt: skip
    captured = sandbox_payment(http, api, store, auto_capture=True)
    assert capture_if_needed(sdk, captured, (1, 2)) == (captured, None)


def test_a_refused_capture_fails_with_razorpays_reason():
    authorized = {"id": "pay_GoLive12345678", "amount": 5000, "currency": "INR", "status": "authorized"}
    refusal = {"error": {"code": "BAD_REQUEST_ERROR", "description": "Capture amount must be equal to the amount "
               "authorized", "source": "business", "step": "payment_initiation", "reason": "input_validation_failed",
               "metadata": {}, "field": "amount"}}  # fmt: skip
    asked = []

    def handle(method, path, body):
        asked.append((method, path, json.loads(body)))
        return json_answer(400, refusal)

    with http_server(handle) as base:
        sdk = sdk_client(base, KEY_ID, KEY_SECRET, None)
        with pytest.raises(RazorpayRefused) as caught:
            capture_if_needed(sdk, authorized, (1, 2))
    assert str(caught.value) == (
        "capture pay_GoLive12345678: Razorpay answered BadRequestError "
        "'Capture amount must be equal to the amount authorized'"
    )
    assert asked == [("POST", "/v1/payments/pay_GoLive12345678/capture", {"currency": "INR", "amount": 5000})]


@pytest.mark.parametrize(
    ("on", "problem"),
    [
        (date(2026, 12, 5), None),
        (date(2026, 12, 6), None),  # a day ahead: the person's time zone
        (date(2026, 11, 5), None),  # 30 days: the limit itself
        (date(2026, 12, 7), "razorpay.webhook_attestation.on: 2026-12-07 is in the future (today is 2026-12-05); "
                            "expected the day the person checked"),
        (date(2026, 11, 4), "razorpay.webhook_attestation.on: 2026-11-04 is 31 days ago, limit 30 "
                            "(razorpay.webhook_attestation_max_age_days): the Dashboard's webhook settings must be "
                            "confirmed again"),
    ],
)  # fmt: skip
def test_a_webhook_attestation_counts_only_when_dated_recently_and_not_ahead(on, problem):
    assert attestation_problem(on, date(2026, 12, 5), 30) == problem


@pytest.mark.parametrize(
    ("attestation", "message"),
    [
        ({"by": "", "role": "payments lead", "on": "2026-11-20"}, "by"),
        ({"by": "Priya Nair", "role": "", "on": "2026-11-20"}, "role"),
        ({"by": "Priya Nair", "role": "payments lead", "on": "last week"}, "on"),
    ],
)
def test_a_webhook_attestation_names_who_in_which_role_and_when(attestation, message):
    from golive.config import RazorpaySettings

    with pytest.raises(ValueError) as caught:
        RazorpaySettings(webhook_attestation=attestation)
    assert caught.value.errors()[0]["loc"] == ("webhook_attestation", message)
