"""The HTTPS-enforcement and CDN probes against real loopback HTTP servers."""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from golive.config import CdnPurgeSettings, CdnSettings, HttpSettings
from golive.outcomes import ProbeError
from golive.probes.cdn import (
    AssetRules,
    Fetched,
    Warmed,
    discover_assets,
    fetch_all_warm,
    fetch_warm,
    is_hit,
    judge_asset,
    judge_html,
    purge_canary,
    purge_unsupported,
    shared_lifetime,
    unchecked_cache_rules,
)
from golive.probes.http import make_client
from golive.probes.https import (
    EnforcementPolicy,
    check_domains,
    check_hsts,
    check_redirect,
    header_client,
    http_url,
    judge_hsts,
    post_webhook_over_http,
)
from golive.sandbox.edge import server_context
from golive.sandbox.tls import SERVER_NAMES, CertifiedKey, LocalCA, create_local_ca, issue
from golive.secrets import Secret
from tests.netutil import PeakCounter, closed_port, http_server, json_answer

RULES = AssetRules(["Via", "X-Cache", "Age"], 30 * 86400, True, 300, re.compile(CdnSettings().fingerprint_pattern))


@pytest.fixture
def client():
    with httpx.Client(timeout=httpx.Timeout(2.0, connect=1.0), trust_env=False) as c:
        yield c


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LocalCA:
    return create_local_ca(tmp_path_factory.mktemp("cdn-ca"))


@pytest.fixture
def tls(ca) -> tuple[Path, Path]:
    """The certificate and key an HTTPS test server presents: a provider's API is reached over https only."""
    return ca.chain_file, ca.key_file


@pytest.fixture
def tls_client(ca):
    verify = ssl.create_default_context(cafile=str(ca.ca_file))
    with httpx.Client(timeout=httpx.Timeout(2.0, connect=1.0), verify=verify, trust_env=False) as c:
        yield c


def test_http_url_is_the_plain_twin_of_an_https_url():
    assert http_url("https://app.example.com/a?b=1", 80) == "http://app.example.com/a?b=1"
    assert http_url("https://127.0.0.1:8443/x", 8080) == "http://127.0.0.1:8080/x"


@pytest.mark.parametrize(
    ("status", "location", "problem"),
    [
        (301, "https://127.0.0.1:8443/redirect-probe?from=tls03", None),
        (308, "https://127.0.0.1:8443/redirect-probe?from=tls03", None),
        (302, "https://127.0.0.1:8443/redirect-probe?from=tls03", "answered 302 to https://127.0.0.1:8443/"),
        (200, None, "answered 200; expected a permanent redirect (301 or 308) to https://127.0.0.1:8443/"),
        (301, None, "answered 301 without a Location header; expected https://127.0.0.1:8443/redirect-probe"),
        (301, "https://evil.example/redirect-probe?from=tls03", "redirects to https://evil.example/"),
        (301, "/redirect-probe?from=tls03", "redirects to http://127.0.0.1:"),
        (
            301,
            "https://127.0.0.1:8443/",
            "redirects to https://127.0.0.1:8443/; expected https://127.0.0.1:8443/redirect-probe",
        ),
    ],
)
def test_redirect_must_be_permanent_to_the_same_host_and_path_on_https(client, status, location, problem):
    headers = {"Location": location} if location else {}
    with http_server(lambda method, path, body: (status, headers, b"")) as base:
        port = int(base.rsplit(":", 1)[1])
        verdict = check_redirect(client, "https://127.0.0.1:8443", port)
    if problem is None:
        assert verdict.problems == ()
    else:
        assert any(problem in p for p in verdict.problems), verdict.problems


def test_a_location_that_is_not_a_url_is_a_probe_error(client):
    with http_server(lambda method, path, body: (308, {"Location": "https://[::1"}, b"")) as base:
        port = int(base.rsplit(":", 1)[1])
        with pytest.raises(ProbeError, match=r"the server broke the HTTP exchange \(Invalid URL in location header"):
            check_redirect(client, "https://127.0.0.1:8443", port)


