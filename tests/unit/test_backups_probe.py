"""Backup inventory and verdicts (DB-02, DB-03, LIVE-02) and the restore record (DB-05)."""

import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from golive.config import DirectoryBackups
from golive.outcomes import ProbeError
from golive.probes.backups import (
    Backup,
    Inventory,
    Readability,
    check_readable,
    dated,
    describe_nights,
    directory_inventory,
    dump_problem,
    judge_latest,
    judge_retention,
    readable,
    stamp_from_name,
)
from golive.probes.restore import judge_restore_record, write_record
from golive.sandbox.backups import TRUNCATED_BYTES

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app-2026-11-25T0200Z.dump", datetime(2026, 11, 25, 2, 0, tzinfo=UTC)),
        ("app_20261125.dump", datetime(2026, 11, 25, tzinfo=UTC)),
        ("nightly-2026-11-25_02:30:15.sql.gz", datetime(2026, 11, 25, 2, 30, 15, tzinfo=UTC)),
        ("app-2026-11-25T0200+0530.dump", datetime(2026, 11, 24, 20, 30, tzinfo=UTC)),
        ("app-2026-11-25T02:00:00-08:00.dump", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        ("app-2026-11-25T0200z.dump", datetime(2026, 11, 25, 2, 0, tzinfo=UTC)),
        ("app-2026-11-25T0200+2500.dump", None),  # no such offset
        ("app-2026-13-45.dump", None),
        ("app.dump", None),
    ],
)
def test_stamp_from_name(name, expected):
    assert stamp_from_name(name) == expected
    assert expected is None or stamp_from_name(name).tzinfo == UTC


def test_a_dump_is_dated_by_the_earlier_of_its_name_and_its_write_time():
    written = datetime(2026, 11, 25, 2, 5, tzinfo=UTC)
    # a name stamped in local time (+05:30) but labelled as UTC would look 5.5 h fresher than it is
    assert dated("app-2026-11-25T0730Z.dump", written, "name") == written
    assert dated("app-2026-11-25T0200Z.dump", written, "name") == datetime(2026, 11, 25, 2, tzinfo=UTC)
    assert dated("app-2026-11-20T0200Z.dump", written, "mtime") == written
    assert dated("latest.dump", written, "name") == written


@pytest.mark.parametrize(
    ("name", "size", "problem"),
    [("app-1.dump", 10, None), ("app-1.dump", 0, "0 bytes"),
     ("app-1.dump.partial", 10, "an unfinished file (.partial)"), ("APP-1.DUMP.TMP", 10, "an unfinished file (.tmp)")],
)  # fmt: skip
def test_dump_problem(name, size, problem):
    assert dump_problem(name, size) == problem


def test_directory_inventory_dates_from_names_or_mtime(tmp_path):
    (tmp_path / "app-2026-11-24T0200Z.dump").write_bytes(b"x")
    (tmp_path / "app-2026-11-25T0200Z.dump").write_bytes(b"xy")
    undated = tmp_path / "latest.dump"
    undated.write_bytes(b"xyz")
    os.utime(undated, (NOW.timestamp(), NOW.timestamp()))
    (tmp_path / "notes.txt").write_text("not a dump")
    (tmp_path / "app-2026-11-26T0200Z.dump").write_bytes(b"")
    ahead = tmp_path / "app-2026-11-27T0200Z.dump"  # stamped a day ahead, written an hour before NOW
    ahead.write_bytes(b"wxyz")
    os.utime(ahead, ((NOW - timedelta(hours=1)).timestamp(),) * 2)
    found = directory_inventory(DirectoryBackups(path=tmp_path, pattern="*.dump"))
    assert [(b.name, b.taken_at, b.size, b.problem) for b in found] == [
        ("app-2026-11-24T0200Z.dump", datetime(2026, 11, 24, 2, tzinfo=UTC), 1, None),
        ("app-2026-11-25T0200Z.dump", datetime(2026, 11, 25, 2, tzinfo=UTC), 2, None),
        ("app-2026-11-26T0200Z.dump", datetime(2026, 11, 26, 2, tzinfo=UTC), 0, "0 bytes"),
        ("app-2026-11-27T0200Z.dump", NOW - timedelta(hours=1), 4, None),
        ("latest.dump", NOW, 3, None),
    ]
    by_mtime = directory_inventory(DirectoryBackups(path=tmp_path, pattern="latest.dump", date_from="mtime"))
    assert [b.taken_at for b in by_mtime] == [NOW]


