"""HTTP probes: one timed request with explicit timeouts, and the health-endpoint verdict (OBS-01, OBS-02)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from golive.config import HealthPolicy, HttpSettings, JsonScalar
from golive.outcomes import ProbeError


def make_client(settings: HttpSettings) -> httpx.Client:
    """An httpx client with explicit connect/read timeouts, verifying TLS (system store or the CA bundle)."""
    timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(Path(settings.ca_bundle)))
    # Idle connections are dropped after 1 s: servers close idle keep-alive connections after a few seconds
    # (uvicorn and many proxies after 5, httpx's own default), and a request sent on a connection the server is
    # closing fails with "Server disconnected" although the server is healthy.
    limits = httpx.Limits(keepalive_expiry=1.0)
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False, trust_env=False, limits=limits)


def describe_error(exc: httpx.HTTPError) -> str:
    """One line saying what went wrong with a request, without a traceback."""
    match exc:
        case httpx.ConnectTimeout():
            return "connect timed out (no answer to the TCP/TLS handshake)"
        case httpx.ReadTimeout():
            return "timed out waiting for the response"
        case httpx.WriteTimeout() | httpx.PoolTimeout():
            return "timed out sending the request"
        case httpx.ConnectError():
            reason = str(exc) or type(exc).__name__
            if "CERTIFICATE_VERIFY_FAILED" in reason:
                detail = reason.split("certificate verify failed:")[-1].split("(_ssl")[0].strip()
                return f"TLS certificate not trusted ({detail})"
            if "Connection refused" in reason:
                return "connection refused"
            if "Name or service not known" in reason or "nodename nor servname" in reason:
                return "host name does not resolve"
            return f"cannot connect ({reason})"
        case httpx.RemoteProtocolError():
            return f"the server broke the HTTP exchange ({exc})"
    return f"{type(exc).__name__}: {exc}"


class Unanswered(ProbeError):
    """The server refused, reset or closed the connection without answering: no handler answered the request.
    ``reason`` is the one line saying which (describe_error's)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.reason = reason


def _unanswered(exc: httpx.HTTPError) -> bool:
    """Whether the exchange ended at the network without an answer: refused, reset or closed (not a timeout, a
    name that does not resolve or a certificate)."""
    match exc:
        case httpx.ConnectError():
            return any(word in str(exc) for word in ("Connection refused", "Connection reset"))
        case httpx.ReadError() | httpx.WriteError():
            return True
        case httpx.RemoteProtocolError():
            return "disconnected" in str(exc)  # "Server disconnected without sending a response."
    return False


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    latency_ms: float
    headers: Mapping[str, str]
    text: str
    content: bytes = b""  # the body as received (a PDF, an image): text is its decoded form

    def json_body(self) -> object | None:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


# A probe reads at most this much of an answer: health bodies and API answers are small.
MAX_BODY_BYTES = 256 * 1024


class NoAnswer(ProbeError):
    """The server took the request but gave no complete answer in time (read timeout, or the overall deadline)."""


def deadline_of(client: httpx.Client, timeout: httpx.Timeout | float | None = None) -> float:
    """The most one exchange may take, whatever the server does: the connect plus the read timeout (of the
    request's own ``timeout`` when it has one, else the client's).

    httpx's timeouts apply per network operation, so a server dripping one byte at a time would never trip
    them; this bounds the whole exchange.
    """
    limits = client.timeout if timeout is None else httpx.Timeout(timeout)
    return (limits.connect or 0.0) + (limits.read or 0.0)


def request(
    client: httpx.Client, method: str, url: str, what: str, *, max_bytes: int = MAX_BODY_BYTES, **kwargs: Any
) -> Response:
    """One HTTP exchange within the client's deadline and max_bytes; anything that keeps it from
    measuring (refused, timed out, endless, invalid URL) raises ProbeError with one line naming ``what``:
    Unanswered when the server refused, reset or closed the connection without an answer, NoAnswer when it took
    the request and did not answer in time."""
    deadline = deadline_of(client, kwargs.get("timeout"))
    started = time.perf_counter()
    body = bytearray()
    try:
        with client.stream(method, url, **kwargs) as answer:
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise ProbeError(f"{what}: the answer is larger than {max_bytes} bytes")
                if time.perf_counter() - started > deadline:
                    raise NoAnswer(f"{what}: no complete answer within {deadline:.0f} s")
            status, headers, encoding = answer.status_code, dict(answer.headers), answer.encoding or "utf-8"
    except httpx.InvalidURL:
        raise ProbeError(f"{what}: not a valid URL") from None
    except httpx.ReadTimeout as exc:
        raise NoAnswer(f"{what}: {describe_error(exc)}") from None
    except httpx.HTTPError as exc:
        if _unanswered(exc):
            raise Unanswered(what, describe_error(exc)) from None
        raise ProbeError(f"{what}: {describe_error(exc)}") from None
    latency = round((time.perf_counter() - started) * 1000, 1)
    return Response(url, status, latency, headers, bytes(body).decode(encoding, errors="replace"), bytes(body))


def get(client: httpx.Client, url: str) -> Response:
    """GET with the client's timeouts and deadline."""
    return request(client, "GET", url, f"GET {url}")


@dataclass(frozen=True)
class HealthVerdict:
    url: str
    problems: tuple[str, ...]
    measured: dict[str, JsonScalar | None]
    expected: dict[str, JsonScalar | str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def explain(self) -> str:
        return f"GET {self.url}: " + "; ".join(self.problems)


def judge_health(
    response: Response, expect_status: int, expect_body: Mapping[str, JsonScalar], latency_budget_ms: int
) -> HealthVerdict:
    """Compare a health answer with the policy; every problem names the measured and the expected value.

    A field the body lacks is a problem, never a silent pass.
    """
    problems = []
    body = response.json_body()
    measured: dict[str, JsonScalar | None] = {"status": response.status, "latency_ms": response.latency_ms}
    expected: dict[str, JsonScalar | str] = {"status": expect_status, "latency_ms": f"<= {latency_budget_ms}"}
    if response.status != expect_status:
        problems.append(f"status {response.status}, expected {expect_status}")
    if response.latency_ms > latency_budget_ms:
        problems.append(f"latency {response.latency_ms:.0f} ms, budget {latency_budget_ms} ms")
    if not isinstance(body, dict):
        problems.append(f"body is not a JSON object (content-type {response.headers.get('content-type', 'none')})")
        return HealthVerdict(response.url, tuple(problems), measured, expected)
    for key, want in expect_body.items():
        got = body.get(key)
        measured[f"body.{key}"] = got if isinstance(got, str | int | float | bool) or got is None else str(got)
        expected[f"body.{key}"] = want
        if key not in body:
            problems.append(f"body.{key} missing, expected {want!r}")
        elif type(got) is not type(want) or got != want:  # 1 is not true, "1" is not 1
            problems.append(f"body.{key} = {got!r}, expected {want!r}")
    for key in ("version", "commit"):
        if isinstance(body.get(key), str):
            measured[f"body.{key}"] = body[key]
    return HealthVerdict(response.url, tuple(problems), measured, expected)


def check_health(
    client: httpx.Client, url: str, expect_body: Mapping[str, JsonScalar], policy: HealthPolicy
) -> HealthVerdict:
    """GET a health endpoint and judge it against the policy (OBS-01, OBS-02, and the canary's samples)."""
    return judge_health(get(client, url), policy.expect_status, expect_body, policy.latency_budget_ms)
