"""The GitLab pipeline's wiring: stages in go-live order, each checklist stage a pytest gate keeping its
artifacts, manual deploy gates that block, run one at a time, only for protected release tags."""

import itertools
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from golive.checklist import STAGES
from tests.e2e.harness import ROOT

PIPELINE = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
RELEASE_TAG_RULE = re.compile(r'\$CI_COMMIT_TAG =~ /\^v.+\$/ && \$CI_COMMIT_REF_PROTECTED == "true"')


def job(name: str) -> dict:
    spec = dict(PIPELINE[name])
    base = PIPELINE.get(spec.get("extends", ""), {})
    return {**base, **spec}


def needed(need: str | dict) -> str:
    """The job a need names (a need is a name or a {job, optional} table)."""
    return need if isinstance(need, str) else need["job"]


def needs(name: str) -> list[str]:
    return [needed(n) for n in job(name).get("needs", [])]


def jobs_in_pipeline(tag: str | None, protected: bool) -> set[str]:
    """The jobs GitLab creates: a job whose rules all compare CI_COMMIT_TAG is left out of a pipeline without one."""
    names = {n for n, spec in PIPELINE.items() if isinstance(spec, dict) and "stage" in spec}
    return {n for n in names if "rules" not in job(n) or (tag is not None and protected)}


def test_stages_in_go_live_order():
    assert PIPELINE["stages"] == ["preflight", "deploy-canary", "canary", "deploy", "smoke", "postlaunch"]


@pytest.mark.parametrize("stage", STAGES)
def test_checklist_stage_is_a_pytest_gate_keeping_its_artifacts(stage):
    spec = job(stage)
    assert spec["stage"] == stage
    (command,) = spec["script"]
    argv = shlex.split(command.replace('"$GOLIVE_STAGE"', stage).replace('"$TARGET_ENV"', "$TARGET_ENV"))
    assert argv == ["pytest", "-m", stage, "--env", "$TARGET_ENV", "-n", "auto"]
    assert spec["variables"]["GOLIVE_STAGE"] == stage
    artifacts = spec["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == "reports/*.xml"
    assert "reports/" in artifacts["paths"]
    assert "allow_failure" not in spec


@pytest.mark.parametrize(("deploy", "after"), [("deploy-canary", "canary"), ("deploy", "smoke")])
def test_deploys_are_blocking_manual_gates_for_protected_tags(deploy, after):
    spec = job(deploy)
    (rule,) = spec["rules"]
    assert RELEASE_TAG_RULE.fullmatch(rule["if"])
    assert rule["when"] == "manual"
    assert spec["allow_failure"] is False
    assert spec["resource_group"] == "$TARGET_ENV"
    assert {"job": deploy, "optional": True} in job(after)["needs"]


def test_each_stage_needs_the_one_before():
    assert needs("canary") == ["preflight", "deploy-canary"]
    assert needs("deploy") == ["canary"]
    assert needs("smoke") == ["canary", "deploy"]
    assert needs("postlaunch") == ["smoke"]


@pytest.mark.parametrize(("tag", "protected"), [("v2.0.0", True), (None, False)], ids=["release-tag", "web"])
def test_every_required_need_is_in_the_pipeline_gitlab_creates(tag, protected):
    """GitLab refuses a pipeline in which a job needs a job that is not there, unless the need is optional."""
    present = jobs_in_pipeline(tag, protected)
    assert {"preflight", "canary", "smoke", "postlaunch"} <= present
    assert ({"deploy-canary", "deploy"} <= present) is (tag is not None)
    for name in present:
        for need in job(name).get("needs", []):
            if isinstance(need, str) or not need.get("optional"):
                assert needed(need) in present, (name, need)


def test_each_checklist_job_receives_the_reports_before_it():
    """Artifacts travel only through `needs`: each checklist job needs the checklist job before it."""
    for before, stage in itertools.pairwise(STAGES):
        assert before in job(stage)["needs"], (stage, before)


def test_checklist_jobs_install_golive_editable():
    """golive finds checklist.toml and environments/ in the checkout: a plain `pip install .` would not."""
    assert PIPELINE[".checklist"]["before_script"][-1] == "python -m pip install --quiet -e ."


def run_tool_step(tmp_path: Path, tools: tuple[str, ...]) -> list[str]:
    """Run the checklist jobs' first before_script line with only `tools` (stubs) and a recording apt-get on the
    PATH; return the apt-get calls it made."""
    (line, _pip) = PIPELINE[".checklist"]["before_script"]
    bin_dir, log = tmp_path / "bin", tmp_path / "apt-get.log"
    bin_dir.mkdir()
    for name, body in {**dict.fromkeys(tools, "exit 0"), "apt-get": f'echo "$*" >> {log}'}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    done = subprocess.run(["/bin/sh", "-ec", line], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_checklist_jobs_install_git_and_the_postgresql_programs_when_the_image_lacks_them(tmp_path):
    """python:3.11-slim has no git (REL-02), pg_dump/pg_restore (DB-02, REL-03) or initdb/pg_ctl (REL-03's scratch
    copy): without them those items would always be errors in GitLab."""
    assert PIPELINE["default"]["image"] == "python:3.11-slim"
    assert run_tool_step(tmp_path, ()) == [
        "update -qq",
        "install --yes --quiet --no-install-recommends git postgresql postgresql-client",
    ]


def test_checklist_jobs_install_nothing_when_the_tools_are_there(tmp_path):
    """An image that has them (or the shell executor of `make pipeline`, not root) is left alone."""
    assert run_tool_step(tmp_path, ("git", "pg_dump", "initdb")) == []


def test_the_readme_states_the_postgresql_client_version_rule():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "pg_dump and pg_restore must be of the production server's major version or newer" in readme


def test_release_identity_reaches_the_report_stamp():
    variables = PIPELINE["variables"]
    assert variables["GOLIVE_RELEASE_TAG"] == "$CI_COMMIT_TAG"
    assert variables["GOLIVE_RELEASE_COMMIT"] == "$CI_COMMIT_SHA"
