"""Payments against the sandbox as a user runs them: bad input gets one line within the timeout, live keys are
refused, an existing test payment is used and said so, and the webhooks-API fallback is an attestation."""

import re
import ssl
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.netutil import blackhole, closed_port, http_server, json_answer, tls_blackhole

SANDBOX_TOML = (ROOT / "environments" / "sandbox.toml").read_text()
CHECKS = "checks/test_payments.py"
PAY = ("PAY-01", "PAY-02", "PAY-03", "PAY-04")
EFFECT_QUERY = next(line for line in SANDBOX_TOML.splitlines() if line.startswith("effect_query = "))
PAY03 = ("-k", "signatures_enforced")
ATTESTATION = next(line for line in SANDBOX_TOML.splitlines() if line.startswith("webhook_attestation = "))


def env_file(tmp_path: Path, extra: str = "", **replace: str) -> str:
    text = SANDBOX_TOML
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "target.toml"
    path.write_text(text + extra)
    return str(path)


def payments(healthy, reports, env="sandbox", **variables):
    return run_checks("preflight", clean_environ({**healthy.environ(), **variables}), reports, CHECKS, env=env)


def test_healthy_sandbox_passes_with_evidence_and_side_effects(healthy, reports):
    run = payments(healthy, reports)
    outcomes = {i: run.item(i)["outcome"] for i in PAY}
    assert outcomes == {**dict.fromkeys(PAY, "passed"), "PAY-02": "attested"}, run.output[-2000:]
    pay03 = run.item("PAY-03")
    assert pay03["evidence"][0]["measured"] == {"source": "payments.effect_query on DATABASE_URL"}
    cases = pay03["evidence"][1:]
    assert len(cases) == 9
    assert pay03["side_effects"] == [
        "sends signed and forged payment.captured test events (synthetic pay_GoLive ids, run id in notes)"
    ]
    assert all(run.doc["run_id"] in o["subject"] for o in cases)
    subjects = [o["subject"] for o in run.item("PAY-04")["evidence"]]
    assert subjects[-3:] == ["database: order paid", "database: refund recorded", "database: invoice generated"]
    assert "capture" not in subjects  # the sandbox account captures automatically, as Razorpay's default does
    # The refund went to Razorpay with the X-Refund-Idempotency key the report names (the stand-in recorded it).
    refund = next(o for o in run.item("PAY-04")["evidence"] if o["subject"] == "refund")["measured"]
    assert refund["idempotency_key"].startswith("golive-")
    booked = healthy.store.razorpay_refund(refund["id"])
    assert booked is not None
    assert (booked["idempotency_key"], booked["amount"]) == (refund["idempotency_key"], 2500)


def test_unreachable_razorpay_api_is_an_error_with_one_line(healthy, tmp_path, reports):
    port = closed_port()
    env = env_file(tmp_path, **{"${GOLIVE_SANDBOX_RAZORPAY_URL}": f"https://127.0.0.1:{port}"})
    run = payments(healthy, reports, env=env)
    for item_id in ("PAY-01", "PAY-02"):
        item = run.item(item_id)
        assert (item["outcome"], item["reason"]) == (
            "error",
            f"Razorpay API at https://127.0.0.1:{port}: connection refused",
        )
    assert run.item("PAY-04")["outcome"] == "error"
    assert "Traceback" not in run.output


def test_black_holed_razorpay_api_ends_within_the_timeout(healthy, tmp_path, reports):
    faster = {"timeout_s = 5.0": "timeout_s = 1.0", "connect_timeout_s = 3.0": "connect_timeout_s = 1.0"}
    with blackhole() as port:
        env = env_file(tmp_path, **{"${GOLIVE_SANDBOX_RAZORPAY_URL}": f"https://127.0.0.1:{port}", **faster})
        started = time.monotonic()
        run = payments(healthy, reports, env=env)
    item = run.item("PAY-01")
    assert item["outcome"] == "error"
    assert item["reason"].endswith("connect timed out (no answer to the TCP/TLS handshake)"), item["reason"]
    assert item["duration_s"] < 3
    assert time.monotonic() - started < 60


