"""The OCI registry stand-in answers as the distribution spec says (token auth, HEAD and GET of manifests by
digest, error bodies), and golive's registry probe reads it, and a Basic-auth or static-token registry, right."""

import base64
import json
import ssl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from golive.outcomes import ProbeError
from golive.probes.registry import MANIFEST_TYPES, Registry, RegistryAuth, lookup_manifest, parse_challenge
from golive.release import Review, check_in_registry
from golive.sandbox.standins.registry import (
    OCI_MANIFEST,
    PREVIOUS_GONE_FAULT,
    RELEASE_MISSING_FAULT,
    create_registry_app,
    digest_of,
    image_manifest,
)
from golive.sandbox.tls import LocalCA, create_local_ca
from golive.secrets import Secret
from tests.standins.accounts import TIMEOUT, Faults
from tests.standins.conftest import serve

USER, TOKEN, REPO = "ci-bot", "registry-token-0123456789abcdef", "acme/web-app"
RELEASE = image_manifest("v2.0.0", "a" * 40)
PREVIOUS = image_manifest("v1.9.0", "b" * 40)
RELEASE_DIGEST, PREVIOUS_DIGEST = digest_of(RELEASE), digest_of(PREVIOUS)
UNKNOWN = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LocalCA:
    return create_local_ca(tmp_path_factory.mktemp("registry-ca"))


@pytest.fixture(scope="module")
def registry(ca):
    """The stand-in over HTTPS, as a registry is reached (golive sends REGISTRY_TOKEN to https only)."""
    switch = Faults()
    with serve(create_registry_app(USER, TOKEN, REPO, RELEASE, PREVIOUS, switch), ca) as base:
        yield base, switch


def https_client(ca: LocalCA) -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, verify=ssl.create_default_context(cafile=str(ca.ca_file)))


@pytest.fixture
def http(ca):
    with https_client(ca) as client:
        yield client


def account(base, username=USER, token=TOKEN, repository=REPO) -> Registry:
    return Registry(base, repository, RegistryAuth(username, Secret("REGISTRY_TOKEN", token) if token else None))


def bearer(http, base, username=USER, token=TOKEN, scope=f"repository:{REPO}:pull") -> dict:
    credentials = base64.b64encode(f"{username}:{token}".encode()).decode()
    answer = http.get(f"{base}/token", params={"service": "registry.sandbox.golive.invalid", "scope": scope},
                      headers={"Authorization": f"Basic {credentials}"})  # fmt: skip
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_the_registry_challenges_then_serves_the_manifest_by_digest(registry, http):
    base, _ = registry
    url = f"{base}/v2/{REPO}/manifests/{RELEASE_DIGEST}"
    anonymous = http.head(url)
    assert anonymous.status_code == 401
    scheme, params = parse_challenge(anonymous.headers["www-authenticate"])
    assert (scheme, params) == (
        "bearer",
        {"realm": f"{base}/token", "service": "registry.sandbox.golive.invalid", "scope": f"repository:{REPO}:pull"},
    )
    assert http.get(url).json()["errors"][0]["code"] == "UNAUTHORIZED"
    headers = bearer(http, base) | {"Accept": ", ".join(MANIFEST_TYPES)}
    head = http.head(url, headers=headers)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["docker-content-digest"] == RELEASE_DIGEST
    assert head.headers["content-type"] == OCI_MANIFEST
    assert int(head.headers["content-length"]) == len(RELEASE)
    body = http.get(url, headers=headers)
    assert digest_of(body.content) == RELEASE_DIGEST  # content-addressed: the digest is the bytes' SHA-256
    assert json.loads(body.content)["annotations"]["org.opencontainers.image.revision"] == "a" * 40
    assert http.get(f"{base}/v2/", headers=headers).json() == {}


