"""The sandbox's edge: what sits between users and the app, for the HTTPS and CDN checks (TLS-01..04, CDN-01/02).

- ``www``: a second public domain over HTTPS, named ``localhost`` (the app's is ``127.0.0.1``), whose certificate
  is chosen per handshake (an SNI callback swaps the connection's SSLContext), so the certificate faults switch
  live: expired leaf or intermediate, a certificate for another host, a self-signed leaf, a missing
  intermediate, a weak key, a leaf past its renewal point. Its own faults drop its HSTS header or serve it over
  plain HTTP, leaving the app's domain alone.
- ``legacy``: the same domain on a listener that still accepts TLS 1.0 and 1.1 (OpenSSL 3 needs ``@SECLEVEL=0``
  for that, on this context only); the fault ``tls-legacy-protocols`` points the domain at it.
- ``http``: the plain-HTTP "port 80", shared by both names as a real port 80 is (by the Host header): a
  permanent redirect to the same name over HTTPS (faults: no redirect, redirect to another host or to http,
  webhooks accepted over plain HTTP).
- ``cdn``: a caching reverse proxy in front of the app that caches by the origin's CDN-Cache-Control (or
  Cache-Control), marks its answers (Via, X-Cache, Age) and has a Cloudflare-shaped purge API that needs
  CDN_API_TOKEN, purging by full URL, host and path prefix, cache tag or everything.
- HSTS faults: a wrapper around the app's front that drops or shortens Strict-Transport-Security.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from golive.probes.cdn import cdn_lifetime
from golive.sandbox.app import WEBHOOK_UNHANDLED_400, HSTSMiddleware, proxy_client
from golive.sandbox.standins import FaultSwitch
from golive.sandbox.tls import SERVER_NAMES, CertifiedKey, KeySpec, LocalCA, issue, write_private

HOST = "127.0.0.1"
WWW_NAME = "localhost"  # the www domain's name: it resolves to HOST, and the plain-HTTP port tells it apart by Host
CDN_ZONE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the zone id the CDN stand-in serves (Cloudflare ids: 32 hex)
OTHER_HOST = "www.other-domain.invalid"
SHORT_HSTS = "max-age=86400; includeSubDomains"

# Certificate faults: which certificate the www domain presents while the fault is on.
CERT_FAULTS = (
    "tls-leaf-expired",
    "tls-intermediate-expired",
    "tls-wrong-host",
    "tls-self-signed",
    "tls-missing-intermediate",
    "tls-weak-key",
    "tls-renewal-overdue",
)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "content-length", "date", "server"}
)  # fmt: skip
_SERVER_LOG = {"log_config": None, "log_level": "warning", "access_log": False, "timeout_graceful_shutdown": 2}


def listen() -> tuple[socket.socket, int]:
    """A listening TCP socket on a free loopback port (IPPROTO_TCP so asyncio sets TCP_NODELAY), and its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(512)
    return sock, sock.getsockname()[1]


# ------------------------------------------------------------------------------------------- certificates


def _write_chain(directory: Path, name: str, chain: list[CertifiedKey]) -> tuple[Path, Path]:
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(b"".join(c.certificate_pem() for c in chain))
    write_private(key_file, chain[0].key_pem())
    return cert_file, key_file


