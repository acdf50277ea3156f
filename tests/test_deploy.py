"""The pipeline's deploy scripts (deploy/canary.sh, deploy/rolling.sh): the artifact only by digest, the sandbox
branch only against a running sandbox and its release, and for a real environment a template that fails loudly
until someone writes the deploy."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
import yaml

from tests.e2e.harness import ROOT

SCRIPTS = ["canary.sh", "rolling.sh"]
DIGEST = "sha256:" + "4f" * 32


def run(script: str, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOLIVE_", "TARGET_ENV"))}
    return subprocess.run(
        [str(ROOT / "deploy" / script), *args], env={**env, **environ}, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(("job", "script"), [("deploy-canary", "canary.sh"), ("deploy", "rolling.sh")])
def test_pipeline_calls_an_executable_script_with_the_digest(job, script):
    (command,) = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())[job]["script"]
    assert shlex.split(command) == [f"./deploy/{script}", "$GOLIVE_RELEASE_DIGEST"]
    assert os.access(ROOT / "deploy" / script, os.X_OK)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("reference", ["", "latest", "sha256:abc", "registry.example.com/app:v1.4.0"])
def test_refuses_anything_but_a_digest(script, reference):
    done = run(script, reference, TARGET_ENV="production")
    assert done.returncode == 2
    assert f"must be referenced by an immutable digest sha256:<64 hex>, got '{reference}'" in done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_real_environment_fails_loudly_until_configured(script):
    done = run(script, DIGEST, TARGET_ENV="production")
    assert done.returncode == 3
    kind = "canary" if script == "canary.sh" else "rolling"
    assert f"no {kind} deploy is configured for environment 'production'" in done.stderr
    assert f"edit deploy/{script}" in done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_sandbox_needs_its_release_and_a_running_sandbox(script, tmp_path):
    sandbox = {"TARGET_ENV": "sandbox", "GOLIVE_SANDBOX_DIR": str(tmp_path), "GOLIVE_RELEASE_TAG": "v1.4.0"}
    other = run(script, DIGEST, GOLIVE_RELEASE_DIGEST="sha256:" + "0" * 64, **sandbox)
    assert other.returncode == 2
    assert f"the sandbox serves release v1.4.0 (sha256:{'0' * 64}); cannot deploy {DIGEST} there" in other.stderr
    stopped = run(script, DIGEST, GOLIVE_RELEASE_DIGEST=DIGEST, **sandbox)
    assert stopped.returncode == 2
    assert f"no running sandbox in {tmp_path}" in stopped.stderr


def test_sandbox_branch_needs_the_sandbox_directory(tmp_path):
    """TARGET_ENV=sandbox without GOLIVE_SANDBOX_DIR is not taken for the sandbox: the template refuses."""
    done = run("rolling.sh", DIGEST, TARGET_ENV="sandbox", GOLIVE_RELEASE_DIGEST=DIGEST)
    assert done.returncode == 3