def test_webhook_endpoint_that_never_answers_fails_after_one_delivery(healthy, tmp_path, reports):
    tls = Path(healthy.environ()["GOLIVE_SANDBOX_DIR"]) / "tls"
    with tls_blackhole(tls / "server.pem", tls / "server.key") as port:  # the handshake done, never an answer
        env = env_file(tmp_path, **{'base_url = "${GOLIVE_SANDBOX_APP_URL}"': f'base_url = "https://127.0.0.1:{port}"'})
        run = payments(healthy, reports, env=env)
    item = run.item("PAY-03")
    assert item["outcome"] == "failed", item
    assert item["reason"] == (
        f"POST https://127.0.0.1:{port}/api/webhooks/razorpay: correctly signed: no answer within 7.0 s, "
        "expected 2xx within 5.0 s; correctly signed: effect 0, expected 10000")  # fmt: skip
    # where effects are read, and the one delivery: the forged ones were not sent to wait out the same timeout
    assert len(item["evidence"]) == 2
    assert item["duration_s"] < 10


@pytest.mark.parametrize(
    ("key_id", "reason"),
    [
        ("not-a-razorpay-key", "RAZORPAY_KEY_ID is not rzp_live_/rzp_test_ followed by 14 letters or digits"),
        ("rzp_test_Zz9Yy8Xx7Ww6Vv", "HTTP 401 'The api key provided is invalid' (RAZORPAY_KEY_ID is wrong)"),
    ],
)
def test_malformed_or_wrong_key_is_named_without_its_value(healthy, reports, key_id, reason):
    run = payments(healthy, reports, RAZORPAY_KEY_ID=key_id)
    item = run.item("PAY-01")
    assert item["outcome"] == "failed"
    assert reason in item["reason"]
    assert "\n" not in item["reason"]
    assert key_id not in run.output
    assert not any(key_id in path.read_text() for path in run.artifacts())


def test_live_keys_make_pay04_refuse_and_say_so(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'key_mode = "${GOLIVE_SANDBOX_RAZORPAY_KEY_MODE}"': 'key_mode = "live"'})
    run = payments(healthy, reports, env=env, RAZORPAY_KEY_ID="rzp_live_Ab1x7Yq2Lm9Pz4")
    item = run.item("PAY-04")
    assert item["outcome"] == "not_verified"
    assert item["reason"].startswith("live keys: PAY-04 would charge and refund real money; it runs only when")
    live = {'key_mode = "${GOLIVE_SANDBOX_RAZORPAY_KEY_MODE}"': 'key_mode = "live"',
            'payment = "sandbox"': 'payment = "sandbox"\nallow_live = true\nlive_amount_cap = 500'}  # fmt: skip
    capped = env_file(tmp_path, **live)
    run = payments(healthy, reports, env=capped, RAZORPAY_KEY_ID="rzp_live_Ab1x7Yq2Lm9Pz4")
    assert (
        run.item("PAY-04")["reason"] == "live keys: the order amount 10000 exceeds payments.live_amount_cap 500 (paise)"
    )


def test_live_key_where_test_keys_belong_fails_pay04(healthy, reports):
    run = payments(healthy, reports, RAZORPAY_KEY_ID="rzp_live_Ab1x7Yq2Lm9Pz4")
    item = run.item("PAY-04")
    assert item["outcome"] == "failed"
    assert item["reason"] == (
        "RAZORPAY_KEY_ID is a live-mode key (rzp_live_); sandbox expects test mode (rzp_test_): "
        "refusing to move real money"
    )


def test_existing_payment_without_its_id_is_a_usage_error(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'payment = "sandbox"': 'payment = "existing"'})
    run = payments(healthy, reports, env=env)
    assert run.code == 4
    (line,) = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert line.endswith("payments: payment = 'existing' needs test_payment_id (a test payment made once by a person)")


def test_malformed_effect_query_is_one_line(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{"select coalesce(sum(amount), 0) from payments": "selec amount frm payments"})
    run = payments(healthy, reports, env=env)
    item = run.item("PAY-03")
    assert item["outcome"] == "error"
    assert re.fullmatch(r"payments.effect_query 'selec amount frm payments .*': DATABASE_URL at 127.0.0.1:\d+/\w+: "
                        r"syntax error at or near .*", item["reason"]), item  # fmt: skip
    assert run.item("PAY-01")["outcome"] == "passed"