def server_context(
    cert_file: Path, key_file: Path, *, legacy: bool = False, seclevel: int | None = None
) -> ssl.SSLContext:
    """A server SSLContext for the chain; ``legacy`` also accepts TLS 1.0/1.1 (security level 0, this context only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if legacy:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("ALL:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if seclevel is not None:
            context.set_ciphers(f"DEFAULT:@SECLEVEL={seclevel}")
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


def fault_chains(ca: LocalCA, now: datetime | None = None) -> dict[str, list[CertifiedKey]]:
    """The chain the www domain presents for each certificate fault (leaf first)."""
    now = now or datetime.now(UTC)
    day = timedelta(days=1)
    root, intermediate = ca.root, ca.intermediate
    expired_intermediate = issue(
        "golive sandbox intermediate CA (expired)", issuer=root, ca=True, path_length=0,
        not_before=now - 400 * day, not_after=now - day,
    )  # fmt: skip
    return {
        "tls-leaf-expired": [
            issue("localhost", issuer=intermediate, sans=SERVER_NAMES, not_before=now - 92 * day,
                  not_after=now - 2 * day),
            intermediate,
        ],
        "tls-intermediate-expired": [issue("localhost", issuer=expired_intermediate, sans=SERVER_NAMES),
                                     expired_intermediate],
        "tls-wrong-host": [issue(OTHER_HOST, issuer=intermediate, sans=(OTHER_HOST,)), intermediate],
        "tls-self-signed": [issue("localhost", sans=SERVER_NAMES)],
        "tls-missing-intermediate": [ca.leaf],
        "tls-weak-key": [issue("localhost", issuer=intermediate, sans=SERVER_NAMES, key=KeySpec("rsa", 1024)),
                         intermediate],
        # a 90-day leaf issued 65 days ago: 25 days left (outside TLS-01's 21-day threshold), past 2/3 of its life
        "tls-renewal-overdue": [
            issue("localhost", issuer=intermediate, sans=SERVER_NAMES, not_before=now - 65 * day,
                  not_after=now + 25 * day),
            intermediate,
        ],
    }  # fmt: skip


class CertificateSwitch:
    """The www domain's TLS: one live SSLContext whose SNI callback hands each handshake the context of the
    active certificate fault (or keeps the healthy one)."""

    def __init__(self, ca: LocalCA, directory: Path, faults: FaultSwitch) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._faults = faults
        self.healthy = server_context(ca.chain_file, ca.key_file)
        self._contexts: dict[str, ssl.SSLContext] = {}
        for name, chain in fault_chains(ca).items():
            cert_file, key_file = _write_chain(directory, name, chain)
            # an RSA-1024 leaf loads only below OpenSSL's default security level 2
            self._contexts[name] = server_context(cert_file, key_file, seclevel=1 if name == "tls-weak-key" else None)
        self.healthy.sni_callback = self._choose

    def _choose(self, connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
        for name in CERT_FAULTS:
            if self._faults.on(name):
                connection.context = self._contexts[name]
                return


# ---------------------------------------------------------------------------------------------------- www


async def _www_index(_request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>golive sandbox www</title><h1>www</h1>\n",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip


def create_www() -> Starlette:
    """The second public domain: a static landing page with HSTS."""
    app = Starlette(routes=[Route("/", _www_index)])
    app.add_middleware(HSTSMiddleware)
    return app


# ---------------------------------------------------------------------------------------------- HSTS faults


class HSTSFaults:
    """Around a domain's server: drops Strict-Transport-Security (fault ``missing``) or shortens it to one day
    (fault ``short``) while those faults are on."""

    def __init__(self, app: ASGIApp, faults: FaultSwitch, missing: str, short: str | None = None) -> None:
        self.app = app
        self.faults = faults
        self._missing, self._short = missing, short

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        missing = self.faults.on(self._missing)
        short = self._short is not None and self.faults.on(self._short)
        if scope["type"] != "http" or not (missing or short):
            await self.app(scope, receive, send)
            return

        async def edit(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"strict-transport-security"]
                if short:
                    headers.append((b"strict-transport-security", SHORT_HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, edit)


def with_hsts_faults(app: ASGIApp, faults: FaultSwitch) -> ASGIApp:
    """The app's front with its HSTS faults (hsts-missing, hsts-too-short)."""
    return HSTSFaults(app, faults, "hsts-missing", "hsts-too-short")


# ----------------------------------------------------------------------------------------- proxying helper


class _Upstream:
    """An HTTPS client to the app's front (verified against the sandbox CA), opened by a lifespan."""

    def __init__(self, origin: str, ca_file: Path) -> None:
        self.origin = origin
        self._ca_file = ca_file
        self.client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with proxy_client(self._ca_file) as client:
            self.client = client
            yield

    async def fetch(self, request: Request) -> httpx.Response:
        assert self.client is not None, "opened by the lifespan"
        target = self.origin + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in _HOP_BY_HOP]
        return await self.client.request(request.method, target, headers=headers, content=await request.body())


