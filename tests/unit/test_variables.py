import pytest

from golive.config import Credential, Variables, parse_environment
from golive.probes.variables import missing_variables, validate_credential, validate_variables

GOOD = {
    "DATABASE_URL": "postgresql://app:pw0123456789@db.example.com:5432/app?sslmode=verify-full",
    "RAZORPAY_KEY_ID": "rzp_live_AbCdEfGh123456",
    "RAZORPAY_KEY_SECRET": "k" * 24,
    "RAZORPAY_WEBHOOK_SECRET": "w" * 32,
    "ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/abcdefabcdefabcdefabcdef",
    "SENTRY_DSN": "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/4501",
    "NODE_ENV": "production",
}


def production():
    text = 'name = "production"\ntier = "production"\n[app]\nbase_url = "https://app.example.com"\n'
    return parse_environment(text, "p.toml", {})


def problems(**changes):
    values = {**GOOD, **changes}
    values = {k: v for k, v in values.items() if v is not None}
    return [f.problem for f in validate_variables(Variables(values), production()) if f.problem]


def test_healthy_values_pass_and_show_no_secret():
    findings = validate_variables(Variables(GOOD), production())
    assert [f.problem for f in findings] == [None] * 7
    absent = validate_variables(Variables({}), production())
    assert [(f.shown, f.problem) for f in absent] == [("absent (see ENV-01)", None)] * 7
    shown = " ".join(f.shown for f in findings)
    assert "pw0123456789" not in shown
    assert "abcdefabcdef" not in shown
    assert "https://hooks.slack.com" in shown


def test_missing_is_env01_not_env02():
    assert missing_variables(Variables({**GOOD, "NODE_ENV": "  "}), list(GOOD)) == ["NODE_ENV"]
    assert problems(NODE_ENV=None) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"RAZORPAY_KEY_ID": "rzp_test_AbCdEfGh123456"},
            "RAZORPAY_KEY_ID is a test-mode key (rzp_test_); production expects live mode",
        ),
        ({"RAZORPAY_KEY_ID": "rzp_live_short"}, "RAZORPAY_KEY_ID is not rzp_live_/rzp_test_"),
        ({"RAZORPAY_KEY_SECRET": "k" * 24 + "\n"}, "RAZORPAY_KEY_SECRET has trailing whitespace"),
        ({"NODE_ENV": " production"}, "NODE_ENV has leading whitespace"),
        ({"RAZORPAY_WEBHOOK_SECRET": "k" * 24}, "RAZORPAY_WEBHOOK_SECRET equals RAZORPAY_KEY_SECRET"),
        ({"RAZORPAY_WEBHOOK_SECRET": "short"}, "RAZORPAY_WEBHOOK_SECRET is 5 characters long; expected at least 16"),
        ({"ALERT_WEBHOOK_URL": "http://hooks.example.com/x"}, "ALERT_WEBHOOK_URL uses http; expected https"),
        ({"ALERT_WEBHOOK_URL": "hooks.example.com/x"}, "ALERT_WEBHOOK_URL is not an http(s) URL"),
        ({"SENTRY_DSN": "https://o1.ingest.sentry.io/4501"}, "SENTRY_DSN has no 32-hex public key"),
        (
            {"SENTRY_DSN": "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/x"},
            "SENTRY_DSN does not end in a numeric",
        ),
        ({"DATABASE_URL": "mysql://a:b@h/db"}, "DATABASE_URL is not a postgresql://"),
        (
            {"DATABASE_URL": "postgresql://app:pw0123456789@db:5432/app"},
            "DATABASE_URL sslmode=prefer; production needs require",
        ),
        # a URL's password too short to be registered for scrubbing: named, never shown
        (
            {"DATABASE_URL": "postgresql://app:pw5@db.example.com:5432/app?sslmode=verify-full"},
            "DATABASE_URL has a password of 3 characters; expected at least 6 (a shorter one cannot be told apart",
        ),
        (
            {"ALERT_WEBHOOK_URL": "https://hook:p%40ss@hooks.example.com/services/T000/B000/abcdefabcdefabcdef"},
            "ALERT_WEBHOOK_URL has a password of 4 characters; expected at least 6",
        ),
        (
            {"DATABASE_REPLICA_URL": "postgresql://app:pw5@replica.example.com/app"},
            "DATABASE_REPLICA_URL has a password of 3 characters; expected at least 6",
        ),
        ({"DATABASE_URL": "postgresql://app:pw@db:notaport/app"}, "DATABASE_URL is not a postgresql://"),
        ({"NODE_ENV": "development"}, "NODE_ENV is 'development'; production expects 'production'"),
        # libpq would read part of the password as the host (@) or the port and database (/)
        (
            {"DATABASE_URL": "postgresql://app:pw01234@56789@db.example.com/app?sslmode=verify-full"},
            "DATABASE_URL: password not percent-encoded (write @ as %40",
        ),
        (
            {"DATABASE_URL": "postgresql://app:pw01234/56789@db.example.com/app?sslmode=verify-full"},
            "DATABASE_URL: password not percent-encoded",
        ),
        (
            {"DATABASE_REPLICA_URL": "postgresql://app:pw01234@56789@replica.example.com/app"},
            "DATABASE_REPLICA_URL: password not percent-encoded",
        ),
        (
            {"RESTORE_TARGET_URL": "postgresql://drill:pw01234?56789@staging.example.com/postgres"},
            "RESTORE_TARGET_URL: password not percent-encoded",
        ),
        # too short to be told apart from ordinary text, so it could not be kept out of the reports
        ({"SMOKE_PASSWORD": "hunt2"}, "SMOKE_PASSWORD is 5 characters long; expected at least 6"),
        ({"CDN_API_TOKEN": " abc "}, "CDN_API_TOKEN is 3 characters long; expected at least 6"),
    ],
)
def test_each_problem_is_named(changes, expected):
    found = problems(**changes)
    assert len(found) == 1
    assert found[0].startswith(expected)
    assert "pw5" not in found[0]
    assert "p%40ss" not in found[0]
    for value in changes.values():
        if len(value.strip()) > 12:
            assert value.strip() not in found[0]


@pytest.mark.parametrize(
    ("fmt", "value", "ok"),
    [
        ("url", "smtps://u:p@mail.example.com:465", True),
        ("url", "smtp//mail.example.com", False),
        ("email", "ops@example.com", True),
        ("email", "ops-at-example", False),
        ("aws-access-key-id", "AKIAABCDEFGHIJKLMNOP", True),
        ("aws-access-key-id", "AKIA123", False),
        ("aws-secret-access-key", "a" * 40, True),
        ("aws-secret-access-key", "a" * 39, False),
        ("token", "t" * 8, True),
        ("token", "t" * 7, False),
        ("token", "t" * 8 + " ", False),
    ],
)
def test_credential_formats(fmt, value, ok):
    from golive.secrets import Secret

    credential = Credential(name="X_CRED", purpose="storage", format=fmt)
    finding = validate_credential(credential, Secret("X_CRED", value))
    assert (finding.problem is None) is ok
    if not ok:
        assert finding.problem.startswith("X_CRED")
