"""S3 and RDS on loopback for the backup-source tests: moto's server (real HTTP, AWS's wire protocols and error
bodies) with IAM enforced, so a request signed with an unknown key is refused as AWS refuses it.

golive runs with the credentials of a read-only user (List/Get on the bucket, Describe* on RDS): a check that
wrote anything would be refused. The tests lay out state the way a backup job would leave it: dumps under a
prefix through the S3 API, and automated RDS snapshots, which no API can backdate, through moto's backend.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from moto import settings as moto_settings
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

REGION = "ap-south-1"
BUCKET = "golive-backups"
PREFIX = "nightly/"
INSTANCE = "app-prod"
READ_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
        {"Effect": "Allow", "Action": ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots"], "Resource": "*"},
    ],
}  # fmt: skip
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class AwsStandIn:
    """One moto server on 127.0.0.1 with a bucket, an RDS instance, an admin and a read-only user."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        iam = self._client("iam", {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"})
        self.admin = self._user(iam, "golive-admin", ADMIN_POLICY)
        self.reader = self._user(iam, "golive-readonly", READ_ONLY_POLICY)
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from here on every request must be signed by a known key
        self.s3 = self._client("s3", self.admin)
        self.rds = self._client("rds", self.admin)
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.rds.create_db_instance(
            DBInstanceIdentifier=INSTANCE, DBInstanceClass="db.m6g.large", Engine="postgres", AllocatedStorage=100,
            MasterUsername="app", MasterUserPassword="not-a-secret-of-golive", BackupRetentionPeriod=35,
        )  # fmt: skip

    def _client(self, service: str, keys: dict[str, str]) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, **keys)

    @staticmethod
    def _user(iam: Any, name: str, policy: dict[str, Any]) -> dict[str, str]:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def stop(self) -> None:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        self.server.stop()

    def environ(self) -> dict[str, str]:
        """The read-only user's credentials, as a CI job would set them."""
        return {
            "AWS_ACCESS_KEY_ID": self.reader["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.reader["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
        }

    # --- S3 ---------------------------------------------------------------------------------------------

    def mirror(self, directory: Path, pattern: str = "*.dump") -> list[str]:
        """Make the prefix hold exactly the directory's dumps (the backup job's upload), and return the keys."""
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
        if listed:
            self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
        keys = []
        for path in sorted(directory.glob(pattern)):
            self.s3.upload_file(str(path), BUCKET, PREFIX + path.name)
            keys.append(PREFIX + path.name)
        return keys

    # --- RDS --------------------------------------------------------------------------------------------

    def _rds_backend(self) -> Any:
        return get_backend("rds")[DEFAULT_ACCOUNT_ID][REGION]

    def snapshots(self, taken: list[datetime], status: str = "available") -> None:
        """Replace the instance's automated snapshots by one taken at each time (the last with ``status``)."""
        backend = self._rds_backend()
        for old in [s for s in backend.database_snapshots.values() if s.snapshot_type == "automated"]:
            del backend.database_snapshots[old.db_snapshot_identifier]
        for when in taken:
            snapshot = backend.create_auto_snapshot(INSTANCE, f"rds:{INSTANCE}-{when:%Y-%m-%d-%H-%M}")
            snapshot.created = when
        if taken:
            snapshot.status = status

    def set_retention(self, days: int) -> None:
        self.rds.modify_db_instance(DBInstanceIdentifier=INSTANCE, BackupRetentionPeriod=days, ApplyImmediately=True)

    @contextmanager
    def restorable_at(self, when: datetime) -> Iterator[None]:
        """LatestRestorableTime held at ``when`` (moto reports now): the instance's log shipping has stalled."""
        instance = self._rds_backend().databases[INSTANCE]
        plain = type(instance)
        instance.__class__ = type("StalledInstance", (plain,), {"latest_restorable_time": property(lambda _: when)})
        try:
            yield
        finally:
            instance.__class__ = plain
