"""environ(): exactly the documented names, in the documented shapes, fresh per sandbox."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from golive.sandbox import Release

SECRETS = {
    "DATABASE_URL", "DATABASE_REPLICA_URL", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET",
    "ALERT_WEBHOOK_URL", "SENTRY_DSN", "SENTRY_AUTH_TOKEN", "PAGERDUTY_ROUTING_KEY", "SMTP_URL", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "CDN_API_TOKEN", "NODE_ENV", "SMOKE_USER", "SMOKE_PASSWORD",
    "UPTIMEROBOT_API_KEY", "GITLAB_API_TOKEN", "REGISTRY_TOKEN", "UNLEASH_API_TOKEN", "JOBS_API_TOKEN",
    "PROMETHEUS_TOKEN",
}  # fmt: skip
SETTINGS = {
    "GOLIVE_SANDBOX_DIR", "GOLIVE_SANDBOX_CA", "GOLIVE_SANDBOX_APP_URL", "GOLIVE_SANDBOX_CANARY_URL",
    "GOLIVE_SANDBOX_INSTANCE_1_URL", "GOLIVE_SANDBOX_INSTANCE_2_URL", "GOLIVE_SANDBOX_RAZORPAY_URL",
    "GOLIVE_SANDBOX_SENTRY_URL", "GOLIVE_SANDBOX_PAGERDUTY_URL", "GOLIVE_RELEASE_TAG", "GOLIVE_RELEASE_COMMIT",
    "GOLIVE_RELEASE_DIGEST",
    "GOLIVE_SANDBOX_WWW_HOST", "GOLIVE_SANDBOX_HTTP_PORT", "GOLIVE_SANDBOX_CDN_URL",
    "GOLIVE_SANDBOX_RAZORPAY_KEY_MODE", "GOLIVE_SANDBOX_TODAY",
    "GOLIVE_SANDBOX_PROMETHEUS_URL", "GOLIVE_SANDBOX_UPTIME_URL", "GOLIVE_SANDBOX_GITLAB_URL",
    "GOLIVE_SANDBOX_REGISTRY_URL",
}  # fmt: skip


def test_exactly_the_documented_names(env):
    assert set(env) == SECRETS | SETTINGS


def test_shapes(env):
    patterns = {
        "RAZORPAY_KEY_ID": r"rzp_test_[A-Za-z0-9]{14}",
        "RAZORPAY_KEY_SECRET": r"[A-Za-z0-9]{24}",
        "RAZORPAY_WEBHOOK_SECRET": r"[A-Za-z0-9]{32}",
        "ALERT_WEBHOOK_URL": r"https://127\.0\.0\.1:\d+/services/T0000SANDBOX/B0000SANDBOX/[A-Za-z0-9]{24}",
        "SENTRY_DSN": r"https://[0-9a-f]{32}@127\.0\.0\.1:\d+/\d+",
        "SENTRY_AUTH_TOKEN": r"sntrys_\w+",
        "PAGERDUTY_ROUTING_KEY": r"[A-Za-z0-9]{32}",
        "SMTP_URL": r"smtps://golive:[A-Za-z0-9]+@127\.0\.0\.1:465",
        "AWS_ACCESS_KEY_ID": r"AKIA[A-Z0-9]{16}",
        "AWS_SECRET_ACCESS_KEY": r".{40}",
        "NODE_ENV": r"production",
        "GOLIVE_SANDBOX_PAGERDUTY_URL": r"https://127\.0\.0\.1:\d+/v2/enqueue",
        "GOLIVE_RELEASE_COMMIT": r"[0-9a-f]{40}",
        "GOLIVE_RELEASE_DIGEST": r"sha256:[0-9a-f]{64}",
        "GOLIVE_SANDBOX_TODAY": r"\d{4}-\d{2}-\d{2}",
    }
    for key, pattern in patterns.items():
        assert re.fullmatch(pattern, env[key]), key
    assert env["RAZORPAY_WEBHOOK_SECRET"] != env["RAZORPAY_KEY_SECRET"]
    assert env["GOLIVE_RELEASE_TAG"] == Release().tag
    for key in ("GOLIVE_SANDBOX_APP_URL", "GOLIVE_SANDBOX_CANARY_URL", "GOLIVE_SANDBOX_RAZORPAY_URL"):
        assert urlsplit(env[key]).scheme == "https"
        assert urlsplit(env[key]).hostname == "127.0.0.1"


def test_database_urls(env):
    primary, replica = conninfo_to_dict(env["DATABASE_URL"]), conninfo_to_dict(env["DATABASE_REPLICA_URL"])
    assert primary["host"] == replica["host"] == "127.0.0.1"
    assert primary["port"] != replica["port"]
    assert primary["user"] == "app"
    assert primary["dbname"] == "app"
    assert primary["connect_timeout"] == "5"
