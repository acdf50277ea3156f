"""OBS-04 and OBS-06 on bad input: a Sentry DSN or PagerDuty endpoint that never answers ends within the configured
timeout with one line naming the service; an unreachable PagerDuty is an error, not a pass on the strength of the
Slack delivery before it; a malformed alert URL is named without its secret path."""

import re

import pytest

from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file
from tests.netutil import blackhole, closed_port

FASTER = {"timeout_s = 5.0": "timeout_s = 1.0", "connect_timeout_s = 3.0": "connect_timeout_s = 1.0"}
MONITORING = ("-k", "sentry or alert")
HANDSHAKE_TIMEOUT = "connect timed out (no answer to the TCP/TLS handshake)"


def test_black_holed_sentry_ends_within_the_timeout(healthy, tmp_path, reports):
    environ = healthy.environ()
    with blackhole() as port:
        moved = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", environ["SENTRY_DSN"])
        run = run_checks("preflight", clean_environ({**environ, "SENTRY_DSN": moved}), reports, *MONITORING,
                         env=env_file(tmp_path, **FASTER))  # fmt: skip
    found = run.item("OBS-04")
    assert (found["outcome"], found["reason"]) == (
        "error", f"Sentry ingest at https://127.0.0.1:{port}: {HANDSHAKE_TIMEOUT}"
    )  # fmt: skip
    assert found["duration_s"] < 3
    assert "Traceback" not in run.output


@pytest.mark.parametrize("where", ["refused", "black-holed"])
def test_pagerduty_that_cannot_be_reached_is_an_error_after_slack_got_its_alert(healthy, tmp_path, reports, where):
    environ = healthy.environ()
    with blackhole() as hole:
        port = hole if where == "black-holed" else closed_port()
        pagerduty = {
            'pagerduty_url = "${GOLIVE_SANDBOX_PAGERDUTY_URL}"': f'pagerduty_url = "https://127.0.0.1:{port}/v2/enqueue"'
        }
        env = env_file(tmp_path, **FASTER, **pagerduty)
        run = run_checks("preflight", clean_environ(environ), reports, *MONITORING, env=env)
    found = run.item("OBS-06")
    expected = HANDSHAKE_TIMEOUT if where == "black-holed" else "connection refused"
    assert (found["outcome"], found["reason"]) == (
        "error",
        f"PagerDuty trigger at https://127.0.0.1:{port}: {expected}",
    )
    assert found["duration_s"] < 3
    delivered = [a for a in healthy.store.alerts_on("slack") if run.doc["run_id"] in a["payload"]["text"]]
    assert len(delivered) == 1


def test_malformed_alert_webhook_url_is_named_without_its_path(healthy, reports):
    environ = clean_environ({**healthy.environ(), "ALERT_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/PlantedPath77"})
    run = run_checks("preflight", environ, reports, "-k", "environment or alert")
    assert run.item("ENV-02")["outcome"] == "failed"
    assert "ALERT_WEBHOOK_URL" in run.item("ENV-02")["reason"]
    assert (run.item("OBS-06")["outcome"], run.item("OBS-06")["reason"]) == (
        "error", "ALERT_WEBHOOK_URL is not an http(s) URL with a host, so no alert can be sent (see ENV-02)"
    )  # fmt: skip
    assert "PlantedPath77" not in run.output
    for artifact in run.artifacts():
        assert "PlantedPath77" not in artifact.read_text(encoding="utf-8")
