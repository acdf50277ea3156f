"""2) Payment gateway (Razorpay), and the payment steps of 5) Zero-downtime go-live (smoke and post-launch)."""

from datetime import UTC, datetime

import pytest

from golive.outcomes import not_verified, record_attestation
from golive.probes.razorpay import (
    STAGED_EVENT_AMOUNT,
    WebhooksApiUnavailable,
    check_keys,
    compare_order,
    create_order,
    drill_amount,
    judge_webhooks,
    list_webhooks,
    live_money_guard,
    order_payload,
    payment_and_refund,
    review_attestation,
    sdk_call,
    signature_drill,
    staged_event,
)


@pytest.mark.preflight
@pytest.mark.item("PAY-01")
def test_keys_valid_for_this_environment(razorpay_keys, variables, razorpay_api_url, http, environment, evidence):
    """The key id's mode matches the environment, the pair authenticates, the webhook secret is its own."""
    verdict = check_keys(
        http, razorpay_api_url, razorpay_keys.key_id, razorpay_keys.key_secret,
        variables.secret("RAZORPAY_WEBHOOK_SECRET"), environment.key_mode, environment.name,
        environment.razorpay.webhook_secret_min_length,
    )  # fmt: skip
    expected = {"key_mode": environment.key_mode, "status": 200,
                "webhook_secret_length": f">= {environment.razorpay.webhook_secret_min_length}"}  # fmt: skip
    evidence.record(f"Razorpay {razorpay_api_url}", verdict.measured, expected, ok=not verdict.problems)
    assert not verdict.problems, "; ".join(verdict.problems)


@pytest.mark.preflight
@pytest.mark.item("PAY-02")
def test_webhook_configured(razorpay_keys, razorpay_api_url, http, environment, evidence, request):
    """The production webhook URL is configured, active, on https, signed, and subscribes to the needed events. What
    the account's API cannot show (the secret, or everything without the webhooks API) a person attests."""
    settings = environment.razorpay
    if settings.webhook_url is None:
        not_verified("razorpay.webhook_url is not set: golive does not know which webhook to look for")
    url, required = str(settings.webhook_url), settings.webhook_events
    try:
        webhooks = list_webhooks(http, razorpay_api_url, *razorpay_keys.trimmed())
    except WebhooksApiUnavailable as unavailable:
        evidence.record("Razorpay webhooks API", {"answer": str(unavailable), "fallback": "attestation"})
        unseen = f"{unavailable}: the account cannot list webhooks"
        gap, confirmed = "webhooks API not available to the account", (
            f"{url} is active, signed and subscribes to {', '.join(required)}")  # fmt: skip
    else:
        verdict = judge_webhooks(webhooks, url, required)
        evidence.record(f"webhook {url}", verdict.measured, {"active": True, "secret_exists": True,
                        "events": ", ".join(required)}, ok=verdict.ok)  # fmt: skip
        assert not verdict.problems, "; ".join(verdict.problems)
        if verdict.unreported is None:
            return
        unseen = gap = verdict.unreported
        confirmed = "it has a secret (its events are signed)"
    attestation = settings.webhook_attestation
    if attestation is None:
        not_verified(f"{unseen}; add razorpay.webhook_attestation (a person's check of the Dashboard)")
    review = review_attestation(attestation, datetime.now(UTC).date(), settings.webhook_attestation_max_age_days,
                                gap, confirmed)  # fmt: skip
    evidence.record("webhook attestation", review.measured, review.expected, ok=review.problem is None)
    assert review.problem is None, review.problem
    record_attestation(request.node.user_properties, [review.statement])


@pytest.mark.preflight
@pytest.mark.side_effect(
    "sends signed and forged payment.captured test events (synthetic pay_GoLive ids, run id in notes)"
)
@pytest.mark.item("PAY-03")
def test_webhook_signatures_enforced(webhook_target, variables, http, environment, golive_run, evidence):
    """The app accepts only events signed with RAZORPAY_WEBHOOK_SECRET over the raw body, in time, and once."""
    key_secret = variables.secret("RAZORPAY_KEY_SECRET")
    amount, refusal = drill_amount(environment.tier, environment.key_mode, variables.secret("RAZORPAY_KEY_ID"),
                                   environment.payments.allow_production_events)  # fmt: skip
    if refusal is not None:
        not_verified(refusal)
    assert key_secret != webhook_target.secret, (
        "RAZORPAY_WEBHOOK_SECRET equals RAZORPAY_KEY_SECRET; they must differ (a forged event could not be told apart)"
    )
    drill = signature_drill(http, webhook_target, key_secret, golive_run.run_id, amount)
    evidence.record("effect read from", {"source": webhook_target.effect.source})
    problems = []
    for case in drill.cases:
        found = case.problems(webhook_target.deadline_s)
        problems += found
        evidence.record(
            f"{case.name} (event {case.event_id}, {case.payment_id})",
            {"answer": case.delivery.describe(webhook_target.deadline_s), "latency_ms": case.delivery.latency_ms,
             "effect": case.effect},
            {"answer": f"2xx within {webhook_target.deadline_s} s" if case.accept else "4xx",
             "effect": case.expected_effect},
            ok=not found,
        )  # fmt: skip
    for name, why in drill.unsent:
        evidence.record(name, {"answer": why}, {"answer": "4xx"}, ok=False)
    assert not problems, f"POST {webhook_target.url}: " + "; ".join(problems)
    if drill.unsent:
        not_verified("; ".join(f"{name}: {why}" for name, why in drill.unsent) + f" ({len(drill.cases)} cases passed)")