def _relay(answer: httpx.Response) -> Response:
    """The upstream's answer as it is (what a server without the edge's rules sends)."""
    response = Response(answer.content, status_code=answer.status_code)
    kept = [(k.lower(), v) for k, v in answer.headers.raw if k.decode().lower() not in _HOP_BY_HOP]
    kept.append((b"content-length", str(len(answer.content)).encode()))
    response.raw_headers = kept
    return response


# ----------------------------------------------------------------------------------------------- port 80

# The faults under which port 80 forwards webhook POSTs to the app: it processes them, or (the app's own fault,
# WEBHOOK_UNHANDLED_400) verifies the signature and answers 400 to an event it has no handler for.
WEBHOOK_FORWARDED = ("webhook-plain-http", WEBHOOK_UNHANDLED_400)


class PlainHttp:
    """The plain-HTTP listener: 301 (GET/HEAD) or 308 (other methods) to the same path on the same name over
    HTTPS: the app's, or www's when the Host is WWW_NAME."""

    def __init__(self, https_origin: str, www_origin: Callable[[], str], ca_file: Path, faults: FaultSwitch) -> None:
        self.https_origin = https_origin.rstrip("/")
        self.www_origin = www_origin
        self.faults = faults
        self.upstream = _Upstream(self.https_origin, ca_file)

    async def handle(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        status = 301 if request.method in ("GET", "HEAD") else 308
        if request.url.hostname == WWW_NAME:
            if self.faults.on("www-http-no-redirect"):
                return await _www_index(request)  # the www site served over plain HTTP
            return RedirectResponse(self.www_origin() + path, status_code=status)
        webhook = request.method == "POST" and request.url.path.startswith("/api/webhooks/")
        # webhooks have their own faults (TLS-04); the redirect faults leave them redirected to https
        forwarded = any(map(self.faults.on, WEBHOOK_FORWARDED)) if webhook else self.faults.on("http-no-redirect")
        if forwarded:
            return _relay(await self.upstream.fetch(request))  # served (and processed) over plain HTTP
        target = self.https_origin + path
        # the redirect faults are TLS-03's: a webhook stays redirected to the app on https
        if not webhook and self.faults.on("http-redirect-other-host"):
            target = f"https://{OTHER_HOST}{path}"
        elif not webhook and self.faults.on("http-redirect-to-http"):
            target = target.replace("https://", "http://", 1)
        return RedirectResponse(target, status_code=status)

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)], lifespan=self.upstream.lifespan)


# ---------------------------------------------------------------------------------------------------- CDN


@dataclass
class _Cached:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    ttl: float
    tags: frozenset[str]  # from the origin's Cache-Tag header, which the CDN keeps to itself
    html_cdn_cached: bool  # stored while the origin sent HTML with CDN-Cache-Control (HTML_CDN_CACHED)


# The fault that makes the origin send its HTML with CDN-Cache-Control: max-age=86400 (Cache-Control stays no-cache).
HTML_CDN_CACHED = "cdn-html-cdn-cache-control"


def cache_ttl(status: int, headers: httpx.Headers) -> float:
    """Seconds the CDN keeps this answer (0: not cacheable), as a CDN honouring the origin does: by
    CDN-Cache-Control and its kin when the origin sends one, else by Cache-Control; never an answer setting a
    cookie."""
    if status != 200 or "set-cookie" in headers:
        return 0.0
    return float(cdn_lifetime(headers))


