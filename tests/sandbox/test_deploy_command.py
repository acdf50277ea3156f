"""`golive sandbox deploy`: the rolling deploy on a running sandbox daemon (what deploy/rolling.sh does for the
sandbox in the pipeline). Before it the baselines serve the previous release, after it the new one."""

from __future__ import annotations

import ssl
import subprocess
import sys

import httpx
import pytest

from golive.sandbox import SandboxError, deploy, down, up


def versions(environ: dict[str, str]) -> dict[str, str]:
    verify = ssl.create_default_context(cafile=environ["GOLIVE_SANDBOX_CA"])
    urls = {
        name: environ[f"GOLIVE_SANDBOX_{name.upper().replace('-', '_')}_URL"] for name in ("instance-1", "instance-2")
    }
    urls["canary"] = environ["GOLIVE_SANDBOX_CANARY_URL"]
    with httpx.Client(verify=verify, timeout=10) as client:
        return {name: client.get(url + "/api/health").json()["version"] for name, url in urls.items()}


def test_deploy_moves_every_instance_to_the_release(tmp_path):
    workdir = tmp_path / "daemon"
    environ = up(workdir, (), timeout=60)
    try:
        release = environ["GOLIVE_RELEASE_TAG"]
        before = versions(environ)
        assert before["canary"] == release
        assert before["instance-1"] != release
        assert before["instance-2"] != release
        done = subprocess.run(
            [sys.executable, "-m", "golive.cli", "sandbox", "deploy", "--dir", str(workdir)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"golive sandbox: deployed {release} to every instance"
        assert versions(environ) == dict.fromkeys(("instance-1", "instance-2", "canary"), release)
        assert deploy(workdir)["deployed"] is True  # twice: a no-op
    finally:
        down(workdir)


def test_deploy_without_a_sandbox_says_so(tmp_path):
    with pytest.raises(SandboxError, match=f"no sandbox is running in {tmp_path}"):
        deploy(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "golive.cli", "sandbox", "deploy", "--dir", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"golive: no sandbox is running in {tmp_path / 'none'}" in done.stderr
