"""The pgBackRest backup source through the checks, with a real ``pgbackrest`` executable on PATH
(tests/pgbackrest_standin.py): DB-02, DB-03 and LIVE-02 pass on a stanza with fresh nightly backups and fail, each
naming what it measured, on stale backups, missing nights, a backup taken with errors and a stanza in error (which
also fail LIVE-02: the final backup before launch must be one that can be restored); a
command that fails or is missing is one line, not a traceback."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file
from tests.e2e.test_cloud_backups import BACKUP_CHECKS, DIRECTORY
from tests.pgbackrest_standin import REPO_ERROR, PgbackrestStandIn, nightly

ITEMS = ("DB-02", "DB-03", "LIVE-02")


@pytest.fixture
def standin(tmp_path) -> PgbackrestStandIn:
    return PgbackrestStandIn(tmp_path / "pgbackrest")


def standin_latest(standin: PgbackrestStandIn) -> str:
    return json.loads((standin.home / "stanzas" / "main.json").read_text())["backup"][-1]["label"]


def run(sandbox, standin, tmp_path, name, source='kind = "pgbackrest"\nstanza = "main"\ntimeout_s = 5'):
    environ = clean_environ({**sandbox.environ(), "PATH": standin.path(os.environ["PATH"])})
    return run_checks("preflight", environ, tmp_path / name, *BACKUP_CHECKS,
                      env=env_file(tmp_path, **{DIRECTORY: source}))  # fmt: skip


def test_fresh_nightly_backups_pass(healthy, standin, tmp_path):
    standin.holds(nightly(datetime.now(UTC) - timedelta(hours=2)))
    done = run(healthy, standin, tmp_path, "healthy")
    for item_id in ITEMS:
        assert done.item(item_id)["outcome"] == "passed", done.item(item_id)["reason"]
    subjects = [e["subject"] for e in done.item("DB-02")["evidence"]]
    assert subjects == [f"latest backup pgBackRest main repo1 incr backup {standin_latest(standin)}"]


def test_stale_backups_and_missing_nights_fail_with_what_was_measured(healthy, standin, tmp_path):
    standin.holds(nightly(datetime.now(UTC) - timedelta(hours=30), skip=frozenset({8, 9})))
    done = run(healthy, standin, tmp_path, "stale")
    assert done.item("DB-02")["outcome"] == "failed"
    assert " h old (taken " in done.item("DB-02")["reason"]
    assert ", limit 26 h" in done.item("DB-02")["reason"]
    assert done.item("LIVE-02")["reason"].endswith("expected one within the pre-launch window of 24 h")
    assert done.item("DB-03")["reason"].startswith("missing nights: ")


def test_a_backup_taken_with_errors_fails_db02_and_live02_and_counts_for_no_night(healthy, standin, tmp_path):
    """The latest backup was taken with errors: it is neither the restorable backup DB-02 wants nor the final one
    LIVE-02 wants; DB-03's window ends at the latest usable backup's night, which is unbroken."""
    standin.holds(nightly(datetime.now(UTC) - timedelta(hours=2), error_latest=True))
    done = run(healthy, standin, tmp_path, "error-flag")
    for item_id in ("DB-02", "LIVE-02"):
        assert done.item(item_id)["outcome"] == "failed"
        assert done.item(item_id)["reason"].endswith(
            "is not a backup pgBackRest completed without errors: error: true (page checksum errors in "
            "base/16384/16402)"
        )
    assert done.item("DB-03")["outcome"] == "passed"


def test_a_stanza_in_error_fails_db02_and_live02_with_its_status(healthy, standin, tmp_path):
    standin.holds(nightly(datetime.now(UTC) - timedelta(hours=2), code=4, message="different across repos"))
    done = run(healthy, standin, tmp_path, "stanza-error")
    for item_id in ("DB-02", "LIVE-02"):
        assert (done.item(item_id)["outcome"], done.item(item_id)["reason"]) == (
            "failed", "pgBackRest stanza main: status 4 'different across repos' (repo1: 4 'different across "
            "repos'), expected 0 'ok'")  # fmt: skip


@pytest.mark.parametrize(
    ("break_it", "source", "reason"),
    [
        ("fails", None, f"pgBackRest stanza main: pgbackrest info --output=json --stanza=main exited with 55: "
                        f"{REPO_ERROR}"),
        ("hangs", None, "pgBackRest stanza main: pgbackrest info --output=json --stanza=main did not finish within "
                        "1 s"),
        (None, 'kind = "pgbackrest"\nstanza = "main"\ncommand = "/opt/none/pgbackrest info --output=json"',
         "pgBackRest stanza main: /opt/none/pgbackrest not found (install pgBackRest, or set "
         "database.backups.command or info_file)"),
    ],
)  # fmt: skip
def test_a_command_that_fails_hangs_or_is_missing_is_an_error_of_one_line(healthy, standin, tmp_path, break_it,
                                                                         source, reason):  # fmt: skip
    if break_it:
        getattr(standin, break_it)()
    done = run(healthy, standin, tmp_path, "broken",
               source or 'kind = "pgbackrest"\nstanza = "main"\ntimeout_s = 1')  # fmt: skip
    for item_id in ITEMS:
        assert (done.item(item_id)["outcome"], done.item(item_id)["reason"]) == ("error", reason)
    assert "Traceback" not in done.output
