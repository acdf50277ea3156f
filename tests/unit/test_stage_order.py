"""Stage order: the previous stage's artifact must exist, match its manifest, the release and environment, say go,
and be recent."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from golive.config import Release
from golive.stage_order import gate, refusal

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RELEASE = Release(tag="v1.4.0", commit="a" * 40, digest="sha256:" + "b" * 64)
DAY = timedelta(hours=24)


def write(reports, stage="preflight", manifest=True, **changes):
    doc = {"format": "golive.report/1", "stage": stage, "environment": "production",
           "release": {"tag": "v1.4.0", "commit": "a" * 40, "digest": "sha256:" + "b" * 64},
           "finished_at": (NOW - timedelta(hours=2)).isoformat(), "verdict": "go", "items": []}  # fmt: skip
    doc.update(changes)
    reports.mkdir(exist_ok=True)
    path = reports / f"{stage}.json"
    path.write_text(json.dumps(doc))
    if manifest:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        (reports / f"{stage}.sha256").write_text(f"{digest}  {stage}.json\n")
    return path


def why(reports, stage="canary", env="production"):
    return refusal(stage, reports, env, RELEASE, NOW, DAY)[0]


def test_a_passed_recent_artifact_of_the_same_release_lets_the_next_stage_start(tmp_path):
    write(tmp_path)
    assert why(tmp_path) is None
    found = gate("canary", tmp_path, "production", RELEASE, NOW, DAY)
    assert found.may_start
    assert found.line() == f"golive: stage order: preflight passed for this release ({tmp_path / 'preflight.json'})"


def test_preflight_has_no_previous_stage(tmp_path):
    assert gate("preflight", tmp_path, "production", RELEASE, NOW, DAY) is None
    assert gate(None, tmp_path, "production", RELEASE, NOW, DAY) is None


def test_each_later_stage_needs_its_own_previous_stage(tmp_path):
    write(tmp_path, stage="canary")
    assert why(tmp_path, "smoke") is None
    assert why(tmp_path, "postlaunch") == f"no smoke artifact at {tmp_path / 'smoke.json'}"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"verdict": "no-go"}, "verdict 'no-go', expected 'go'"),
        ({"environment": "staging"}, "environment 'staging', expected 'production'"),
        ({"release": {"tag": "v1.3.9", "commit": "a" * 40}}, "release tag 'v1.3.9', expected 'v1.4.0'"),
        ({"release": {"tag": "v1.4.0", "commit": "c" * 40}}, "release commit '" + "c" * 40 + "', expected"),
        ({"finished_at": (NOW - timedelta(hours=30)).isoformat()}, "finished 30.0 h ago, older than 24 h"),
        ({"finished_at": (NOW + timedelta(hours=2)).isoformat()}, "is in the future"),
        ({"finished_at": "yesterday"}, "finished_at 'yesterday' is not an ISO time"),
        ({"format": "something/2"}, "is not a golive.report/1 document"),
    ],
)
def test_a_wrong_artifact_refuses_with_what_was_found_and_expected(tmp_path, changes, expected):
    write(tmp_path, **changes)
    assert expected in why(tmp_path)


def test_missing_or_tampered_artifacts_refuse(tmp_path):
    assert why(tmp_path) == f"no preflight artifact at {tmp_path / 'preflight.json'}"
    path = write(tmp_path, manifest=False)
    assert why(tmp_path) == f"{path} has no manifest preflight.sha256 beside it"
    write(tmp_path)
    path.write_text(path.read_text().replace('"no-go"', '"go"').replace('"go"', '"go" '))
    assert why(tmp_path) == f"{path} does not match its digest in preflight.sha256 (changed after the run?)"


def test_an_override_lets_the_stage_start_and_keeps_the_refusal_and_reason(tmp_path):
    found = gate("canary", tmp_path, "production", RELEASE, NOW, DAY, override="INC-42 hotfix, approved by cto")
    assert found.may_start
    assert found.record()["in_order"] is False
    assert found.record()["ignored_because"] == "INC-42 hotfix, approved by cto"
    assert found.line().startswith("golive: stage order IGNORED (INC-42 hotfix, approved by cto): no preflight")
    refused = gate("canary", tmp_path, "production", RELEASE, NOW, DAY)
    assert not refused.may_start
    assert refused.line().endswith("; run preflight first, or pass --ignore-stage-order REASON")


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        (Release(tag="unreleased", commit="a" * 40, digest="unknown"), "this run's release tag 'unreleased'"),
        (Release(tag="v1.4.0", commit="unknown", digest="unknown"), "this run's release commit 'unknown'"),
        (
            Release(tag="unreleased", commit="unknown", digest="unknown"),
            "this run's release tag 'unreleased' and release commit 'unknown'",
        ),
    ],
)
def test_a_run_that_does_not_know_its_release_refuses(tmp_path, release, expected):
    """An artifact of an unknown release matches any other run of an unknown release: it proves nothing."""
    write(tmp_path, release={"tag": release.tag, "commit": release.commit, "digest": "unknown"})
    reason = refusal("canary", tmp_path, "production", release, NOW, DAY)[0]
    assert reason == (
        f"{expected}: the preflight artifact cannot be tied to a release "
        "(set GOLIVE_RELEASE_TAG and GOLIVE_RELEASE_COMMIT, or run on a CI tag)"
    )


def test_an_unreadable_manifest_or_artifact_refuses_in_one_line(tmp_path):
    path = write(tmp_path)
    manifest = tmp_path / "preflight.sha256"
    manifest.write_bytes(b"\xff\xfe" + manifest.read_bytes())
    assert why(tmp_path) == f"{manifest} is not UTF-8 text (invalid start byte at byte 0)"
    write(tmp_path)
    manifest.unlink()
    manifest.symlink_to("/proc/self/mem")  # a file whose every read fails (EIO), whoever reads it
    assert why(tmp_path) == f"{manifest} cannot be read (Input/output error)"
    path.unlink()
    path.symlink_to("/proc/self/mem")
    assert why(tmp_path) == f"{path} cannot be read (Input/output error)"
