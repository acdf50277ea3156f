"""The restore drill's sanity checks on what was restored: configured tables (schema.table) present, not empty and
within tolerance of the source's statistics; with none configured, some table has rows. And its refusal of a staging
server that is the production server, on real scratch clusters."""

import pytest

from golive.config import ConfigError, DatabaseSettings, parse_environment
from golive.outcomes import ProbeError
from golive.restore_drill import check_sanity, drill_database_name, production_check, qualified
from golive.scratch import ScratchPostgres
from golive.secrets import Secret

COUNTS = {"public.users": 120, "public.orders": 0, "billing.invoices": 40}


def test_configured_tables_within_tolerance_pass_and_say_what_was_checked():
    sanity = check_sanity(["users", "billing.invoices"], COUNTS, {"public.users": 125, "billing.invoices": 40}, 0.1)
    assert sanity.problems == []
    assert sanity.checks == [
        {"table": "public.users", "restored": 120, "source_estimate": 125, "ok": True},
        {"table": "billing.invoices", "restored": 40, "source_estimate": 40, "ok": True},
    ]
    assert sanity.checked == (
        "2 table(s) of database.restore_tables non-empty and within 10% of the source's statistics"
    )


def test_a_table_outside_the_tolerance_fails_with_both_counts():
    sanity = check_sanity(["users"], COUNTS, {"public.users": 200}, 0.1)
    assert sanity.problems == ["table public.users: 120 rows restored, the source has about 200 (tolerance 10%)"]
    assert sanity.checks[0]["ok"] is False


def test_an_empty_table_fails():
    sanity = check_sanity(["orders"], COUNTS, {"public.orders": 0}, 0.1)
    assert sanity.problems == ["table public.orders is empty after the restore"]
    assert sanity.checks == [{"table": "public.orders", "restored": 0, "source_estimate": 0, "ok": False}]


def test_a_missing_table_fails():
    sanity = check_sanity(["invoices"], COUNTS, None, 0.1)
    assert sanity.problems == ["table public.invoices is missing from the restored database"]
    assert sanity.checked.endswith("of no source statistics (DATABASE_URL unset)")


def test_a_table_whose_source_estimate_is_unknown_is_only_held_to_having_rows():
    assert check_sanity(["users"], COUNTS, {"public.users": None}, 0.1).problems == []


def test_a_small_table_may_differ_by_one_row():
    assert check_sanity(["invoices"], {"public.invoices": 3}, {"public.invoices": 2}, 0.1).problems == []


def test_without_configured_tables_some_restored_table_must_have_rows():
    sanity = check_sanity([], COUNTS, None, 0.1)
    assert sanity.problems == []
    assert sanity.checked == "database.restore_tables is empty: only that some restored table has rows (2 of 3 have)"
    assert sanity.checks == [{"table": "(any)", "restored": 2, "source_estimate": None, "ok": True}]


@pytest.mark.parametrize("counts", [{"public.users": 0, "public.orders": 0}, {}])
def test_without_configured_tables_a_restore_with_no_rows_at_all_fails(counts):
    sanity = check_sanity([], counts, None, 0.1)
    assert sanity.problems == [
        f"no restored table has rows ({len(counts)} tables, all empty), expected at least one; "
        "name the tables that must not be empty in database.restore_tables"
    ]


def test_names_are_schema_qualified():
    assert (qualified("users"), qualified("billing.invoices")) == ("public.users", "billing.invoices")


def test_drill_databases_are_named_uniquely():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    names = {drill_database_name(now) for _ in range(20)}
    assert len(names) == 20
    assert all(name.startswith("golive_restore_20261126100000_") for name in names)


def test_a_restore_table_that_is_not_schema_table_is_a_configuration_error():
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "https://app.example.com"\n[database]\n'
    with pytest.raises(ConfigError, match=r"database.restore_tables.0: String should match pattern"):
        parse_environment(text + 'restore_tables = ["a.b.c"]', "x.toml", {})


# --- the production check, on real servers: two scratch clusters, one of them reached under two addresses


@pytest.fixture(scope="module")
def clusters():
    with ScratchPostgres() as production, ScratchPostgres() as staging:
        yield production, staging


def test_a_staging_server_that_is_not_production_passes_the_check(clusters):
    production, staging = clusters
    found = production_check(Secret("RESTORE_TARGET_URL", staging.url("postgres")),
                             Secret("DATABASE_URL", production.url("postgres")), DatabaseSettings())  # fmt: skip
    assert found.startswith("RESTORE_TARGET_URL's server is not DATABASE_URL's (system identifier ")


@pytest.mark.parametrize("address", ["socket", "localhost"])
def test_the_production_server_under_another_address_is_refused(clusters, address):
    """Not the host:port strings (a socket path, localhost vs 127.0.0.1, an alias): the cluster's identity."""
    production, _ = clusters
    staging = production.conninfo("postgres") if address == "socket" else production.url("postgres").replace(
        "@127.0.0.1:", "@localhost:")  # fmt: skip
    with pytest.raises(ProbeError) as caught:
        production_check(Secret("RESTORE_TARGET_URL", staging), Secret("DATABASE_URL", production.url("template1")),
                         DatabaseSettings())  # fmt: skip
    assert str(caught.value).startswith("RESTORE_TARGET_URL reaches the production server: its system identifier ")
    assert str(caught.value).endswith(" is DATABASE_URL's (the same cluster, or a physical copy of it); the drill "
                                      "creates and drops a database on its target, so it refuses; point it at a "
                                      "staging server")  # fmt: skip
    assert production.password not in str(caught.value)


def test_without_database_url_the_check_says_it_could_not_be_made(clusters):
    assert production_check(Secret("RESTORE_TARGET_URL", clusters[1].url("postgres")), None, DatabaseSettings()) == (
        "not made: DATABASE_URL is unset, so RESTORE_TARGET_URL's server could not be compared with production's"
    )
