"""The sandbox's PostgreSQL: verify-full TLS for the app role, WAL archiving, a streaming replica."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from golive.sandbox.app import hash_password
from golive.sandbox.postgres import HOST, Credentials, Postgres
from golive.sandbox.tls import create_local_ca
from golive.scratch import ScratchPostgres


def test_database_url_connects_over_verified_tls(env):
    params = conninfo_to_dict(env["DATABASE_URL"])
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == env["GOLIVE_SANDBOX_CA"]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        ssl_in_use, version = conn.execute(
            "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
        assert ssl_in_use
        assert version.startswith("TLSv1.")
        assert conn.execute("select current_user, current_database()").fetchone() == ("app", "app")


def test_plain_tcp_is_refused(env):
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(make_conninfo(env["DATABASE_URL"], sslmode="disable"))


def test_wrong_password_is_refused(env):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(make_conninfo(env["DATABASE_URL"], password="wrong"))


def test_schema_belongs_to_the_app_role(db):
    tables = db.execute(
        "select tablename, tableowner from pg_tables where schemaname = 'public' order by tablename"
    ).fetchall()
    assert tables == [
        (name, "app") for name in ("invoices", "orders", "payments", "refunds", "users", "webhook_events")
    ]


def test_wal_archiving_is_on(db):
    settings = dict(
        db.execute(
            "select name, setting from pg_settings where name in ('wal_level', 'archive_mode', 'archive_command')"
        ).fetchall()
    )
    assert settings["wal_level"] == "replica"
    assert settings["archive_mode"] == "on"
    assert settings["archive_command"].startswith("test ! -f ")


def test_archive_command_archives_a_segment(sandbox):
    with psycopg.connect(sandbox.postgres.superuser_conninfo(sandbox.postgres.primary_port), autocommit=True) as conn:
        (segment,) = conn.execute("select pg_walfile_name(pg_switch_wal())").fetchone()
        deadline = time.monotonic() + 10
        while not (sandbox.postgres.archive_dir / segment).exists() and time.monotonic() < deadline:
            conn.execute("select pg_switch_wal()")
            time.sleep(0.05)
    assert (sandbox.postgres.archive_dir / segment).exists()


def test_replica_is_streaming_over_tls(db):
    rows = db.execute(
        "select r.usename, r.state, s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)"
    ).fetchall()
    assert rows == [("replicator", "streaming", True)]


def test_replica_replays_what_the_primary_writes(env, db):
    receipt = f"replay-{time.time_ns()}"
    db.execute(
        "insert into orders (razorpay_order_id, amount, currency, receipt) values (%s, 100, 'INR', %s)",
        (f"order_{receipt}", receipt),
    )
    with psycopg.connect(env["DATABASE_REPLICA_URL"], autocommit=True) as replica:
        assert replica.execute("select pg_is_in_recovery()").fetchone() == (True,)
        deadline = time.monotonic() + 10
        while not replica.execute("select 1 from orders where receipt = %s", (receipt,)).fetchone():
            assert time.monotonic() < deadline, "the replica did not replay the insert within 10 s"
            time.sleep(0.05)


def test_ports_taken_between_pick_and_start_are_replaced(tmp_path):
    """The ports are picked before initdb and pg_basebackup run; another process may bind one meanwhile."""
    ca = create_local_ca(tmp_path)
    pg = Postgres(tmp_path, ca, Credentials(app="app-pw-0123456789", replicator="repl-pw-0123456789"))
    taken = pg.replica_port
    with socket.socket() as squatter:
        squatter.bind((HOST, taken))
        squatter.listen()
        try:
            pg.start("smoke@golive.test", hash_password("smoke-pw-0123456789"))
            assert pg.replica_port != taken
            with psycopg.connect(pg.superuser_conninfo(pg.replica_port), autocommit=True) as replica:
                assert replica.execute("select pg_is_in_recovery()").fetchone() == (True,)
        finally:
            pg.stop()


def test_a_scratch_cluster_whose_port_was_taken_starts_on_another():
    scratch = ScratchPostgres()
    taken = scratch.port
    with socket.socket() as squatter:
        squatter.bind((HOST, taken))
        squatter.listen()
        with scratch:
            assert scratch.port != taken
            assert scratch.version.startswith("15")


def test_a_scratch_cluster_is_reachable_only_by_its_owner():
    """The restore drill loads production's data into it: its socket directory is the owner's alone (0700), and
    over TCP only the superuser's random password gets in, never trust."""
    with ScratchPostgres() as scratch:
        assert scratch.root.stat().st_mode & 0o777 == 0o700
        with psycopg.connect(scratch.conninfo("postgres")) as conn:  # the owner, over the socket
            assert conn.execute("select current_user").fetchone() == ("postgres",)
        without = make_conninfo(host=HOST, port=scratch.port, user="postgres", dbname="postgres", connect_timeout=5)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(without)
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "postgres"'):
            psycopg.connect(without, password="guessed-password")
        with psycopg.connect(scratch.url("postgres")) as conn:
            assert conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone() == (False,)