def test_the_registry_answers_errors_as_the_spec_says(registry, http):
    base, _ = registry
    headers = bearer(http, base)
    unknown = http.get(f"{base}/v2/{REPO}/manifests/{UNKNOWN}", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0] == {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                           "detail": {"Name": REPO, "Revision": UNKNOWN}}  # fmt: skip
    docker_v2 = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    docker_only = http.get(f"{base}/v2/{REPO}/manifests/{RELEASE_DIGEST}", headers=headers | docker_v2)
    assert docker_only.status_code == 404
    assert docker_only.json()["errors"][0]["message"] == (
        "OCI manifest found, but accept header does not support OCI manifests"
    )
    bad = http.get(f"{base}/v2/{REPO}/manifests/sha256:abc", headers=headers)
    assert (bad.status_code, bad.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")
    other_repo = http.head(f"{base}/v2/acme/other/manifests/{RELEASE_DIGEST}", headers=headers)
    assert other_repo.status_code == 401
    assert 'error="insufficient_scope"' in other_repo.headers["www-authenticate"]
    wrong = http.get(f"{base}/token", headers={"Authorization": "Basic " + base64.b64encode(b"ci-bot:nope").decode()})
    assert (wrong.status_code, wrong.json()) == (401, {"details": "incorrect username or password"})
    no_access = bearer(http, base, scope="repository:acme/other:pull")
    denied = http.head(f"{base}/v2/{REPO}/manifests/{RELEASE_DIGEST}", headers=no_access)
    assert denied.status_code == 401
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]  # a valid token without the grant
    for token in ("not-a-token-it-issued", no_access["Authorization"].removeprefix("Bearer ") + "x"):
        bad = http.head(f"{base}/v2/{REPO}/manifests/{RELEASE_DIGEST}", headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"], token


def test_the_probe_finds_a_digest_through_the_token_service(registry, http):
    base, _ = registry
    found = lookup_manifest(http, account(base), RELEASE_DIGEST)
    assert (found.found, found.status, found.served_digest, found.media_type) == (
        True, 200, RELEASE_DIGEST, OCI_MANIFEST)  # fmt: skip
    assert found.reference == f"{base.removeprefix('https://')}/{REPO}@{RELEASE_DIGEST}"


def test_the_probe_reads_why_a_digest_is_not_there(registry, http):
    base, switch = registry
    missing = lookup_manifest(http, account(base), UNKNOWN)
    assert (missing.found, missing.status, missing.error) == (False, 404, "MANIFEST_UNKNOWN: manifest unknown")
    switch.active.add(RELEASE_MISSING_FAULT)
    assert lookup_manifest(http, account(base), RELEASE_DIGEST).found is False
    assert lookup_manifest(http, account(base), PREVIOUS_DIGEST).found is True
    switch.active.clear()
    switch.active.add(PREVIOUS_GONE_FAULT)
    assert lookup_manifest(http, account(base), RELEASE_DIGEST).found is True
    assert lookup_manifest(http, account(base), PREVIOUS_DIGEST).found is False


def test_the_probe_says_when_the_registry_refuses_it(registry, http):
    base, _ = registry
    with pytest.raises(ProbeError, match=r"token service .*/token: refused release.registry.username with "
                                         r"REGISTRY_TOKEN \(HTTP 401\)$"):  # fmt: skip
        lookup_manifest(http, account(base, token="wrong-token"), RELEASE_DIGEST)
    with pytest.raises(ProbeError, match=r"the registry needs credentials \(HTTP 401, insufficient_scope\); "
                                         r"set REGISTRY_TOKEN$"):  # fmt: skip
        lookup_manifest(http, account(base, username=None, token=None), RELEASE_DIGEST)
    refusal = (r"refused REGISTRY_TOKEN as a bearer token \(HTTP 401, invalid_token\); set "
               r"release.registry.username to log in through its token service$")  # fmt: skip
    with pytest.raises(ProbeError, match=refusal):
        lookup_manifest(http, account(base, username=None), RELEASE_DIGEST)


def other_registry(expected: str, challenge: str) -> Starlette:
    """A registry that takes one Authorization header as it is: registry:2 with htpasswd (Basic), or a registry
    that accepts a pre-issued token as a static bearer token."""
    seen: list[str] = []

    async def manifest(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        seen.append(f"{request.method} {given.split(' ')[0] or '-'}")
        if given != expected:
            return JSONResponse({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}, 401,
                                headers={"WWW-Authenticate": challenge})  # fmt: skip
        if request.path_params["digest"] == RELEASE_DIGEST:
            return Response(b"", headers={"Docker-Content-Digest": RELEASE_DIGEST, "Content-Type": OCI_MANIFEST})
        return JSONResponse({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}, 404)

    app = Starlette(routes=[Route("/v2/{name:path}/manifests/{digest}", manifest, methods=["GET", "HEAD"])])
    app.state.seen = seen
    return app


@pytest.mark.parametrize(
    ("username", "expected", "challenge", "first"),
    [
        (USER, "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode(), 'Basic realm="Registry Realm"',
         ["HEAD -", "HEAD Basic"]),  # anonymous first, then the credentials the challenge asks for
        (None, f"Bearer {TOKEN}", 'Bearer realm="https://auth.example/token",error="invalid_token"',
         ["HEAD Bearer"]),  # no username: REGISTRY_TOKEN as a static bearer token from the start
    ],
    ids=["basic", "static-bearer"],
)  # fmt: skip
def test_the_probe_speaks_basic_and_static_bearer_registries(ca, username, expected, challenge, first):
    app = other_registry(expected, challenge)
    with serve(app, ca) as base, https_client(ca) as http:  # closed first: the server then stops at once
        assert lookup_manifest(http, account(base, username=username), RELEASE_DIGEST).found
        assert app.state.seen == first
        assert lookup_manifest(http, account(base, username=username), UNKNOWN).error == (
            "MANIFEST_UNKNOWN: manifest unknown"
        )
        with pytest.raises(ProbeError, match="refused"):
            lookup_manifest(http, account(base, username=username, token="wrong"), RELEASE_DIGEST)


def test_credentials_never_go_to_a_token_service_over_plain_http(ca):
    app = other_registry("never", 'Bearer realm="http://127.0.0.1:9/token",service="registry"')
    refusal = r"token service http://127.0.0.1:9/token: not https; golive does not send REGISTRY_TOKEN there"
    with serve(app, ca) as base, https_client(ca) as http, pytest.raises(ProbeError, match=refusal):
        lookup_manifest(http, account(base), RELEASE_DIGEST)


def answering(content: bytes, headers: dict[str, str]) -> Starlette:
    """A server answering every manifest request 200 with these headers (and ``content`` to GET), anonymously: a
    registry that leaves out Docker-Content-Digest, one that serves other bytes, or a web front end."""
    seen: list[str] = []

    async def manifest(request: Request) -> Response:
        seen.append(request.method)
        return Response(content if request.method == "GET" else b"", headers=headers)

    app = Starlette(routes=[Route("/{path:path}", manifest, methods=["GET", "HEAD"])])
    app.state.seen = seen
    return app


ANONYMOUS = RegistryAuth(None, None)


@pytest.mark.parametrize(
    ("content", "headers", "served", "digest_from", "requests"),
    [(RELEASE, {"Content-Type": OCI_MANIFEST}, RELEASE_DIGEST, "SHA-256 of the manifest sent", ["HEAD", "GET"]),
     (PREVIOUS, {"Content-Type": OCI_MANIFEST}, PREVIOUS_DIGEST, "SHA-256 of the manifest sent", ["HEAD", "GET"]),
     (RELEASE, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": PREVIOUS_DIGEST}, PREVIOUS_DIGEST,
      "Docker-Content-Digest", ["HEAD"])],
    ids=["no-header-same-bytes", "no-header-other-bytes", "header-other-digest"],
)  # fmt: skip
def test_the_digest_served_is_the_one_asked_for(ca, content, headers, served, digest_from, requests):
    """Without Docker-Content-Digest the manifest is fetched and hashed; a registry serving other bytes, or naming
    another digest, under the digest asked for does not hold the release."""
    app = answering(content, headers)
    with serve(app, ca) as base, https_client(ca) as http:
        found = lookup_manifest(http, Registry(base, REPO, ANONYMOUS), RELEASE_DIGEST)
        review = Review()
        check_in_registry(review, http, Registry(base, REPO, ANONYMOUS), RELEASE_DIGEST, "release digest")
    assert (found.found, found.served_digest, found.digest_from) == (True, served, digest_from)
    assert app.state.seen == requests * 2
    expected = [] if served == RELEASE_DIGEST else [
        f"release digest: the registry serves {found.reference} as {served} ({digest_from}), expected {RELEASE_DIGEST}"
    ]  # fmt: skip
    assert review.problems == expected


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/html; charset=utf-8"}, {"Content-Type": "text/html", "Docker-Content-Digest": UNKNOWN},
     {}],
)  # fmt: skip
def test_a_web_front_end_answering_200_is_not_a_registry(ca, headers):
    """A single-page app behind release.registry.url answers every path 200 HTML: one line, never a pass."""
    app = answering(b"<!doctype html><title>Acme</title>", headers)
    given = headers.get("Content-Type", "none")
    with serve(app, ca) as base, https_client(ca) as http, pytest.raises(ProbeError) as refused:
        lookup_manifest(http, Registry(base, REPO, ANONYMOUS), RELEASE_DIGEST)
    assert str(refused.value) == (
        f"registry HEAD {base}/v2/{REPO}/manifests/{RELEASE_DIGEST}: HTTP 200 with Content-Type {given}, not a "
        f"manifest: expected an OCI registry's answer ({', '.join(MANIFEST_TYPES)}); is release.registry.url the "
        "registry's API?"
    )