def test_missing_directory_is_a_probe_error(tmp_path):
    with pytest.raises(ProbeError, match=r"backup directory .*/gone does not exist or is not a directory"):
        directory_inventory(DirectoryBackups(path=tmp_path / "gone"))


def nightly(count: int, skip: set[int] = frozenset(), latest: datetime = NOW - timedelta(hours=8), **kept) -> Inventory:
    taken = [latest - timedelta(days=n) for n in range(count) if n not in skip]
    return Inventory("backup directory /x", [Backup(f"app-{t:%Y%m%d}.dump", t, "/x", 1) for t in sorted(taken)], **kept)


def test_retention_of_35_nights_passes():
    report = judge_retention(nightly(35), NOW, 30)
    assert report.missing == ()
    assert report.oldest_age_days == 34.3
    assert report.window == (date(2026, 10, 27), date(2026, 11, 26))
    assert report.problems == ()


def test_missing_nights_are_named():
    report = judge_retention(nightly(35, skip={3, 4}), NOW, 30)
    assert report.missing == (date(2026, 11, 22), date(2026, 11, 23))
    assert describe_nights(report.missing) == "2026-11-22, 2026-11-23"
    assert report.problems == (
        "missing nights: 2026-11-22, 2026-11-23 (2 of 31 nights 2026-10-27..2026-11-26 have no backup)",
    )


def test_short_retention_is_measured():
    report = judge_retention(nightly(20), NOW, 30)
    assert report.oldest_age_days == 19.3
    assert len(report.missing) == 11
    assert report.problems[0] == "oldest backup app-20261107.dump is 19.3 days old, expected at least 30 days"


def test_no_backup_at_all_is_named():
    report = judge_retention(nightly(0), NOW, 30)
    assert report.problems[0] == "no usable backups found in backup directory /x; expected 30 days of them"
    assert report.window == (date(2026, 10, 27), date(2026, 11, 25))
    assert len(report.missing) == 30


def with_problems(inventory: Inventory, problems: dict[int, str]) -> Inventory:
    """The inventory with the backups of the given nights (0: the latest) flagged as its source would flag them."""
    backups = inventory.backups
    flagged = [replace(b, problem=problems.get(len(backups) - 1 - i)) for i, b in enumerate(backups)]
    return replace(inventory, backups=flagged)


def test_unusable_backups_count_for_no_night():
    """Zero-byte files, unfinished uploads, backups taken with errors or not available are listed but prove
    nothing: their nights are missing, and named with why they were not counted."""
    report = judge_retention(with_problems(nightly(35), {3: "0 bytes", 4: "an unfinished file (.partial)"}), NOW, 30)
    assert report.missing == (date(2026, 11, 22), date(2026, 11, 23))
    assert report.count == 33
    assert report.problems == (
        "missing nights: 2026-11-22, 2026-11-23 (2 of 31 nights 2026-10-27..2026-11-26 have no backup; not counted: "
        "app-20261122.dump (an unfinished file (.partial)), app-20261123.dump (0 bytes))",
    )
    assert report.measured["not_counted"] == ["app-20261122.dump: an unfinished file (.partial)",
                                              "app-20261123.dump: 0 bytes"]  # fmt: skip


def test_a_backup_dated_in_the_future_counts_for_no_night():
    ahead = Backup("app-future.dump", NOW + timedelta(days=2), "/x", 1)
    future = Inventory("backup directory /x", [*nightly(35).backups, ahead])
    report = judge_retention(future, NOW, 30)
    assert (report.window[1], report.missing, report.count) == (date(2026, 11, 26), (), 35)
    assert report.measured["not_counted"] == ["app-future.dump: dated 2026-11-28 10:00 UTC, in the future"]


def test_when_the_latest_backup_is_older_than_the_window_every_night_is_missing():
    """Nothing for 40 days: the window has no backup at all, which is every night missing, not none."""
    report = judge_retention(nightly(35, latest=NOW - timedelta(days=40)), NOW, 30)
    assert report.window == (date(2026, 10, 27), date(2026, 11, 25))
    assert len(report.missing) == 30
    assert report.problems[-1].startswith("missing nights: 2026-10-27, 2026-10-28")
    assert report.problems[-1].endswith("and 22 more (30 of 30 nights 2026-10-27..2026-11-25 have no backup)")


