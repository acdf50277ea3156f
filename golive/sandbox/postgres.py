"""The sandbox's PostgreSQL: a primary with WAL archiving and TLS, plus a streaming replica, on loopback.

Both clusters live in a temporary directory reached as <sandbox dir>/postgres (a symlink into the system temp
directory when the PostgreSQL service account cannot reach the sandbox dir, or its socket path would be too long).
initdb, pg_ctl and postgres refuse to run as root: a root caller runs them as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import psycopg
from psycopg import sql

from golive.sandbox.tls import LocalCA, write_private

SUPERUSER = "postgres"
APP_ROLE = "app"
APP_DATABASE = "app"
REPLICATION_ROLE = "replicator"
HOST = "127.0.0.1"

_COMMAND_TIMEOUT = 60.0
_STREAMING_TIMEOUT = 20.0
_SHARED_TMP = "/tmp"
MARKER = ".golive-sandbox-clusters"  # in every clusters directory a sandbox made, and only there
_MAX_SOCKET_PATH = 107 - len("/.s.PGSQL.65535")  # a unix socket path holds at most 107 bytes

SCHEMA = """
create table users (
    id bigserial primary key,
    username text not null unique,
    password_hash text not null,
    created_at timestamptz not null default now()
);
create table orders (
    id bigserial primary key,
    razorpay_order_id text not null unique,
    amount bigint not null check (amount > 0),
    currency text not null,
    receipt text,
    status text not null default 'created',
    created_at timestamptz not null default now()
);
create table payments (
    id bigserial primary key,
    razorpay_payment_id text not null unique,
    razorpay_order_id text,
    amount bigint not null,
    currency text not null,
    status text not null,
    method text,
    created_at timestamptz not null default now()
);
create table refunds (
    id bigserial primary key,
    razorpay_refund_id text not null unique,
    razorpay_payment_id text not null,
    amount bigint not null,
    currency text not null,
    status text not null,
    created_at timestamptz not null default now()
);
create table invoices (
    id bigserial primary key,
    order_id bigint not null unique references orders (id),
    amount bigint not null,
    currency text not null,
    issued_at timestamptz not null default now()
);
create table webhook_events (
    id bigserial primary key,
    event_id text not null unique,
    event_type text not null,
    payload jsonb not null,
    received_at timestamptz not null default now()
);
"""


class PostgresError(RuntimeError):
    """PostgreSQL could not be set up, started or stopped; the message says which step and why."""


@dataclass(frozen=True)
class Account:
    """The OS account the PostgreSQL programs run as (None: the current user)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def service(cls) -> Account:
        """The current user, or the `postgres` system user when running as root."""
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresError(
                "running as root, the sandbox starts PostgreSQL as the 'postgres' system user, which does not "
                "exist (install the PostgreSQL server package, which creates it)"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    @classmethod
    def owner_of(cls, path: Path) -> Account:
        """The owner of path when running as root (to act on a cluster as whoever made it), else the current user."""
        if os.geteuid() != 0:
            return cls()
        status = path.stat()
        return cls(status.st_uid, status.st_gid)

    def chown(self, *paths: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        for path in paths:
            os.chown(path, self.uid, self.gid)

    def can_reach(self, path: Path) -> bool:
        """Whether this account may traverse every directory from / down to path."""
        if self.uid is None or self.gid is None:
            return True
        groups = set(os.getgrouplist(pwd.getpwuid(self.uid).pw_name, self.gid))
        for directory in (path, *path.parents):
            status = directory.stat()
            if status.st_uid == self.uid:
                bit = 0o100
            elif status.st_gid in groups:
                bit = 0o010
            else:
                bit = 0o001
            if not status.st_mode & bit:
                return False
        return True

    def run(self, args: list[str], *, cwd: Path, password: str | None = None) -> str:
        """Run a PostgreSQL program as this account; its stdout, or PostgresError with its stderr."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(cwd)}
        if password is not None:
            env["PGPASSWORD"] = password
        # Its own process group, so an interruption ends the program and everything it started (initdb's
        # `postgres --single`), not only the program itself.
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            user=self.uid,
            group=self.gid,
            extra_groups=[] if self.uid is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=_COMMAND_TIMEOUT)
        except BaseException as interruption:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if isinstance(interruption, subprocess.TimeoutExpired):
                raise PostgresError(f"{Path(args[0]).name} did not finish within {_COMMAND_TIMEOUT:.0f} s") from None
            raise
        if process.returncode != 0:
            detail = (stderr or stdout).strip()
            raise PostgresError(f"{Path(args[0]).name} failed (exit {process.returncode}): {detail}")
        return stdout


DEBIAN_ROOT = Path("/usr/lib/postgresql")


def debian_bindirs(root: Path = DEBIAN_ROOT) -> list[Path]:
    """Debian's server directories (root/VERSION/bin), newest major version first; 15 is the oldest golive uses."""
    versions = [int(d.name) for d in root.glob("*") if d.name.isdigit() and int(d.name) >= 15] if root.is_dir() else []
    return [root / str(version) / "bin" for version in sorted(versions, reverse=True)]


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and pg_basebackup: pg_config's bindir, else Debian's newest."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    candidates += debian_bindirs()
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: install the PostgreSQL server (15 or later) "
        "or put its pg_config on PATH"
    )


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def pg_ctl_start(account: Account, bindir: Path, data_dir: Path, root: Path, port: int) -> int:
    """pg_ctl start the cluster in data_dir (log: root/<data_dir name>.log) and return the port it listens on.

    The port was free when picked, seconds before (initdb, pg_basebackup ran since): when another process has
    bound it meanwhile, another is picked, appended to postgresql.conf, and the cluster started again (at most
    twice). PostgresError names the cluster and ends with what the server logged."""
    log = root / f"{data_dir.name}.log"
    retries = 2
    while True:
        logged_before = log.stat().st_size if log.exists() else 0
        try:
            account.run([str(bindir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log), "-w", "-t", "30"],
                        cwd=root)  # fmt: skip
            return port
        except PostgresError as error:
            logged = log.read_bytes()[logged_before:].decode(errors="replace") if log.exists() else ""
            if not retries or "Address already in use" not in logged:
                tail = logged.strip().splitlines()[-5:]
                raise PostgresError(f"{data_dir.name}: {error}\n" + "\n".join(tail)) from None
        retries -= 1
        port = free_ports(1)[0]
        with (data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"port = {port}  # the port picked first was taken meanwhile\n")


def _conf_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postmaster_alive(data_dir: Path) -> bool:
    """Whether the postmaster named in data_dir/postmaster.pid runs (the file outlives a killed postmaster)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return False
    return pid_alive(pid)


def _pg_ctl_stop(bindir: Path, data_dir: Path) -> None:
    """Stop the postmaster of data_dir if one runs (fast mode: roll back sessions, then shut down cleanly)."""
    if _postmaster_alive(data_dir):
        Account.owner_of(data_dir).run(
            [str(bindir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-t", "30"], cwd=data_dir.parent
        )


def _ours(link: Path) -> Path | None:
    """The clusters' directory behind workdir/postgres if a sandbox made it (its marker file is there, and a
    symlink leads only into a golive-pg-* directory of /tmp); None for anything else, which is never touched."""
    if not (link.is_dir() or link.is_symlink()):
        return None
    root = link.resolve()  # pg_ctl runs as the cluster's owner, who may not reach it through workdir
    if not (root / MARKER).is_file():
        return None
    if link.is_symlink() and not (root.parent == Path(_SHARED_TMP) and root.name.startswith("golive-pg-")):
        return None
    return root


def remove_stale(workdir: Path) -> None:
    """Stop whatever PostgreSQL a previous sandbox left running in workdir and delete its clusters.

    Best effort for each cluster: a failure to stop the replica never leaves the primary running.
    """
    link = workdir / "postgres"
    root = _ours(link)
    if root is None:
        return
    bindir = find_bindir()
    errors = []
    for name in ("replica", "primary"):
        try:
            _pg_ctl_stop(bindir, root / name)
        except PostgresError as error:
            errors.append(f"{name}: {error}")
    shutil.rmtree(root, ignore_errors=bool(errors))
    if link.is_symlink():
        link.unlink()
    if errors:
        raise PostgresError("could not stop every cluster: " + "; ".join(errors))


@dataclass(frozen=True, repr=False)
class Credentials:
    """The random passwords of one sandbox start (never in a repr)."""

    app: str
    replicator: str


class Postgres:
    """A primary and a streaming replica for one sandbox start; start() builds them, stop() removes them."""

    def __init__(self, workdir: Path, ca: LocalCA, credentials: Credentials) -> None:
        self.workdir = workdir
        self.ca = ca
        self.credentials = credentials
        self.bindir = find_bindir()
        self.account = Account.service()
        self.primary_port, self.replica_port = free_ports(2)
        self.link = workdir / "postgres"
        self.root = self.link  # replaced by the real directory once start() has made it

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def primary_dir(self) -> Path:
        return self.root / "primary"

    @property
    def replica_dir(self) -> Path:
        return self.root / "replica"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    def url(self, port: int) -> str:
        """The app role's URL for the cluster on port: TLS verified against the sandbox CA, 5 s connect timeout."""
        return (
            f"postgresql://{APP_ROLE}:{quote(self.credentials.app, safe='')}@{HOST}:{port}/{APP_DATABASE}"
            f"?sslmode=verify-full&sslrootcert={quote(str(self.ca.ca_file))}&connect_timeout=5"
        )

    def superuser_conninfo(self, port: int, dbname: str = "postgres") -> str:
        """The superuser's connection over the unix socket (trusted; for provisioning and tests)."""
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=port, user=SUPERUSER, dbname=dbname, connect_timeout=5
        )

    def start(self, smoke_user: str, smoke_password_hash: str) -> None:
        """Build and start the primary, create roles and schema, then clone and start the streaming replica.

        On failure, whatever did start keeps running until stop() (the Sandbox calls it).
        """
        remove_stale(self.workdir)
        self._make_root()
        self._init_primary()
        self._start_listening(self.primary_dir, "primary")
        self._provision(smoke_user, smoke_password_hash)
        self._make_replica()
        self._start_listening(self.replica_dir, "replica")
        self._wait_streaming()

    def stop(self) -> None:
        """Stop the replica, then the primary, and delete both clusters (idempotent)."""
        remove_stale(self.workdir)

    def _make_root(self) -> None:
        fits = len(str(self.link / "run")) <= _MAX_SOCKET_PATH
        if fits and self.account.can_reach(self.workdir):
            self.link.mkdir(mode=0o700)
        else:
            # /tmp itself, not $TMPDIR: the postgres account must be able to reach the clusters.
            self.link.symlink_to(tempfile.mkdtemp(prefix="golive-pg-", dir=_SHARED_TMP))
        self.root = root = self.link.resolve()
        (root / MARKER).write_text("made by golive's sandbox: remove_stale may delete this directory\n")
        for name in ("run", "archive", "tls"):
            (root / name).mkdir()
        shutil.copyfile(self.ca.ca_file, root / "tls" / "ca.pem")
        shutil.copyfile(self.ca.chain_file, root / "tls" / "server.pem")
        write_private(root / "tls" / "server.key", self.ca.key_file.read_bytes())
        self.account.chown(root, *root.rglob("*"))

    def _write(self, path: Path, text: str, *, append: bool = False) -> None:
        with path.open("a" if append else "w", encoding="utf-8") as file:
            file.write(text)
        self.account.chown(path)

    def _init_primary(self) -> None:
        self.account.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.primary_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--auth=trust",
            ],
            cwd=self.root,
        )
        tls = self.root / "tls"
        archive = shlex.quote(str(self.archive_dir))
        settings = {
            "listen_addresses": _conf_string(HOST),
            "port": str(self.primary_port),
            "unix_socket_directories": _conf_string(str(self.socket_dir)),
            "ssl": "on",
            "ssl_cert_file": _conf_string(str(tls / "server.pem")),
            "ssl_key_file": _conf_string(str(tls / "server.key")),
            "password_encryption": "'scram-sha-256'",
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": _conf_string(f"test ! -f {archive}/%f && cp %p {archive}/%f"),
            "max_wal_senders": "5",
            "hot_standby": "on",
            "fsync": "off",
            "shared_buffers": "'32MB'",
            "max_connections": "50",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        self._write(self.primary_dir / "postgresql.conf", "\n# golive sandbox\n" + lines, append=True)
        self._write(
            self.primary_dir / "pg_hba.conf",
            "# golive sandbox: the superuser over the unix socket only; TCP needs TLS and a SCRAM password.\n"
            f"local   all          {SUPERUSER}                    trust\n"
            f"hostssl {APP_DATABASE:<12} {APP_ROLE:<12} {HOST}/32   scram-sha-256\n"
            f"hostssl replication  {REPLICATION_ROLE:<12} {HOST}/32   scram-sha-256\n",
        )

    def _start_listening(self, data_dir: Path, role: Literal["primary", "replica"]) -> None:
        port = getattr(self, f"{role}_port")
        setattr(self, f"{role}_port", pg_ctl_start(self.account, self.bindir, data_dir, self.root, port))

    def _provision(self, smoke_user: str, smoke_password_hash: str) -> None:
        with psycopg.connect(self.superuser_conninfo(self.primary_port), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(self.credentials.app)
                )
            )
            conn.execute(sql.SQL("grant pg_monitor to {}").format(sql.Identifier(APP_ROLE)))
            conn.execute(
                sql.SQL("create role {} login replication password {}").format(
                    sql.Identifier(REPLICATION_ROLE), sql.Literal(self.credentials.replicator)
                )
            )
            conn.execute(
                sql.SQL("create database {} owner {}").format(sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE))
            )
        with psycopg.connect(self.superuser_conninfo(self.primary_port, APP_DATABASE)) as conn:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(APP_ROLE)))
            conn.execute(SCHEMA)
            conn.execute(
                "insert into users (username, password_hash) values (%s, %s)", (smoke_user, smoke_password_hash)
            )

    def _make_replica(self) -> None:
        conninfo = psycopg.conninfo.make_conninfo(
            host=HOST,
            port=self.primary_port,
            user=REPLICATION_ROLE,
            sslmode="verify-full",
            sslrootcert=str(self.root / "tls" / "ca.pem"),
            connect_timeout=5,
        )
        self.account.run(
            [
                str(self.bindir / "pg_basebackup"),
                "-D",
                str(self.replica_dir),
                "-d",
                conninfo,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            cwd=self.root,
            password=self.credentials.replicator,
        )
        self._write(self.replica_dir / "postgresql.conf", f"port = {self.replica_port}\n", append=True)

    def _wait_streaming(self) -> None:
        deadline = time.monotonic() + _STREAMING_TIMEOUT
        with psycopg.connect(self.superuser_conninfo(self.primary_port), autocommit=True) as conn:
            while True:
                row = conn.execute("select count(*) from pg_stat_replication where state = 'streaming'").fetchone()
                if row and row[0] > 0:
                    return
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"the replica on port {self.replica_port} is not streaming from the primary "
                        f"after {_STREAMING_TIMEOUT:.0f} s (see {self.root / 'replica.log'})"
                    )
                time.sleep(0.05)
