"""The S3 and RDS backup sources against moto on loopback (tests/aws_standin.py), with the sandbox's real dumps:
DB-02, DB-03, LIVE-02 and DB-04 pass on a healthy source and fail, each naming what it measured, on a broken one;
a wrong key is one line with no credential in it; the restore drill restores the latest dump from S3."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.aws_standin import BUCKET, INSTANCE, PREFIX, AwsStandIn
from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file
from tests.e2e.test_restore_drill import drill

DIRECTORY = 'kind = "directory"\npath = "${GOLIVE_SANDBOX_DIR}/backups"\npattern = "*.dump"\ndate_from = "name"'
BACKUP_CHECKS = ("-k", "backup or point_in_time")


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsStandIn]:
    standin = AwsStandIn()
    yield standin
    standin.stop()


def s3_env(tmp_path, aws, extra: str = "") -> str:
    source = f'kind = "s3"\nbucket = "{BUCKET}"\nprefix = "{PREFIX}"\npattern = "*.dump"\nendpoint_url = "{aws.url}"'
    return env_file(tmp_path, **{DIRECTORY: source + extra})


def rds_env(tmp_path, aws) -> str:
    return env_file(tmp_path, **{DIRECTORY: f'kind = "rds"\ninstance = "{INSTANCE}"\nendpoint_url = "{aws.url}"'})


def test_s3_source_passes_on_nightly_dumps_and_fails_when_cut_short(healthy, aws, tmp_path, reports):
    aws.mirror(healthy.workdir / "backups")
    environ = clean_environ({**healthy.environ(), **aws.environ()})
    run = run_checks("preflight", environ, reports, *BACKUP_CHECKS, env=s3_env(tmp_path, aws))
    for item_id in ("DB-02", "DB-03", "LIVE-02"):
        assert run.item(item_id)["outcome"] == "passed", run.item(item_id)["reason"]
    assert aws.reader["aws_secret_access_key"] not in run.output
    healthy.set_faults(["backup-data-truncated", "backup-missing-nights"])
    try:
        aws.mirror(healthy.workdir / "backups")
        broken = run_checks("preflight", environ, tmp_path / "broken", *BACKUP_CHECKS, env=s3_env(tmp_path, aws))
        toc_only = s3_env(tmp_path, aws, '\nverify = "toc"')
        listed = run_checks("preflight", environ, tmp_path / "toc", *BACKUP_CHECKS, env=toc_only)
    finally:
        healthy.set_faults(())
    # the whole object streamed through pg_restore: its data is cut short, though its table of contents reads
    assert broken.item("DB-02")["outcome"] == "failed"
    assert "is not a readable dump: pg_restore -f /dev/null: could not read from input file: end of file" in (
        broken.item("DB-02")["reason"])  # fmt: skip
    assert broken.item("DB-03")["reason"].startswith("missing nights:"), broken.item("DB-03")
    assert listed.item("DB-02")["outcome"] == "passed", listed.item("DB-02")  # verify = "toc" reads the head only


def test_s3_wrong_key_is_one_line_without_the_key(healthy, aws, tmp_path, reports):
    environ = clean_environ(
        {
            **healthy.environ(),
            **aws.environ(),
            "AWS_ACCESS_KEY_ID": "AKIAPLANTEDWRONGKEY7",
            "AWS_SECRET_ACCESS_KEY": "Planted" * 6,
        }
    )
    run = run_checks("preflight", environ, reports, *BACKUP_CHECKS, env=s3_env(tmp_path, aws))
    item = run.item("DB-02")
    assert item["outcome"] == "error"
    assert item["reason"].startswith(f"s3://{BUCKET}/{PREFIX}: ListObjectsV2 refused: InvalidAccessKeyId"), item
    assert "Traceback" not in run.output
    assert "Planted" * 6 not in run.output
    assert "AKIAPLANTEDWRONGKEY7" not in run.output


def test_rds_source_passes_when_kept_and_fails_on_short_retention_and_stalled_pitr(healthy, aws, tmp_path, reports):
    now = datetime.now(UTC)
    aws.snapshots([now - timedelta(days=n, hours=2) for n in range(34, -1, -1)])
    environ = clean_environ({**healthy.environ(), **aws.environ()})
    run = run_checks("preflight", environ, reports, *BACKUP_CHECKS, env=rds_env(tmp_path, aws))
    for item_id in ("DB-02", "DB-03", "DB-04", "LIVE-02"):
        assert run.item(item_id)["outcome"] == "passed", run.item(item_id)["reason"]
    aws.set_retention(7)
    try:
        with aws.restorable_at(now - timedelta(hours=1)):
            broken = run_checks("preflight", environ, tmp_path / "b", *BACKUP_CHECKS, env=rds_env(tmp_path, aws))
    finally:
        aws.set_retention(35)
    assert broken.item("DB-03")["reason"] == (
        f"RDS instance {INSTANCE} keeps automated backups 7 days (BackupRetentionPeriod), expected at least 30"
    )
    assert "LatestRestorableTime" in broken.item("DB-04")["reason"]
    assert "limit 600 s (database.archive_max_delay_s)" in broken.item("DB-04")["reason"]
    assert broken.item("DB-02")["outcome"] == "passed"


def test_the_restore_drill_downloads_and_restores_the_latest_dump_from_s3(healthy, aws, tmp_path):
    keys = aws.mirror(healthy.workdir / "backups")
    record = tmp_path / "restore.json"
    done, _ = drill(healthy, record, s3_env(tmp_path, aws), **aws.environ())
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(record.read_text())
    assert (doc["result"], doc["backup"]) == ("ok", max(keys).removeprefix(PREFIX))
    assert doc["download_s"] >= 0
    assert doc["checks"] == [{"table": "public.users", "restored": 1, "source_estimate": 1, "ok": True}]
    assert aws.reader["aws_secret_access_key"] not in done.stdout + done.stderr
