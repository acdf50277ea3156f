"""Backup sources on AWS: logical dumps under an S3 prefix, and an RDS instance's automated backups.

boto3 finds the credentials itself (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role);
golive registers the AWS variables as secrets so no report can carry them. Every call has the source's
timeout and at most one retry, and every failure is one line naming the source and what AWS answered.
boto3 is imported only when such a source is configured.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from golive.config import RdsBackups, S3Backups
from golive.outcomes import ProbeError
from golive.probes.backups import (
    Backup,
    Inventory,
    Readability,
    dated,
    dump_problem,
    list_then_read,
    pg_restore_verdict,
    pg_tool,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

GIB = 1024**3
RESTORABLE = "a snapshot RDS can restore"
_CHUNK = 1 << 16
MAX_KEYS = 100_000  # an inventory larger than this is not a backup prefix


def client(service: Literal["s3", "rds"], source: S3Backups | RdsBackups) -> BaseClient:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=source.timeout_s, read_timeout=source.timeout_s, user_agent_extra="golive",
                    retries={"max_attempts": 2, "mode": "standard"})  # fmt: skip
    endpoint = str(source.endpoint_url).rstrip("/") if source.endpoint_url else None
    with aws_errors(source.where):
        return boto3.session.Session().client(service, region_name=source.region, endpoint_url=endpoint,
                                              config=config)  # fmt: skip


@contextmanager
def aws_errors(where: str) -> Iterator[None]:
    """botocore's exceptions as one-line ProbeErrors naming the source (never a credential: AWS errors carry at
    most the access key id, which is registered as a secret)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except ClientError as error:
        detail = error.response.get("Error", {})
        code = detail.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        message = str(detail.get("Message") or "").strip()
        operation = error.operation_name
        raise ProbeError(f"{where}: {operation} refused: {code}" + (f": {message}" if message else "")) from None
    except NoCredentialsError:
        raise ProbeError(
            f"{where}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, "
            "or run with an instance role)"
        ) from None
    except NoRegionError:
        raise ProbeError(f"{where}: no AWS region (set database.backups.region or AWS_DEFAULT_REGION)") from None
    except BotoCoreError as error:
        raise ProbeError(f"{where}: {error}") from None


# --- S3: logical dumps under a prefix ---------------------------------------------------------------------


def s3_inventory(source: S3Backups) -> Inventory:
    """Every object under the prefix whose name matches the pattern, oldest first."""
    s3 = client("s3", source)
    backups = []
    with aws_errors(source.where):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=source.bucket, Prefix=source.prefix, PaginationConfig={"MaxItems": MAX_KEYS}
        )
        for page in pages:
            for entry in page.get("Contents", []):
                key = str(entry["Key"])
                name = key.rsplit("/", 1)[-1]
                if not name or not fnmatch.fnmatchcase(name, source.pattern):
                    continue
                taken = dated(name, entry["LastModified"].astimezone(UTC), source.date_from)
                size = int(entry["Size"])
                backups.append(Backup(name, taken, f"s3://{source.bucket}/{key}", size,
                                      problem=dump_problem(name, size)))  # fmt: skip
    return Inventory(source.where, sorted(backups, key=lambda b: b.taken_at))


def _key(backup: Backup, source: S3Backups) -> str:
    return backup.location.removeprefix(f"s3://{source.bucket}/")


def s3_readable(backup: Backup, source: S3Backups, timeout_s: float) -> Readability:
    """pg_restore on the object, streamed from S3 (custom and tar formats): --list first, which reads the table of
    contents and leaves, so only the head is downloaded; then, with ``verify = "full"`` (the default), a second
    download of the whole object read through as a restore would (its cost: the object's size in transfer)."""
    return list_then_read(lambda probe: _stream(backup, source, probe, timeout_s), source.verify)


