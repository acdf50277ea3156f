"""HTTPS, certificates and CDN with bad input: a malformed domain, an unreachable or black-holed domain, a trust
store without the CA, a wrong CDN token, a closed "port 80". Each is one line, within the timeout, and touches
only its own domain or item."""

import re
import time
from pathlib import Path

from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.netutil import blackhole, closed_port

SANDBOX_TOML = (ROOT / "environments" / "sandbox.toml").read_text()
WWW = 'domains = ["${GOLIVE_SANDBOX_WWW_HOST}"]'


def env_file(tmp_path: Path, **replace: str) -> str:
    text = SANDBOX_TOML
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "target.toml"
    path.write_text(text)
    return str(path)


def test_malformed_domain_is_a_usage_error_naming_the_key(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{WWW: 'domains = ["https//www.example.com/x y"]'})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    assert run.code == 4, run.output[-2000:]
    (line,) = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert "target.toml: tls.domains.0: String should match pattern" in line
    assert "Traceback" not in run.output


def test_unreachable_and_black_holed_domains_are_errors_of_their_own_domain_only(healthy, tmp_path, reports):
    refused = closed_port()
    faster = {"connect_timeout_s = 3.0": "connect_timeout_s = 1.0"}
    with blackhole() as silent:
        domains = f'domains = ["${{GOLIVE_SANDBOX_WWW_HOST}}", "127.0.0.1:{refused}", "127.0.0.1:{silent}"]'
        env = env_file(tmp_path, **{WWW: domains, **faster})
        started = time.monotonic()
        run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
        elapsed = time.monotonic() - started
    item = run.item("TLS-01")
    assert item["outcome"] == "error", item
    assert f"[127.0.0.1:{refused}] 127.0.0.1:{refused}: connection refused" in item["reason"]
    assert f"127.0.0.1:{silent}: TLS handshake timed out after 1 s" in item["reason"]
    assert "\n" not in item["reason"]
    tests = run.item("TLS-01")["tests"]
    assert len(tests) == 7  # the app, www, two instances, the canary and the two bad domains: one check each
    assert item["duration_s"] < 5
    assert elapsed < 90
    assert "Traceback" not in run.output


def test_a_trust_store_without_the_sandbox_ca_fails_trust_by_name(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'ca_bundle = "${GOLIVE_SANDBOX_CA}"': ""})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    item = run.item("TLS-01")
    assert item["outcome"] == "failed"
    assert "the chain does not verify to a trusted root" in item["reason"]


def test_a_wrong_cdn_token_is_refused_with_the_providers_answer(healthy, reports):
    environ = clean_environ({**healthy.environ(), "CDN_API_TOKEN": "wrong-token-0123456789abcdef"})
    run = run_checks("preflight", environ, reports)
    item = run.item("CDN-02")
    assert item["outcome"] == "failed"
    refused = r"purge of https://127\.0\.0\.1:\d+/static/app\.3f9c2b1e\.js\?purge-canary=\S+ \(url scope\) refused: "
    assert re.search(refused + "HTTP 403 10000 Authentication error", item["reason"]), item["reason"]
    assert "wrong-token" not in run.output


def test_a_closed_http_port_is_an_error_in_one_line(healthy, tmp_path, reports):
    port = closed_port()
    env = env_file(tmp_path, **{'http_port = "${GOLIVE_SANDBOX_HTTP_PORT}"': f"http_port = {port}"})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    for item_id in ("TLS-03", "TLS-04"):
        item = run.item(item_id)
        assert item["outcome"] in ("error", "passed"), item
    tls03 = run.item("TLS-03")
    assert tls03["outcome"] == "error"
    assert re.search(rf"GET http://127\.0\.0\.1:{port}/api/health\?redirect-probe=1: connection refused",
                     tls03["reason"]), tls03["reason"]  # fmt: skip
    # a webhook refused at the network is not processed: TLS-04 passes, with the refusal as evidence
    assert run.item("TLS-04")["outcome"] == "passed"


PURGE = """[cdn.purge]
provider = "cloudflare"
scope = "url"
api_url = "${GOLIVE_SANDBOX_CDN_URL}"
zone_id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
"""


def test_no_purge_method_declared_fails_cdn02_by_name(healthy, tmp_path, reports):
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, "-k", "purge",
                     env=env_file(tmp_path, **{PURGE: ""}))  # fmt: skip
    item = run.item("CDN-02")
    assert item["outcome"] == "failed", item
    assert item["reason"].endswith(
        "no purge method declared ([cdn.purge] provider and scope in the environment file)"
    ), item["reason"]


def test_a_purge_golive_cannot_exercise_is_not_verified_with_the_reason(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{'provider = "cloudflare"': 'provider = "fastly"'})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, "-k", "purge", env=env)
    item = run.item("CDN-02")
    assert item["outcome"] == "not_verified", item
    assert "a live purge is implemented for Cloudflare's API only (cdn.purge.provider is 'fastly')" in item["reason"]


def test_assets_without_a_fingerprint_leave_cdn01_not_verified(healthy, tmp_path, reports):
    env = env_file(
        tmp_path,
        **{"html_max_shared_age_s = 300": 'html_max_shared_age_s = 300\nfingerprint_pattern = "-v[0-9]+\\\\.js$"'},
    )
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, "-k", "cdn", env=env)
    item = run.item("CDN-01")
    assert item["outcome"] == "not_verified", item
    unmatched = "none of the 1 asset(s) checked (/static/app.3f9c2b1e.js) matches cdn.fingerprint_pattern"
    assert f"{unmatched} '-v[0-9]+\\\\.js$'" in item["reason"], item["reason"]
