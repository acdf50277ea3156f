"""1) Environment validation: HTTPS and certificates (TLS-01..04).

Every endpoint (the app's domain, tls.domains, the https instances and canary, the webhook hosts) is scanned once
per run, concurrently: the chain as sent, judged in full, and which protocol versions the server accepts. Every
public domain (the app's and tls.domains) must redirect plain HTTP to https and send HSTS.
"""

import re

import pytest

from golive.probes.https import post_webhook_over_http


@pytest.mark.preflight
@pytest.mark.postlaunch
@pytest.mark.item("TLS-01")
def test_certificate_chain(tls_domain, tls_scan, tls_settings, evidence):
    """The chain the server sends verifies to a trusted root, names the host, and every certificate in it has
    at least tls.min_days_left days left, a strong key and no SHA-1 signature."""
    chain = tls_scan[tls_domain].require()
    evidence.record(
        str(tls_domain),
        {**chain.summary(), "min_days_left": chain.min_days_left, "problems": list(chain.problems)},
        {"trusted": True, "hostname": tls_domain.host, "min_days_left": f">= {tls_settings.min_days_left}"},
        ok=not chain.problems,
    )
    assert not chain.problems, f"{tls_domain}: " + "; ".join(chain.problems)


@pytest.mark.preflight
@pytest.mark.item("TLS-02")
def test_certificate_renewed_in_time(tls_domain, tls_scan, evidence):
    """No certificate the server sends (leaf or intermediate) is past its renewal point: a leaf that is means the
    renewal job is not working."""
    chain = tls_scan[tls_domain].require()
    evidence.record(f"{tls_domain} chain", chain.renewal, {"past its renewal point": "none"},
                    ok=not chain.renewal_problems)  # fmt: skip
    assert not chain.renewal_problems, f"{tls_domain}: " + "; ".join(chain.renewal_problems)


@pytest.mark.preflight
@pytest.mark.item("TLS-03")
def test_only_modern_tls(tls_domain, tls_scan, evidence):
    """TLS 1.0 and 1.1 handshakes are refused; the server negotiates TLS 1.2 or 1.3."""
    domain = tls_scan[tls_domain]
    accepted = [v for v in domain.require_versions() if v.accepted]
    versions = {v.version: ("accepted" if v.accepted else f"refused ({v.detail})") for v in domain.versions}
    chain = domain.chain  # None: no TLS 1.2+ handshake (golive's main handshake offers only TLS 1.2 and 1.3)
    measured = {"negotiated": chain.protocol if chain else f"no TLS 1.2+ handshake ({domain.error})",
                "cipher": chain.cipher if chain else None, **versions}  # fmt: skip
    evidence.record(str(tls_domain), measured, {"TLSv1": "refused", "TLSv1.1": "refused", "negotiated": "TLSv1.2+"},
                    ok=chain is not None and not accepted)  # fmt: skip
    assert not accepted, (
        f"{tls_domain}: accepts " + ", ".join(f"{v.version} ({v.detail})" for v in accepted)
        + "; expected TLS 1.0 and 1.1 refused" + ("" if chain else f", and no TLS 1.2+ handshake ({domain.error})")
    )  # fmt: skip
    domain.require()  # refused everything: an error of the measurement, said by the chain's handshake


@pytest.mark.preflight
@pytest.mark.item("TLS-03")
def test_http_redirects_to_https(public_domain, https_enforcement, evidence):
    """Plain HTTP (tls.http_port) on every public domain answers a permanent redirect (301/308) to the same host
    and path on https."""
    verdict = https_enforcement[public_domain].require_redirect()
    evidence.record(verdict.url, {"status": verdict.status, "location": verdict.location},
                    {"status": "301 or 308", "location": verdict.expected}, ok=not verdict.problems)  # fmt: skip
    assert not verdict.problems, "; ".join(verdict.problems)


@pytest.mark.preflight
@pytest.mark.item("TLS-03")
def test_hsts(public_domain, https_enforcement, tls_settings, evidence):
    """Every public domain sends Strict-Transport-Security with max-age >= tls.hsts_min_age_s (and
    includeSubDomains when required)."""
    verdict = https_enforcement[public_domain].require_hsts()
    evidence.record(
        verdict.url, {"strict-transport-security": verdict.header, "max_age": verdict.max_age,
                      "includeSubDomains": verdict.include_subdomains},
        {"max_age": f">= {tls_settings.hsts_min_age_s}", "includeSubDomains": tls_settings.hsts_include_subdomains},
        ok=not verdict.problems,
    )  # fmt: skip
    assert not verdict.problems, "; ".join(verdict.problems)


@pytest.mark.preflight
@pytest.mark.side_effect("posts one signed test event (https_probe, its id carrying the run id) over plain HTTP")
@pytest.mark.item("TLS-04")
def test_webhooks_refuse_plain_http(tls_webhook_urls, tls_webhook_secret, tls_settings, target_db, http, golive_run,
                                    evidence):  # fmt: skip
    """A signed webhook POSTed over plain HTTP is refused before any handler (the connection refused, a redirect
    to https, or one of tls.webhook_refusal_statuses), and the app recorded nothing for it within
    tls.webhook_settle_s."""
    table = re.search(r"\bfrom\s+([\w.]+)", tls_settings.webhook_record_query, re.IGNORECASE)
    where = f"in {table.group(1)}" if table else "counted by tls.webhook_record_query"

    def count(event_id):
        return int(target_db.row(tls_settings.webhook_record_query, (event_id,))[0])

    failures = [
        f"webhook URL {url} is plain http; expected https" for url in tls_webhook_urls if url.startswith("http:")
    ]
    for url in (url for url in tls_webhook_urls if url.startswith("https:")):
        probe = post_webhook_over_http(http, url, tls_settings.http_port, tls_webhook_secret.reveal(),
                                       golive_run.run_id, count, tls_settings.webhook_settle_s,
                                       tls_settings.webhook_refusal_statuses)  # fmt: skip
        problem = probe.problem(where)
        evidence.record(f"POST {probe.url}", {"answer": probe.answer, "event_id": probe.event_id,
                                              "records": probe.records},
                        {"answer": probe.expected(), "records": 0}, ok=problem is None)  # fmt: skip
        if problem:
            failures.append(problem)
    assert not failures, "; ".join(failures)