def _stream(backup: Backup, source: S3Backups, probe: str, timeout_s: float) -> Readability:
    """Run ``probe`` (a pg_restore command line) on the object's body, fed to its stdin."""
    s3 = client("s3", source)
    with aws_errors(backup.location):
        body = s3.get_object(Bucket=source.bucket, Key=_key(backup, source))["Body"]
    read_end, write_end = os.pipe()  # pg_restore's stdin; a pipe of our own, since communicate() closes stdin
    try:
        process = subprocess.Popen(
            [pg_tool("pg_restore"), *probe.split()[1:]], stdin=read_end, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
    except OSError:
        os.close(write_end)
        body.close()
        raise
    finally:
        os.close(read_end)
    feed = _Feed(body, os.fdopen(write_end, "wb"))
    feed.start()
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return Readability(False, f"did not finish within {timeout_s:g} s", probe)
    finally:
        body.close()
        feed.join(timeout=timeout_s)
    if feed.error is not None and process.returncode != 0:
        return Readability(False, f"reading {backup.location}: {feed.error}", probe)
    return pg_restore_verdict(probe, process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


class _Feed(threading.Thread):
    """Copies the object's body into pg_restore's stdin until the end, or until pg_restore stops reading."""

    def __init__(self, body: Any, stdin: BinaryIO) -> None:
        super().__init__(daemon=True, name="golive-s3-feed")
        self.body = body
        self.stdin = stdin
        self.error: str | None = None

    def run(self) -> None:
        try:
            for chunk in self.body.iter_chunks(_CHUNK):
                self.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # pg_restore has read what it needs and left (ValueError: its pipe was closed meanwhile)
        except Exception as error:  # the download failed: reported with pg_restore's verdict
            self.error = str(error).splitlines()[0] if str(error) else type(error).__name__
        finally:
            with suppress(OSError):
                self.stdin.close()


def s3_download(backup: Backup, source: S3Backups, directory: Path) -> Path:
    """The whole object, to a file in directory (the restore drill restores it from there)."""
    s3 = client("s3", source)
    target = directory / backup.name
    with aws_errors(backup.location):
        s3.download_file(source.bucket, _key(backup, source), str(target))
    return target


# --- RDS: automated backups and point-in-time recovery ----------------------------------------------------


@dataclass(frozen=True)
class RdsInstance:
    identifier: str
    status: str
    created: datetime | None
    retention_days: int
    latest_restorable: datetime | None


def rds_instance(source: RdsBackups) -> RdsInstance:
    rds = client("rds", source)
    with aws_errors(source.where):
        (found,) = rds.describe_db_instances(DBInstanceIdentifier=source.instance)["DBInstances"]
    created, latest = found.get("InstanceCreateTime"), found.get("LatestRestorableTime")
    return RdsInstance(
        str(found["DBInstanceIdentifier"]), str(found.get("DBInstanceStatus", "?")),
        created.astimezone(UTC) if created else None, int(found.get("BackupRetentionPeriod", 0)),
        latest.astimezone(UTC) if latest else None,
    )  # fmt: skip


def rds_inventory(source: RdsBackups) -> Inventory:
    """The instance's automated snapshots, oldest first, with the retention RDS keeps by its own setting."""
    instance = rds_instance(source)
    rds = client("rds", source)
    backups = []
    with aws_errors(source.where):
        pages = rds.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=source.instance, SnapshotType="automated"
        )
        for page in pages:
            for snapshot in page.get("DBSnapshots", []):
                taken = snapshot.get("SnapshotCreateTime")
                if taken is None:  # still being created
                    continue
                status = str(snapshot.get("Status", "?"))
                backups.append(Backup(
                    str(snapshot["DBSnapshotIdentifier"]), taken.astimezone(UTC), str(snapshot["DBSnapshotArn"]),
                    int(snapshot.get("AllocatedStorage", 0)) * GIB, status,
                    None if status == "available" else f"{status!r}, expected 'available'",
                ))  # fmt: skip
    return Inventory(source.where, sorted(backups, key=lambda b: b.taken_at),
                     retention_setting_days=instance.retention_days, kept_since=instance.created)  # fmt: skip


def snapshot_readable(backup: Backup) -> Readability:
    """An RDS snapshot is restorable when RDS reports it available (it is physical: pg_restore does not apply)."""
    return Readability(backup.problem is None, backup.problem or "available", "status", RESTORABLE)


@dataclass(frozen=True)
class RdsPitr:
    what: str
    measured: dict[str, Any]
    expected: dict[str, Any]
    problems: tuple[str, ...]


def rds_pitr(source: RdsBackups, max_delay_s: int, now: datetime) -> RdsPitr:
    """DB-04 on RDS: automated backups on (BackupRetentionPeriod > 0) and LatestRestorableTime recent."""
    instance = rds_instance(source)
    problems = []
    if instance.retention_days <= 0:
        problems.append(f"{source.where}: BackupRetentionPeriod = 0, automated backups and point-in-time "
                        "recovery are off; expected at least 1 day")  # fmt: skip
    lag = (now - instance.latest_restorable).total_seconds() if instance.latest_restorable else None
    if lag is None:
        problems.append(f"{source.where}: no LatestRestorableTime, point-in-time recovery is not possible")
    elif lag > max_delay_s:
        problems.append(
            f"{source.where}: LatestRestorableTime {instance.latest_restorable:%Y-%m-%d %H:%M:%S} UTC is {lag:.0f} s "
            f"behind, limit {max_delay_s} s (database.archive_max_delay_s)"
        )
    measured = {"BackupRetentionPeriod": instance.retention_days, "DBInstanceStatus": instance.status,
                "LatestRestorableTime": instance.latest_restorable.isoformat(timespec="seconds")
                if instance.latest_restorable else None,
                "restorable_lag_s": round(lag, 1) if lag is not None else None}  # fmt: skip
    expected = {"BackupRetentionPeriod": ">= 1", "restorable_lag_s": f"<= {max_delay_s}"}
    return RdsPitr(f"point-in-time recovery of {source.where}", measured, expected, tuple(problems))
