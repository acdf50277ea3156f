"""1) Environment validation: the CDN (CDN-01, CDN-02)."""

import pytest

from golive.outcomes import not_verified
from golive.probes.cdn import AssetRules, fetch_twice, judge_asset, judge_html, purge_canary


@pytest.mark.preflight
@pytest.mark.item("CDN-01")
def test_assets_served_by_cdn_with_cache_rules(cdn_settings, cdn_pages, cdn_assets, http, evidence):
    """Static assets come through the CDN (its markers; the second request is a hit); fingerprinted assets are
    public, long-lived and immutable; HTML is not kept by shared caches for long; nothing cacheable sets cookies."""
    rules = AssetRules(cdn_settings.markers, cdn_settings.asset_min_max_age_days * 86400,
                       cdn_settings.require_immutable, cdn_settings.html_max_shared_age_s)  # fmt: skip
    unread = [f"GET {page.url} answered {page.status}" for page in cdn_pages if page.status != 200]
    assert cdn_assets, (
        f"no static assets: none configured (cdn.assets) and none referenced by {', '.join(cdn_settings.html_paths)}"
        + (f" ({'; '.join(unread)}, expected 200 HTML)" if unread else "")
    )
    verdicts = [judge_html(page, rules) for page in cdn_pages]
    verdicts += [judge_asset(first, second, rules) for first, second in fetch_twice(http, cdn_assets)]
    for verdict in verdicts:
        evidence.record(verdict.url, verdict.measured, ok=not verdict.problems)
    problems = [problem for verdict in verdicts for problem in verdict.problems]
    assert not problems, f"CDN {cdn_settings.base_url}: " + "; ".join(problems)


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
@pytest.mark.side_effect("purges one canary URL (the first asset with a purge-canary query) from the CDN cache")
@pytest.mark.item("CDN-02")
def test_purge_works(cdn_settings, cdn_purge, cdn_token, cdn_assets, http, golive_run, evidence):
    """A purge of a canary URL through the provider's API succeeds and the next request is a miss."""
    if cdn_purge is None or cdn_token is None:
        not_verified("no purge method or no CDN_API_TOKEN (see test_purge_method_declared)")
    if cdn_purge.provider != "cloudflare" or not cdn_purge.zone_id:
        not_verified(
            f"a live purge is implemented for Cloudflare's API with cdn.purge.zone_id (got {cdn_purge.provider})"
        )
    base = cdn_purge.canary_path or (cdn_assets[0] if cdn_assets else None)
    if base is None:
        not_verified("no canary to purge: set cdn.purge.canary_path")
    canary = str(http.build_request("GET", str(cdn_settings.base_url)).url.join(base))
    canary += ("&" if "?" in canary else "?") + f"purge-canary={golive_run.run_id}"
    result = purge_canary(http, canary, str(cdn_purge.api_url), cdn_purge.zone_id, cdn_token)
    evidence.record(f"purge {canary}", {"hits_before": list(result.before), "purge_status": result.purge_status,
                                        "purge_ms": result.purge_ms, "hit_after": result.after_hit},
                    {"purge_status": 200, "hit_after": False}, ok=not result.problems)  # fmt: skip
    assert not result.problems, "; ".join(result.problems)