def test_existing_test_payment_is_refunded_and_reported(healthy, tmp_path, reports):
    environ = healthy.environ()
    auth = (environ["RAZORPAY_KEY_ID"], environ["RAZORPAY_KEY_SECRET"])
    verify = ssl.create_default_context(cafile=environ["GOLIVE_SANDBOX_CA"])
    with httpx.Client(verify=verify, base_url=environ["GOLIVE_SANDBOX_RAZORPAY_URL"],
                      auth=auth, timeout=5) as api:  # fmt: skip
        order = api.post("/v1/orders", json={"amount": 20000, "currency": "INR", "receipt": "made-by-a-person"}).json()
        payment = api.post("/v1/__sandbox/payments", json={"order_id": order["id"]}).json()
    env = env_file(tmp_path, **{'payment = "sandbox"': f'payment = "existing"\ntest_payment_id = "{payment["id"]}"'})
    run = payments(healthy, reports, env=env)
    item = run.item("PAY-04")
    source = next(o for o in item["evidence"] if o["subject"] == "payment source")
    assert source["measured"]["source"] == (
        f"existing test payment {payment['id']}, made once by a person (payments.test_payment_id)"
    )
    # The database checks look at the existing payment's order, not the run's own (which nobody pays): they say so.
    own = next(o for o in item["evidence"] if o["subject"] == "order through the app")["measured"]["order_id"]
    about = f"order {order['id']} of existing payment {payment['id']}; the run's own order {own} is not paid"
    checks = {o["subject"]: o for o in item["evidence"] if o["subject"].startswith("database: ")}
    assert list(checks) == [f"database: {what} ({about})" for what in ("refund recorded", "order paid",
                                                                       "invoice generated")]  # fmt: skip
    # Only "refund recorded" names this run's refund; "order paid" and "invoice generated" read an order paid long
    # ago, true whatever the app does now: not verified, and so is the item, saying why.
    assert (checks[f"database: refund recorded ({about})"]["measured"], item["outcome"]) == (
        {"value": 1}, "not_verified")  # fmt: skip
    assert item["reason"] == (
        "'order paid', 'invoice generated' not verified: with payment = 'existing' their queries name none of this "
        f"run's values (%(refund_id)s, %(run_id)s): they read order {order['id']}, paid once by a person, and hold "
        "whatever the app does now"
    )
    healthy.set_faults(["app-refund-not-recorded"])  # what it can see it still fails on
    try:
        broken = payments(healthy, reports, env=env).item("PAY-04")
    finally:
        healthy.set_faults(())
    assert broken["outcome"] == "failed", broken
    assert re.fullmatch(rf"refund recorded \(order {order['id']} of existing payment {payment['id']}; the run's own "
                        r"order order_\w+ is not paid\): measured 0, expected 1 \(after [\d.]+ s, limit 9.0 s\)",
                        broken["reason"]), broken["reason"]  # fmt: skip


def test_account_without_the_webhooks_api_falls_back_to_an_attestation(healthy, tmp_path, reports):
    body = {"error": {"code": "BAD_REQUEST_ERROR", "description": "The requested URL was not found on the server.",
                      "source": "NA", "step": "NA", "reason": "NA", "metadata": {}}}  # fmt: skip
    today = datetime.now(UTC).date()
    recent, stale = today - timedelta(days=3), today - timedelta(days=45)

    def attested_on(url: str, day: date) -> str:
        attestation = f'webhook_attestation = {{ by = "Priya Nair", role = "payments lead", on = {day} }}'
        return env_file(tmp_path, **{"${GOLIVE_SANDBOX_RAZORPAY_URL}": url, ATTESTATION: attestation})

    with http_server(lambda *_: json_answer(400, body)) as url:
        env = env_file(tmp_path, **{"${GOLIVE_SANDBOX_RAZORPAY_URL}": url, ATTESTATION: ""})
        run = payments(healthy, reports, env=env)
        item = run.item("PAY-02")
        assert item["outcome"] == "not_verified"
        assert "the account cannot list webhooks; add razorpay.webhook_attestation" in item["reason"]
        run = payments(healthy, reports, env=attested_on(url, recent))
        item = run.item("PAY-02")
        assert item["outcome"] == "attested", item
        assert f"webhooks API not available to the account; Priya Nair (payments lead) confirmed on {recent}" in (
            item["reason"])  # fmt: skip
        run = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, "-k", "webhook_configured",
                         env=attested_on(url, stale))  # fmt: skip
    item = run.item("PAY-02")
    assert (item["outcome"], item["reason"]) == ("failed",
        f"webhooks API not available to the account; razorpay.webhook_attestation.on: {stale} is 45 days ago, "
        "limit 30 (razorpay.webhook_attestation_max_age_days): the Dashboard's webhook settings must be confirmed "
        "again")  # fmt: skip