def test_window_ends_at_the_latest_backup_night():
    # the latest backup being stale is DB-02's verdict; DB-03 only asks for unbroken nights up to it
    report = judge_retention(nightly(35, latest=NOW - timedelta(hours=30)), NOW, 30)
    assert report.window[1] == date(2026, 11, 25)
    assert report.missing == ()


def test_a_young_source_set_to_keep_long_enough_counts_from_its_creation():
    """An RDS instance created 5 days ago, set to keep 35 days: its 5 nights are all there is to keep."""
    report = judge_retention(nightly(5, retention_setting_days=35, kept_since=NOW - timedelta(days=4, hours=12)),
                             NOW, 30)  # fmt: skip
    assert report.window == (date(2026, 11, 22), date(2026, 11, 26))  # from the night after its creation
    assert report.problems == ()
    assert report.measured["retention_setting_days"] == 35


def test_a_source_set_to_keep_too_few_days_fails_however_young():
    report = judge_retention(nightly(5, retention_setting_days=7, kept_since=NOW - timedelta(days=4, hours=12)),
                             NOW, 30)  # fmt: skip
    assert report.problems == (
        "backup directory /x keeps automated backups 7 days (BackupRetentionPeriod), expected at least 30",
    )


def test_an_old_source_set_to_keep_enough_still_needs_the_old_backups():
    """Created 60 days ago and set to 35 days, but only 20 nights are there: the setting is not the evidence."""
    report = judge_retention(nightly(20, retention_setting_days=35, kept_since=NOW - timedelta(days=60)), NOW, 30)
    assert report.problems[0] == "oldest backup app-20261107.dump is 19.3 days old, expected at least 30 days"
    assert len(report.missing) == 11


def test_describe_nights_cuts_long_lists():
    nights = tuple(date(2026, 11, d) for d in range(1, 12))
    assert describe_nights(nights, limit=3) == "2026-11-01, 2026-11-02, 2026-11-03 and 8 more"


@pytest.fixture(scope="module")
def real_dumps(tmp_path_factory):
    """Real archives of a sandbox's app database: the latest nightly dump its backup job took (pg_dump -Fc), and
    a directory-format dump (pg_dump -Fd) named as a nightly job would name it."""
    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore not installed")
    from golive.sandbox import Sandbox

    workdir = tmp_path_factory.mktemp("dumpbox")
    copies = tmp_path_factory.mktemp("dump")
    with Sandbox(workdir) as box:
        latest = max((workdir / "backups").glob("*.dump"))
        shutil.copyfile(latest, copies / latest.name)
        pg = box.postgres
        made = pg.root / "app-2026-11-25T0200Z"
        pg.account.run([str(pg.bindir / "pg_dump"), "-Fd", "-h", str(pg.socket_dir), "-p", str(pg.primary_port),
                        "-U", "postgres", "-d", "app", "-f", str(made)], cwd=pg.root)  # fmt: skip
        shutil.copytree(made, copies / made.name)
    return copies / latest.name, copies / made.name


@pytest.fixture(scope="module")
def real_dump(real_dumps):
    return real_dumps[0]


def test_a_directory_format_dump_is_a_backup_pg_restore_reads(real_dumps, tmp_path):
    directory = tmp_path / real_dumps[1].name
    shutil.copytree(real_dumps[1], directory)
    (tmp_path / "app-notes").mkdir()  # a directory without toc.dat is not a dump
    found = directory_inventory(DirectoryBackups(path=tmp_path, pattern="app-*"))
    assert [(b.name, b.taken_at) for b in found] == [("app-2026-11-25T0200Z", datetime(2026, 11, 25, 2, tzinfo=UTC))]
    assert found[0].size == sum(f.stat().st_size for f in directory.iterdir())
    result = check_readable(found[0], timeout_s=30)
    assert (result.ok, result.probe) == (True, "pg_restore -f /dev/null")
    assert result.detail.endswith(", 7 tables with data, all data read")  # the six app tables and migrations.applied
    data = sorted(directory.glob("*.dat.gz"), key=lambda f: f.stat().st_size)[-1]
    data.write_bytes(data.read_bytes()[:-8])  # one table's data cut short: the table of contents still reads
    assert check_readable(found[0], timeout_s=30, verify="toc").ok
    cut = check_readable(found[0], timeout_s=30)
    assert (cut.ok, cut.probe) == (False, "pg_restore -f /dev/null")
    (directory / "toc.dat").write_bytes(b"PGDMP")  # cut short
    assert check_readable(found[0], timeout_s=30).probe == "pg_restore --list"


