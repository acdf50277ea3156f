"""CDN probes (CDN-01, CDN-02): assets come through the CDN and are cached by the reviewed rules; HTML is not
kept by shared caches for long (by Cache-Control, by the CDN-targeted fields that override it, or as seen in the
Age of a cache hit); a purge through the provider's API works and the next request is a miss."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from golive.config import CdnPurgeSettings
from golive.probes.http import request
from golive.secrets import Secret

_HIT_HEADERS = ("x-cache", "cf-cache-status", "x-cache-status", "x-proxy-cache", "cdn-cache")


def directives(cache_control: str | None) -> dict[str, str]:
    """Cache-Control as {directive: value} (lower-case names; a directive without value maps to "")."""
    found: dict[str, str] = {}
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found


def shared_lifetime(cache_control: str | None) -> int:
    """Seconds a shared cache (a CDN) may keep the response under these directives (0: not at all)."""
    d = directives(cache_control)
    if {"private", "no-store", "no-cache"} & d.keys():
        return 0
    for name in ("s-maxage", "max-age"):
        if d.get(name, "").isdigit():
            return int(d[name])
    return 0


# The fields that tell CDNs, and only them, how long to cache, over Cache-Control: Cloudflare's own, then
# CDN-Cache-Control (RFC 9213), then Surrogate-Control (Fastly, Akamai). Lower-case, in Cloudflare's precedence.
TARGETED_CACHE_CONTROL = ("cloudflare-cdn-cache-control", "cdn-cache-control", "surrogate-control")
_FIELD_NAMES = {
    "cloudflare-cdn-cache-control": "Cloudflare-CDN-Cache-Control",
    "cdn-cache-control": "CDN-Cache-Control",
    "surrogate-control": "Surrogate-Control",
    "cache-control": "Cache-Control",
}


def cdn_lifetime(headers: Mapping[str, str]) -> int:
    """Seconds a CDN keeps the response: by the first targeted field present (a CDN that reads it ignores
    Cache-Control), else by Cache-Control. ``headers`` has lower-case names (or is case-insensitive)."""
    for name in TARGETED_CACHE_CONTROL:
        if name in headers:
            return shared_lifetime(headers[name])
    return shared_lifetime(headers.get("cache-control"))


def shared_lifetimes(headers: Mapping[str, str]) -> dict[str, int]:
    """Every cache-control field present (targeted ones and Cache-Control), each with the seconds a shared cache
    obeying it may keep the response. Which CDN (or proxy) obeys which field is not known from outside, so each
    one counts."""
    return {name: shared_lifetime(headers[name]) for name in (*TARGETED_CACHE_CONTROL, "cache-control")
            if name in headers}  # fmt: skip


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "img": "src", "link": "href"}.get(tag)
        values = dict(attrs)
        if wanted and values.get(wanted) and (tag != "link" or "stylesheet" in (values.get("rel") or "")
                                              or "preload" in (values.get("rel") or "")):  # fmt: skip
            self.found.append(values[wanted] or "")


def discover_assets(base_url: str, html: str) -> list[str]:
    """Same-origin static assets an HTML page refers to (script src, link stylesheet/preload href, img src)."""
    parser = _Assets()
    parser.feed(html)
    origin = urlsplit(base_url).netloc
    urls = []
    for ref in parser.found:
        url = urljoin(base_url.rstrip("/") + "/", ref)
        if urlsplit(url).netloc == origin and url not in urls:
            urls.append(url)
    return urls


def is_hit(headers: Mapping[str, str]) -> bool:
    """Whether a response came from the CDN's cache: a HIT status header, or a positive Age."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _HIT_HEADERS:
        if name in lowered:
            return "HIT" in lowered[name].upper()
    age = lowered.get("age", "")
    return age.isdigit() and int(age) > 0


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    headers: dict[str, str]
    body: str