def cache_key(url: str) -> str:
    """What the CDN caches an answer under, and what a purge by URL names: the full URL (scheme, host, port,
    path and query), the host in lower case."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}{parts.path or '/'}{query}"


class Cdn:
    """A caching reverse proxy in front of the app, and its Cloudflare-shaped purge API."""

    def __init__(self, origin: str, ca_file: Path, api_token: str, faults: FaultSwitch) -> None:
        self.upstream = _Upstream(origin.rstrip("/"), ca_file)
        self._token = api_token
        self.faults = faults
        self.cache: dict[str, _Cached] = {}  # touched only on the server loop
        self.purges: list[dict[str, object]] = []

    def _edited(self, path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The headers as served while a cache-rule fault is on (what is stored stays the origin's)."""
        html = any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers)
        if self.faults.on("cdn-asset-no-cache-headers") and path.startswith("/static/"):
            return [(k, v) for k, v in headers if k != b"cache-control"]
        if self.faults.on("cdn-html-cached-publicly") and html:
            return [
                *((k, v) for k, v in headers if k != b"cache-control"),
                (b"cache-control", b"public, max-age=86400"),
            ]
        return headers

    async def serve(self, request: Request) -> Response:
        key = cache_key(str(request.url))
        if self.faults.on("cdn-bypassed"):  # DNS points at the origin: no cache, no markers
            return _relay(await self.upstream.fetch(request))
        now = time.monotonic()
        html_cdn_cached = self.faults.on(HTML_CDN_CACHED)
        entry = self.cache.get(key)
        if entry is not None and entry.html_cdn_cached != html_cdn_cached:
            del self.cache[key]  # stored from another origin than the one the faults describe now
            entry = None
        if entry is not None and now - entry.stored_at < entry.ttl and request.method in ("GET", "HEAD"):
            age = int(now - entry.stored_at)
            response = Response(entry.body if request.method == "GET" else b"", status_code=entry.status)
            markers = [(b"age", str(age).encode()), (b"x-cache", b"HIT")]
            length = (b"content-length", str(len(entry.body)).encode())
            response.raw_headers = [*self._edited(request.url.path, entry.headers), *markers, length]
            return response
        answer = await self.upstream.fetch(request)
        headers = httpx.Headers([(k, v) for k, v in answer.headers.raw if k.decode().lower() not in _HOP_BY_HOP])
        headers["via"] = "1.1 sandbox-cdn"
        if html_cdn_cached and headers.get("content-type", "").startswith("text/html"):
            headers["cdn-cache-control"] = "max-age=86400"  # as the origin sent it: CDN-01 reads it, the CDN obeys
        tags = frozenset(t.strip() for t in headers.pop("cache-tag", "").split(",") if t.strip())
        ttl = cache_ttl(answer.status_code, headers) if request.method == "GET" else 0.0
        raw = [(k.lower(), v) for k, v in headers.raw]
        if ttl > 0:
            self.cache[key] = _Cached(answer.status_code, raw, answer.content, now, ttl, tags, html_cdn_cached)
        response = Response(answer.content if request.method == "GET" else b"", status_code=answer.status_code)
        response.raw_headers = [*self._edited(request.url.path, raw), (b"x-cache", b"MISS"),
                                (b"content-length", str(len(answer.content)).encode())]  # fmt: skip
        return response

    async def purge(self, request: Request) -> Response:
        """POST /client/v4/zones/{zone}/purge_cache with {"files": [...]} | {"prefixes": [...]} | {"tags": [...]} |
        {"purge_everything": true}."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        authorised = scheme == "Bearer" and hmac.compare_digest(token.encode(), self._token.encode())
        if not authorised or self.faults.on("cdn-purge-forbidden"):
            return _cf_error(403, 10000, "Authentication error")
        zone = request.path_params["zone"]
        if zone != CDN_ZONE:
            return _cf_error(
                400, 7003, f"Could not route to /zones/{zone}/purge_cache, perhaps your object identifier is invalid?"
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _cf_error(
                400, 1012, 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"'
            )
        if body.get("purge_everything") is True:
            self.cache.clear()
        elif isinstance(body.get("files"), list):  # full URLs, host included, as Cloudflare matches them
            for url in body["files"]:
                self.cache.pop(cache_key(str(url if not isinstance(url, dict) else url.get("url", ""))), None)
        elif isinstance(body.get("prefixes"), list):  # host and path, without scheme: "example.com/static/"
            for prefix in map(str, body["prefixes"]):
                for key in [k for k in self.cache if _host_and_path(k).startswith(prefix.lower())]:
                    del self.cache[key]
        elif isinstance(body.get("tags"), list):
            tags = {str(tag) for tag in body["tags"]}
            for key in [k for k, entry in self.cache.items() if entry.tags & tags]:
                del self.cache[key]
        else:
            return _cf_error(
                400, 1012, 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"'
            )
        self.purges.append({"at": time.time(), "body": body})
        return JSONResponse({"success": True, "errors": [], "messages": [], "result": {"id": CDN_ZONE}})

    def app(self) -> Starlette:
        routes = [
            Route("/client/v4/zones/{zone}/purge_cache", self.purge, methods=["POST"]),
            Route("/{path:path}", self.serve, methods=["GET", "HEAD"]),
        ]
        return Starlette(routes=routes, lifespan=self.upstream.lifespan)


def _host_and_path(key: str) -> str:
    """A cached URL as Cloudflare's prefixes name it: the host (lower case) and the path, with the query."""
    parts = urlsplit(key)
    return f"{parts.hostname}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _cf_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                         "result": None}, status_code=status)  # fmt: skip


