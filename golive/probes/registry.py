"""REL-02, RB-01: an image manifest exists in an OCI distribution registry, by digest.

``HEAD /v2/<name>/manifests/<digest>`` with the OCI and Docker manifest media types in ``Accept``. Credentials
go as docker, containerd and crane send them: the first request goes without (or, when no username is
configured, with REGISTRY_TOKEN as a static bearer token); a 401 names the scheme in ``WWW-Authenticate``:

- ``Basic``: the request is repeated with ``username:REGISTRY_TOKEN``;
- ``Bearer realm=...,service=...,scope=...``: a token is fetched from the realm (``username:REGISTRY_TOKEN`` as
  Basic credentials when set, anonymously otherwise) and the request repeated with it.

A 404 is asked again with GET for the registry's error code (``MANIFEST_UNKNOWN``, ``NAME_UNKNOWN``): an answer
to HEAD has no body. A 200 counts only as a registry's answer: its Content-Type is one of the manifest media types
(a web front end answering every path with 200 HTML is not a registry), and its Docker-Content-Digest names the
digest asked for; without that header the manifest is fetched with GET and its bytes hashed (a manifest's digest
is the SHA-256 of its bytes).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from golive.evidence import Json
from golive.outcomes import ProbeError
from golive.probes.http import Response, request
from golive.secrets import Secret

# What golive accepts: an image index or a single image, in the OCI and the Docker formats.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
# The distribution spec's limit on a manifest's size (registries refuse larger ones).
MANIFEST_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RegistryAuth:
    """Who golive is at the registry: release.registry.username and REGISTRY_TOKEN (both optional)."""

    username: str | None
    token: Secret | None


@dataclass(frozen=True)
class Registry:
    """The registry's API (release.registry.url), the app's image repository in it, and golive's credentials."""

    url: str
    repository: str
    auth: RegistryAuth


@dataclass(frozen=True)
class ManifestLookup:
    """What the registry said about one digest."""

    reference: str  # <registry host>/<repository>@<digest>
    found: bool
    status: int
    served_digest: str | None  # Docker-Content-Digest, else the SHA-256 of the manifest's bytes
    media_type: str | None
    error: str = ""  # the registry's error code and message when not found
    digest_from: str = "Docker-Content-Digest"  # where served_digest comes from

    def measured(self) -> dict[str, Json]:
        if not self.found:
            return {"found": False, "status": self.status, "error": self.error}
        return {"found": True, "status": self.status, "digest": self.served_digest, "digest_from": self.digest_from,
                "media_type": self.media_type}  # fmt: skip


def lookup_manifest(client: httpx.Client, registry: Registry, digest: str) -> ManifestLookup:
    """HEAD the manifest by digest; ProbeError when the registry cannot be asked (refused, 5xx, unreachable)."""
    auth, repository = registry.auth, registry.repository
    url = f"{registry.url.rstrip('/')}/v2/{repository}/manifests/{digest}"
    reference = f"{urlsplit(registry.url).netloc}/{repository}@{digest}"
    what = f"registry HEAD {url}"
    static = auth.token is not None and auth.username is None
    authorization = f"Bearer {auth.token.reveal()}" if static and auth.token is not None else None
    answer = _manifest(client, "HEAD", url, what, authorization)
    if answer.status == 401 and not static:
        authorization = _authorise(client, answer, auth, repository, what)
        answer = _manifest(client, "HEAD", url, what, authorization)
    if answer.status == 401:
        raise ProbeError(_refusal(answer, auth, static, what))
    if answer.status == 404:
        body = _manifest(client, "GET", url, f"registry GET {url}", authorization)
        return ManifestLookup(reference, False, 404, None, None, _error(body) or "HTTP 404")
    if answer.status != 200:
        raise ProbeError(f"{what}: HTTP {answer.status}, expected 200 (found) or 404 (not found)")
    media_type = _media_type(answer, what)
    served = answer.headers.get("docker-content-digest")
    if served is not None:
        return ManifestLookup(reference, True, 200, served.strip(), media_type)
    what = f"registry GET {url}"
    body = _manifest(client, "GET", url, what, authorization)
    if body.status != 200:
        raise ProbeError(f"{what}: HTTP {body.status}, expected 200 with the manifest (HEAD answered 200)")
    _media_type(body, what)
    computed = "sha256:" + hashlib.sha256(body.content).hexdigest()
    return ManifestLookup(reference, True, 200, computed, media_type, digest_from="SHA-256 of the manifest sent")