def test_a_webhook_secret_the_listing_does_not_report_is_attested_or_not_verified(healthy, tmp_path, reports):
    """GET /v1/webhooks has no secret_exists: PAY-02 proves the rest and a person's attestation the secret."""
    attested = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, "-k", "webhook_configured")
    item = attested.item("PAY-02")
    assert item["outcome"] == "attested", item
    app_url = healthy.environ()["GOLIVE_SANDBOX_APP_URL"]
    assert item["reason"].startswith("attested: GET /v1/webhooks does not say whether webhook ")
    assert f"for {app_url}/api/webhooks/razorpay has a secret; Sandbox Operator (payments lead) confirmed on " in (
        item["reason"])  # fmt: skip
    listed = next(o for o in item["evidence"] if o["subject"].startswith("webhook https://"))
    assert (listed["measured"]["secret_exists"], listed["ok"]) == ("not reported by GET /v1/webhooks", None)
    unattested = env_file(tmp_path, **{ATTESTATION: ""})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, "-k", "webhook_configured",
                     env=unattested)  # fmt: skip
    item = run.item("PAY-02")
    assert item["outcome"] == "not_verified", item
    assert item["reason"].endswith("/api/webhooks/razorpay has a secret; add razorpay.webhook_attestation (a "
                                   "person's check of the Dashboard)")  # fmt: skip


def test_an_app_endpoint_alone_shows_the_events_effects(healthy, tmp_path, reports):
    """With payments.effect_url instead of effect_query, and no DATABASE_URL at all, PAY-03 reads what the app
    recorded from the app's own endpoint: it passes on the healthy sandbox and fails when forged events count."""
    env = env_file(tmp_path, **{EFFECT_QUERY: 'effect_url = "/api/payments/{payment_id}"\neffect_pointer = "/amount"'})
    environ = clean_environ(healthy.environ(), drop=("DATABASE_URL",))
    run = run_checks("preflight", environ, reports, CHECKS, *PAY03, env=env)
    item = run.item("PAY-03")
    assert item["outcome"] == "passed", item
    source = next(o for o in item["evidence"] if o["subject"] == "effect read from")
    app_url = healthy.environ()["GOLIVE_SANDBOX_APP_URL"]
    assert source["measured"]["source"] == f"GET {app_url}/api/payments/{{payment_id}} at /amount"
    healthy.set_faults(["app-webhook-accepts-bad-signature"])
    run = run_checks("preflight", environ, reports, CHECKS, *PAY03, env=env)
    item = run.item("PAY-03")
    assert item["outcome"] == "failed", item
    assert "wrong signature: HTTP 200, expected 4xx; wrong signature: effect 10000, expected 0" in item["reason"]


def test_pay03_posts_into_production_only_when_allowed_and_then_one_rupee(healthy, tmp_path, reports):
    production = {'tier = "sandbox"': 'tier = "production"'}
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, *PAY03,
                     env=env_file(tmp_path, **production))  # fmt: skip
    item = run.item("PAY-03")
    assert item["outcome"] == "not_verified", item
    assert item["reason"].startswith("production: PAY-03 would post a signed payment.captured event")
    allow = {"webhook_deadline_s = 5.0": "webhook_deadline_s = 5.0\nallow_production_events = true"}
    allowed = env_file(tmp_path, **production, **allow)
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, *PAY03, env=allowed)
    item = run.item("PAY-03")
    assert item["outcome"] == "passed", item
    signed = next(o for o in item["evidence"] if o["subject"].startswith("correctly signed"))
    assert (signed["measured"]["effect"], signed["expected"]["effect"]) == (100, 100)


