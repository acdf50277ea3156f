"""A temporary local PostgreSQL for the restore drill (and the migration dry-run): initdb in a temporary
directory, started on a free loopback port, stopped and deleted on exit. Only its owner can reach it: its unix
socket lives in that directory (mode 0700, owned by the account the server runs as), where the superuser is
trusted; over TCP (127.0.0.1 only) every role needs a SCRAM password, and the superuser's is random, made for this
cluster and never written to disk. As root, the server programs run as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from golive.outcomes import ProbeError
from golive.sandbox.postgres import HOST, SUPERUSER, Account, PostgresError, find_bindir, free_ports, pg_ctl_start

_HBA = (
    "# golive scratch: the owner over the unix socket (its directory is 0700); TCP with a SCRAM password only\n"
    f"local all all trust\nhost all all {HOST}/32 scram-sha-256\n"
)


class ScratchPostgres:
    """``with ScratchPostgres() as pg: pg.conninfo("db")`` — a throwaway cluster only its owner can reach."""

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self.settings = dict(settings or {})  # more postgresql.conf lines, e.g. {"wal_level": "minimal"}
        self.bindir = find_bindir()
        self.account = Account.service()
        self.port = free_ports(1)[0]
        self.root = Path(tempfile.mkdtemp(prefix="golive-scratch-", dir="/tmp"))  # mode 0700
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(24)  # the superuser's, over TCP
        self.version = ""

    def __enter__(self) -> ScratchPostgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.account.chown(self.root)
        try:
            self.account.run(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
                 "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"],
                cwd=self.root,
            )  # fmt: skip
            settings = (
                f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                "unix_socket_permissions = 0700\npassword_encryption = 'scram-sha-256'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = '64MB'\n"
                "max_connections = 20\n"
            ) + "".join(f"{key} = {value}\n" for key, value in self.settings.items())
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("\n# golive scratch\n" + settings)
            (self.data / "pg_hba.conf").write_text(_HBA, encoding="utf-8")  # initdb's file, rewritten in place
            self.port = pg_ctl_start(self.account, self.bindir, self.data, self.root, self.port)
        except PostgresError as error:
            raise ProbeError(f"scratch PostgreSQL did not start: {error}".splitlines()[0]) from None
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(SUPERUSER),
                                                                     sql.Literal(self.password)))  # fmt: skip
            row = conn.execute("select current_setting('server_version')").fetchone()
            self.version = str(row[0]) if row else ""

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresError):  # deleting the directory is what matters
                self.account.run(
                    [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30"],
                    cwd=self.root,
                )
        shutil.rmtree(self.root, ignore_errors=True)

    def conninfo(self, dbname: str) -> str:
        """The superuser's connection over the unix socket (the owner's way in)."""
        return psycopg.conninfo.make_conninfo(
            host=str(self.root), port=self.port, user=SUPERUSER, dbname=dbname, connect_timeout=5
        )

    def url(self, dbname: str) -> str:
        """The superuser's URL over TCP, with the cluster's password (for programs that only take a URL)."""
        return f"postgresql://{SUPERUSER}:{self.password}@{HOST}:{self.port}/{dbname}?sslmode=disable"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return self.conninfo(name)