def _media_type(answer: Response, what: str) -> str:
    """The manifest media type of a 200 answer; ProbeError when it is none (not a registry's answer)."""
    given = answer.headers.get("content-type")
    media_type = (given or "").split(";")[0].strip().lower()
    if media_type not in MANIFEST_TYPES:
        raise ProbeError(
            f"{what}: HTTP 200 with Content-Type {given or 'none'}, not a manifest: expected an OCI registry's "
            f"answer ({', '.join(MANIFEST_TYPES)}); is release.registry.url the registry's API?"
        )
    return media_type


def _manifest(client: httpx.Client, method: str, url: str, what: str, authorization: str | None) -> Response:
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    if authorization is not None:
        headers["Authorization"] = authorization
    return request(client, method, url, what, headers=headers, max_bytes=MANIFEST_MAX_BYTES)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="https://auth/token",service="reg"' -> ('bearer', {'realm': ..., 'service': ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _basic(auth: RegistryAuth) -> str | None:
    if auth.username is None or auth.token is None:
        return None
    pair = f"{auth.username}:{auth.token.reveal()}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _authorise(client: httpx.Client, answer: Response, auth: RegistryAuth, repository: str, what: str) -> str:
    """The Authorization header the registry's challenge asks for."""
    header = answer.headers.get("www-authenticate", "")
    scheme, params = parse_challenge(header)
    basic = _basic(auth)
    if scheme == "basic":
        if basic is None:
            raise ProbeError(
                f"{what}: the registry asks for Basic credentials; set release.registry.username and REGISTRY_TOKEN"
            )
        return basic
    if scheme == "bearer" and params.get("realm"):
        return "Bearer " + _fetch_token(client, params, basic, repository)
    raise ProbeError(f"{what}: HTTP 401 without a challenge golive can answer (WWW-Authenticate: {header[:80]!r})")


def _fetch_token(client: httpx.Client, params: dict[str, str], basic: str | None, repository: str) -> str:
    """A bearer token from the registry's token service (the distribution spec's token authentication)."""
    realm = params["realm"]
    what = f"registry token service {realm}"
    if basic is not None and urlsplit(realm).scheme != "https":
        raise ProbeError(f"{what}: not https; golive does not send REGISTRY_TOKEN there")
    query = {"service": params.get("service", ""), "scope": params.get("scope") or f"repository:{repository}:pull"}
    headers = {"Authorization": basic} if basic is not None else {}
    answer = request(client, "GET", realm, what, params=query, headers=headers)
    if answer.status == 401:
        raise ProbeError(f"{what}: refused release.registry.username with REGISTRY_TOKEN (HTTP 401)")
    if answer.status != 200:
        raise ProbeError(f"{what}: HTTP {answer.status}, expected 200 with a token")
    body = answer.json_body()
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ProbeError(f"{what}: the answer holds no token (expected JSON with 'token' or 'access_token')")
    return token


def _error(answer: Response) -> str:
    """'MANIFEST_UNKNOWN: manifest unknown' from the distribution spec's error body, '' when there is none."""
    body = answer.json_body()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    found = [e for e in errors if isinstance(e, dict)]
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in found)


def _refusal(answer: Response, auth: RegistryAuth, static: bool, what: str) -> str:
    _, params = parse_challenge(answer.headers.get("www-authenticate", ""))
    detail = f", {params['error']}" if "error" in params else ""
    if static:
        return (f"{what}: the registry refused REGISTRY_TOKEN as a bearer token (HTTP 401{detail}); set "
                "release.registry.username to log in through its token service")  # fmt: skip
    if auth.token is None:
        return f"{what}: the registry needs credentials (HTTP 401{detail}); set REGISTRY_TOKEN"
    return f"{what}: the registry refused the credentials (HTTP 401{detail})"
