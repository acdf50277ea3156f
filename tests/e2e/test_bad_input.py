"""Bad input gets a clear answer: one line naming the setting, never a traceback, never a hang."""

import re
import time
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.netutil import blackhole, closed_port

SANDBOX_TOML = (ROOT / "environments" / "sandbox.toml").read_text()


def env_file(tmp_path: Path, **replace: str) -> str:
    text = SANDBOX_TOML
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "target.toml"
    path.write_text(text)
    return str(path)


def usage_error(run) -> str:
    assert run.code == 4, run.output
    assert "Traceback" not in run.output
    (line,) = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    return line


def test_malformed_url_in_the_environment_file(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'base_url = "${GOLIVE_SANDBOX_APP_URL}"': 'base_url = "htps//app.example.com"'})
    line = usage_error(run_checks("preflight", clean_environ(healthy.environ()), reports, env=env))
    assert re.match(r"ERROR: golive: .*target.toml: app.base_url: Input should be a valid URL", line), line


def test_unset_variable_the_file_refers_to(tmp_path, reports):
    line = usage_error(run_checks("preflight", clean_environ({}, drop=("GOLIVE_SANDBOX_CA",)), reports))
    assert line.endswith("sandbox.toml: http.ca_bundle: refers to ${GOLIVE_SANDBOX_CA}, which is not set")


def test_unknown_environment(reports):
    line = usage_error(run_checks("preflight", clean_environ({}), reports, env="moon"))
    assert "--env moon: no environment file at" in line
    assert "(known: example, sandbox)" in line


def test_no_environment_at_all(reports):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "preflight", "-p", "no:cacheprovider"], cwd=ROOT,
                          env=clean_environ({}), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 4
    assert "golive: no environment selected: pass --env NAME or set GOLIVE_ENV" in done.stdout + done.stderr


def test_unreachable_host_is_an_error_with_one_line(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{"${GOLIVE_SANDBOX_APP_URL}": f"https://127.0.0.1:{closed_port()}"})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    for item_id, path in (("OBS-01", "/api/health"), ("OBS-02", "/api/health/db")):
        item = run.item(item_id)
        assert item["outcome"] == "error"
        assert re.fullmatch(rf"\[service\] GET https://127\.0\.0\.1:\d+{path}: connection refused", item["reason"])
    assert "Traceback" not in run.output


def test_black_holed_host_ends_within_the_timeout(healthy, tmp_path, reports):
    with blackhole() as port:
        faster = {"timeout_s = 5.0": "timeout_s = 1.0", "connect_timeout_s = 3.0": "connect_timeout_s = 1.0"}
        env = env_file(tmp_path, **{"${GOLIVE_SANDBOX_APP_URL}": f"https://127.0.0.1:{port}", **faster})
        started = time.monotonic()
        run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
        elapsed = time.monotonic() - started
    assert run.item("OBS-01")["outcome"] == "error"
    assert "connect timed out" in run.item("OBS-01")["reason"]
    assert run.item("OBS-01")["duration_s"] < 3
    # The webhook drill stops at the first delivery the endpoint does not answer, instead of timing out per case.
    assert run.item("PAY-03")["outcome"] == "error"
    assert "connect timed out" in run.item("PAY-03")["reason"]
    assert run.item("PAY-03")["duration_s"] < 3
    assert elapsed < 60


def test_untrusted_certificate_is_named(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'ca_bundle = "${GOLIVE_SANDBOX_CA}"': ""})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    reason = run.item("OBS-01")["reason"]
    assert run.item("OBS-01")["outcome"] == "error"
    assert "TLS certificate not trusted" in reason, reason


def test_missing_variable_is_env01_and_its_checks_are_not_verified(healthy, reports):
    run = run_checks("preflight", clean_environ(healthy.environ(), drop=("SENTRY_DSN",)), reports)
    assert run.item("ENV-01")["reason"] == "missing or blank: SENTRY_DSN (6 of 7 required set)"
    assert (run.item("OBS-04")["outcome"], run.item("OBS-04")["reason"]) == (
        "not_verified", "SENTRY_DSN is not set (see ENV-01)")  # fmt: skip
    assert run.item("ENV-02")["outcome"] == "passed"