def test_redirect_to_a_closed_port_is_a_probe_error(client):
    with pytest.raises(ProbeError, match=r"GET http://127\.0\.0\.1:\d+/redirect-probe\?from=tls03: connection"):
        check_redirect(client, "https://127.0.0.1:8443", closed_port())


def test_domains_are_checked_concurrently_within_the_bound_each_with_its_own_errors(client):
    """Eight public domains on one plain-HTTP port (as port 80 is): at most three at once; an HSTS that cannot be
    read is that domain's error, the redirect still measured."""
    handle = PeakCounter(lambda method, path, body: (301, {"Location": "https://127.0.0.1:1" + path}, b""))

    origins = [f"https://127.0.0.1:{closed_port()}" for _ in range(8)]
    with http_server(handle) as base:
        port = int(base.rsplit(":", 1)[1])
        measured = check_domains(client, client, [(o, port) for o in origins], EnforcementPolicy("/probe", 31536000,
                                 False), concurrency=3)  # fmt: skip
    assert 1 < handle.peak <= 3
    assert [m.require_redirect().expected for m in measured] == [origin + "/probe" for origin in origins]
    for origin, domain in zip(origins, measured, strict=True):
        with pytest.raises(ProbeError, match=rf"GET {re.escape(origin)}/: connection refused"):
            domain.require_hsts()


@pytest.mark.parametrize(
    ("header", "subdomains", "problem"),
    [
        ("max-age=31536000; includeSubDomains", True, None),
        ("max-age=63072000; includeSubDomains; preload", True, None),
        ('max-age="31536000"', False, None),
        (None, False, "no Strict-Transport-Security header; expected max-age >= 31536000"),
        ("max-age=86400", False, "Strict-Transport-Security 'max-age=86400': max-age 86400 s, expected >= 31536000"),
        ("includeSubDomains", False, "has no max-age"),
        ("max-age=31536000", True, "lacks includeSubDomains (required)"),
    ],
)
def test_hsts_judgement(header, subdomains, problem):
    verdict = judge_hsts("https://app", header, 31536000, subdomains)
    if problem is None:
        assert verdict.problems == ()
    else:
        assert any(problem in p for p in verdict.problems), verdict.problems


def test_webhook_probe_signs_the_event_and_counts_records(client):
    secret, seen = "whsec_test_0123456789", []

    def handle(method, path, body):
        seen.append((path, body))
        return 308, {"Location": "https://127.0.0.1:8443" + path}, b""

    with http_server(handle) as base:
        port = int(base.rsplit(":", 1)[1])
        probe = post_webhook_over_http(client, "https://127.0.0.1:8443/api/webhooks/razorpay", port, secret,
                                       "run-1", lambda event_id: 0, 0.0)  # fmt: skip
    assert probe.problem("in t") is None
    assert probe.answer == "answered 308 to https://127.0.0.1:8443/api/webhooks/razorpay"
    assert probe.event_id.startswith("evt_tls04probe_run-1_")
    ((path, body),) = seen
    assert path == "/api/webhooks/razorpay"
    assert json.loads(body)["event"] == "https_probe.tls04"


REACHED = (
    "the webhook handler was reached over plain HTTP (nothing recorded in t); expected the connection "
    "refused, a redirect to https or a refusal by the edge (403, 426)"
)


