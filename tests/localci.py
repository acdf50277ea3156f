"""The real pipeline, locally: runs .gitlab-ci.yml with gitlab-ci-local (shell executor) against golive's sandbox.

    python -m tests.localci                       # make pipeline: every job passes, exit 0
    python -m tests.localci --fault canary-unhealthy   # exit 0 when the pipeline stops at the fault's stage

What it does, in a temporary directory:
1. copies the project (the files git tracks or would track) and makes a fresh virtualenv whose bin/ comes first on
   PATH, so each checklist job's `python -m pip install --quiet -e .` really installs golive, as in CI;
2. starts the sandbox as a daemon (`golive sandbox up`, with the faults asked for);
3. writes .gitlab-ci-local-variables.yml (mode 0600, deleted with the directory): the sandbox's variables,
   TARGET_ENV, and a protected release tag (CI_COMMIT_TAG = the sandbox's release), so the workflow rules and
   the manual deploy gates apply as for a real release;
4. runs the whole pipeline, playing the two manual deploy jobs explicitly (--manual deploy-canary --manual deploy);
   --shell-isolation gives each job its own copy of the project, so artifacts travel between jobs only through
   `needs`, as on GitLab;
5. stops the sandbox, keeps the log and every job's artifacts, and says which jobs passed, failed or never ran.

TARGET_ENV is `sandbox`, a strict environment as production is: every item of every stage must pass or be
attested for a job to pass, so a healthy sandbox goes through and a faulted one stops where it breaks.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from golive import sandbox
from golive.sandbox.faults import FAULTS

ROOT = Path(__file__).resolve().parent.parent
VERSION = "4.60.0"
GITLAB_CI_LOCAL = ROOT / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
JOBS = ("preflight", "deploy-canary", "canary", "deploy", "smoke", "postlaunch")
MANUAL = ("deploy-canary", "deploy")
TARGET_ENV = "sandbox"
# Variables of an outer run (pytest, a virtualenv) that must not reach the pipeline's jobs.
_OUTER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "PYTEST_CURRENT_TEST",
          "PYTEST_ADDOPTS", "GOLIVE_ENV", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")  # fmt: skip
_RESULT = re.compile(r"^\s*(PASS|FAIL|WARN)\s+(\S+)\s*$")
_COPY_IGNORE = (".git", ".venv", ".tools", ".golive", ".gitlab-ci-local", "reports", "__pycache__", ".ruff_cache")


class PipelineError(RuntimeError):
    """The local pipeline could not be run (a tool missing, the sandbox not starting, a timeout)."""


@dataclass
class PipelineRun:
    code: int  # gitlab-ci-local's exit code
    jobs: dict[str, str]  # job -> passed | failed | not run
    artifacts: dict[str, list[str]]  # job -> its artifact files, relative to the job's artifact directory
    seconds: float  # wall time of gitlab-ci-local, sandbox start and stop excluded
    output: str
    kept: Path | None = None  # where the log and the artifacts were kept
    environ: dict[str, str] = field(default_factory=dict, repr=False)  # the sandbox's variables (secrets!)

    @property
    def stopped_at(self) -> str | None:
        """The first job that failed, or None when none did."""
        return next((job for job in JOBS if self.jobs.get(job) == "failed"), None)

    def summary(self) -> str:
        lines = [f"  {job:<14} {self.jobs.get(job, 'not run')}" for job in JOBS]
        return "\n".join(lines)


def check_tools() -> None:
    """PipelineError naming the install command when gitlab-ci-local or rsync is missing."""
    if not GITLAB_CI_LOCAL.exists():
        raise PipelineError(
            f"gitlab-ci-local is not installed at {GITLAB_CI_LOCAL.relative_to(ROOT)}: run `make pipeline` "
            f"(or npm install --prefix .tools gitlab-ci-local@{VERSION})"
        )
    if shutil.which("rsync") is None:
        raise PipelineError("rsync is missing (gitlab-ci-local's --shell-isolation needs it): apt-get install rsync")


def copy_project(dest: Path) -> None:
    """The files git tracks or would track (untracked, not ignored); without git, the tree minus local state."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    if listed.returncode != 0:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*_COPY_IGNORE), symlinks=True)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if not source.is_file() or name.startswith((".tools/", ".gitlab-ci-local")):
            continue  # deleted in the work tree, or local tool state
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def write_variables(project: Path, variables: Mapping[str, str]) -> Path:
    """The project variables file gitlab-ci-local reads. Every entry is typed `variable`: otherwise a value that
    is a path (the sandbox's CA file, its directory) would become a File variable pointing at a copy."""
    path = project / ".gitlab-ci-local-variables.yml"
    entries = {name: {"type": "variable", "values": {"*": value}} for name, value in sorted(variables.items())}
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(entries, default_flow_style=False, width=10_000), encoding="utf-8")
    return path


def _pip_cache() -> str:
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return os.environ.get("PIP_CACHE_DIR") or str(cache_home / "pip")


def _job_results(output: str) -> dict[str, str]:
    jobs = dict.fromkeys(JOBS, "not run")
    for line in output.splitlines():
        match = _RESULT.match(line)
        if match and match.group(2) in jobs:
            jobs[match.group(2)] = "passed" if match.group(1) == "PASS" else "failed"
    return jobs


