"""1) Environment validation: the CDN (CDN-01, CDN-02)."""

import re

import pytest

from golive.outcomes import not_verified
from golive.probes.cdn import (
    AssetRules,
    fetch_all_warm,
    judge_asset,
    judge_html,
    purge_canary,
    purge_unsupported,
    unchecked_cache_rules,
)


@pytest.mark.preflight
@pytest.mark.item("CDN-01")
def test_assets_served_by_cdn_with_cache_rules(cdn_settings, cdn_pages, cdn_assets, http, evidence):
    """Static assets come through the CDN (its markers; a request after the first is a hit); fingerprinted assets
    are public, long-lived and immutable; HTML is not kept by shared caches for long (Cache-Control and the
    CDN-targeted fields that override it, and the Age of a cache hit); nothing cacheable sets cookies."""
    rules = AssetRules(cdn_settings.markers, cdn_settings.asset_min_max_age_days * 86400,
                       cdn_settings.require_immutable, cdn_settings.html_max_shared_age_s,
                       re.compile(cdn_settings.fingerprint_pattern))  # fmt: skip
    unread = [f"GET {page.first.url} answered {page.first.status}" for page in cdn_pages if page.first.status != 200]
    assert cdn_assets, (
        f"no static assets: none configured (cdn.assets) and none referenced by {', '.join(cdn_settings.html_paths)}"
        + (f" ({'; '.join(unread)}, expected 200 HTML)" if unread else "")
    )
    warmed = fetch_all_warm(http, cdn_assets, cdn_settings.hit_retries, cdn_settings.concurrency)
    assets = [judge_asset(asset, rules) for asset in warmed]
    verdicts = [*(judge_html(page, rules) for page in cdn_pages), *assets]
    for verdict in verdicts:
        evidence.record(verdict.url, verdict.measured, ok=not verdict.problems)
    unchecked = unchecked_cache_rules(assets, rules)
    problems = [problem for verdict in verdicts for problem in verdict.problems]
    assert not problems, f"CDN {cdn_settings.base_url}: " + "; ".join(problems + ([unchecked] if unchecked else []))
    if unchecked:
        not_verified(f"CDN {cdn_settings.base_url}: {unchecked}")


@pytest.mark.preflight
@pytest.mark.item("CDN-02")
def test_purge_method_declared(cdn_settings, cdn_purge, cdn_token, evidence):
    """A purge method is declared (provider and scope) and its credentials (CDN_API_TOKEN) are present."""
    evidence.record("CDN purge", {"provider": cdn_purge.provider if cdn_purge else None,
                                  "scope": cdn_purge.scope if cdn_purge else None,
                                  "CDN_API_TOKEN": "present" if cdn_token else "missing"},
                    {"provider": "declared", "CDN_API_TOKEN": "present"}, ok=bool(cdn_purge and cdn_token))  # fmt: skip
    assert cdn_purge is not None, "no purge method declared ([cdn.purge] provider and scope in the environment file)"
    assert cdn_token is not None, f"{cdn_purge.provider} purge declared but CDN_API_TOKEN is not set"


@pytest.mark.preflight
@pytest.mark.side_effect(
    "purges the canary (the first asset with a purge-canary query) from the CDN cache by the declared scope: "
    "url purges that URL, prefix every variant of its path, tag what carries cdn.purge.canary_tag, everything the "
    "whole zone"
)
@pytest.mark.item("CDN-02")
def test_purge_works(cdn_settings, cdn_purge, cdn_token, cdn_assets, http, golive_run, evidence):
    """A purge of a canary URL through the provider's API, by the declared scope, succeeds and the next request is
    a miss."""
    if cdn_purge is None or cdn_token is None:
        not_verified("no purge method or no CDN_API_TOKEN (see test_purge_method_declared)")
    unsupported = purge_unsupported(cdn_purge)
    if unsupported:
        not_verified(unsupported)
    base = cdn_purge.canary_path or (cdn_assets[0] if cdn_assets else None)
    if base is None:
        not_verified("no canary to purge: set cdn.purge.canary_path")
    canary = str(http.build_request("GET", str(cdn_settings.base_url)).url.join(base))
    canary += ("&" if "?" in canary else "?") + f"purge-canary={golive_run.run_id}"
    result = purge_canary(http, canary, cdn_purge, cdn_token, cdn_settings.hit_retries)
    evidence.record(f"purge {canary}", {"scope": cdn_purge.scope, "request": result.request,
                                        "requests_until_hit": result.requests_before,
                                        "purge_status": result.purge_status, "purge_ms": result.purge_ms,
                                        "hit_after": result.after_hit},
                    {"purge_status": 200, "hit_after": False}, ok=not result.problems)  # fmt: skip
    assert not result.problems, "; ".join(result.problems)