def test_pg_restore_reads_a_real_dump_in_full(real_dump):
    backup = Backup(real_dump.name, NOW, str(real_dump), real_dump.stat().st_size)
    result = check_readable(backup, timeout_s=30)
    assert (result.ok, result.probe) == (True, "pg_restore -f /dev/null")
    assert result.detail.endswith(" entries, 6 tables with data, all data read")
    toc = check_readable(backup, timeout_s=30, verify="toc")
    assert (toc.ok, toc.probe) == (True, "pg_restore --list")
    assert toc.detail.endswith(" entries, 6 tables with data")


def test_a_dump_cut_short_after_its_table_of_contents_passes_the_toc_and_fails_the_full_read(real_dump, tmp_path):
    cut = tmp_path / "cut.dump"
    cut.write_bytes(real_dump.read_bytes()[:-TRUNCATED_BYTES])
    backup = Backup("cut.dump", NOW, str(cut), cut.stat().st_size)
    assert check_readable(backup, timeout_s=30, verify="toc").ok
    result = check_readable(backup, timeout_s=30)
    assert (result.ok, result.probe, result.detail) == (
        False, "pg_restore -f /dev/null", "could not read from input file: end of file")  # fmt: skip


def test_a_dump_its_listing_shows_unusable_is_not_read(tmp_path):
    source = DirectoryBackups(path=tmp_path)
    result = readable(Backup("app.dump.partial", NOW, str(tmp_path / "gone"), 10, problem="an unfinished file"),
                      source, 30)  # fmt: skip
    assert (result.ok, result.probe, result.detail) == (False, "listing", "an unfinished file")


def test_a_cut_dump_is_unreadable(real_dump, tmp_path):
    cut = tmp_path / "cut.dump"
    cut.write_bytes(real_dump.read_bytes()[:64])
    result = check_readable(Backup("cut.dump", NOW, str(cut), 64), timeout_s=30)
    assert not result.ok
    assert "\n" not in result.detail
    assert result.detail, result


def test_a_text_file_is_not_a_dump(tmp_path):
    text = tmp_path / "app.sql"
    text.write_text("create table t (id int);\n")
    result = check_readable(Backup("app.sql", NOW, str(text), 10), timeout_s=30)
    assert not result.ok
    assert "input file does not appear to be a valid archive" in result.detail


def test_pg_restore_timeout_is_bounded(tmp_path, monkeypatch):
    def slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow)
    result = check_readable(Backup("a.dump", NOW, str(tmp_path / "a.dump"), 1), timeout_s=0.5)
    assert (result.ok, result.probe, result.detail) == (False, "pg_restore --list", "did not finish within 0.5 s")


# --- DB-02 and LIVE-02 on the latest backup

READ = Readability(True, "12 entries, 6 tables with data, all data read", "pg_restore -f /dev/null")


def test_a_fresh_readable_latest_backup_passes():
    report = judge_latest(nightly(3), NOW, READ, 26, "limit 26 h")
    assert report.problems == ()
    assert report.subject == "latest backup /x"
    assert report.measured == {"taken_at": "2026-11-26T02:00:00+00:00", "age_h": 8.0, "size": 1,
                               "pg_restore -f /dev/null": READ.detail}  # fmt: skip
    assert report.expected == {"age_h": "0 .. 26", "pg_restore -f /dev/null": "a readable dump"}


def test_a_stale_latest_backup_fails_with_its_age_and_the_limit():
    report = judge_latest(nightly(3, latest=NOW - timedelta(hours=30)), NOW, READ, 24,
                          "expected one within the pre-launch window of 24 h")  # fmt: skip
    assert report.problems == (
        "latest backup app-20261125.dump in backup directory /x is 30.0 h old (taken 2026-11-25 04:00 UTC), "
        "expected one within the pre-launch window of 24 h",
    )