@pytest.mark.parametrize(
    ("status", "location", "records", "problem"),
    [(308, "https://127.0.0.1:8443/api/webhooks/x", 0, None),
     (302, "https://app.example.com/api/webhooks/x", 0, None),
     (403, None, 0, None), (426, None, 0, None),
     (400, None, 0, f"answered 400: {REACHED}"),  # an app that verified the signature: "unhandled event"
     (200, None, 0, f"answered 200: {REACHED}"), (503, None, 0, f"answered 503: {REACHED}"),
     (301, "http://127.0.0.1:8080/api/webhooks/x", 0, f"answered 301 to http://127.0.0.1:8080/api/webhooks/x: "
                                                       f"{REACHED}"),
     (301, "/api/webhooks/x", 0, f"answered 301 to /api/webhooks/x: {REACHED}"),  # relative: plain HTTP again
     (308, None, 0, f"answered 308: {REACHED}"),
     (200, None, 1, "answered 200: 1 row(s) in t for event {event}; expected refused or redirected, nothing "
                    "processed"),
     (308, "https://127.0.0.1:8443/api/webhooks/x", 1, "answered 308 to https://127.0.0.1:8443/api/webhooks/x: 1 "
      "row(s) in t for event {event}; expected refused or redirected, nothing processed")],
)  # fmt: skip
def test_only_a_refusal_before_any_handler_with_nothing_recorded_passes(client, status, location, records, problem):
    headers = {"Location": location} if location else {}
    with http_server(lambda m, p, b: (status, headers, b'{"error": "unhandled event https_probe.tls04"}')) as base:
        port = int(base.rsplit(":", 1)[1])
        probe = post_webhook_over_http(
            client, "https://127.0.0.1:8443/api/webhooks/x", port, "s" * 20, "r", lambda e: records, 0
        )
    found = probe.problem("in t")
    expected = f"POST {probe.url} over plain HTTP {problem}".format(event=probe.event_id) if problem else None
    assert found == expected


def test_the_edges_refusal_statuses_are_configurable(client):
    with http_server(lambda m, p, b: (400, {}, b"")) as base:
        port = int(base.rsplit(":", 1)[1])
        probe = post_webhook_over_http(client, "https://127.0.0.1/x", port, "s" * 20, "r", lambda e: 0, 0, (400,))
    assert (probe.refused, probe.problem("in t"), probe.expected()) == (
        True, None, "the connection refused, a redirect to https or a refusal by the edge (400)")  # fmt: skip


def queueing_app(recorded: list[str]):
    """An app that answers a webhook POST with a redirect at once and whose queue records it 0.3 s later."""

    def handle(method, path, body):
        threading.Timer(0.3, recorded.append, [path]).start()
        return 308, {"Location": "https://h" + path}, b""

    return handle


@pytest.mark.parametrize(("settle_s", "processed"), [(0.0, False), (2.0, True)])
def test_an_event_processed_a_moment_after_the_answer_is_caught_within_the_settle_time(client, settle_s, processed):
    """Counted at once, a queued event looks refused; counted until tls.webhook_settle_s, it is caught."""
    recorded: list[str] = []
    with http_server(queueing_app(recorded)) as base:
        port = int(base.rsplit(":", 1)[1])
        probe = post_webhook_over_http(client, "https://127.0.0.1:8443/api/webhooks/x", port, "s" * 20, "r",
                                       lambda event_id: len(recorded), settle_s)  # fmt: skip
    assert (probe.problem("in t") is not None, probe.records) == (processed, int(processed))


def test_a_refused_event_costs_exactly_the_settle_time(client):
    started = time.monotonic()
    refused = post_webhook_over_http(client, "https://127.0.0.1/x", closed_port(), "s" * 20, "r", lambda e: 0, 0.5)
    assert refused.problem("in t") is None
    assert 0.5 <= time.monotonic() - started < 1.5


def test_webhook_probe_refused_at_the_network_passes(client):
    probe = post_webhook_over_http(client, "https://127.0.0.1/x", closed_port(), "s" * 20, "r", lambda e: 0, 0.0)
    assert (probe.status, probe.problem("in t"), probe.answer) == (None, None, "connection refused")