@pytest.mark.preflight
@pytest.mark.side_effect("creates an order through the app, pays and refunds it in test mode (run id in notes)")
@pytest.mark.item("PAY-04")
def test_controlled_payment_and_refund(
    payment_plan, razorpay_keys, razorpay_sdk, razorpay_api_url, target_db, http, environment, golive_run, evidence
):
    """Order through the app, test payment, refund until processed; the app's database shows paid, refund, invoice.
    With an existing payment only the checks that name this run's refund or run id can show this run's effect."""
    payments = environment.payments
    guard = live_money_guard(razorpay_keys.key_id.reveal(), environment.key_mode, environment.name,
                             payment_plan.amount, payment_plan.refund_amount, payments.allow_live,
                             payments.live_amount_cap)  # fmt: skip
    if guard is not None:
        kind, reason = guard
        assert kind != "fail", reason
        not_verified(reason)
    flow = payment_and_refund(http, razorpay_sdk, target_db, payment_plan, razorpay_api_url,
                              razorpay_keys.trimmed(), golive_run.run_id)  # fmt: skip
    evidence.record("payment source", {"source": flow.source})
    for name, measured in flow.steps:
        evidence.record(name, measured)
    for check, value, ok in flow.checks:
        evidence.record(f"database: {flow.check_name(check)}", {"value": value}, {"value": check.expect}, ok=ok)
    for check in flow.unverified:
        evidence.record(f"database: {flow.check_name(check)}", {"value": f"not verified: {flow.unverified_why}"},
                        {"value": check.expect})  # fmt: skip
    assert not flow.problems, "; ".join(flow.problems)
    if flow.unverified:  # the item is proved only when every check could show this run's effect
        not_verified(flow.unverified_reason())


@pytest.mark.smoke
@pytest.mark.side_effect("creates one order through the app (and so at Razorpay), receipt carrying the run id")
@pytest.mark.item("SMK-02")
def test_smoke_payment_flow(razorpay_sdk, sdk_timeout, http, environment, golive_run, evidence):
    """An order created through the app exists at Razorpay with the amount, currency and receipt asked for."""
    payments = environment.payments
    url = str(environment.app.base_url).rstrip("/") + payments.order_path
    payload = order_payload(payments.order_payload, golive_run.run_id)
    order = create_order(http, url, payload, payments.order_id_field)
    evidence.record(f"POST {url}", {"status": order.status, "order_id": order.order_id, "latency_ms": order.latency_ms},
                    {"status": "2xx"}, ok=order.ok)  # fmt: skip
    assert order.ok, f"POST {url}: HTTP {order.status} {order.body!r}, expected 2xx with {payments.order_id_field}"
    fetch = f"GET /v1/orders/{order.order_id}"
    held = sdk_call(fetch, razorpay_sdk.order.fetch, order.order_id, timeout=sdk_timeout)
    compared = compare_order(held, payload)
    evidence.record(f"Razorpay order {order.order_id}", compared.measured, ok=not compared.problems)
    assert not compared.problems, "; ".join(compared.problems)


@pytest.mark.smoke
@pytest.mark.side_effect(
    "sends one signed payment.captured test event of INR 1.00 (synthetic pay_GoLive id, run id in notes)"
)
@pytest.mark.item("SMK-03")
def test_smoke_webhook_processing(webhook_target, http, golive_run, evidence):
    """A correctly signed event is answered 2xx in time and recorded by the app (one INR 1.00 event, in production
    too: see STAGED_EVENT_AMOUNT)."""
    case = staged_event(http, webhook_target, golive_run.run_id, "smoke-test", amount=STAGED_EVENT_AMOUNT)
    problems = case.problems(webhook_target.deadline_s)
    answer = case.delivery.describe(webhook_target.deadline_s)
    evidence.record(f"event {case.event_id} ({case.payment_id})",
                    {"answer": answer, "latency_ms": case.delivery.latency_ms, "effect": case.effect,
                     "effect read from": webhook_target.effect.source},
                    {"effect": case.expected_effect}, ok=not problems)  # fmt: skip
    assert not problems, f"POST {webhook_target.url}: " + "; ".join(problems)


@pytest.mark.postlaunch
@pytest.mark.side_effect("stages one signed test event of INR 1.00: synthetic pay_GoLive id, notes carry the run id")
@pytest.mark.item("POST-03")
def test_staged_webhook_processed(webhook_target, http, golive_run, evidence):
    """In production, a staged, clearly marked test event is accepted and recorded; the report names its id."""
    case = staged_event(http, webhook_target, golive_run.run_id, "staged-test-event-not-a-payment",
                        amount=STAGED_EVENT_AMOUNT)  # fmt: skip
    problems = case.problems(webhook_target.deadline_s)
    evidence.record("staged test event",
                    {"event_id": case.event_id, "payment_id": case.payment_id, "run_id": golive_run.run_id,
                     "answer": case.delivery.describe(webhook_target.deadline_s), "effect": case.effect,
                     "effect read from": webhook_target.effect.source},
                    {"effect": case.expected_effect}, ok=not problems)  # fmt: skip
    assert not problems, f"POST {webhook_target.url}: staged event {case.event_id}: " + "; ".join(problems)
