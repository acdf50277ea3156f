"""Orchestration: one Sandbox = local CA + PostgreSQL primary/replica + every HTTPS server, started and stopped
together. The servers (app instances, front, stand-ins) share one asyncio loop in one background thread."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import ssl
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import filelock
import httpx
import uvicorn
from starlette.applications import Starlette

from golive.sandbox import dbfaults
from golive.sandbox.app import AppSettings, Release, create_app, create_front, hash_password
from golive.sandbox.edge import Edge, with_hsts_faults
from golive.sandbox.faults import FaultState, apply_env_faults
from golive.sandbox.postgres import HOST, Credentials, Postgres, PostgresError
from golive.sandbox.releases import make_release_repo, write_release_files
from golive.sandbox.rollout import PREVIOUS_COMMIT, PREVIOUS_TAG, Rollout, SyntheticUsers
from golive.sandbox.standins import Store, create_alerts_app, create_razorpay_app, create_sentry_app
from golive.sandbox.standins.gitlab_api import create_gitlab_app
from golive.sandbox.standins.prometheus import create_prometheus_app
from golive.sandbox.standins.registry import create_registry_app, image_manifest
from golive.sandbox.standins.uptimerobot import create_uptimerobot_app
from golive.sandbox.tls import LocalCA, create_local_ca

SENTRY_ORG = "golive-sandbox"
GITLAB_PROJECT = "golive-sandbox/web-app"
REGISTRY_USER = "golive-ci"  # the image repository is GITLAB_PROJECT, as in GitLab's container registry
SENTRY_PROJECT = "app"
SMOKE_USER = "smoke@golive.test"
INSTANCES = ("instance-1", "instance-2", "canary")
WEBHOOK_PATH = "/api/webhooks/razorpay"
WEBHOOK_EVENTS = ("payment.captured", "payment.failed", "order.paid", "refund.processed")

_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_ALNUM = string.ascii_letters + string.digits


class SandboxError(RuntimeError):
    """The sandbox could not start, or is not in a state to answer."""


def _random(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def lock_path(workdir: Path) -> Path:
    """The lock a running sandbox holds on its directory for as long as it runs."""
    return workdir / "sandbox.lock"


def in_use(workdir: Path) -> bool:
    """Whether a sandbox (in this process or another) is running in workdir right now."""
    probe = filelock.FileLock(lock_path(workdir), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    probe.release()
    return False


@dataclass(frozen=True, repr=False)
class SandboxSecrets:
    """The secrets of one Sandbox, all random, made fresh for each Sandbox object (never in a repr)."""

    razorpay_key_id: str
    razorpay_key_secret: str
    razorpay_webhook_secret: str
    slack_token: str
    sentry_public_key: str
    sentry_project_id: str
    sentry_auth_token: str
    pagerduty_routing_key: str
    smtp_password: str
    aws_access_key_id: str
    aws_secret_access_key: str
    cdn_api_token: str
    smoke_password: str
    gitlab_token: str
    registry_token: str
    uptimerobot_api_key: str
    unleash_token: str
    jobs_token: str
    prometheus_token: str
    session_secret: bytes
    database: Credentials

    @classmethod
    def generate(cls) -> SandboxSecrets:
        return cls(
            razorpay_key_id="rzp_test_" + _random(14),
            razorpay_key_secret=_random(24),
            razorpay_webhook_secret=_random(32),
            slack_token=_random(24),
            sentry_public_key=secrets.token_hex(16),
            sentry_project_id=str(1_000_000 + secrets.randbelow(9_000_000)),
            sentry_auth_token="sntrys_" + _random(64),
            pagerduty_routing_key=_random(32),
            smtp_password=_random(24),
            aws_access_key_id="AKIA" + _random(16, string.ascii_uppercase + string.digits),
            aws_secret_access_key=_random(40),
            cdn_api_token=_random(40),
            smoke_password=_random(24),
            gitlab_token="glpat-" + _random(20),
            registry_token=_random(32),
            uptimerobot_api_key="u" + str(secrets.randbelow(10**7)) + "-" + secrets.token_hex(12),
            unleash_token="default:production." + secrets.token_hex(28),  # an Unleash client token's shape
            jobs_token=_random(32),
            prometheus_token=_random(40),
            session_secret=secrets.token_bytes(32),
            database=Credentials(app=_random(32), replicator=_random(32)),
        )

    @property
    def slack_path(self) -> str:
        return f"/services/T0000SANDBOX/B0000SANDBOX/{self.slack_token}"


def _listen() -> tuple[socket.socket, str]:
    """A listening socket on a free loopback port, and the HTTPS base URL a server on it answers on."""
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only for such sockets, and
    # without it a TLS 1.3 response waits ~40 ms behind the session tickets (Nagle vs delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock, f"https://{HOST}:{sock.getsockname()[1]}"


class ServerGroup:
    """HTTPS servers on 127.0.0.1, each on a port bound up front, run together on one loop in one thread."""

    def __init__(self, ca: LocalCA) -> None:
        self._ca = ca
        self._servers: list[tuple[uvicorn.Server, socket.socket]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def add(self, sock: socket.socket, app: Starlette) -> None:
        config = uvicorn.Config(
            app,
            ssl_certfile=str(self._ca.chain_file),
            ssl_keyfile=str(self._ca.key_file),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._servers.append((uvicorn.Server(config), sock))

    def add_configured(self, sock: socket.socket, config: uvicorn.Config) -> None:
        """A server with a config of its own (plain HTTP, or TLS from its own SSLContext): the edge, edge.py."""
        self._servers.append((uvicorn.Server(config), sock))

    def start(self) -> None:
        """Start every server; return once all listen, or raise what stopped one of them."""
        self._thread = threading.Thread(target=self._run, name="golive-sandbox-servers", daemon=True)
        self._thread.start()
        if not self._ready.wait(_READY_TIMEOUT):
            raise SandboxError(f"the sandbox's servers did not start within {_READY_TIMEOUT:.0f} s")
        if self._failure is not None:
            raise SandboxError(f"a sandbox server failed to start: {self._failure!r}") from self._failure

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended (a server failed to start)
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_STOP_TIMEOUT)
        self._thread = None
        for _, sock in self._servers:
            sock.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # uvicorn ends a failed startup with SystemExit
            self._failure = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in self._servers]
        try:
            while not all(server.started for server, _ in self._servers):
                done = [task for task in tasks if task.done()]
                if done:
                    await done[0]  # raises what ended it
                    raise SandboxError("a sandbox server stopped during startup")
                await asyncio.sleep(0.01)
            self._ready.set()
            await self._stopping.wait()
        finally:
            for server, _ in self._servers:
                server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)


class Sandbox:
    """A real stand-in production on loopback: start() it, read environ(), switch faults, stop() it."""

    def __init__(self, workdir: Path, faults: Iterable[str] = (), release: Release | None = None) -> None:
        self.workdir = workdir.absolute()
        self.faults = FaultState(faults)
        self.release = release or Release()
        self.secrets = SandboxSecrets.generate()
        self.store = Store()
        self.rollout = Rollout(self.release.tag, self.release.commit, self.faults,  # go-live state: rollout.py
                               self.secrets.unleash_token, self.secrets.jobs_token)  # fmt: skip
        self._users: SyntheticUsers | None = None  # background traffic for the metrics stand-in
        self._lock = filelock.FileLock(lock_path(self.workdir), thread_local=False)
        self._ca: LocalCA | None = None
        self._postgres: Postgres | None = None
        self._db_faults: dbfaults.DatabaseFaults | None = None  # backups, restore record, DB faults
        self._servers: ServerGroup | None = None
        self._urls: dict[str, str] = {}
        self._edge: Edge | None = None  # www, legacy TLS, plain HTTP, CDN: edge.py

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start PostgreSQL (primary + streaming replica) and every server; return once everything answers."""
        if self._servers is not None:
            raise SandboxError("the sandbox is already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise SandboxError(f"another sandbox is running in {self.workdir}") from None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        shutil.rmtree(self.workdir / "release-repo", ignore_errors=True)
        make_release_repo(self.workdir / "release-repo", self.release)
        write_release_files(self.workdir / "releases", self.release, self.faults.active)
        ca = self._ca = create_local_ca(self.workdir)
        try:
            postgres = self._postgres = Postgres(self.workdir, ca, self.secrets.database)
            postgres.start(SMOKE_USER, hash_password(self.secrets.smoke_password))
            self._db_faults = dbfaults.start(self.workdir, postgres, self.faults.active)
        except PostgresError as error:
            raise SandboxError(f"PostgreSQL did not start: {error}") from error
        servers = self._servers = ServerGroup(ca)
        servers_named = (
            "front",
            *INSTANCES,
            "razorpay",
            "sentry",
            "alerts",
            "gitlab",
            "prometheus",
            "uptime",
            "registry",
        )
        sockets = {name: _listen() for name in servers_named}
        self._urls = {name: url for name, (_, url) in sockets.items()}
        for instance in INSTANCES:
            app = create_app(self._settings(instance, postgres, ca), self.faults, self.rollout)
            servers.add(sockets[instance][0], app)
        upstreams = [self._urls["instance-1"], self._urls["instance-2"]]
        servers.add(sockets["front"][0], with_hsts_faults(create_front(upstreams, ca.ca_file), self.faults))
        self._edge = Edge(self.workdir, ca, self.faults, self._urls["front"], self.secrets.cdn_api_token)
        for edge_socket, edge_config in self._edge.servers():
            servers.add_configured(edge_socket, edge_config)
        s = self.secrets
        standins = {
            "prometheus": create_prometheus_app(self.rollout, self.faults, s.prometheus_token),
            "uptime": create_uptimerobot_app(s.uptimerobot_api_key, self._urls["front"], self.faults),
            "razorpay": create_razorpay_app(
                s.razorpay_key_id, s.razorpay_key_secret, self.faults, self.store, webhook_ca=ca.ca_file
            ),
            "sentry": create_sentry_app(
                s.sentry_public_key,
                s.sentry_project_id,
                s.sentry_auth_token,
                SENTRY_ORG,
                SENTRY_PROJECT,
                self.faults,
                self.store,
            ),
            "alerts": create_alerts_app(s.slack_path, s.pagerduty_routing_key, self.faults, self.store),
            "gitlab": create_gitlab_app(
                s.gitlab_token, GITLAB_PROJECT, self.release.tag, self.release.commit, self.faults
            ),
            "registry": create_registry_app(
                REGISTRY_USER,
                s.registry_token,
                GITLAB_PROJECT,
                image_manifest(self.release.tag, self.release.commit),
                image_manifest(PREVIOUS_TAG, PREVIOUS_COMMIT),
                self.faults,
            ),
        }
        for name, app in standins.items():
            servers.add(sockets[name][0], app)
        servers.start()
        self.store.add_sentry_release(self.release.tag)  # as the deploy creates it: sentry-cli releases new
        self.store.add_razorpay_webhook(
            self._urls["front"] + WEBHOOK_PATH, WEBHOOK_EVENTS, secret=s.razorpay_webhook_secret
        )
        self._wait_answering(ca)
        self.rollout.report_errors_to(self.environ()["SENTRY_DSN"], ca.ca_file)
        self._users = SyntheticUsers([self._urls["instance-1"], self._urls["instance-2"]], ca.ca_file)
        self._users.start()

    def _settings(self, instance: str, postgres: Postgres, ca: LocalCA) -> AppSettings:
        return AppSettings(
            instance=instance,
            release=self.release,
            database_url=postgres.url(postgres.primary_port),
            razorpay_url=self._urls["razorpay"],
            razorpay_key_id=self.secrets.razorpay_key_id,
            razorpay_key_secret=self.secrets.razorpay_key_secret,
            razorpay_webhook_secret=self.secrets.razorpay_webhook_secret,
            session_secret=self.secrets.session_secret,
            ca_file=ca.ca_file,
        )

    def _wait_answering(self, ca: LocalCA) -> None:
        """Every server answers an HTTPS request verified against the sandbox CA (any status will do)."""
        verify = ssl.create_default_context(cafile=str(ca.ca_file))
        with httpx.Client(verify=verify, timeout=httpx.Timeout(5.0)) as client:
            for name, url in self._urls.items():
                try:
                    client.get(url + ("/api/health" if name in (*INSTANCES, "front") else "/"))
                except httpx.HTTPError as error:
                    raise SandboxError(f"the sandbox's {name} server at {url} does not answer: {error!r}") from error

    def stop(self) -> None:
        """Stop every server, then PostgreSQL; idempotent. Keeps the CA files; deletes the clusters."""
        if self._users is not None:
            self._users.stop()
            self._users = None
        self.rollout.close()
        if self._servers is not None:
            self._servers.stop()
            self._servers = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
            self._db_faults = None
        if self._lock.is_locked:
            self._lock.release()

    @property
    def postgres(self) -> Postgres:
        """The running PostgreSQL primary and replica (its superuser socket is for faults and tests)."""
        if self._postgres is None:
            raise SandboxError("the sandbox is not running: start() it first")
        return self._postgres

    def set_faults(self, faults: Iterable[str]) -> None:
        """Switch the active faults while the sandbox runs (ValueError for an unknown name)."""
        self.faults.set(faults)
        if self._db_faults is not None:
            self._db_faults.apply(self.faults.active)
        write_release_files(self.workdir / "releases", self.release, self.faults.active)

    def environ(self) -> dict[str, str]:
        """The environment a go-live run against this sandbox gets: the app's secrets and golive's settings."""
        if self._postgres is None or self._ca is None or not self._urls:
            raise SandboxError("the sandbox is not running: start() it first")
        s, pg, urls = self.secrets, self._postgres, self._urls
        sentry_host = urls["sentry"].removeprefix("https://")
        environ = {
            "DATABASE_URL": pg.url(pg.primary_port),
            "DATABASE_REPLICA_URL": pg.url(pg.replica_port),
            "RAZORPAY_KEY_ID": s.razorpay_key_id,
            "RAZORPAY_KEY_SECRET": s.razorpay_key_secret,
            "RAZORPAY_WEBHOOK_SECRET": s.razorpay_webhook_secret,
            "ALERT_WEBHOOK_URL": urls["alerts"] + s.slack_path,
            "SENTRY_DSN": f"https://{s.sentry_public_key}@{sentry_host}/{s.sentry_project_id}",
            "SENTRY_AUTH_TOKEN": s.sentry_auth_token,
            "PAGERDUTY_ROUTING_KEY": s.pagerduty_routing_key,
            "SMTP_URL": f"smtps://golive:{quote(s.smtp_password, safe='')}@{HOST}:465",
            "AWS_ACCESS_KEY_ID": s.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": s.aws_secret_access_key,
            "CDN_API_TOKEN": s.cdn_api_token,
            "NODE_ENV": "production",
            "SMOKE_USER": SMOKE_USER,
            "SMOKE_PASSWORD": s.smoke_password,
            "GOLIVE_SANDBOX_DIR": str(self.workdir),
            "GOLIVE_SANDBOX_CA": str(self._ca.ca_file),
            "GOLIVE_SANDBOX_APP_URL": urls["front"],
            "GOLIVE_SANDBOX_CANARY_URL": urls["canary"],
            "GOLIVE_SANDBOX_INSTANCE_1_URL": urls["instance-1"],
            "GOLIVE_SANDBOX_INSTANCE_2_URL": urls["instance-2"],
            "GOLIVE_SANDBOX_RAZORPAY_URL": urls["razorpay"],
            "GOLIVE_SANDBOX_RAZORPAY_KEY_MODE": "test",
            "GOLIVE_SANDBOX_TODAY": datetime.now(UTC).date().isoformat(),  # the day attestations are made on
            "GOLIVE_SANDBOX_SENTRY_URL": urls["sentry"],
            "GOLIVE_SANDBOX_PAGERDUTY_URL": urls["alerts"] + "/v2/enqueue",
            "GOLIVE_SANDBOX_GITLAB_URL": urls["gitlab"],
            "GOLIVE_SANDBOX_REGISTRY_URL": urls["registry"],
            "REGISTRY_TOKEN": s.registry_token,
            "GOLIVE_SANDBOX_PROMETHEUS_URL": urls["prometheus"],
            "GOLIVE_SANDBOX_UPTIME_URL": urls["uptime"],
            "UPTIMEROBOT_API_KEY": s.uptimerobot_api_key,
            "UNLEASH_API_TOKEN": s.unleash_token,
            "JOBS_API_TOKEN": s.jobs_token,
            "PROMETHEUS_TOKEN": s.prometheus_token,
            "GITLAB_API_TOKEN": s.gitlab_token,
            "GOLIVE_RELEASE_TAG": self.release.tag,
            "GOLIVE_RELEASE_COMMIT": self.release.commit,
            "GOLIVE_RELEASE_DIGEST": self.release.digest,
        }
        environ.update(self._edge.environ() if self._edge else {})
        return dbfaults.edit_environ(apply_env_faults(environ, self.faults.active), self.faults.active)
