"""Secrets never leak: distinctive values planted in every secret variable, every check made to fail, and
not one of them may appear in reports/ or the terminal output, plain or encoded."""

import base64
import binascii
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.e2e.harness import ROOT, clean_environ, run_checks

# The items whose checks read the planted secrets, by stage: each must fail with them.
SECRET_READERS = {"ENV-01", "ENV-02", "ENV-03", "OBS-04", "OBS-06", "REL-01", "TLS-04", "CDN-02", "DB-01", "DB-04",
                  "PAY-01", "PAY-02", "PAY-03", "PAY-04", "OBS-03", "REL-03", "REL-02", "RB-01",
                  "LIVE-03", "LIVE-04", "OBS-05"}  # fmt: skip
AFTER_LAUNCH_READERS = {"smoke": {"SMK-01", "SMK-02", "SMK-03"}, "postlaunch": {"POST-01", "POST-03"}}
B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


def decoded_runs(text: str):
    """Every base64-looking run in the text, decoded at each alignment, in both alphabets."""
    for match in B64_RUN.finditer(text):
        run = match.group(0).rstrip("=")
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for alphabet in (chunk, chunk.replace("-", "+").replace("_", "/")):
                try:
                    yield base64.b64decode(alphabet, validate=True)
                except (binascii.Error, ValueError):
                    continue


def find_leaks(text: str, planted: dict[str, str]) -> list[str]:
    found = []
    decoded = list(decoded_runs(text))
    for name, value in planted.items():
        for needle in {value.strip(), quote(value.strip(), safe=""), quote_plus(value.strip(), safe="")}:
            if needle in text:
                found.append(f"{name} plain/url")
        if any(value.strip().encode() in blob for blob in decoded):
            found.append(f"{name} base64")
    return found


def planted_environ(sandbox) -> tuple[dict[str, str], dict[str, str]]:
    healthy = sandbox.environ()
    alert_base = healthy["ALERT_WEBHOOK_URL"][: healthy["ALERT_WEBHOOK_URL"].index("/services/")]
    sentry_host = healthy["SENTRY_DSN"].split("@", 1)[1]
    planted = {
        "DATABASE_URL": "postgresql://app:PLANTdbPassw0rdXq@127.0.0.1:1/app ",
        # a test-mode key, as the sandbox expects: PAY-03 and PAY-04 then run their deliveries and calls with it
        "RAZORPAY_KEY_ID": "rzp_test_PLANTkeyId0042",
        "RAZORPAY_KEY_SECRET": "PLANTkeySecret0123456789",
        # not the key secret: PAY-03 then signs, delivers and reads effects with both planted values
        "RAZORPAY_WEBHOOK_SECRET": "PLANTwebhookSecret9876543210",
        "ALERT_WEBHOOK_URL": f"{alert_base}/services/T0/B0/PLANTalertPathToken99",
        "SENTRY_DSN": f"https://0ddba11c0ffee0ddba11c0ffee5ec7e7@{sentry_host}",
        "SENTRY_AUTH_TOKEN": "sntrys_PLANTsentryAuthToken77",
        "PAGERDUTY_ROUTING_KEY": "PLANTpagerDutyRoutingKey00000001",
        "SMTP_URL": "smtp//PLANTsmtpUser:PLANTsmtpPassw0rd@mail",
        "AWS_ACCESS_KEY_ID": "PLANTawsAccessKeyId",
        "AWS_SECRET_ACCESS_KEY": "PLANTawsSecretAccessKey/+=",
        "CDN_API_TOKEN": "PLANTcdnApiToken ",
        "SMOKE_PASSWORD": "PLANTsmokePassw0rd",
        "UPTIMEROBOT_API_KEY": "u1234567-PLANTuptimeRobotKey0042",
        "GITLAB_API_TOKEN": "glpat-PLANTgitlabToken0042",
        "REGISTRY_TOKEN": "PLANTregistryToken0042",
        "UNLEASH_API_TOKEN": "default:production.PLANTunleashToken42",
        "JOBS_API_TOKEN": "PLANTjobsApiToken0042",
        "PROMETHEUS_TOKEN": "PLANTprometheusToken0042",
    }
    blank = {"NODE_ENV": ""}  # not a secret; blank so that ENV-01 fails too
    # the parts that are secret on their own: URL passwords and paths
    needles = {**planted, "DATABASE_URL password": "PLANTdbPassw0rdXq", "SMTP_URL password": "PLANTsmtpPassw0rd",
               "ALERT_WEBHOOK_URL path": "PLANTalertPathToken99"}  # fmt: skip
    return {**healthy, **planted, **blank}, needles


def run_planted(sandbox, reports, stage: str, readers: set[str], *mode: str, env: str = "sandbox") -> None:
    """One run of the stage with every secret planted and the health checks failing: the readers fail, and no
    planted value shows in the output or the artifacts."""
    environ, needles = planted_environ(sandbox)
    sandbox.set_faults(["health-unhealthy", "health-db-down"])
    try:
        run = run_checks(stage, clean_environ({**environ, "CI": "true"}), reports, *mode, env=env)
    finally:
        sandbox.set_faults(())
    outcomes = run.outcomes()
    assert {outcomes[i] for i in readers} <= {"failed", "error"}, {
        i: (outcomes[i], run.item(i)["reason"]) for i in readers
    }
    assert find_leaks(run.output, needles) == []
    files = sorted(Path(reports).iterdir())
    assert [f.name for f in files] == [f"{stage}.html", f"{stage}.json", f"{stage}.sha256", f"{stage}.xml"]
    for path in files:
        assert find_leaks(path.read_text(encoding="utf-8", errors="replace"), needles) == [], path.name


@pytest.mark.parametrize("mode", [["-n", "2"], ["--tb=long", "-l", "-vv", "-rA"]], ids=["xdist", "showlocals"])
def test_planted_secrets_appear_nowhere(sandbox, reports, mode):
    run_planted(sandbox, reports, "preflight", SECRET_READERS, *mode)


@pytest.mark.parametrize("stage", AFTER_LAUNCH_READERS)
def test_planted_secrets_appear_nowhere_after_launch(sandbox, reports, tmp_path, stage):
    """The smoke and post-launch checks (a login, an order, signed events, the replica) with the same secrets.
    In smoke the app's effects are read from its endpoint, so SMK-03 goes on past the unreachable database to
    its failure message (the app refuses the event signed with the planted webhook secret)."""
    env = "sandbox"
    if stage == "smoke":
        text = (ROOT / "environments" / "sandbox.toml").read_text()
        effect_query = next(line for line in text.splitlines() if line.startswith("effect_query = "))
        env = str(tmp_path / "endpoint-effects.toml")
        Path(env).write_text(text.replace(effect_query, 'effect_url = "/api/payments/{payment_id}"'))
    run_planted(sandbox, reports, stage, AFTER_LAUNCH_READERS[stage], "--tb=long", "-l", env=env)