def test_a_connection_closed_without_an_answer_is_a_refusal(client):
    """An edge that drops plain-HTTP webhooks (closes the connection once it has read the request) refuses them."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)

        def drop() -> None:
            conn, _ = sock.accept()
            conn.recv(65536)
            conn.close()

        threading.Thread(target=drop, daemon=True).start()
        port = sock.getsockname()[1]
        probe = post_webhook_over_http(client, "https://127.0.0.1/x", port, "s" * 20, "r", lambda e: 0, 0.0)
    assert (probe.status, probe.refused, probe.problem("in t")) == (None, True, None)
    assert "disconnected" in probe.answer


# ------------------------------------------------------------------------------------------------------ CDN


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [("public, max-age=600", 600), ("public, s-maxage=60, max-age=600", 60), ("private, max-age=600", 0),
     ("no-cache", 0), ("no-store", 0), (None, 0), ("public", 0)],
)  # fmt: skip
def test_shared_lifetime(cache_control, seconds):
    assert shared_lifetime(cache_control) == seconds


def test_assets_are_discovered_from_the_html_same_origin_only():
    html = """<html><head><script src="/static/app.3f9c2b1e.js"></script>
    <link rel="stylesheet" href="css/site.0a1b2c3d4e.css"><link rel="icon" href="/favicon.ico">
    <script src="https://other.example/x.js"></script><img src="/img/logo.png"></head></html>"""
    assert discover_assets("https://cdn.example.com/", html) == [
        "https://cdn.example.com/static/app.3f9c2b1e.js",
        "https://cdn.example.com/css/site.0a1b2c3d4e.css",
        "https://cdn.example.com/img/logo.png",
    ]


@pytest.mark.parametrize(
    ("headers", "hit"),
    [({"X-Cache": "HIT"}, True), ({"X-Cache": "Hit from cloudfront"}, True), ({"CF-Cache-Status": "MISS"}, False),
     ({"Age": "12"}, True), ({"Age": "0"}, False), ({}, False), ({"X-Cache": "MISS", "Age": "5"}, False)],
)  # fmt: skip
def test_is_hit(headers, hit):
    assert is_hit(headers) is hit


ASSET = "https://cdn.example.com/static/app.3f9c2b1e.js"
GOOD = {"cache-control": "public, max-age=31536000, immutable", "via": "1.1 cdn", "x-cache": "MISS"}


def fetched(headers, url=ASSET, status=200):
    return Fetched(url, status, {k.lower(): v for k, v in headers.items()}, "")


@pytest.mark.parametrize(
    ("path", "fingerprinted"),
    [("/static/app.3f9c2b1e.js", True), ("/assets/index-BZ0dSZAf.js", True), ("/assets/vendor-Cq_8-xYz.css", True),
     ("/static/js/main.8f3a2b1c.chunk.js", True), ("/static/js/2.8F3A2B1C.chunk.js", True),
     ("/APP.3F9C2B1E.JS", True), ("/_next/static/chunks/pages/index-3f9c2b1e4d5a6b7c.js", True),
     ("/static/app.js", False), ("/img/logo.png", False), ("/app.production.js", False), ("/favicon.ico", False),
     ("/jquery-3.7.1.min.js", False), ("/js/chunk-vendors.js", False), ("/static/3f9c2b1e.js", False)],
)  # fmt: skip
def test_the_default_fingerprint_pattern(path, fingerprinted):
    """Content hashes as webpack, Vite/Rollup (base64url), CRA (.chunk.) and Next.js write them, any case; words
    and version numbers are not hashes."""
    assert bool(RULES.fingerprint.search(path)) is fingerprinted


@pytest.mark.parametrize(
    ("first", "last", "problem"),
    [
        (GOOD, {**GOOD, "x-cache": "HIT"}, None),
        ({"cache-control": GOOD["cache-control"]}, {"cache-control": GOOD["cache-control"]},
         "/static/app.3f9c2b1e.js: no CDN marker in the response; expected one of Via, X-Cache, Age"),
        (GOOD, GOOD, "no cache hit in 1 request(s) after the first ({'x-cache': 'MISS'}); expected a hit"),
        ({"via": "1"}, {"via": "1", "x-cache": "MISS"},
         "/static/app.3f9c2b1e.js: no Cache-Control; expected public, max-age >= 2592000 s, immutable"),
        (GOOD, {**GOOD, "x-cache": "HIT", "cache-control": "public, max-age=3600"},
         "Cache-Control 'public, max-age=3600'; expected public, max-age >= 2592000 s, immutable"),
        (GOOD, {**GOOD, "x-cache": "HIT", "set-cookie": "sid=1"}, "a cacheable response sets a cookie"),
    ],
)  # fmt: skip
def test_asset_rules(first, last, problem):
    verdict = judge_asset(Warmed(fetched(first), fetched(last), 2), RULES)
    if problem is None:
        assert verdict.problems == []
    else:
        assert any(problem in p for p in verdict.problems), verdict.problems


def test_the_cache_rules_apply_to_what_the_pattern_calls_fingerprinted():
    unhashed = "https://cdn.example.com/static/app.js"
    loose = {**GOOD, "x-cache": "HIT", "cache-control": "public, max-age=600"}
    assert judge_asset(Warmed(fetched(GOOD, unhashed), fetched(loose, unhashed), 2), RULES).problems == []
    custom = replace(RULES, fingerprint=re.compile(r"/static/app\.js$"))
    (problem,) = judge_asset(Warmed(fetched(GOOD, unhashed), fetched(loose, unhashed), 2), custom).problems
    expected = "public, max-age >= 2592000 s, immutable"
    assert problem == f"/static/app.js: Cache-Control 'public, max-age=600'; expected {expected}"


def test_when_no_asset_is_fingerprinted_the_cache_rules_were_not_checked():
    hit = {**GOOD, "x-cache": "HIT"}
    urls = [f"https://cdn.example.com/{name}" for name in ("a.js", "b.css", "c.png", "d.svg")]
    assets = [judge_asset(Warmed(fetched(GOOD, url), fetched(hit, url), 2), RULES) for url in urls]
    assert unchecked_cache_rules(assets, RULES) == (
        "none of the 4 asset(s) checked (/a.js, /b.css, /c.png and 1 more) matches cdn.fingerprint_pattern "
        f"{RULES.fingerprint.pattern!r}: the cache rules of fingerprinted assets were not checked"
    )
    hashed = judge_asset(Warmed(fetched(GOOD), fetched(hit), 2), RULES)
    assert unchecked_cache_rules([*assets, hashed], RULES) is None


@pytest.mark.parametrize(
    ("status", "headers", "problem"),
    [(200, {"cache-control": "no-cache"}, None), (200, {"cache-control": "private, max-age=86400"}, None),
     (200, {"cache-control": "public, max-age=60"}, None),
     (200, {"cache-control": "public, max-age=86400"},
      "HTML /: Cache-Control 'public, max-age=86400' lets shared caches keep it 86400 s; expected at most 300 s"),
     (200, {"cache-control": "public, max-age=60", "set-cookie": "sid=1"},
      "HTML /: a cacheable response sets a cookie (Set-Cookie); expected none"),
     (200, {"cache-control": "no-store", "set-cookie": "sid=1"}, None),
     (503, {"cache-control": "no-cache"}, "HTML /: status 503, expected 200")],
)  # fmt: skip
def test_html_rules(status, headers, problem):
    page = fetched(headers, url="https://cdn.example.com/", status=status)
    verdict = judge_html(Warmed(page, page, 2), RULES)
    assert verdict.problems == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    ("headers", "problems"),
    [({"cache-control": "no-cache", "cdn-cache-control": "max-age=86400"},
      ["CDN-Cache-Control 'max-age=86400' lets shared caches keep it 86400 s; expected at most 300 s"]),
     ({"cache-control": "private", "Cloudflare-CDN-Cache-Control": "public, max-age=3600"},
      ["Cloudflare-CDN-Cache-Control 'public, max-age=3600' lets shared caches keep it 3600 s; expected at most "
       "300 s"]),
     ({"cache-control": "no-store", "surrogate-control": "max-age=600"},
      ["Surrogate-Control 'max-age=600' lets shared caches keep it 600 s; expected at most 300 s"]),
     ({"cache-control": "public, max-age=3600", "cdn-cache-control": "no-store"},
      ["Cache-Control 'public, max-age=3600' lets shared caches keep it 3600 s; expected at most 300 s"]),
     ({"cache-control": "no-cache", "cdn-cache-control": "max-age=120", "surrogate-control": "no-store"}, [])],
)  # fmt: skip
def test_html_cache_rules_read_the_fields_that_override_cache_control_for_cdns(headers, problems):
    """CDN-Cache-Control, Cloudflare-CDN-Cache-Control and Surrogate-Control tell a CDN to keep HTML however
    'no-cache' Cache-Control looks; Cache-Control still governs every other shared cache."""
    page = fetched(headers, url="https://cdn.example.com/")
    assert judge_html(Warmed(page, page, 2), RULES).problems == [f"HTML /: {p}" for p in problems]


@pytest.mark.parametrize(
    ("first", "second", "problem"),
    [({"x-cache": "MISS"}, {"x-cache": "HIT", "age": "0"}, None),
     ({"x-cache": "MISS"}, {"x-cache": "HIT", "age": "301"}, "Age 301 s"),
     ({"x-cache": "HIT", "age": "7200"}, {"x-cache": "HIT", "age": "7200"}, "Age 7200 s"),
     ({"age": "900"}, {"x-cache": "MISS", "age": "900"}, "Age 900 s"),  # a positive Age alone is a hit
     ({"x-cache": "MISS", "age": "900"}, {"x-cache": "MISS", "age": "900"}, None)],
)  # fmt: skip
def test_html_served_from_a_cache_for_longer_than_the_limit_fails_whatever_its_headers(first, second, problem):
    """The headers may say no-cache while the CDN keeps the page all the same (a page rule, a cache-everything
    setting): the Age of a hit shows it."""
    url = "https://cdn.example.com/"
    page = Warmed(fetched({"cache-control": "no-cache", **first}, url), fetched({"cache-control": "no-cache",
                                                                                 **second}, url), 2)  # fmt: skip
    verdict = judge_html(page, RULES)
    expected = f"HTML /: served from the CDN's cache with {problem}; expected at most 300 s in shared caches"
    assert verdict.problems == ([] if problem is None else [expected])


def edge_answers(*x_cache: str):
    """An edge whose answers to GETs carry these X-Cache values in turn (the last one from then on)."""
    seen: list[str] = []

    def handle(method, path, body):
        seen.append(path)
        return 200, {"X-Cache": x_cache[min(len(seen), len(x_cache)) - 1]}, b"x"

    return handle, seen


def test_a_hit_is_looked_for_a_bounded_number_of_times(client):
    """A CDN with many edges may miss on the second request: the third hits. One that never hits is asked
    1 + hit_retries times after the first, no more."""
    handle, seen = edge_answers("MISS", "MISS", "HIT")
    with http_server(handle) as base:
        warmed = fetch_warm(client, base + "/a.js", hit_retries=2)
    assert (warmed.requests, warmed.last.headers["x-cache"], len(seen)) == (3, "HIT", 3)
    handle, seen = edge_answers("MISS")
    with http_server(handle) as base:
        warmed = fetch_warm(client, base + "/a.js", hit_retries=2)
    assert (warmed.requests, is_hit(warmed.last.headers), len(seen)) == (4, False, 4)


def test_assets_are_fetched_concurrently_within_the_bound(client):
    handle = PeakCounter(lambda method, path, body: (200, {"X-Cache": "HIT"}, b"x"))

    with http_server(handle) as base:
        warmed = fetch_all_warm(client, [f"{base}/{n}.js" for n in range(12)], hit_retries=0, workers=3)
    assert [w.first.url for w in warmed] == [f"{base}/{n}.js" for n in range(12)]
    assert 1 < handle.peak <= 3


def caching_edge(calls, tags=None, caches=True):
    """A Cloudflare-shaped edge: the first GET of a URL is a miss, later ones hits, until a purge_cache call drops
    it by files, prefixes (host/path), tags (``tags``: path -> its cache tag) or purge_everything."""
    cached: set[str] = set()
    tagged = tags or {}

    def handle(method, path, body):
        calls.append((method, path, body))
        if method == "POST":
            asked = json.loads(body)
            files = {urlsplit(url)._replace(scheme="", netloc="").geturl() for url in asked.get("files", [])}
            prefixes = tuple("/" + prefix.split("/", 1)[1] for prefix in asked.get("prefixes", []))
            dropped = {p for p in cached if p in files or p.startswith(prefixes) or tagged.get(urlsplit(p).path)
                       in asked.get("tags", [])}  # fmt: skip
            cached.difference_update(set(cached) if asked.get("purge_everything") else dropped)
            return json_answer(200, {"success": True, "errors": [], "messages": [], "result": {"id": "z"}})
        hit = path in cached
        if caches:
            cached.add(path)
        return 200, {"X-Cache": "HIT" if hit else "MISS"}, b"x"

    return handle


def cloudflare(base, scope="url", **more):
    return CdnPurgeSettings(provider="cloudflare", scope=scope, api_url=base, zone_id="zone1", **more)


TOKEN = Secret("CDN_API_TOKEN", "t")


@pytest.mark.parametrize(
    ("scope", "more", "body"),
    [("url", {}, {"files": ["{base}/static/a.js?purge-canary=r"]}),
     ("prefix", {}, {"prefixes": ["127.0.0.1/static/a.js"]}),
     ("tag", {"canary_tag": "static"}, {"tags": ["static"]}),
     ("everything", {}, {"purge_everything": True})],
)  # fmt: skip
def test_purge_by_each_scope_through_a_cloudflare_shaped_api(tls_client, tls, scope, more, body):
    calls = []
    with http_server(caching_edge(calls, tags={"/static/a.js": "static"}), tls) as base:
        canary = base + "/static/a.js?purge-canary=r"
        result = purge_canary(tls_client, canary, cloudflare(base, scope, **more), TOKEN, hit_retries=2)
    expected = json.loads(json.dumps(body).replace("{base}", base))
    assert result.problems == ()
    assert (result.request, result.requests_before, result.purge_status, result.after_hit) == (expected, 2, 200, False)
    assert [c[:2] for c in calls] == [("GET", "/static/a.js?purge-canary=r")] * 2 + [
        ("POST", "/client/v4/zones/zone1/purge_cache"), ("GET", "/static/a.js?purge-canary=r")]  # fmt: skip
    assert json.loads(calls[2][2]) == expected


def test_a_purge_that_leaves_the_canary_cached_fails_with_the_request(tls_client, tls):
    calls = []
    with http_server(caching_edge(calls, tags={}), tls) as base:  # the canary carries no tag
        canary = base + "/static/a.js"
        result = purge_canary(tls_client, canary, cloudflare(base, "tag", canary_tag="static"), TOKEN, hit_retries=2)
    assert result.problems == (
        f"after purging {canary} (tag scope: {{'tags': ['static']}}) the next request was still a cache hit; "
        "expected a miss",
    )


@pytest.mark.parametrize(
    ("purge", "reason"),
    [(CdnPurgeSettings(provider="fastly"), "a live purge is implemented for Cloudflare's API only "
                                           "(cdn.purge.provider is 'fastly')"),
     (CdnPurgeSettings(provider="cloudflare"), "Cloudflare's purge API needs the zone: set cdn.purge.zone_id"),
     (CdnPurgeSettings(provider="cloudflare", zone_id="z", scope="tag"), "scope 'tag' needs cdn.purge.canary_tag"),
     (CdnPurgeSettings(provider="cloudflare", zone_id="z", scope="everything"), None)],
)  # fmt: skip
def test_purges_golive_cannot_exercise_say_why(purge, reason):
    found = purge_unsupported(purge)
    assert found is None if reason is None else reason in found


def test_a_canary_the_cdn_never_caches_proves_no_purge_and_nothing_is_purged(tls_client, tls):
    calls = []
    with http_server(caching_edge(calls, caches=False), tls) as base:
        result = purge_canary(tls_client, base + "/a.js", cloudflare(base), TOKEN, hit_retries=1)
    assert [c[0] for c in calls] == ["GET", "GET", "GET"]
    assert result.purge_status is None
    assert result.problems == (
        f"{base}/a.js was still a cache miss after 3 requests: the CDN does not cache it, so a miss after a "
        "purge would prove nothing; expected a hit before purging (nothing was purged)",
    )


def test_a_refused_purge_names_the_status_and_the_providers_error(tls_client, tls):
    def handle(method, path, body):
        if method == "POST":
            return json_answer(403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
        return 200, {"X-Cache": "HIT"}, b"x"

    with http_server(handle, tls) as base:
        result = purge_canary(tls_client, base + "/a.js", cloudflare(base), Secret("CDN_API_TOKEN", "wrong"), 0)
    assert result.problems == (
        f"purge of {base}/a.js (url scope) refused: HTTP 403 10000 Authentication error; "
        'expected HTTP 200 with "success": true',
    )


@pytest.mark.parametrize(
    ("answer", "shown"),
    [((204, {}, b""), "HTTP 204 no body"), ((401, {}, b""), "HTTP 401 no body"),
     ((502, {"Content-Type": "text/html"}, b"<html>\n<h1>502 Bad Gateway</h1></html>"),
      "HTTP 502 <html> <h1>502 Bad Gateway</h1></html>"),
     (json_answer(200, {"success": False, "errors": [], "messages": []}),
      'HTTP 200 {"success": false, "errors": [], "messages": []}'),
     ((200, {"Content-Type": "text/plain"}, b"ok"), "HTTP 200 ok")],
)  # fmt: skip
def test_only_an_explicit_success_is_a_purge(tls_client, tls, answer, shown):
    """An answer without Cloudflare's explicit success (HTTP 200 and "success": true) purged nothing that golive can
    show: a 204, a 401 or 502 without a body, a 200 saying false or not JSON are refusals, never a pass."""

    def handle(method, path, body):
        return answer if method == "POST" else (200, {"X-Cache": "HIT"}, b"x")

    with http_server(handle, tls) as base:
        result = purge_canary(tls_client, base + "/a.js", cloudflare(base), TOKEN, 0)
    assert (result.purge_status, result.after_hit) == (answer[0], False)
    assert result.problems == (
        f'purge of {base}/a.js (url scope) refused: {shown}; expected HTTP 200 with "success": true',
    )


@contextmanager
def https_answering(chain: CertifiedKey, tmp_path: Path, headers: dict[str, str]) -> Iterator[str]:
    """A real HTTPS server on loopback presenting ``chain`` and answering every GET 200 with ``headers``."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(chain.certificate_pem())
    key.write_bytes(chain.key_pem())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            for name, value in {**headers, "Content-Length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_header_client_reads_hsts_behind_a_certificate_no_one_trusts(tmp_path):
    """TLS-03's HSTS is measured even when the certificate is bad: that is TLS-01's finding, not TLS-03's."""
    stranger = issue("stranger", sans=SERVER_NAMES)  # self-signed, in no trust store
    settings = HttpSettings(timeout_s=2.0, connect_timeout_s=1.0)
    with https_answering(stranger, tmp_path, {"Strict-Transport-Security": "max-age=600"}) as url:
        with make_client(settings) as verifying, pytest.raises(ProbeError, match="certificate"):
            check_hsts(verifying, url, 31536000, False)
        with header_client(settings) as client:
            verdict = check_hsts(client, url, 31536000, False)
    assert verdict.problems == (
        f"GET {url}: Strict-Transport-Security 'max-age=600': max-age 600 s, expected >= 31536000",
    )


@contextmanager
def dripping() -> Iterator[int]:
    """A plain-HTTP server that answers 200 at once and then sends its body one byte every 0.1 s, for ever: each
    read is quick, so only a deadline over the whole exchange ends it."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _drip(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Strict-Transport-Security", "max-age=31536000")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not stop.wait(0.1):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return

        do_GET = do_POST = _drip

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("probe", ["redirect", "hsts", "cdn", "webhook"])
def test_every_exchange_ends_within_the_clients_deadline_whatever_the_server_does(probe):
    """A server that drips its answer never trips a read timeout: the probes go through the deadline of
    golive.probes.http.request (connect + read timeout), each an error of one line."""
    with httpx.Client(timeout=httpx.Timeout(0.5, connect=0.3), trust_env=False) as client, dripping() as port:
        base = f"http://127.0.0.1:{port}"
        webhook = "https://127.0.0.1/x"
        calls = {
            "redirect": lambda: check_redirect(client, "https://127.0.0.1:8443", port),
            "hsts": lambda: check_hsts(client, base + "/", 31536000, False),
            "cdn": lambda: fetch_warm(client, base + "/a.js", 0),
            "webhook": lambda: post_webhook_over_http(client, webhook, port, "s" * 20, "r", lambda e: 0, 0),
        }
        started = time.monotonic()
        with pytest.raises(ProbeError, match=r": no complete answer within 1 s$"):
            calls[probe]()
    assert time.monotonic() - started < 2.5