def test_smk03_and_post03_post_their_one_event_in_production_without_the_drills_permission(healthy, tmp_path, reports):
    """The checklist's own staged webhook: one signed INR 1.00 event after the deploy and after launch, gated by
    side_effects.allowed alone (PAY-03's forgeries need payments.allow_production_events, unset here)."""
    unordered = "[stages.order]\nenforce = false\n\n[stages.jobs]"  # the stages run alone here
    production = env_file(tmp_path, **{'tier = "sandbox"': 'tier = "production"', "[stages.jobs]": unordered})
    environ = clean_environ(healthy.environ())
    for stage, item_id in (("smoke", "SMK-03"), ("postlaunch", "POST-03")):
        item = run_checks(stage, environ, reports, CHECKS, env=production).item(item_id)
        assert item["outcome"] == "passed", item
        (event,) = [o for o in item["evidence"] if "effect" in o["measured"]]
        assert (event["measured"]["effect"], event["expected"]["effect"]) == (100, 100)  # INR 1.00
        assert "of INR 1.00" in item["side_effects"][0]


def test_without_the_key_secret_pay03_is_not_verified_and_says_which_case_was_not_sent(healthy, reports):
    environ = clean_environ(healthy.environ(), drop=("RAZORPAY_KEY_SECRET",))
    run = run_checks("preflight", environ, reports, CHECKS, *PAY03)
    item = run.item("PAY-03")
    assert item["outcome"] == "not_verified", item
    assert item["reason"] == "signed with the API key secret: not sent: RAZORPAY_KEY_SECRET is not set (8 cases passed)"
    unsent = next(o for o in item["evidence"] if o["subject"] == "signed with the API key secret")
    assert (unsent["measured"], unsent["ok"]) == ({"answer": "not sent: RAZORPAY_KEY_SECRET is not set"}, False)


def test_an_account_without_automatic_capture_has_pay04_capture_the_payment(healthy, reports):
    healthy.store.razorpay_auto_capture = False
    try:
        run = run_checks("preflight", clean_environ(healthy.environ()), reports, CHECKS, "-k", "controlled_payment")
    finally:
        healthy.store.razorpay_auto_capture = True
    item = run.item("PAY-04")
    assert item["outcome"] == "passed", item
    steps = {o["subject"]: o["measured"] for o in item["evidence"]}
    payment = steps["payment"]
    assert steps["capture"]["id"] == payment["id"]
    assert (steps["capture"]["status_before"], steps["capture"]["status"], payment["status"]) == (
        "authorized", "captured", "captured")  # fmt: skip


def test_the_staged_postlaunch_event_is_named_in_the_report_and_recorded_by_the_app(healthy, reports):
    run = run_checks("postlaunch", clean_environ(healthy.environ()), reports, CHECKS)
    item = run.item("POST-03")
    assert item["outcome"] == "passed", item
    (staged,) = item["evidence"]
    measured, run_id = staged["measured"], run.doc["run_id"]
    assert measured["run_id"] == run_id
    assert re.fullmatch(rf"evt_golive_{re.escape(run_id)}_[A-Za-z0-9]{{6}}", measured["event_id"]), measured
    assert re.fullmatch(r"pay_GoLive[A-Za-z0-9]{8}", measured["payment_id"]), measured
    assert (measured["effect"], staged["expected"]["effect"]) == (100, 100)
    # The report's event id finds the event later: the app recorded it, its notes carrying the run id.
    notes = "payload->'payload'->'payment'->'entity'->'notes'"
    with psycopg.connect(healthy.environ()["DATABASE_URL"]) as conn:
        row = conn.execute(f"select event_type, {notes}->>'golive_run_id', {notes}->>'golive' from webhook_events "
                           "where event_id = %s", (measured["event_id"],)).fetchone()  # fmt: skip
    assert row == ("payment.captured", run_id, "staged-test-event-not-a-payment")