def test_a_latest_backup_dated_in_the_future_fails_naming_it():
    """A negative age is not fresh: a name stamped ahead, or a backup host whose clock runs ahead."""
    report = judge_latest(nightly(3, latest=NOW + timedelta(hours=3)), NOW, READ, 26, "limit 26 h")
    assert report.problems == (
        "latest backup app-20261126.dump in backup directory /x is dated 2026-11-26 13:00 UTC, 3.0 h in the future "
        "(now 2026-11-26 10:00 UTC); expected a backup taken in the past: its name or its clock is wrong",
    )
    assert judge_latest(nightly(3, latest=NOW + timedelta(minutes=2)), NOW, READ, 26, "x").problems == ()


def test_an_unreadable_latest_backup_and_a_source_in_error_both_fail():
    unread = Readability(False, "could not read from input file: end of file", "pg_restore -f /dev/null")
    report = judge_latest(nightly(3, problems=("stanza main: status 4",)), NOW, unread, 26, "limit 26 h")
    assert report.problems == (
        "stanza main: status 4",
        "latest backup app-20261126.dump is not a readable dump: pg_restore -f /dev/null: could not read from input "
        "file: end of file",
    )
    assert report.measured["source_problems"] == ["stanza main: status 4"]


def test_no_backup_is_a_failure_of_the_latest():
    report = judge_latest(nightly(0), NOW, None, 24, "x")
    assert report.problems == ("no backups found in backup directory /x; expected one younger than 24 h",)


# --- restore record


def record(tmp_path, **fields):
    path = tmp_path / "restore.json"
    write_record(path, {"finished_at": (NOW - timedelta(days=2)).isoformat(), "backup": "app-1.dump",
                        "duration_s": 3.5, "row_counts": {"users": 10}, "result": "ok", **fields})  # fmt: skip
    return path


def test_recent_successful_record_passes(tmp_path):
    verdict = judge_restore_record(record(tmp_path), NOW, 7)
    assert verdict.problem is None
    assert (verdict.age_days, verdict.backup, verdict.duration_s) == (2.0, "app-1.dump", 3.5)
    assert json.loads((tmp_path / "restore.json").read_text())["format"] == "golive.restore/1"


def test_stale_record_fails_with_its_age(tmp_path):
    path = record(tmp_path, finished_at=(NOW - timedelta(days=9)).isoformat())
    verdict = judge_restore_record(path, NOW, 7)
    assert verdict.problem == (
        "last restore drill finished 9.0 days ago (2026-11-17T10:00:00+00:00, backup app-1.dump), limit 7 days"
    )


def test_failed_record_fails(tmp_path):
    verdict = judge_restore_record(record(tmp_path, result="failed", detail="disk full"), NOW, 7)
    assert verdict.problem.startswith("last restore drill (app-1.dump, 2026-11-24T10:00:00+00:00) has result 'failed'")
    assert "(disk full)" in verdict.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no restore record at"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"result": "ok", "finished_at": "2026-11-25T10:00:00"}', "has no finished_at timestamp with a timezone"),
    ],
)
def test_missing_or_malformed_record_fails(tmp_path, content, problem):
    path = tmp_path / "restore.json"
    if content is not None:
        path.write_text(content)
    verdict = judge_restore_record(path, NOW, 7)
    assert problem in verdict.problem
    assert verdict.problem.endswith("expected a successful restore drill within 7 days")


def test_a_record_finished_in_the_future_is_refused(tmp_path):
    path = record(tmp_path, finished_at=(NOW + timedelta(hours=3)).isoformat())
    verdict = judge_restore_record(path, NOW, 7)
    assert verdict.problem == (
        f"restore record {path} finished_at 2026-11-26T13:00:00+00:00 is 3.0 h in the future "
        "(now 2026-11-26T10:00:00+00:00); expected a successful restore drill within 7 days"
    )


def test_a_record_a_little_ahead_is_clock_skew_and_passes(tmp_path):
    path = record(tmp_path, finished_at=(NOW + timedelta(minutes=2)).isoformat())
    assert judge_restore_record(path, NOW, 7).problem is None
