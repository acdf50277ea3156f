"""pgBackRest as a backup source: the saved two-repository info JSON, and a real ``pgbackrest`` executable on PATH
(tests/pgbackrest_standin.py) that passes, fails, hangs or is missing."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from golive.config import ConfigError, PgbackrestBackups, parse_environment
from golive.outcomes import ProbeError
from golive.probes.backups import inventory, judge_retention, readable
from golive.probes.pgbackrest import parse_info
from tests.pgbackrest_standin import FIXTURE, REPO_ERROR, STANZA, PgbackrestStandIn, nightly, stanza

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def source(**fields) -> PgbackrestBackups:
    return PgbackrestBackups(kind="pgbackrest", stanza=fields.pop("stanza", STANZA), **fields)


def saved(**fields):
    return inventory(source(info_file=FIXTURE, **fields))


def test_the_saved_info_lists_both_repositories_backups_by_when_they_finished():
    found = saved()
    assert found.where == "pgBackRest stanza main"
    assert found.problems == ()
    assert [(b.name, b.taken_at.isoformat()) for b in found.backups] == [
        ("20261122-020000F", "2026-11-22T02:06:41+00:00"),
        ("20261122-020000F_20261123-020000D", "2026-11-23T02:01:12+00:00"),
        ("20261122-020000F_20261124-020000I", "2026-11-24T02:00:37+00:00"),
        ("20261122-020000F_20261125-020000I", "2026-11-25T02:00:29+00:00"),
        ("20261125-030000F", "2026-11-25T03:07:02+00:00"),
    ]
    latest = found.backups[-1]
    assert latest.location == "pgBackRest main repo2 full backup 20261125-030000F"
    assert latest.size == 31457280


def test_a_backup_with_the_error_flag_is_not_restorable_and_says_where():
    found = saved()
    flagged = readable(found.backups[3], source(info_file=FIXTURE), 1)
    assert (flagged.ok, flagged.probe) == (False, "error")
    assert flagged.expected == "a backup pgBackRest completed without errors"
    assert flagged.detail == "true (page checksum errors in base/16384/16402, base/16384/16410)"
    assert readable(found.backups[2], source(info_file=FIXTURE), 1).detail == "false"
    unknown = readable(found.backups[4], source(info_file=FIXTURE), 1)  # taken by a version that did not report it
    assert (unknown.ok, unknown.detail) == (True, "not reported")


def test_a_stanza_whose_status_is_not_ok_is_a_problem_with_its_message():
    found = saved(stanza="reporting")
    assert found.backups == []
    assert found.problems == (
        "pgBackRest stanza reporting: status 4 'different across repos' (repo1: 2 'no valid backups', "
        "repo2: 1 'missing stanza path'), expected 0 'ok'",
    )


def test_a_stanza_the_file_does_not_hold_is_a_probe_error():
    with pytest.raises(ProbeError, match=r"info file .*pgbackrest-info.json lists no stanza billing "
                                         r"\(stanzas: main, reporting\)$"):  # fmt: skip
        saved(stanza="billing")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "is not pgbackrest info --output=json ((top level): Invalid JSON"),
        ('{"name": "main"}', "is not pgbackrest info --output=json ((top level): Input should be a valid array)"),
        ('[{"name": "main", "status": {"code": 0, "message": "ok"}, "backup": [{"label": "x", "type": "full"}]}]',
         "is not pgbackrest info --output=json (0.backup.0.timestamp: Field required)"),
        ('[{"name": "main", "status": {"code": 0, "message": "ok"}, "backup": [{"label": "x", "type": "snapshot",'
         ' "timestamp": {"start": 1, "stop": 2}}]}]',
         "(0.backup.0.type: Input should be 'full', 'diff' or 'incr')"),
    ],
)  # fmt: skip
def test_output_of_another_shape_is_one_line_naming_where_it_went_wrong(text, reason):
    with pytest.raises(ProbeError) as caught:
        parse_info(text, source(), "the output of pgbackrest")
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_info_file_is_a_probe_error(tmp_path):
    with pytest.raises(ProbeError, match=r"^pgBackRest stanza main: info file .*/gone.json does not exist$"):
        inventory(source(info_file=tmp_path / "gone.json"))


# --- the command, run for real


@pytest.fixture
def standin(tmp_path, monkeypatch):
    fake = PgbackrestStandIn(tmp_path / "pgbackrest")
    monkeypatch.setenv("PATH", fake.path(os.environ["PATH"]))
    return fake


def test_the_command_passes_on_35_nights_of_fresh_backups(standin):
    now = datetime.now(UTC)
    standin.holds(nightly(now - timedelta(hours=3)))
    found = inventory(source())
    assert len(found.backups) == 35
    assert [b.location.split()[3] for b in found.backups[:8]] == ["full"] + ["incr"] * 6 + ["full"]
    assert found.backups[-1].age_h(now) == pytest.approx(3 - 90 / 3600, abs=0.01)
    assert judge_retention(found, now, 30).problems == ()
    assert readable(found.backups[-1], source(), 1).ok


def test_the_command_shows_stale_backups_and_missing_nights(standin):
    now = datetime.now(UTC)
    standin.holds(nightly(now - timedelta(hours=30), skip=frozenset({4, 5})))
    found = inventory(source())
    assert found.backups[-1].age_h(now) > 29.9
    problems = judge_retention(found, now, 30).problems
    assert len(problems) == 1
    assert problems[0].startswith("missing nights: ")
    assert "(2 of 30 nights " in problems[0]
    assert problems[0].endswith(" have no backup)")


def test_the_latest_backup_taken_with_errors_is_unreadable(standin):
    standin.holds(nightly(datetime.now(UTC) - timedelta(hours=3), error_latest=True))
    found = inventory(source())
    verdict = readable(found.backups[-1], source(), 1)
    assert (verdict.ok, verdict.detail) == (False, "true (page checksum errors in base/16384/16402)")


def test_an_unknown_stanza_is_reported_as_pgbackrest_reports_it(standin):
    standin.holds(stanza("other", []))
    found = inventory(source())
    assert found.problems == (
        "pgBackRest stanza main: status 1 'missing stanza path' (repo1: 1 'missing stanza path'), expected 0 'ok'",
    )


def test_a_failing_command_is_one_line_with_its_exit_code_and_error(standin):
    standin.fails()
    with pytest.raises(ProbeError) as caught:
        inventory(source())
    assert str(caught.value) == (
        f"pgBackRest stanza main: pgbackrest info --output=json --stanza=main exited with 55: {REPO_ERROR}"
    )


def test_a_hanging_command_is_killed_with_its_children_at_the_timeout(standin):
    standin.hangs()
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        inventory(source(timeout_s=0.5))
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        "pgBackRest stanza main: pgbackrest info --output=json --stanza=main did not finish within 0.5 s"
    )


def test_a_missing_command_is_one_line(standin):
    with pytest.raises(ProbeError) as caught:
        inventory(source(command="/opt/none/pgbackrest info --output=json --stanza=main"))
    assert str(caught.value) == (
        "pgBackRest stanza main: /opt/none/pgbackrest not found "
        "(install pgBackRest, or set database.backups.command or info_file)"
    )


def test_a_configured_command_is_run_as_written(standin):
    standin.holds(nightly(datetime.now(UTC), nights=3))
    wrapper = standin.bin_dir / "as-postgres"
    wrapper.write_text('#!/bin/sh\nexec "$@"\n')
    wrapper.chmod(0o755)
    found = inventory(source(command=f"{wrapper} pgbackrest --config=/etc/pgbackrest.conf info --output=json "
                                     "--stanza=main"))  # fmt: skip
    assert len(found.backups) == 3


# --- configuration


def env(backups: str) -> str:
    return f'name = "x"\ntier = "staging"\n[app]\nbase_url = "https://app.example.com"\n[database.backups]\n{backups}'


@pytest.mark.parametrize(
    ("backups", "message"),
    [
        ('kind = "pgbackrest"', "database.backups.pgbackrest.stanza: Field required"),
        ('kind = "pgbackrest"\nstanza = "main"\ncommand = "pgbackrest \'info"',
         "database.backups.pgbackrest.command: not a command line (No closing quotation)"),
        ('kind = "pgbackrest"\nstanza = "main"\ncommand = " "',
         "database.backups.pgbackrest.command: is empty; leave it out for pgbackrest info --output=json "
         "--stanza=STANZA"),
        ('kind = "pgbackrest"\nstanza = "main"\ncommand = "pgbackrest info"\ninfo_file = "/x.json"',
         "database.backups.pgbackrest: set command or info_file, not both"),
        ('kind = "pgbackrest"\nstanza = "main"\ntimeout_s = 0', "database.backups.pgbackrest.timeout_s: Input should"),
        ('kind = "tape"', "database.backups: kind should be 'directory', 's3', 'rds' or 'pgbackrest'"),
    ],
)  # fmt: skip
def test_bad_pgbackrest_settings_are_one_line_naming_the_key(backups, message):
    with pytest.raises(ConfigError) as caught:
        parse_environment(env(backups), "x.toml", {})
    assert message in str(caught.value)


def test_default_command_names_the_stanza():
    parsed = parse_environment(env('kind = "pgbackrest"\nstanza = "main"'), "x.toml", {})
    assert parsed.database.backups.argv == ["pgbackrest", "info", "--output=json", "--stanza=main"]