# An asset (a script bundle, an image) is read whole, within the client's deadline, up to this size.
ASSET_MAX_BYTES = 64 * 1024 * 1024


def fetch(client: httpx.Client, url: str) -> Fetched:
    """GET ``url`` (redirects not followed) within the client's deadline: status, headers (lower-case names) and
    the start of the body."""
    answer = request(client, "GET", url, f"GET {url}", max_bytes=ASSET_MAX_BYTES)
    return Fetched(url, answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.text[:65536])


@dataclass(frozen=True)
class Warmed:
    """An asset fetched until the CDN answered from its cache: the first answer, the last one (the first hit, or
    the last miss when none came) and how many requests that took."""

    first: Fetched
    last: Fetched
    requests: int


# Between the requests that look for a hit: a CDN may store the answer just after sending it.
_RETRY_PAUSE_S = 0.1


def fetch_warm(client: httpx.Client, url: str, hit_retries: int) -> Warmed:
    """GET ``url``, then again until a cache hit: the second request, and up to ``hit_retries`` more when it was a
    miss (a CDN with many edges may send the next request to one that has not cached it yet)."""
    first = last = fetch(client, url)
    requests = 1
    for attempt in range(1 + hit_retries):
        if attempt:
            time.sleep(_RETRY_PAUSE_S)
        last = fetch(client, url)
        requests += 1
        if is_hit(last.headers):
            break
    return Warmed(first, last, requests)


@dataclass(frozen=True)
class AssetRules:
    markers: Sequence[str]
    min_max_age_s: int
    require_immutable: bool
    html_max_shared_age_s: int
    fingerprint: re.Pattern[str]


@dataclass
class AssetVerdict:
    url: str
    measured: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def judge_asset(warmed: Warmed, rules: AssetRules) -> AssetVerdict:
    """A static asset fetched through the CDN until a hit: markers, a hit after the first request, and the cache
    rules of fingerprinted assets (those whose path matches rules.fingerprint)."""
    first, last = warmed.first, warmed.last
    verdict = AssetVerdict(first.url)
    path = urlsplit(first.url).path
    present = [m for m in rules.markers if m.lower() in last.headers or m.lower() in first.headers]
    cache_control = last.headers.get("cache-control")
    fingerprinted = bool(rules.fingerprint.search(path))
    verdict.measured = {"status": last.status, "cache-control": cache_control, "markers": present,
                        "hit": is_hit(last.headers), "requests": warmed.requests,
                        "set-cookie": "set-cookie" in last.headers, "fingerprinted": fingerprinted}  # fmt: skip
    if last.status != 200:
        verdict.problems.append(f"{path}: status {last.status}, expected 200")
    if not present:
        verdict.problems.append(f"{path}: no CDN marker in the response; expected one of {', '.join(rules.markers)}")
    elif not is_hit(last.headers):
        shown = {h: last.headers[h] for h in (*_HIT_HEADERS, "age") if h in last.headers}
        verdict.problems.append(
            f"{path}: no cache hit in {warmed.requests - 1} request(s) after the first ({shown or 'no cache status'})"
            "; expected a hit"
        )
    expected = f"public, max-age >= {rules.min_max_age_s} s" + (", immutable" if rules.require_immutable else "")
    if fingerprinted:
        d = directives(cache_control)
        if cache_control is None:
            verdict.problems.append(f"{path}: no Cache-Control; expected {expected}")
        else:
            max_age = int(d["max-age"]) if d.get("max-age", "").isdigit() else None
            missing = [name for name in ("public",) + (("immutable",) if rules.require_immutable else ())
                       if name not in d]  # fmt: skip
            if missing or max_age is None or max_age < rules.min_max_age_s:
                verdict.problems.append(f"{path}: Cache-Control {cache_control!r}; expected {expected}")
    if "set-cookie" in last.headers and shared_lifetime(cache_control) > 0:
        verdict.problems.append(f"{path}: a cacheable response sets a cookie (Set-Cookie); expected none")
    return verdict


