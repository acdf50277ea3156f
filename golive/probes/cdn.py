"""CDN probes (CDN-01, CDN-02): assets come through the CDN and are cached by the reviewed rules; HTML is not
kept by shared caches for long; a purge through the provider's API works and the next request is a miss."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from golive.outcomes import ProbeError
from golive.probes.http import describe_error
from golive.secrets import Secret

FINGERPRINT = re.compile(r"[.-][0-9a-f]{8,}\.[A-Za-z0-9]+$")
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


def fetch(client: httpx.Client, url: str) -> Fetched:
    try:
        answer = client.get(url, follow_redirects=False)
    except httpx.HTTPError as error:
        raise ProbeError(f"GET {url}: {describe_error(error)}") from None
    return Fetched(url, answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.text[:65536])


@dataclass(frozen=True)
class AssetRules:
    markers: Sequence[str]
    min_max_age_s: int
    require_immutable: bool
    html_max_shared_age_s: int


@dataclass
class AssetVerdict:
    url: str
    measured: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def judge_asset(first: Fetched, second: Fetched, rules: AssetRules) -> AssetVerdict:
    """A static asset fetched twice through the CDN: markers, a hit the second time, and the cache rules."""
    verdict = AssetVerdict(first.url)
    path = urlsplit(first.url).path
    present = [m for m in rules.markers if m.lower() in second.headers or m.lower() in first.headers]
    cache_control = second.headers.get("cache-control")
    verdict.measured = {"status": second.status, "cache-control": cache_control, "markers": present,
                        "second_request_hit": is_hit(second.headers), "set-cookie": "set-cookie" in second.headers,
                        "fingerprinted": bool(FINGERPRINT.search(path))}  # fmt: skip
    if second.status != 200:
        verdict.problems.append(f"{path}: status {second.status}, expected 200")
    if not present:
        verdict.problems.append(f"{path}: no CDN marker in the response; expected one of {', '.join(rules.markers)}")
    elif not is_hit(second.headers):
        shown = {h: second.headers[h] for h in (*_HIT_HEADERS, "age") if h in second.headers}
        verdict.problems.append(f"{path}: the second request was not a cache hit ({shown or 'no cache status'})")
    expected = f"public, max-age >= {rules.min_max_age_s} s" + (", immutable" if rules.require_immutable else "")
    if FINGERPRINT.search(path):
        d = directives(cache_control)
        if cache_control is None:
            verdict.problems.append(f"{path}: no Cache-Control; expected {expected}")
        else:
            max_age = int(d["max-age"]) if d.get("max-age", "").isdigit() else None
            missing = [name for name in ("public",) + (("immutable",) if rules.require_immutable else ())
                       if name not in d]  # fmt: skip
            if missing or max_age is None or max_age < rules.min_max_age_s:
                verdict.problems.append(f"{path}: Cache-Control {cache_control!r}; expected {expected}")
    if "set-cookie" in second.headers and shared_lifetime(cache_control) > 0:
        verdict.problems.append(f"{path}: a cacheable response sets a cookie (Set-Cookie); expected none")
    return verdict


def judge_html(page: Fetched, rules: AssetRules) -> AssetVerdict:
    """An HTML document: shared caches may keep it at most html_max_shared_age_s; never with Set-Cookie."""
    verdict = AssetVerdict(page.url)
    cache_control = page.headers.get("cache-control")
    lifetime = shared_lifetime(cache_control)
    verdict.measured = {"status": page.status, "cache-control": cache_control, "shared_lifetime_s": lifetime}
    path = urlsplit(page.url).path or "/"
    if lifetime > rules.html_max_shared_age_s:
        verdict.problems.append(
            f"HTML {path}: Cache-Control {cache_control!r} lets shared caches keep it {lifetime} s; "
            f"expected at most {rules.html_max_shared_age_s} s"
        )
    if lifetime > 0 and "set-cookie" in page.headers:
        verdict.problems.append(f"HTML {path}: a cacheable response sets a cookie (Set-Cookie); expected none")
    return verdict


# ------------------------------------------------------------------------------------------------ CDN-02


@dataclass(frozen=True)
class PurgeResult:
    canary: str
    before: tuple[bool, ...]  # hit flags of the warm-up requests
    purge_status: int | None  # None: nothing was purged (the canary was never a hit)
    purge_ms: float
    after_hit: bool
    problems: tuple[str, ...]


def purge_cloudflare(
    client: httpx.Client, api_url: str, zone_id: str, token: Secret, url: str
) -> tuple[int, str, float]:
    """POST /client/v4/zones/{zone}/purge_cache {"files": [url]}: (status, error summary, milliseconds)."""
    endpoint = f"{api_url.rstrip('/')}/client/v4/zones/{zone_id}/purge_cache"
    started = time.perf_counter()
    try:
        answer = client.post(endpoint, json={"files": [url]}, headers={"authorization": f"Bearer {token.reveal()}"})
    except httpx.HTTPError as error:
        raise ProbeError(f"purge at {endpoint}: {describe_error(error)}") from None
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code == 200 and isinstance(body, dict) and body.get("success") is True:
        return answer.status_code, "", elapsed
    errors = body.get("errors") if isinstance(body, dict) else None
    summary = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors if isinstance(e, dict)) if errors else ""
    return answer.status_code, summary or answer.text[:120], elapsed


def purge_canary(client: httpx.Client, canary_url: str, api_url: str, zone_id: str, token: Secret) -> PurgeResult:
    """Warm the canary URL twice, purge it through the API, and require the next request to be a miss."""
    before = tuple(is_hit(fetch(client, canary_url).headers) for _ in range(2))
    problems = []
    if not before[-1]:
        problems.append(
            f"{canary_url} was still a cache miss on the second request: the CDN does not cache it, so a miss "
            "after a purge would prove nothing; expected a hit before purging (nothing was purged)"
        )
        return PurgeResult(canary_url, before, None, 0.0, False, tuple(problems))
    status, errors, elapsed = purge_cloudflare(client, api_url, zone_id, token, canary_url)
    if errors:
        problems.append(f"purge of {canary_url} refused: HTTP {status} {errors}")
        return PurgeResult(canary_url, before, status, elapsed, False, tuple(problems))
    after = is_hit(fetch(client, canary_url).headers)
    if after:
        problems.append(f"after purging {canary_url} the next request was still a cache hit; expected a miss")
    return PurgeResult(canary_url, before, status, elapsed, after, tuple(problems))


def fetch_twice(client: httpx.Client, urls: Sequence[str], workers: int = 8) -> list[tuple[Fetched, Fetched]]:
    """Each URL fetched twice in a row (the second should be a hit); URLs concurrently, at most `workers` at once."""

    def twice(url: str) -> tuple[Fetched, Fetched]:
        return fetch(client, url), fetch(client, url)

    with ThreadPoolExecutor(max(1, min(workers, len(urls)))) as pool:
        return list(pool.map(twice, urls))