# ------------------------------------------------------------------------------------------------ the edge


class Edge:
    """The edge servers of one sandbox: their sockets, their uvicorn configs and the variables they export."""

    def __init__(self, workdir: Path, ca: LocalCA, faults: FaultSwitch, front_url: str, cdn_api_token: str) -> None:
        self._faults = faults
        self._ca = ca
        tls_dir = workdir / "tls" / "edge"
        self.certificates = CertificateSwitch(ca, tls_dir, faults)
        self._legacy_context = server_context(ca.chain_file, ca.key_file, legacy=True)
        self._sockets = {name: listen() for name in ("www", "legacy", "http", "cdn")}
        self.ports = {name: port for name, (_, port) in self._sockets.items()}
        self.plain_http = PlainHttp(front_url, lambda: f"https://{self.www_host()}", ca.ca_file, faults)
        self.cdn = Cdn(front_url, ca.ca_file, cdn_api_token, faults)

    def _config(self, app: ASGIApp, context: ssl.SSLContext | None) -> uvicorn.Config:
        extra = {} if context is None else {"ssl_context_factory": lambda _config, _default: context}
        return uvicorn.Config(app, lifespan="on", **_SERVER_LOG, **extra)  # type: ignore[arg-type]

    def servers(self) -> Iterator[tuple[socket.socket, uvicorn.Config]]:
        """(listening socket, uvicorn config) for each edge server, to run on the sandbox's server loop."""
        cdn_context = server_context(self._ca.chain_file, self._ca.key_file)
        yield self._sockets["www"][0], self._config(self._www(), self.certificates.healthy)
        yield self._sockets["legacy"][0], self._config(self._www(), self._legacy_context)
        yield self._sockets["http"][0], self._config(self.plain_http.app(), None)
        yield self._sockets["cdn"][0], self._config(self.cdn.app(), cdn_context)

    def _www(self) -> ASGIApp:
        return HSTSFaults(create_www(), self._faults, "www-hsts-missing")

    def www_host(self) -> str:
        """The www domain as host:port: the legacy listener while tls-legacy-protocols is on."""
        return f"{WWW_NAME}:{self.ports['legacy' if self._faults.on('tls-legacy-protocols') else 'www']}"

    def environ(self) -> dict[str, str]:
        """GOLIVE_SANDBOX_WWW_HOST (the legacy listener while tls-legacy-protocols is on), _HTTP_PORT, _CDN_URL."""
        return {
            "GOLIVE_SANDBOX_WWW_HOST": self.www_host(),
            "GOLIVE_SANDBOX_HTTP_PORT": str(self.ports["http"]),
            "GOLIVE_SANDBOX_CDN_URL": f"https://{HOST}:{self.ports['cdn']}",
        }