def unchecked_cache_rules(assets: Sequence[AssetVerdict], rules: AssetRules) -> str | None:
    """Why the fingerprinted-asset rules were not checked at all (no asset's path matches the pattern), or None."""
    if any(verdict.measured.get("fingerprinted") for verdict in assets):
        return None
    paths = [urlsplit(verdict.url).path for verdict in assets]
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return (
        f"none of the {len(paths)} asset(s) checked ({shown}) matches cdn.fingerprint_pattern "
        f"{rules.fingerprint.pattern!r}: the cache rules of fingerprinted assets were not checked"
    )


def _age(answer: Fetched) -> int | None:
    """The Age of an answer the CDN served from its cache, None for a miss."""
    age = answer.headers.get("age", "")
    return int(age) if is_hit(answer.headers) and age.isdigit() else None


def judge_html(page: Warmed, rules: AssetRules) -> AssetVerdict:
    """An HTML document fetched twice: no cache-control field (Cache-Control, or the CDN-targeted ones that
    override it for shared caches) lets shared caches keep it longer than html_max_shared_age_s, neither answer is
    a cache hit older than that (Age), and nothing cacheable sets a cookie."""
    answer, limit = page.last, rules.html_max_shared_age_s
    verdict = AssetVerdict(page.first.url)
    lifetimes = shared_lifetimes(answer.headers)
    longest = max(lifetimes.values(), default=0)
    ages = [age for age in map(_age, (page.first, answer)) if age is not None]
    verdict.measured = {
        "status": answer.status,
        **{name: answer.headers[name] for name in lifetimes},
        "shared_lifetime_s": longest,
        "cache hits": [f"Age {age} s" for age in ages],
    }
    path = urlsplit(page.first.url).path or "/"
    if answer.status != 200:
        verdict.problems.append(f"HTML {path}: status {answer.status}, expected 200")
    for name, lifetime in lifetimes.items():
        if lifetime > limit:
            verdict.problems.append(
                f"HTML {path}: {_FIELD_NAMES[name]} {answer.headers[name]!r} lets shared caches keep it {lifetime} s; "
                f"expected at most {limit} s"
            )
    if max(ages, default=0) > limit:
        verdict.problems.append(
            f"HTML {path}: served from the CDN's cache with Age {max(ages)} s; expected at most {limit} s in shared "
            "caches"
        )
    if longest > 0 and "set-cookie" in answer.headers:
        verdict.problems.append(f"HTML {path}: a cacheable response sets a cookie (Set-Cookie); expected none")
    return verdict


# ------------------------------------------------------------------------------------------------ CDN-02


@dataclass(frozen=True)
class PurgeResult:
    canary: str
    request: dict[str, object]  # what was asked of the provider's API
    requests_before: int  # GETs of the canary until it was a hit
    purge_status: int | None  # None: nothing was purged (the canary was never a hit)
    purge_ms: float
    after_hit: bool
    problems: tuple[str, ...]


def purge_unsupported(purge: CdnPurgeSettings) -> str | None:
    """Why golive cannot exercise the declared purge method live (CDN-02 is then not verified), or None."""
    if purge.provider != "cloudflare":
        return (
            f"a live purge is implemented for Cloudflare's API only (cdn.purge.provider is {purge.provider!r}): "
            "the declared method was not exercised"
        )
    if not purge.zone_id:
        return "Cloudflare's purge API needs the zone: set cdn.purge.zone_id"
    if purge.scope == "tag" and not purge.canary_tag:
        return "scope 'tag' needs cdn.purge.canary_tag: a cache tag the canary's answer carries, to purge it by"
    return None


