"""The sandbox's edge (edge.py): the www domain's certificate switches live with its faults, the legacy-TLS
listener, the plain-HTTP "port 80", HSTS faults on the front, and the CDN with its purge API."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time

import httpx
import pytest

from golive.probes.tls import LEGACY_VERSIONS, fetch_chain, parse_endpoint, probe_version
from golive.sandbox.edge import CDN_ZONE, CERT_FAULTS, WWW_NAME

ASSET = "/static/app.3f9c2b1e.js"


def subjects(env) -> list[str]:
    chain = fetch_chain(parse_endpoint(env["GOLIVE_SANDBOX_WWW_HOST"]), 3.0).chain
    return [c.subject.rfc4514_string() for c in chain]


def test_www_presents_the_sandbox_chain_and_refuses_legacy_tls(env, https):
    assert subjects(env) == ["CN=localhost", "CN=golive sandbox intermediate CA"]
    www = parse_endpoint(env["GOLIVE_SANDBOX_WWW_HOST"])
    assert https.get(f"https://{www}/").headers["strict-transport-security"].startswith("max-age=31536000")
    assert not any(probe_version(www, version, 3.0).accepted for version in LEGACY_VERSIONS)


@pytest.mark.parametrize(
    ("fault", "chain"),
    [
        ("tls-leaf-expired", ["CN=localhost", "CN=golive sandbox intermediate CA"]),
        ("tls-intermediate-expired", ["CN=localhost", "CN=golive sandbox intermediate CA (expired)"]),
        ("tls-wrong-host", ["CN=www.other-domain.invalid", "CN=golive sandbox intermediate CA"]),
        ("tls-self-signed", ["CN=localhost"]),
        ("tls-missing-intermediate", ["CN=localhost"]),
        ("tls-weak-key", ["CN=localhost", "CN=golive sandbox intermediate CA"]),
        ("tls-renewal-overdue", ["CN=localhost", "CN=golive sandbox intermediate CA"]),
    ],
)
def test_certificate_faults_switch_live_and_back(env, switch, fault, chain):
    assert fault in CERT_FAULTS
    healthy = fetch_chain(parse_endpoint(env["GOLIVE_SANDBOX_WWW_HOST"]), 3.0).chain
    switch(fault)
    faulty = fetch_chain(parse_endpoint(env["GOLIVE_SANDBOX_WWW_HOST"]), 3.0).chain
    assert [c.subject.rfc4514_string() for c in faulty] == chain
    assert faulty != healthy
    switch()
    assert fetch_chain(parse_endpoint(env["GOLIVE_SANDBOX_WWW_HOST"]), 3.0).chain == healthy


def test_legacy_protocols_fault_points_www_at_a_tls10_listener(sandbox, env, switch):
    switch("tls-legacy-protocols")
    faulty = sandbox.environ()
    assert {k for k in env if env[k] != faulty.get(k)} == {"GOLIVE_SANDBOX_WWW_HOST"}
    legacy = parse_endpoint(faulty["GOLIVE_SANDBOX_WWW_HOST"])
    assert all(probe_version(legacy, version, 3.0).accepted for version in LEGACY_VERSIONS)
    with httpx.Client(timeout=3.0) as plain:  # port 80 sends www to where the name now points
        answer = plain.get(f"http://{WWW_NAME}:{env['GOLIVE_SANDBOX_HTTP_PORT']}/")
    assert answer.headers["location"] == f"https://{legacy}/"
    switch()
    assert sandbox.environ() == env


def test_plain_http_redirects_permanently_to_the_same_path_on_https(env, https):
    plain = f"http://127.0.0.1:{env['GOLIVE_SANDBOX_HTTP_PORT']}"
    app = env["GOLIVE_SANDBOX_APP_URL"]
    get = https.get(plain + "/a/b?c=1")
    assert (get.status_code, get.headers["location"]) == (301, app + "/a/b?c=1")
    post = https.post(plain + "/api/webhooks/razorpay", content=b"{}")
    assert (post.status_code, post.headers["location"]) == (308, app + "/api/webhooks/razorpay")
    www = https.get(f"http://{WWW_NAME}:{env['GOLIVE_SANDBOX_HTTP_PORT']}/a?b=1")  # the same port, by Host
    assert (www.status_code, www.headers["location"]) == (301, f"https://{env['GOLIVE_SANDBOX_WWW_HOST']}/a?b=1")


def test_www_faults_break_the_www_domain_only(env, https, switch):
    www_http = f"http://{WWW_NAME}:{env['GOLIVE_SANDBOX_HTTP_PORT']}/"
    switch("www-http-no-redirect")
    served = https.get(www_http)
    assert (served.status_code, "location" in served.headers) == (200, False)
    assert https.get(f"http://127.0.0.1:{env['GOLIVE_SANDBOX_HTTP_PORT']}/").status_code == 301
    switch("www-hsts-missing")
    assert "strict-transport-security" not in https.get(f"https://{env['GOLIVE_SANDBOX_WWW_HOST']}/").headers
    assert "strict-transport-security" in https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/").headers
    assert https.get(www_http).status_code == 301


@pytest.mark.parametrize(
    ("fault", "status", "location"),
    [
        ("http-no-redirect", 200, None),
        ("http-redirect-other-host", 301, "https://www.other-domain.invalid/api/health"),
        ("http-redirect-to-http", 301, "http://127.0.0.1:{app_port}/api/health"),
    ],
)
def test_redirect_faults(env, https, switch, fault, status, location):
    switch(fault)
    answer = https.get(f"http://127.0.0.1:{env['GOLIVE_SANDBOX_HTTP_PORT']}/api/health")
    app_port = env["GOLIVE_SANDBOX_APP_URL"].rsplit(":", 1)[1]
    assert answer.status_code == status
    assert answer.headers.get("location") == (location.format(app_port=app_port) if location else None)
    # webhooks are TLS-04's: the redirect faults leave them redirected to the app on https
    webhook = "/api/webhooks/razorpay"
    post = https.post(f"http://127.0.0.1:{env['GOLIVE_SANDBOX_HTTP_PORT']}{webhook}", content=b"{}")
    assert (post.status_code, post.headers["location"]) == (308, env["GOLIVE_SANDBOX_APP_URL"] + webhook)


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [(None, 308, b""), ("webhook-plain-http", 200, b'{"status":"processed"}'),
     ("webhook-plain-http-app-400", 400, b'{"error":"unhandled event https_probe.tls04"}')],
)  # fmt: skip
def test_webhook_faults_forward_plain_http_to_the_app(env, https, switch, fault, status, body):
    """Port 80 redirects a webhook POST to https; under its faults it forwards it to the app, which processes it
    or, having verified the signature, answers 400 to an event it has no handler for."""
    switch(*([fault] if fault else []))
    event = json.dumps({"event": "https_probe.tls04", "payload": {}, "entity": "event"}).encode()
    signature = hmac.new(env["RAZORPAY_WEBHOOK_SECRET"].encode(), event, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-razorpay-signature": signature,
               "x-razorpay-event-id": f"evt_edge_{time.time_ns()}"}  # fmt: skip
    answer = https.post(f"http://127.0.0.1:{env['GOLIVE_SANDBOX_HTTP_PORT']}/api/webhooks/razorpay", content=event,
                        headers=headers)  # fmt: skip
    assert (answer.status_code, answer.content) == (status, body)


@pytest.mark.parametrize(
    ("fault", "header"), [(None, "max-age=31536000; includeSubDomains"), ("hsts-missing", None),
                          ("hsts-too-short", "max-age=86400; includeSubDomains")]
)  # fmt: skip
def test_hsts_faults_edit_the_fronts_header_only(env, https, switch, fault, header):
    switch(*([fault] if fault else []))
    assert https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/").headers.get("strict-transport-security") == header
    instance = https.get(env["GOLIVE_SANDBOX_INSTANCE_1_URL"] + "/")
    assert instance.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_cdn_caches_by_the_origins_rules_and_marks_its_answers(env, https):
    cdn = env["GOLIVE_SANDBOX_CDN_URL"]
    url = f"{cdn}{ASSET}?t={time.time_ns()}"
    first, second = https.get(url), https.get(url)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["via"] == "1.1 sandbox-cdn"
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "age" in second.headers
    html = [https.get(cdn + "/").headers["x-cache"] for _ in range(2)]
    assert html == ["MISS", "MISS"]  # no-cache: never stored


def test_cdn_purge_needs_the_token_and_empties_the_entry(env, https):
    cdn = env["GOLIVE_SANDBOX_CDN_URL"]
    url = f"{cdn}{ASSET}?t={time.time_ns()}"
    https.get(url)
    assert https.get(url).headers["x-cache"] == "HIT"
    endpoint = f"{cdn}/client/v4/zones/{CDN_ZONE}/purge_cache"
    refused = https.post(endpoint, json={"files": [url]}, headers={"authorization": "Bearer wrong"})
    assert refused.status_code == 403
    assert refused.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]
    wrong_zone = https.post(f"{cdn}/client/v4/zones/nope/purge_cache", json={"files": [url]},
                            headers={"authorization": f"Bearer {env['CDN_API_TOKEN']}"})  # fmt: skip
    assert wrong_zone.status_code == 400
    assert wrong_zone.json()["errors"] == [
        {"code": 7003, "message": "Could not route to /zones/nope/purge_cache, perhaps your object identifier is "
                                  "invalid?"}]  # fmt: skip
    done = https.post(endpoint, json={"files": [url]}, headers={"authorization": f"Bearer {env['CDN_API_TOKEN']}"})
    assert done.json() == {"success": True, "errors": [], "messages": [], "result": {"id": CDN_ZONE}}
    assert https.get(url).headers["x-cache"] == "MISS"


def test_cdn_purge_matches_the_host_as_cloudflare_does(env, https):
    """Files are full URLs and prefixes start with the host: the same path on another host is another entry."""
    cdn = env["GOLIVE_SANDBOX_CDN_URL"]
    url = f"{cdn}{ASSET}?t={time.time_ns()}"
    https.get(url)
    endpoint = f"{cdn}/client/v4/zones/{CDN_ZONE}/purge_cache"
    token = {"authorization": f"Bearer {env['CDN_API_TOKEN']}"}
    other_host = url.replace("//127.0.0.1:", "//localhost:")
    for body in ({"files": [other_host]}, {"prefixes": ["localhost/static/"]}):
        assert https.post(endpoint, json=body, headers=token).json()["success"] is True
        assert https.get(url).headers["x-cache"] == "HIT", body
    assert https.post(endpoint, json={"prefixes": ["127.0.0.1/static/"]}, headers=token).json()["success"] is True
    assert https.get(url).headers["x-cache"] == "MISS"


def test_cdn_caches_html_its_cdn_cache_control_allows_whatever_cache_control_says(env, https, switch):
    cdn = env["GOLIVE_SANDBOX_CDN_URL"]
    switch("cdn-html-cdn-cache-control")
    first, second = https.get(cdn + "/"), https.get(cdn + "/")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert (second.headers["cache-control"], second.headers["cdn-cache-control"]) == ("no-cache", "max-age=86400")
    switch()
    healthy = https.get(cdn + "/")  # what was stored from the faulty origin is not served from the healthy one
    assert (healthy.headers["x-cache"], "cdn-cache-control" in healthy.headers) == ("MISS", False)


def test_cdn_faults(env, https, switch):
    cdn = env["GOLIVE_SANDBOX_CDN_URL"]
    switch("cdn-bypassed")
    answer = https.get(cdn + ASSET)
    assert not {"via", "x-cache", "age"} & answer.headers.keys()
    switch("cdn-asset-no-cache-headers")
    assert "cache-control" not in https.get(cdn + ASSET).headers
    switch("cdn-html-cached-publicly")
    assert https.get(cdn + "/").headers["cache-control"] == "public, max-age=86400"
    switch("cdn-purge-forbidden")
    refused = https.post(f"{cdn}/client/v4/zones/{CDN_ZONE}/purge_cache", json={"purge_everything": True},
                         headers={"authorization": f"Bearer {env['CDN_API_TOKEN']}"})  # fmt: skip
    assert refused.status_code == 403
    switch()
    healthy = https.get(cdn + ASSET)
    assert healthy.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert https.get(cdn + "/").headers["cache-control"] == "no-cache"


def test_an_unverified_client_cannot_be_fooled_by_the_ca(env):
    context = ssl.create_default_context()  # the system store: the sandbox CA is not in it
    with httpx.Client(verify=context, timeout=3.0) as client, pytest.raises(httpx.ConnectError):
        client.get(f"https://{env['GOLIVE_SANDBOX_WWW_HOST']}/")
