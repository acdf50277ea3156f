"""Runs golive's checks as a user would (pytest in a subprocess) and reads back the sign-off artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The sandboxes of this test process by directory: run_checks plays the operator and moves the one a run targets
# to the go-live state its stage expects (smoke and postlaunch run after the rolling deploy; see rollout.py).
SANDBOXES: dict[str, Any] = {}
STARTED: dict[str, float] = {}  # when each sandbox came up (time.monotonic())
# POST-02 compares with the pre-launch window of sandbox.toml's [stages.metrics] (8 s ago, 5 s long): a
# postlaunch run waits until a newly started sandbox's synthetic users have filled it.
PRELAUNCH_WINDOW_S = 8.0 + 5.0 + 1.0
# Variables of the outer pytest run that must not reach the inner one.
_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "PYTEST_CURRENT_TEST",
          "PYTEST_ADDOPTS", "GOLIVE_ENV",
          # so that pytest keeps the checks' rewritten bytecode between the suite's ~170 runs of a stage
          "PYTHONDONTWRITEBYTECODE",
          # GitLab's, when the project's own tests run in a GitLab job: the runs under test set their own
          "CI_PIPELINE_ID", "CI_COMMIT_TAG", "CI_COMMIT_SHA", "GITLAB_USER_LOGIN")  # fmt: skip


@dataclass
class Run:
    code: int
    output: str
    reports: Path
    stage: str
    seconds: float

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads((self.reports / f"{self.stage}.json").read_text(encoding="utf-8"))

    def outcomes(self) -> dict[str, str]:
        return {item["id"]: item["outcome"] for item in self.doc["items"]}

    def item(self, item_id: str) -> dict[str, Any]:
        (found,) = [item for item in self.doc["items"] if item["id"] == item_id]
        return found

    def artifacts(self) -> list[Path]:
        return sorted(self.reports.glob(f"{self.stage}.*"))


def clean_environ(extra: Mapping[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in _OUTER}
    environ.update(extra)
    for name in drop:
        environ.pop(name, None)
    return environ


def run_checks(
    stage: str,
    environ: Mapping[str, str],
    reports: Path,
    *extra: str,
    env: str | None = "sandbox",
    timeout: float = 180,
    cwd: Path = ROOT,
) -> Run:
    """pytest -m STAGE --env=ENV against the checks (of the project in ``cwd``), exactly as a user runs it (env
    None: no --env option)."""
    selects = [f"--env={env}"] if env is not None else []
    command = [sys.executable, "-m", "pytest", "-m", stage, *selects, f"--golive-reports={reports}",
               "-p", "no:cacheprovider", *extra]  # fmt: skip
    workdir = environ.get("GOLIVE_SANDBOX_DIR", "")
    box = SANDBOXES.get(workdir)
    if box is not None:
        box.rollout.enter_stage(stage)
        if stage == "postlaunch":
            time.sleep(max(0.0, STARTED[workdir] + PRELAUNCH_WINDOW_S - time.monotonic()))
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=dict(environ), capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout + done.stderr, reports, stage, time.monotonic() - started)