def cloudflare_purge_body(purge: CdnPurgeSettings, canary_url: str) -> dict[str, object]:
    """Cloudflare's purge_cache request for the declared scope, aimed at the canary: files (the canary URL),
    prefixes (its host and path, without scheme or query, as Cloudflare takes them), tags (cdn.purge.canary_tag)
    or purge_everything (the whole zone)."""
    parts = urlsplit(canary_url)
    match purge.scope:
        case "url":
            return {"files": [canary_url]}
        case "prefix":
            return {"prefixes": [f"{parts.hostname}{parts.path}"]}
        case "tag":
            return {"tags": [purge.canary_tag]}
    return {"purge_everything": True}


@dataclass(frozen=True)
class PurgeAnswer:
    """What the provider's purge API answered."""

    status: int
    ok: bool  # Cloudflare's explicit success: HTTP 200 and a JSON body with "success": true
    detail: str  # when not ok: the provider's errors, else the body, else "no body"
    ms: float


def purge_cloudflare(
    client: httpx.Client, api_url: str, zone_id: str, token: Secret, body: dict[str, object]
) -> PurgeAnswer:
    """POST /client/v4/zones/{zone}/purge_cache with ``body``. Only HTTP 200 with ``"success": true`` is a purge:
    any other answer (a 204, a 401 or 502 without a body, a 200 saying false) is a refusal."""
    endpoint = f"{api_url.rstrip('/')}/client/v4/zones/{zone_id}/purge_cache"
    answer = request(client, "POST", endpoint, f"purge at {endpoint}", json=body,
                     headers={"authorization": f"Bearer {token.reveal()}"})  # fmt: skip
    answered = answer.json_body()
    if answer.status == 200 and isinstance(answered, dict) and answered.get("success") is True:
        return PurgeAnswer(answer.status, True, "", answer.latency_ms)
    errors = answered.get("errors") if isinstance(answered, dict) else None
    summary = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors if isinstance(e, dict)) if errors else ""
    shown = summary or " ".join(answer.text.split())[:120] or "no body"
    return PurgeAnswer(answer.status, False, shown, answer.latency_ms)


def purge_canary(
    client: httpx.Client, canary_url: str, purge: CdnPurgeSettings, token: Secret, hit_retries: int
) -> PurgeResult:
    """Warm the canary URL until it is a hit, purge it through Cloudflare's API by the declared scope, and
    require the next request to be a miss. Call only when purge_unsupported(purge) is None."""
    warmed = fetch_warm(client, canary_url, hit_retries)
    body = cloudflare_purge_body(purge, canary_url)
    if not is_hit(warmed.last.headers):
        problem = (
            f"{canary_url} was still a cache miss after {warmed.requests} requests: the CDN does not cache it, so a "
            "miss after a purge would prove nothing; expected a hit before purging (nothing was purged)"
        )
        return PurgeResult(canary_url, body, warmed.requests, None, 0.0, False, (problem,))
    answer = purge_cloudflare(client, str(purge.api_url), purge.zone_id or "", token, body)
    if not answer.ok:
        problem = (
            f"purge of {canary_url} ({purge.scope} scope) refused: HTTP {answer.status} {answer.detail}; expected "
            'HTTP 200 with "success": true'
        )
        return PurgeResult(canary_url, body, warmed.requests, answer.status, answer.ms, False, (problem,))
    after = is_hit(fetch(client, canary_url).headers)
    problems = (
        (f"after purging {canary_url} ({purge.scope} scope: {body}) the next request was still a cache hit; "
         "expected a miss",) if after else ()
    )  # fmt: skip
    return PurgeResult(canary_url, body, warmed.requests, answer.status, answer.ms, after, problems)


def fetch_all_warm(client: httpx.Client, urls: Sequence[str], hit_retries: int, workers: int) -> list[Warmed]:
    """fetch_warm for every URL, at most ``workers`` URLs in flight at once, in the order given."""
    with ThreadPoolExecutor(max(1, min(workers, len(urls)))) as pool:
        return list(pool.map(lambda url: fetch_warm(client, url, hit_retries), urls))
