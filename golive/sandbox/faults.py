"""The sandbox's named faults: each one breaks exactly one checklist item, and can be switched at runtime."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """A way to break the sandbox: its name, the checklist items it breaks, and what it does.

    ``stage`` is the go-live stage where the broken item shows; ``expect`` are phrases the item's failure
    message must contain (measured and expected values), which the project's tests hold it to: the same for
    every item, or by item when the fault breaks items that measure different things. An item the fault keeps
    from being measured at all (its target refuses connections) is an ``error``, not a failure: ``errors``.
    """

    name: str
    items: tuple[str, ...]
    description: str
    expect: tuple[str, ...] | Mapping[str, tuple[str, ...]] = ()
    stage: str = "preflight"
    errors: tuple[str, ...] = ()

    def phrases(self, item: str) -> tuple[str, ...]:
        """What the failure message of ``item`` must contain."""
        return self.expect.get(item, ()) if isinstance(self.expect, Mapping) else self.expect

    def outcome(self, item: str) -> str:
        """The outcome the fault gives ``item``: failed, or error when the item cannot be measured."""
        return "error" if item in self.errors else "failed"


def _registry(*faults: Fault) -> dict[str, Fault]:
    return {fault.name: fault for fault in faults}


_LOCAL = "https://127.0.0.1:"

FAULTS: dict[str, Fault] = _registry(
    # --- environment variables (ENV-01..03)
    Fault("env-missing-node-env", ("ENV-01",), "NODE_ENV is not set in the environment",
          ("missing or blank: NODE_ENV (6 of 7 required set)",)),
    Fault("env-node-env-development", ("ENV-02",), "NODE_ENV is 'development'",
          ("NODE_ENV is 'development'; sandbox expects 'production'",)),
    Fault("env-trailing-whitespace", ("ENV-02",), "NODE_ENV is 'production ' (trailing space)",
          ("NODE_ENV has trailing whitespace",)),
    Fault("env-missing-storage-secret", ("ENV-03",), "AWS_SECRET_ACCESS_KEY is not set",
          ("[AWS_SECRET_ACCESS_KEY] AWS_SECRET_ACCESS_KEY (storage) is not set",)),
    Fault("env-malformed-smtp-url", ("ENV-03",), "SMTP_URL has no scheme separator",
          ("[SMTP_URL] SMTP_URL (email) is not a URL with a scheme and host",)),
    # --- monitoring (OBS-01, OBS-02, OBS-04, OBS-06)
    Fault("health-unhealthy", ("OBS-01",), "every app instance answers /api/health with 503",
          (f"[service] service: GET {_LOCAL}", "/api/health: status 503, expected 200",
           "body.status = 'degraded', expected 'ok'")),
    Fault("canary-unhealthy", ("OBS-01", "CAN-01"), "the canary instance answers /api/health with 503",
          (f"GET {_LOCAL}", "/api/health: status 503, expected 200"), stage="canary"),
    Fault("health-db-down", ("OBS-02",), "/api/health/db connects with a wrong password and answers 503",
          (f"[service] service: GET {_LOCAL}", "/api/health/db: status 503, expected 200")),
    Fault("canary-db-down", ("OBS-02",), "the canary's /api/health/db connects with a wrong password and answers 503",
          (f"[canary] canary: GET {_LOCAL}", "/api/health/db: status 503, expected 200"), stage="canary"),
    Fault("instance-db-down", ("OBS-02",), "instance-2's /api/health/db answers 503 after the deploy",
          (f"[instance-2] instance-2: GET {_LOCAL}", "/api/health/db: status 503, expected 200"), stage="smoke"),
    Fault("app-down-after-launch", ("OBS-01", "OBS-02"), "after launch every instance answers both health endpoints "
          "with 503", {"OBS-01": (f"GET {_LOCAL}", "/api/health: status 503, expected 200"),
                       "OBS-02": (f"GET {_LOCAL}", "/api/health/db: status 503, expected 200")}, stage="postlaunch"),
    Fault("sentry-ingest-rejects", ("OBS-04",), "Sentry ingest refuses the DSN's key",
          (f"Sentry ingest at {_LOCAL}", "answered HTTP 403", "event submission rejected", "; expected 2xx")),
    Fault("sentry-event-lost", ("OBS-04",), "Sentry ingest answers 200 but the event never shows in the API",
          ("accepted by ingest but not visible in golive-sandbox/app after", "limit 5.0s")),
    Fault("alert-webhook-rejects", ("OBS-06",), "the Slack webhook answers 403 invalid_token",
          (f"alert webhook at {_LOCAL}", "answered HTTP 403 'invalid_token'; expected 2xx")),
    Fault("pagerduty-rejects", ("OBS-06",), "PagerDuty Events API answers 400 invalid event",
          (f"PagerDuty trigger at {_LOCAL}", "answered HTTP 400")),
    # --- database (issue: database readiness) — add its faults below this line
    Fault("db-without-tls", ("DB-01",), "the primary accepts plain TCP and DATABASE_URL says sslmode=disable",
          ("DATABASE_URL sslmode=disable, expected verify-full or stronger",
           "session not encrypted (pg_stat_ssl.ssl = false), expected TLS")),
    Fault("db-url-tls-optional", ("DB-01",), "DATABASE_URL says sslmode=prefer (TLS can be downgraded)",
          ("DATABASE_URL sslmode=prefer, expected verify-full or stronger",)),
    Fault("pitr-archive-noop", ("DB-04",), "archive_command is /bin/true: WAL is thrown away, no PITR",
          ("archive_command = '/bin/true' archives nothing, expected a real archive command or library",)),
    Fault("archiver-failing", ("DB-04",), "archive_command fails: the archiver reports failures since its last success",
          ("archiver failing:", "expected no failure since the last archived segment")),
    Fault("pitr-archive-failure-swallowed", ("DB-04",),
          "archive_command copies to a directory that does not exist, and `|| true` reports success anyway",
          ("archive_command = 'cp %p /nonexistent/golive-archive/%f || true' does not archive reliably: "
           "`|| true` turns its failure into success",)),
    Fault("replica-stopped", ("POST-01",), "the streaming replica is shut down",
          ("expected replica(s) walreceiver missing from pg_stat_replication (present: none)",), stage="postlaunch"),
    Fault("replica-lagging", ("POST-01",), "the replica's replay is paused while the primary moves on two WAL segments",
          ("replica walreceiver replay lag", "MiB", "threshold 1.0 MiB"), stage="postlaunch"),
    Fault("replica-receiver-disconnected", ("POST-01",),
          "the replica stays up and in recovery, but its primary_conninfo points nowhere: it receives nothing, "
          "and received = replayed", ("replica WAL receiver ", "expected streaming"), stage="postlaunch"),
    Fault("backup-stale", ("DB-02", "LIVE-02"), "the latest nightly backup is 30 h old",
          ("latest backup app-", "is 30.0 h old")),
    Fault("backup-not-before-launch", ("LIVE-02",), "the latest backup is 25 h old: fresh enough, but not pre-launch",
          ("is 25.0 h old", "expected one within the pre-launch window of 24 h")),
    Fault("backup-unreadable", ("DB-02", "LIVE-02"), "the latest dump is cut short after 64 bytes",
          ("is not a readable dump: pg_restore --list:",)),
    Fault("backup-data-truncated", ("DB-02", "LIVE-02"),
          "the latest dump is cut short 16 bytes before its end: its table of contents reads, its data does not",
          ("is not a readable dump: pg_restore -f /dev/null: could not read from input file: end of file",)),
    Fault("backup-dated-in-future", ("DB-02", "LIVE-02"),
          "the latest backup's name and modification time are 3 hours ahead (the backup host's clock is wrong)",
          ("in the future (now", "expected a backup taken in the past")),
    Fault("backup-short-retention", ("DB-03",), "only 20 nights of backups are kept",
          ("oldest backup app-", "is 19.0 days old, expected at least 30 days")),
    Fault("backup-missing-nights", ("DB-03",), "the backups of two nights, 10 and 11 days ago, are missing",
          ("missing nights:", "have no backup")),
    Fault("backup-empty-nights", ("DB-03",), "the backups of two nights, 10 and 11 days ago, are files of 0 bytes",
          ("missing nights:", "have no backup; not counted: app-", "(0 bytes)")),
    Fault("restore-record-stale", ("DB-05",), "the last restore drill was 9 days ago",
          ("last restore drill finished 9.0 days ago", "limit 7 days")),
    Fault("restore-record-failed", ("DB-05",), "the last restore drill failed",
          ("has result 'failed'", "expected a successful restore drill within 7 days")),
    Fault("migration-locks-populated-table", ("REL-03",),
          "a pending migration takes AccessExclusiveLock on webhook_events, which holds 5000 rows",
          ("0005_webhook_events_default: takes AccessExclusiveLock on public.webhook_events (about ",
           "limit 1000), which blocks the app")),
    Fault("migration-rewrites-table", ("REL-03",), "a pending migration adds a column with a volatile default",
          ("0005_refunds_ref: rewrites public.refunds", "expected no table rewrite")),
    Fault("long-running-transaction", ("REL-03",), "a session on the target holds a transaction open",
          ("has had a transaction open for", "(limit 5 s): select count(*) from orders where receipt <> ?")),
    Fault("lock-wait-on-target", ("REL-03",),
          "a session on the target waits for a row lock another session's transaction holds",
          ("has waited", "on a lock held by session", "expected no lock waits: update migrations.applied set run_on ="
           " run_on where name = ?")),
    Fault("migration-destructive-unplanned", ("REL-04",), "a pending migration renames a column in one step",
          ("0005_orders_rename_receipt renames column public.orders.receipt to receipt_ref and is not marked as a "
           "step of a multi-step plan",)),
    Fault("migration-drop-without-reverse", ("RB-02",), "a planned migration drops a column, with no reverse script",
          ("0005_invoices_drop_currency drops column public.invoices.currency but has no reverse script "
           "(expected 0005_invoices_drop_currency.down.sql)",)),
    # --- HTTPS, certificates and CDN — add its faults below this line
    Fault("tls-leaf-expired", ("TLS-01",), "the www domain presents a leaf that expired two days ago",
          ("leaf CN=localhost expired 2 days ago", "threshold 21 days left")),
    Fault("tls-intermediate-expired", ("TLS-01",), "the www domain's intermediate CA expired yesterday",
          ("intermediate CN=golive sandbox intermediate CA (expired) expired 1 day ago",)),
    Fault("tls-wrong-host", ("TLS-01",), "the www domain presents a certificate for www.other-domain.invalid",
          ("hostname localhost does not match the leaf CN=www.other-domain.invalid (SANs: www.other-domain.invalid)",)),
    Fault("tls-self-signed", ("TLS-01",), "the www domain presents a self-signed leaf",
          ("the leaf CN=localhost is self-signed",)),
    Fault("tls-missing-intermediate", ("TLS-01",), "the www domain sends its leaf without the intermediate",
          ("the server sent only the leaf: the intermediate CN=golive sandbox intermediate CA",
           "that issued it is missing")),
    Fault("tls-weak-key", ("TLS-01",), "the www domain's leaf has an RSA 1024-bit key",
          ("leaf CN=localhost has a weak RSA 1024-bit key; expected RSA >= 2048 or EC >= 256",)),
    Fault("tls-renewal-overdue", ("TLS-02",), "the www domain's 90-day leaf is 65 days old (25 left): not renewed",
          ("leaf CN=localhost is past its renewal point (67% of its lifetime)", "the renewal job is not working")),
    Fault("tls-legacy-protocols", ("TLS-03",), "the www domain is served by a listener that accepts TLS 1.0 and 1.1",
          ("accepts TLSv1 (", "expected TLS 1.0 and 1.1 refused")),
    Fault("http-no-redirect", ("TLS-03",), "plain HTTP serves the app (200) instead of redirecting",
          ("GET http://127.0.0.1:", "answered 200; expected a permanent redirect (301 or 308) to https://127.0.0.1:")),
    Fault("http-redirect-other-host", ("TLS-03",), "plain HTTP redirects to another host",
          ("redirects to https://www.other-domain.invalid/", "expected https://127.0.0.1:")),
    Fault("http-redirect-to-http", ("TLS-03",), "plain HTTP redirects to http:// instead of https://",
          ("redirects to http://127.0.0.1:", "expected https://127.0.0.1:")),
    Fault("hsts-missing", ("TLS-03",), "the app answers without Strict-Transport-Security",
          ("no Strict-Transport-Security header; expected max-age >= 31536000",)),
    Fault("hsts-too-short", ("TLS-03",), "the app's Strict-Transport-Security has max-age=86400 (one day)",
          ("Strict-Transport-Security 'max-age=86400; includeSubDomains': max-age 86400 s, expected >= 31536000",)),
    Fault("www-http-no-redirect", ("TLS-03",), "plain HTTP on the www domain serves its page; the app's redirects",
          ("GET http://localhost:", "answered 200; expected a permanent redirect (301 or 308) to https://localhost:")),
    Fault("www-hsts-missing", ("TLS-03",), "the www domain answers without Strict-Transport-Security; the app's has it",
          ("GET https://localhost:", "/: no Strict-Transport-Security header; expected max-age >= 31536000")),
    Fault("webhook-plain-http", ("TLS-04",), "plain HTTP forwards webhook POSTs to the app, which processes them",
          ("/api/webhooks/razorpay over plain HTTP answered 200", "1 row(s) in webhook_events")),
    Fault("webhook-plain-http-app-400", ("TLS-04",),
          "plain HTTP forwards webhook POSTs to the app, which verifies the signature and answers 400 'unhandled "
          "event' to the probe's event, recording nothing",
          ("/api/webhooks/razorpay over plain HTTP answered 400: the webhook handler was reached over plain HTTP "
           "(nothing recorded in webhook_events); expected the connection refused, a redirect to https or a refusal "
           "by the edge (403, 426)",)),
    Fault("cdn-asset-no-cache-headers", ("CDN-01",), "the CDN serves the fingerprinted asset without Cache-Control",
          ("/static/app.3f9c2b1e.js: no Cache-Control; expected public, max-age >= 2592000 s, immutable",)),
    Fault("cdn-html-cached-publicly", ("CDN-01",), "the CDN serves HTML with Cache-Control: public, max-age=86400",
          ("HTML", "'public, max-age=86400' lets shared caches keep it 86400 s; expected at most 300 s",)),
    Fault("cdn-html-cdn-cache-control", ("CDN-01",),
          "the origin's HTML says Cache-Control: no-cache but CDN-Cache-Control: max-age=86400, and the CDN keeps it",
          ("HTML /: CDN-Cache-Control 'max-age=86400' lets shared caches keep it 86400 s; expected at most 300 s",)),
    Fault("cdn-bypassed", ("CDN-01", "CDN-02"),
          "static assets come straight from the origin: no CDN markers, no caching, so no purge can be shown",
          {"CDN-01": ("no CDN marker", "expected one of Via, X-Cache"),
           "CDN-02": ("was still a cache miss after 4 requests", "expected a hit before purging")}),
    Fault("cdn-purge-forbidden", ("CDN-02",), "the CDN API token has no purge permission (403)",
          ("(url scope) refused: HTTP 403", "Authentication error")),
    Fault("cdn-purge-token-missing", ("ENV-03", "CDN-02"), "the purge method is declared but CDN_API_TOKEN is not set",
          {"ENV-03": ("[CDN_API_TOKEN] CDN_API_TOKEN (CDN) is not set",),
           "CDN-02": ("cloudflare purge declared but CDN_API_TOKEN is not set",)}),
    # --- payments (Razorpay)
    # A refused key pair breaks every item that calls Razorpay with it (PAY-01, PAY-02, PAY-04): each says so.
    Fault("razorpay-keys-revoked", ("PAY-01", "PAY-02", "PAY-04"),
          "the Razorpay API refuses the key pair with 401 Authentication failed", ("Authentication failed",)),
    # --- payments — add its faults below this line
    Fault("razorpay-test-key-in-production", ("ENV-02", "PAY-01"),
          "the sandbox expects live keys, as production does, and RAZORPAY_KEY_ID is a test key",
          ("RAZORPAY_KEY_ID is a test-mode key (rzp_test_); sandbox expects live mode (rzp_live_)",)),
    Fault("razorpay-wrong-key-secret", ("PAY-01", "PAY-02", "PAY-04"), "RAZORPAY_KEY_SECRET is another account's",
          ("HTTP 401 'The api secret provided is invalid'",)),
    Fault("razorpay-key-trailing-whitespace", ("ENV-02", "PAY-01"), "RAZORPAY_KEY_ID ends in a space",
          ("RAZORPAY_KEY_ID has trailing whitespace",)),
    Fault("razorpay-webhook-secret-is-key-secret", ("ENV-02", "PAY-01", "PAY-03"),
          "RAZORPAY_WEBHOOK_SECRET is set to the API key secret",
          ("RAZORPAY_WEBHOOK_SECRET equals RAZORPAY_KEY_SECRET; they must differ",)),
    Fault("razorpay-webhook-missing", ("PAY-02",), "the Razorpay account lists no webhook",
          (f"no webhook for {_LOCAL}", "/api/webhooks/razorpay among the account's 0 webhooks")),
    Fault("razorpay-webhook-inactive", ("PAY-02",), "the account's webhook is disabled",
          ("/api/webhooks/razorpay: active False, expected true",)),
    Fault("razorpay-webhook-event-missing", ("PAY-02",), "the account's webhook does not subscribe to refund.processed",
          ("does not subscribe to refund.processed (subscribed: order.paid, payment.captured, payment.failed)",)),
    Fault("app-webhook-accepts-bad-signature", ("PAY-03",), "the app's webhook endpoint skips signature checks",
          ("wrong signature: HTTP 200, expected 4xx", "missing signature header: HTTP 200, expected 4xx",
           "wrong signature: effect 10000, expected 0")),
    Fault("app-webhook-verifies-reserialised-json", ("PAY-03",),
          "the app verifies the signature over json.dumps(json.loads(body)), not the raw body",
          ("correctly signed: HTTP 400, expected 2xx within 5.0 s", "correctly signed: effect 0, expected 10000")),
    Fault("app-webhook-accepts-key-secret", ("PAY-03",), "the app also accepts signatures made with the API key secret",
          ("signed with the API key secret: HTTP 200, expected 4xx",)),
    Fault("app-webhook-processes-duplicates", ("PAY-03",),
          "the app does not dedupe by X-Razorpay-Event-Id and credits a redelivered payment again",
          ("same event id twice: effect 20000, expected 10000",)),
    Fault("app-webhook-queues-duplicates", ("PAY-03",),
          "the app answers a redelivered event at once and its queue credits the payment again 0.25 s later",
          ("same event id twice: effect 20000, expected 10000",)),
    Fault("app-webhook-slow", ("PAY-03",), "the app's webhook handler takes 6 s (Razorpay waits 5 s)",
          ("correctly signed: HTTP 200 after 6.", "expected 2xx within 5.0 s")),
    Fault("app-refund-not-recorded", ("PAY-04",), "the app ignores refund.processed: no refund row",
          ("refund recorded: measured 0, expected 1",)),
    Fault("app-invoice-not-generated", ("PAY-04",), "the app marks the order paid but writes no invoice",
          ("invoice generated: measured 0, expected 1",)),
    Fault("app-orders-not-at-razorpay", ("SMK-02",), "the app answers with an order id Razorpay never issued",
          ("Razorpay answered BadRequestError 'The id provided does not exist'",), stage="smoke"),
    Fault("app-webhook-down", ("SMK-03",), "the app's webhook endpoint answers 503",
          ("signed event: HTTP 503, expected 2xx within 5.0 s",), stage="smoke"),
    Fault("app-webhook-drops-events", ("POST-03",), "the app answers 200 to events but records nothing",
          ("staged event evt_golive_", "signed event: effect 0, expected 100"), stage="postlaunch"),
    # --- go-live stages (canary, rolling deploy, smoke, post-launch) — add its faults below this line
    Fault("canary-5xx-later", ("CAN-01",), "the canary answers 500 on / from its 9th request on",
          ("failure limit 0", f"canary answers failed: GET {_LOCAL}", "/: status 500, expected 2xx"),
          stage="canary"),
    Fault("canary-slow", ("CAN-01",), "every canary answer is 150 ms slower than the baselines'",
          ("canary https://127.0.0.1:", "below marginal 75 against the baseline", "latency /api/health: canary p50"),
          stage="canary"),
    Fault("canary-flapping", ("CAN-01",), "every 3rd canary answer on / is a 503",
          (f"canary answers failed: GET {_LOCAL}", "/: status 503, expected 2xx"), stage="canary"),
    Fault("canary-old-version", ("CAN-01",), "the canary serves the previous release v1.3.2",
          (f"canary answers failed: GET {_LOCAL}", "/api/health: version 'v1.3.2', expected 'v1.4.0'"),
          stage="canary"),
    Fault("canary-unreachable", ("OBS-01", "OBS-02", "CAN-01"), "the canary's address refuses connections",
          {"OBS-01": (f"[canary] GET {_LOCAL}", "/api/health: connection refused"),
           "OBS-02": (f"[canary] GET {_LOCAL}", "/api/health/db: connection refused"),
           "CAN-01": ("interval 2 of 6: 2 consecutive intervals with probe errors (limit 1)",
                      "/api/health: connection refused")},
          stage="canary", errors=("OBS-01", "OBS-02")),
    Fault("canary-errors-in-sentry", ("CAN-01",),
          "the canary's index page swallows an exception, answers 200 and reports the error to Sentry",
          ("error events of release v1.4.0 in environment production in Sentry golive-sandbox/app during the "
           "window (limit 0)",),
          stage="canary"),
    Fault("instance-old-version", ("CAN-02",), "instance-2 still serves the previous release after the deploy",
          (f"instance-2: GET {_LOCAL}", "/api/health: version 'v1.3.2', expected 'v1.4.0'"), stage="smoke"),
    Fault("instance-unhealthy", ("CAN-02", "OBS-01"), "instance-2 answers /api/health with 503 after the deploy",
          (f"instance-2: GET {_LOCAL}", "/api/health: status 503, expected 200"), stage="smoke"),
    Fault("login-broken", ("SMK-01",), "POST /api/login answers 503 session store unavailable",
          (f"POST {_LOCAL}", "/api/login as smoke@golive.test: status 503 ('session store unavailable')",
           "expected status 200 with a 'token'"), stage="smoke"),
    Fault("risky-flag-on", ("LIVE-03",), "the risky flag new-checkout-flow is on",
          (f"risky flag(s) new-checkout-flow on in {_LOCAL}", "expected off before launch")),
    Fault("job-not-paused", ("LIVE-04",), "the analytics-export job still runs before launch",
          (f"analytics-export is running at {_LOCAL}", "expected 'paused' before launch")),
    Fault("job-not-resumed", ("POST-04",), "the analytics-export job is still paused after launch",
          (f"analytics-export is paused at {_LOCAL}", "expected 'running' after launch"), stage="postlaunch"),
    Fault("uptime-db-check-missing", ("OBS-03",), "the uptime monitor has no check for /api/health/db",
          (f"no monitor checks {_LOCAL}", "/api/health/db (1 monitors in the account)")),
    Fault("uptime-check-paused", ("OBS-03",), "the uptime monitor's /api/health check is paused",
          (f"the monitor of {_LOCAL}", "/api/health (app health) is paused")),
    Fault("metrics-down", ("OBS-05",), "the Prometheus API answers 503 (a failing proxy in front of it)",
          (f"metrics source GET {_LOCAL}", "/api/v1/query: status 503", "expected 200 success")),
    Fault("error-rate-doubled", ("POST-02",), "after launch the baselines fail every 10th user request, not every 20th",
          ("error rate ", "% over the last 3s, baseline ", "%, allowed ",
           "(baseline queried: the 5s window ending 8s ago)"), stage="postlaunch"),
    # --- release governance — add its faults below this line
    Fault("release-signoff-other-digest", ("TEAM-04",), "the engineering lead signed off another artifact digest",
          ("[[signoff]] engineering-lead: signed digest 'sha256:0bad", "the artifact is 'sha256:"),),
    Fault("release-signoff-same-person", ("TEAM-04",), "one person signed off as product owner and support lead",
          ("[[signoff]] support-lead: Vikram Mehta also signed as product-owner; four distinct people must sign",)),
    Fault("release-contact-unreachable", ("TEAM-03",), "the secondary on-call has no reachable address",
          ("[contacts] secondary-on-call.contact: 'ask on Slack' is neither an email nor a +country phone",)),
    Fault("release-contacts-stale", ("TEAM-03",), "the emergency contacts were last confirmed 20 days ago",
          ("[contacts].attested.at:", "is 20 days ago, limit 14 days (release.attestation_max_age_days)")),
    Fault("release-runbook-not-pdf", ("TEAM-01",), "the published runbook is an HTML file named .pdf",
          ("[training].runbook: runbook.pdf is not a readable PDF with pages",)),
    Fault("release-training-too-old", ("TEAM-01",), "the support walkthrough was held 45 days ago",
          ("[training].held_on:", "is 45 days ago, limit 30",)),
    Fault("release-waiver-expired", ("TEAM-01",), "stale training is covered only by a waiver that expired yesterday",
          ("is 45 days ago, limit 30", "waiver refused:", "(TEAM-01): expired on")),
    Fault("release-access-same-person", ("TEAM-02",), "one person attested both least privilege and two-person control",
          ("[access]: both attested by Asha Rao; two different people must attest",)),
    Fault("release-template-missing", ("RB-03",), "the support message template is missing",
          ("[communication].support_template:", "templates/support.md does not exist")),
    Fault("release-not-notified", ("LIVE-01",), "the release file records no stakeholder notification",
          ("no [notification] table",)),
    Fault("release-artifact-mutable-tag", ("REL-02",), "the release references the artifact as app:latest",
          ("[release].artifact: registry.sandbox.golive.invalid/app:latest is referenced by a mutable tag",)),
    Fault("release-previous-missing", ("RB-01",), "the recorded previous release v1.3.1 does not exist",
          ("[previous.sandbox].tag: v1.3.1 no longer exists in the release repository",)),
    Fault("release-previous-is-shipped", ("RB-01",),
          "the previous release is recorded with the digest of the artifact being shipped: a rollback changes nothing",
          ("[previous.sandbox].digest: sha256:97c40529", "is the artifact being shipped (GOLIVE_RELEASE_DIGEST "
           "sha256:97c40529", "expected the image a rollback redeploys")),
    Fault("release-previous-other-environment", ("RB-01", "TEAM-01"),
          "the previous release is recorded for staging only, not for the sandbox this run checks",
          {"RB-01": ("[previous.sandbox]: missing, the previous release of sandbox is not recorded "
                     "(recorded for: staging)",),
           "TEAM-01": ("[previous.sandbox].released_at: missing (a time with an offset), so the runbook cannot be "
                       "shown to be updated after the previous release",)}),
    Fault("release-runbook-stale", ("TEAM-01",), "the runbook PDF was last edited 20 days ago, before the previous "
          "release (14 days ago)",
          ("[training].runbook: runbook.pdf last updated", "(runbook.pdf /ModDate), before the previous release",
           "[previous.sandbox].released_at)")),
    Fault("health-other-commit", ("REL-02",),
          "the release's image reports v1.4.0 built from another commit (the canary serves it before the deploy; "
          "CAN-01 and CAN-02 see it after)",
          ("[canary] GET https://127.0.0.1:", "/api/health: version 'v1.4.0' with commit "
           "'e1f0a2b3c4d5e6f708192a3b4c5d6e7f80910203'", "the image was built from another commit")),
    Fault("registry-release-digest-missing", ("REL-02",), "the registry holds no manifest for the release digest",
          ("release digest sha256:97c40529", "is not in the registry: 127.0.0.1:",
           "/golive-sandbox/web-app@sha256:97c40529", "answered MANIFEST_UNKNOWN: manifest unknown")),
    Fault("registry-previous-digest-gone", ("RB-01",),
          "the previous release's manifest was deleted from the registry (garbage-collected)",
          ("previous release digest sha256:5cac1ad4", "is not in the registry", "MANIFEST_UNKNOWN: manifest unknown")),
    Fault("ci-pipeline-failed", ("REL-01",), "the release commit's CI pipeline failed (3 unit tests)",
          ("pipeline 118342 for v1.4.0 is 'failed', expected 'success'", "suite 'unit': 3 failed, 0 errors of 412")),
    Fault("ci-suite-skipped", ("REL-01",), "the release pipeline's integration suite skipped all its 57 tests",
          ("suite 'integration': no test passed (57 skipped of 57); expected at least one passing test",)),
    Fault("ci-suite-missing", ("REL-01",), "the release pipeline ran no integration suite",
          ("pipeline 118342 has no 'integration' test suite (suites: ['unit'])",)),
)  # fmt: skip

# What an environment fault does to environ(): a variable's new value, or None to leave it out.
# A callable value computes the new value from the healthy environ (for edits of per-sandbox random secrets).
EnvEdit = str | None | Callable[[Mapping[str, str]], str]
ENV_EDITS: dict[str, Mapping[str, EnvEdit]] = {
    "env-missing-node-env": {"NODE_ENV": None},
    "env-node-env-development": {"NODE_ENV": "development"},
    "env-trailing-whitespace": {"NODE_ENV": "production "},
    "env-missing-storage-secret": {"AWS_SECRET_ACCESS_KEY": None},
    "env-malformed-smtp-url": {"SMTP_URL": "smtp//mail.sandbox.invalid:587"},
    "razorpay-test-key-in-production": {"GOLIVE_SANDBOX_RAZORPAY_KEY_MODE": "live"},
    "cdn-purge-token-missing": {"CDN_API_TOKEN": None},
    "razorpay-wrong-key-secret": {"RAZORPAY_KEY_SECRET": "Xw7Tq2Lm9Pz4Rb6Nc8Vd1Kf3"},
    "razorpay-key-trailing-whitespace": {"RAZORPAY_KEY_ID": lambda environ: environ["RAZORPAY_KEY_ID"] + " "},
    "razorpay-webhook-secret-is-key-secret": {
        "RAZORPAY_WEBHOOK_SECRET": lambda environ: environ["RAZORPAY_KEY_SECRET"]
    },
    "canary-unreachable": {"GOLIVE_SANDBOX_CANARY_URL": lambda _environ: f"https://127.0.0.1:{refusing_port()}"},
}


@functools.cache
def refusing_port() -> int:
    """A loopback port that refuses connections for as long as the process runs: a socket bound to it that
    never listens holds it, so nothing else can take it (the kernel answers a connect with a reset)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


_HELD: list[socket.socket] = []


def validate(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, or ValueError naming the unknown ones and every known fault."""
    wanted = frozenset(names)
    unknown = sorted(wanted - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown sandbox fault(s) {', '.join(unknown)}; known faults: {', '.join(FAULTS)}")
    return wanted


def apply_env_faults(environ: Mapping[str, str], active: Iterable[str]) -> dict[str, str]:
    """A copy of environ with the edits of every active environment fault applied, in registry order."""
    wanted = frozenset(active)
    edited = dict(environ)
    for name, edits in ENV_EDITS.items():
        if name not in wanted:
            continue
        for key, value in edits.items():
            if value is None:
                edited.pop(key, None)
            else:
                edited[key] = value(environ) if callable(value) else value
    return edited


class FaultState:
    """The set of active faults, shared by every server of a sandbox and safe to change while they run."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active = validate(names)

    @property
    def active(self) -> frozenset[str]:
        with self._lock:
            return self._active

    def on(self, name: str) -> bool:
        """Whether the fault is active (a name outside the registry can never be switched on)."""
        with self._lock:
            return name in self._active

    def set(self, names: Iterable[str]) -> None:
        wanted = validate(names)
        with self._lock:
            self._active = wanted
