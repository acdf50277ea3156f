"""The [tls] and [cdn] sections: defaults, the sandbox's and the example's files, one-line errors."""

import pytest

from fixtures.tls import public_domains, tls_endpoints
from golive.config import ConfigError, load_environment, parse_environment
from tests.e2e.harness import ROOT

BASE = 'name = "t"\ntier = "staging"\n[app]\nbase_url = "https://app.example.com"\n'


def test_defaults():
    env = parse_environment(BASE, "t.toml", {})
    assert (env.tls.min_days_left, env.tls.http_port, env.tls.hsts_min_age_s, env.tls.concurrency) == (
        21, 80, 31536000, 16)  # fmt: skip
    assert env.tls.renew_before_days is None
    assert env.tls.renew_at_fraction == pytest.approx(2 / 3)
    assert env.cdn.base_url is None
    assert env.cdn.purge is None
    assert env.cdn.markers[:2] == ["Via", "X-Cache"]
    assert (env.cdn.hit_retries, env.cdn.concurrency, env.tls.webhook_settle_s) == (2, 8, 2.0)


def test_full_sections():
    text = (
        BASE
        + """
[tls]
domains = ["www.example.com", "api.example.com:8443", "[2001:db8::1]:443"]
renew_before_days = 30
hsts_include_subdomains = true
[cdn]
base_url = "https://cdn.example.com"
[cdn.purge]
provider = "cloudflare"
scope = "prefix"
zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
"""
    )
    env = parse_environment(text, "t.toml", {})
    assert env.tls.domains[1] == "api.example.com:8443"
    assert env.cdn.purge is not None
    assert (env.cdn.purge.provider, env.cdn.purge.scope) == ("cloudflare", "prefix")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[tls]\ndomains = ["https://www.example.com/x"]', "tls.domains.0: String should match pattern"),
        ('[tls]\ndomains = ["www.example.com:70000"]', "tls: domains: 'www.example.com:70000' has a port outside"),
        ("[tls]\nrenew_at_fraction = 1.5", "tls.renew_at_fraction: Input should be less than 1"),
        ("[tls]\nhttp_port = 0", "tls.http_port: Input should be greater than or equal to 1"),
        ('[cdn.purge]\nprovider = "akamai"\nscope = "all"', "cdn.purge.scope: Input should be 'url', 'prefix'"),
        ('[cdn.purge]\nscope = "url"', "cdn.purge.provider: Field required"),
        ("[cdn]\ncolour = 1", "cdn.colour: Extra inputs are not permitted"),
        ('[cdn]\nfingerprint_pattern = "[.-]([0-9a-f{8,}"', "cdn.fingerprint_pattern: not a regular expression ("),
        ("[cdn]\nhit_retries = 11", "cdn.hit_retries: Input should be less than or equal to 10"),
        ("[cdn]\nconcurrency = 0", "cdn.concurrency: Input should be greater than or equal to 1"),
        ("[tls]\nwebhook_settle_s = -1", "tls.webhook_settle_s: Input should be greater than or equal to 0"),
    ],
)
def test_one_line_errors(section, message):
    with pytest.raises(ConfigError) as error:
        parse_environment(BASE + section + "\n", "t.toml", {})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_sandbox_and_example_files_carry_the_sections():
    sandbox_text = (ROOT / "environments" / "sandbox.toml").read_text()
    for name in ("[tls]", "[cdn]", "[cdn.purge]", "${GOLIVE_SANDBOX_WWW_HOST}", "${GOLIVE_SANDBOX_CDN_URL}"):
        assert name in sandbox_text
    example = load_environment("example", ROOT, {})  # every tls/cdn key commented out: the defaults
    assert example.tls.domains == []
    assert example.cdn.base_url is None
    assert "# [tls]" in (ROOT / "environments" / "example.toml").read_text()


def test_endpoints_scanned_and_public_domains():
    """TLS-01..03 scan the app's domain, tls.domains, the https instances and canary and the webhook hosts (each
    host:port once); the redirect and HSTS checks take the public domains only."""
    text = (
        BASE
        + """canary_url = "https://canary.internal:8443"
instances = ["https://10.0.0.5:8443", "http://10.0.0.6:8080", "https://app.example.com/"]
[razorpay]
webhook_url = "https://hooks.example.com/razorpay"
[tls]
domains = ["www.example.com", "app.example.com:443", "canary.internal:8443"]
"""
    )
    env = parse_environment(text, "t.toml", {})
    assert [str(e) for e in tls_endpoints(env)] == [
        "app.example.com", "www.example.com", "canary.internal:8443", "10.0.0.5:8443", "hooks.example.com"]  # fmt: skip
    assert [str(e) for e in public_domains(env)] == ["app.example.com", "www.example.com", "canary.internal:8443"]