def test_malformed_dsn_is_named_without_its_value(healthy, reports):
    environ = clean_environ({**healthy.environ(), "SENTRY_DSN": "sentry-dsn-pasted-wrong-0123456789"})
    run = run_checks("preflight", environ, reports)
    assert run.item("ENV-02")["reason"] == "SENTRY_DSN is not https://PUBLIC_KEY@HOST/PROJECT_ID"
    assert run.item("OBS-04")["reason"] == "SENTRY_DSN is not a valid DSN, so no event can be sent (see ENV-02)"
    assert "sentry-dsn-pasted-wrong" not in run.output


@pytest.mark.parametrize("path", ["/services/T0000SANDBOX/B0000SANDBOX/wrongtoken123456789012"])
def test_wrong_alert_webhook_is_refused_with_the_services_answer(healthy, reports, path):
    good = healthy.environ()["ALERT_WEBHOOK_URL"]
    wrong = good[: good.index("/services/")] + path
    run = run_checks("preflight", clean_environ({**healthy.environ(), "ALERT_WEBHOOK_URL": wrong}), reports)
    item = run.item("OBS-06")
    assert item["outcome"] == "failed"
    assert "answered HTTP 404 'no_service'" in item["reason"], item["reason"]


@pytest.mark.parametrize(
    ("variable", "item", "expected"),
    [
        ("SENTRY_DSN", "OBS-04", "connection refused"),
        ("ALERT_WEBHOOK_URL", "OBS-06", "connection refused"),
    ],
)
def test_unreachable_gateways_are_errors_with_one_line(healthy, reports, variable, item, expected):
    environ = healthy.environ()
    port = closed_port()
    moved = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", environ[variable])
    run = run_checks("preflight", clean_environ({**environ, variable: moved}), reports)
    found = run.item(item)
    assert found["outcome"] == "error", found
    assert found["reason"].endswith(f"at https://127.0.0.1:{port}: {expected}"), found["reason"]


def test_black_holed_alert_webhook_ends_within_the_timeout(healthy, tmp_path, reports):
    faster = {"timeout_s = 5.0": "timeout_s = 1.0", "connect_timeout_s = 3.0": "connect_timeout_s = 1.0"}
    env = env_file(tmp_path, **faster)
    environ = healthy.environ()
    with blackhole() as port:
        moved = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", environ["ALERT_WEBHOOK_URL"])
        run = run_checks("preflight", clean_environ({**environ, "ALERT_WEBHOOK_URL": moved}), reports, env=env)
    found = run.item("OBS-06")
    assert (found["outcome"], found["reason"]) == (
        "error", f"alert webhook at https://127.0.0.1:{port}: connect timed out (no answer to the TCP/TLS handshake)"
    )  # fmt: skip
    assert found["duration_s"] < 3


def test_no_variables_at_all(healthy, reports):
    seed = ("DATABASE_URL", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET", "ALERT_WEBHOOK_URL",
            "SENTRY_DSN", "NODE_ENV")  # fmt: skip
    run = run_checks("preflight", clean_environ(healthy.environ(), drop=seed), reports)
    assert run.item("ENV-01")["reason"].startswith("missing or blank: DATABASE_URL, RAZORPAY_KEY_ID")
    assert run.item("ENV-02")["outcome"] == "not_verified"
    assert (
        run.item("ENV-02")["reason"] == "none of the required variables is set, so none could be validated (see ENV-01)"
    )


def test_sentry_arrival_unconfirmed_is_not_a_pass_in_strict_mode(healthy, reports):
    run = run_checks("preflight", clean_environ(healthy.environ(), drop=("SENTRY_AUTH_TOKEN",)), reports)
    item = run.item("OBS-04")
    assert item["outcome"] == "not_verified"
    assert item["reason"].endswith(
        "but its arrival is unconfirmed: set SENTRY_AUTH_TOKEN and sentry.org/sentry.project"
    )
