"""An OCI distribution registry stand-in: the pull side of the distribution spec, with token authentication as
Docker Hub and registry:2 do it.

GET /v2/                                   200 {} with a valid bearer token, else 401 and the challenge
HEAD|GET /v2/<name>/manifests/<digest>     200 with Docker-Content-Digest, Content-Type, Content-Length (GET: the
                                           manifest); 404 {"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}
GET /token?service=&scope=                 the token service: Basic username:REGISTRY_TOKEN grants pull on the
                                           repository; anonymous gets a token without access; wrong credentials 401
Without a token that grants pull: 401 {"errors": [{"code": "UNAUTHORIZED", ...}]} with
``WWW-Authenticate: Bearer realm="<base>/token",service="...",scope="repository:<name>:pull"``, with
``error="invalid_token"`` when the token sent is not one the token service issued or has expired, and
``error="insufficient_scope"`` when it is valid but does not grant pull on the repository (RFC 6750, section
3.1). A manifest whose media type the request's Accept header leaves out is 404 MANIFEST_UNKNOWN, as distribution
answers a client that does not accept OCI manifests.

The registry holds two images: the release being shipped and the previous release, each a real OCI image
manifest whose digest is the SHA-256 of its bytes. Faults: "registry-release-digest-missing" (the release's
manifest is not there), "registry-previous-digest-gone" (the previous release's manifest was deleted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from golive.sandbox.standins.store import FaultSwitch

RELEASE_MISSING_FAULT = "registry-release-digest-missing"
PREVIOUS_GONE_FAULT = "registry-previous-digest-gone"
SERVICE = "registry.sandbox.golive.invalid"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TOKEN_LIFETIME_S = 300
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def digest_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _descriptor(media_type: str, content: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest_of(content), "size": len(content)}


def image_manifest(tag: str, commit: str) -> bytes:
    """The OCI image manifest of the app's image for one release (its config and one layer, labelled)."""
    labels = {"org.opencontainers.image.version": tag, "org.opencontainers.image.revision": commit}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}).encode()
    layer = f"the web app, {tag} at {commit}\n".encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
        "annotations": labels,
    }
    return json.dumps(manifest, indent=3).encode()


def _errors(code: str, message: str, detail: object = None) -> dict[str, object]:
    return {"errors": [{"code": code, "message": message, "detail": detail}]}


def create_registry_app(
    username: str, token: str, repository: str, release: bytes, previous: bytes, faults: FaultSwitch
) -> Starlette:
    """A registry holding ``repository``'s release and previous-release manifests, for one account."""
    issued: dict[str, tuple[frozenset[str], float]] = {}  # token -> (repositories it may pull, expiry)
    lock = threading.Lock()

    def held() -> dict[str, bytes]:
        images = {}
        if not faults.on(RELEASE_MISSING_FAULT):
            images[digest_of(release)] = release
        if not faults.on(PREVIOUS_GONE_FAULT):
            images[digest_of(previous)] = previous
        return images

    def pullable(request: Request) -> frozenset[str] | None:
        """The repositories the request's bearer token may pull, or None without a valid token."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        with lock:
            grant = issued.get(given) if scheme.lower() == "bearer" else None
        if grant is None or grant[1] < time.monotonic():
            return None
        return grant[0]

    def challenge(request: Request, name: str | None) -> Response:
        realm = f"{str(request.base_url).rstrip('/')}/token"
        value = f'Bearer realm="{realm}",service="{SERVICE}"'
        detail = None
        if name is not None:
            value += f',scope="repository:{name}:pull"'
            detail = [{"Type": "repository", "Class": "", "Name": name, "Action": "pull"}]
        if request.headers.get("authorization"):
            value += ',error="insufficient_scope"' if pullable(request) is not None else ',error="invalid_token"'
        body = _errors("UNAUTHORIZED", "authentication required", detail)
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": value})

    async def base(request: Request) -> Response:
        if pullable(request) is None:
            return challenge(request, None)
        return JSONResponse({}, headers={"Docker-Distribution-API-Version": "registry/2.0"})

    async def manifest(request: Request) -> Response:
        name, reference = request.path_params["name"], request.path_params["reference"]
        allowed = pullable(request)
        if allowed is None or name not in allowed:
            return challenge(request, name)
        if reference.startswith("sha256:") and not _DIGEST.fullmatch(reference):
            return JSONResponse(_errors("DIGEST_INVALID", "provided digest did not match uploaded content"), 400)
        content = held().get(reference)
        if content is None:
            detail = {"Name": name, "Revision": reference}
            return JSONResponse(_errors("MANIFEST_UNKNOWN", "manifest unknown", detail), status_code=404)
        accept = request.headers.get("accept", "")
        if accept and OCI_MANIFEST not in accept and "*/*" not in accept:
            message = "OCI manifest found, but accept header does not support OCI manifests"
            return JSONResponse(_errors("MANIFEST_UNKNOWN", message), status_code=404)
        headers = {"Docker-Content-Digest": reference, "Docker-Distribution-API-Version": "registry/2.0",
                   "ETag": f'"{reference}"'}  # fmt: skip
        return Response(content, media_type=OCI_MANIFEST, headers=headers)

    async def token_service(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        granted: frozenset[str] = frozenset()
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(given, validate=True).decode().partition(":")
            except ValueError:
                user, password = "", ""
            known = hmac.compare_digest(user.encode(), username.encode())
            if not (hmac.compare_digest(password.encode(), token.encode()) and known):
                return JSONResponse({"details": "incorrect username or password"}, status_code=401)
            wanted = re.fullmatch(r"repository:([^:]+):([a-z,*]+)", request.query_params.get("scope", ""))
            if wanted and wanted.group(1) == repository and "pull" in wanted.group(2).split(","):
                granted = frozenset({repository})
        issued_token = secrets.token_urlsafe(32)
        with lock:
            for expired in [t for t, (_, until) in issued.items() if until < time.monotonic()]:
                del issued[expired]
            issued[issued_token] = (granted, time.monotonic() + TOKEN_LIFETIME_S)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return JSONResponse({"token": issued_token, "access_token": issued_token, "expires_in": TOKEN_LIFETIME_S,
                             "issued_at": now})  # fmt: skip

    async def not_found(_request: Request) -> Response:
        return JSONResponse(_errors("NOT_FOUND", "page not found"), status_code=404)

    return Starlette(
        routes=[
            Route("/v2/", base, methods=["GET", "HEAD"]),
            Route("/v2/{name:path}/manifests/{reference}", manifest, methods=["GET", "HEAD"]),
            Route("/token", token_service, methods=["GET"]),
            Route("/{path:path}", not_found, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
        ]
    )
