"""CAN-02: after the rolling deploy every instance is healthy and serves the release being shipped: each configured
instance, and every address behind the service's DNS name (resolved with getaddrinfo, each probed with the name as
TLS server name and Host, so the certificate is checked for the name, not the address)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from golive.config import AppSettings, HealthPolicy, JsonScalar
from golive.outcomes import ProbeError
from golive.probes.http import judge_health, request

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Instance:
    """One target of the rolling-deploy check: its name, the health URL to GET, and the DNS name it serves (sent
    as TLS server name and Host when the URL names an address)."""

    name: str
    url: str
    server_name: str | None = None


RESOLVE_TIMEOUT_S = 5.0
Lookup = Callable[..., list[tuple[Any, ...]]]


def resolve(
    host: str, port: int, timeout_s: float = RESOLVE_TIMEOUT_S, lookup: Lookup = socket.getaddrinfo
) -> list[str]:
    """Every address getaddrinfo gives for the name (IPv4 and IPv6), each once, in the resolver's order.

    getaddrinfo has no timeout of its own (a resolver that does not answer is retried for tens of seconds): it
    runs in a daemon thread, waited for at most ``timeout_s``; a lookup still running then is left behind."""
    found: Future[list[tuple[Any, ...]]] = Future()

    def look_up() -> None:
        try:
            found.set_result(lookup(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:  # socket.gaierror; a name IDNA cannot encode
            found.set_exception(exc)

    threading.Thread(target=look_up, name=f"golive-resolve-{host}", daemon=True).start()
    try:
        infos = found.result(timeout=timeout_s)
    except TimeoutError:
        raise ProbeError(f"{host} does not resolve within {timeout_s:g} s (the resolver did not answer)") from None
    except (OSError, UnicodeError) as exc:
        raise ProbeError(f"{host} does not resolve ({getattr(exc, 'strerror', None) or exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def rollout_targets(
    app: AppSettings, service_url: str | None, timeout_s: float, resolver: Resolver | None = None
) -> list[Instance]:
    """Every configured instance (instance-1, ...), then every address behind ``service_url``'s name (resolved
    within ``timeout_s``)."""
    targets = [
        Instance(f"instance-{n}", str(url).rstrip("/") + app.health_path) for n, url in enumerate(app.instances, 1)
    ]
    if not service_url:
        return targets
    return targets + addresses_behind(service_url, app.health_path, resolver or partial(resolve, timeout_s=timeout_s))


def addresses_behind(service_url: str, path: str, resolver: Resolver = resolve) -> list[Instance]:
    """One instance per address of the service URL's host name: https://<address>:<port><path>."""
    parts = urlsplit(service_url)
    host, port = parts.hostname or "", parts.port or 443
    targets = []
    for address in resolver(host, port):
        literal = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        netloc = f"{literal}:{port}" if parts.port else literal
        targets.append(Instance(f"{host} at {address}", f"{parts.scheme}://{netloc}{path}", host))
    return targets


@dataclass(frozen=True)
class InstanceState:
    """One row of the rolling-deploy table: instance -> version -> health -> latency."""

    name: str
    url: str
    status: int | None
    latency_ms: float | None
    version: str | None
    commit: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    COLUMNS = ("instance", "url", "status", "version", "commit", "latency_ms", "health")

    def row(self) -> list[JsonScalar | None]:
        """One row of the rolling-deploy table (COLUMNS)."""
        health = "ok" if self.ok else "; ".join(self.problems)
        return [self.name, self.url, self.status, self.version, self.commit, self.latency_ms, health]

    def explain(self) -> str:
        return f"{self.name}: GET {self.url}: " + "; ".join(self.problems)


def release_problems(
    body: object, version_field: str, commit_field: str, tag: str, commit: str | None
) -> tuple[str | None, str | None, list[str]]:
    """(version, commit) the health body names, and how they differ from the release being shipped."""
    fields = body if isinstance(body, dict) else {}
    version, served_commit = fields.get(version_field), fields.get(commit_field)
    version = version if isinstance(version, str) else None
    served_commit = served_commit if isinstance(served_commit, str) else None
    problems = []
    if version != tag:
        problems.append(f"{version_field} {version!r}, expected {tag!r}")
    if commit is not None and served_commit != commit:
        problems.append(f"{commit_field} {served_commit!r}, expected {commit!r}")
    return version, served_commit, problems


def instance_state(
    client: httpx.Client,
    instance: Instance,
    policy: HealthPolicy,
    version_field: str,
    commit_field: str,
    tag: str,
    commit: str | None,
) -> InstanceState:
    """GET the instance's health endpoint: healthy by the policy, and on the release (tag, and commit if known)."""
    name, url = instance.name, instance.url
    headers: dict[str, str] = {}
    extensions: dict[str, str] = {}
    if instance.server_name is not None:  # an address behind a DNS name: TLS and HTTP speak to the name
        port = urlsplit(url).port
        headers["Host"] = instance.server_name + (f":{port}" if port else "")
        extensions["sni_hostname"] = instance.server_name
    try:
        answer = request(client, "GET", url, f"GET {url}", headers=headers, extensions=extensions)
    except ProbeError as exc:
        return InstanceState(name, url, None, None, None, None, (str(exc).removeprefix(f"GET {url}: "),))
    verdict = judge_health(answer, policy.expect_status, policy.expect_body, policy.latency_budget_ms)
    version, served_commit, wrong = release_problems(answer.json_body(), version_field, commit_field, tag, commit)
    return InstanceState(
        name, url, answer.status, answer.latency_ms, version, served_commit, (*verdict.problems, *wrong)
    )