def _artifacts(project: Path) -> dict[str, list[str]]:
    base = project / ".gitlab-ci-local" / "artifacts"
    found = {}
    for job in JOBS:
        directory = base / job
        if directory.is_dir():
            found[job] = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    return found


def _keep(project: Path, keep: Path, output: str) -> None:
    if keep.exists():
        shutil.rmtree(keep)
    keep.mkdir(parents=True)
    (keep / "pipeline.log").write_text(output, encoding="utf-8")
    artifacts = project / ".gitlab-ci-local" / "artifacts"
    if artifacts.is_dir():
        shutil.copytree(artifacts, keep / "artifacts")
    logs = project / ".gitlab-ci-local" / "output"
    if logs.is_dir():
        shutil.copytree(logs, keep / "jobs")


def run_pipeline(
    faults: Sequence[str] = (),
    *,
    keep: Path | None = None,
    venv: Path | None = None,
    timeout: float = 600,
    echo: bool = False,
) -> PipelineRun:
    """Run .gitlab-ci.yml against a fresh sandbox (with faults) and report what every job did.

    venv: the virtualenv the jobs install golive into (created when missing; a fresh one by default). Reusing one
    across runs only saves the download-and-install time of golive's dependencies."""
    check_tools()
    with tempfile.TemporaryDirectory(prefix="golive-pipeline-") as tmp:
        work = Path(tmp)
        project = work / "project"
        copy_project(project)
        venv = venv or work / "venv"
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        box = work / "sandbox"
        try:
            environ = sandbox.up(box, list(faults), owner_pid=os.getpid())
        except (sandbox.SandboxError, ValueError) as error:
            raise PipelineError(f"the sandbox did not start: {error}") from error
        try:
            variables = {
                **environ,
                "TARGET_ENV": TARGET_ENV,
                "CI_COMMIT_TAG": environ["GOLIVE_RELEASE_TAG"],
                "CI_COMMIT_REF_PROTECTED": "true",
                "PIP_CACHE_DIR": _pip_cache(),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_QUIET": "2",  # this machine's pip configuration warns about every package otherwise
                "GOLIVE_OPERATOR": "make-pipeline",
            }
            write_variables(project, variables)
            process_env = {k: v for k, v in os.environ.items() if k not in _OUTER}
            process_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{process_env.get('PATH', '')}"
            command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--shell-isolation", "--no-color",
                       "--max-job-name-padding", "0"]  # fmt: skip
            for job in MANUAL:
                command += ["--manual", job]
            started = time.monotonic()
            output = _run(command, project, process_env, timeout, echo)
            seconds = time.monotonic() - started
        finally:
            sandbox.down(box)
        run = PipelineRun(
            code=output[0],
            jobs=_job_results(output[1]),
            artifacts=_artifacts(project),
            seconds=seconds,
            output=output[1],
            kept=keep,
            environ=environ,
        )
        if keep is not None:
            _keep(project, keep, run.output)
        return run


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float, echo: bool) -> tuple[int, str]:
    """gitlab-ci-local's exit code and output (echoed line by line when asked); killed after timeout."""
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    ) as process:  # fmt: skip
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
            if time.monotonic() > deadline:
                break
        try:
            process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)
            raise PipelineError(f"the pipeline did not finish within {timeout:.0f} s") from None
    return process.returncode, "".join(lines)


def expected_stop(faults: Sequence[str]) -> str | None:
    """The job a pipeline with these faults must stop at: the earliest stage any of them shows in."""
    stages = {FAULTS[name].stage for name in faults}
    return next((job for job in JOBS if job in stages), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault", action="append", default=[], choices=list(FAULTS), metavar="NAME")
    parser.add_argument("--keep", default=str(ROOT / "reports" / "pipeline"), help="where the log and artifacts go")
    args = parser.parse_args(argv)
    try:
        run = run_pipeline(args.fault, keep=Path(args.keep), echo=True)
    except PipelineError as error:
        print(f"make pipeline: {error}", file=sys.stderr)
        return 2
    expected = expected_stop(args.fault)
    print(f"\nmake pipeline: {run.seconds:.1f} s (gitlab-ci-local {VERSION}, shell executor); jobs:")
    print(run.summary())
    print(f"make pipeline: log and artifacts in {run.kept}")
    if expected is None:
        ok = all(run.jobs[job] == "passed" for job in JOBS)
        print(f"make pipeline: {'every job passed' if ok else 'FAILED: stopped at ' + str(run.stopped_at)}")
    else:
        ok = stopped_where_expected(run, expected)
        print(f"make pipeline: with {', '.join(args.fault)} it must stop at {expected}: "
              f"{'it did' if ok else 'it stopped at ' + str(run.stopped_at)}")  # fmt: skip
    return 0 if ok else 1


def stopped_where_expected(run: PipelineRun, job: str) -> bool:
    """Every job before `job` passed, `job` failed, and nothing after it ran."""
    index = JOBS.index(job)
    before, after = JOBS[:index], JOBS[index + 1 :]
    return (
        all(run.jobs[j] == "passed" for j in before)
        and run.jobs[job] == "failed"
        and all(run.jobs[j] == "not run" for j in after)
    )


if __name__ == "__main__":
    sys.exit(main())
