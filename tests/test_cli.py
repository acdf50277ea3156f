"""The golive command as people use it: the demo, the sandbox lifecycle, a stage run, and interruptions."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from golive.cli import _stage_verdict, project_root
from golive.sandbox.faults import FAULTS
from tests.e2e.harness import ROOT, clean_environ
from tests.plugin.test_completeness import CHECKLIST, PASSING, SLOW
from tests.plugin.test_scrubbing import ENV_TOML
from tests.sandbox.processes import wait_gone

GOLIVE = [sys.executable, "-m", "golive.cli"]


def golive(*args, env=None, timeout=120):
    return subprocess.run([*GOLIVE, *args], cwd=ROOT, env=env or clean_environ({}), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_faults_are_listed_with_their_items():
    done = golive("sandbox", "faults")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == len(FAULTS)
    for line, fault in zip(lines, FAULTS.values(), strict=True):
        assert line.split()[:2] == [fault.name, ",".join(fault.items)]


def test_the_project_is_found_from_the_working_directory_up(tmp_path):
    project = tmp_path / "shop-golive"
    (project / "checks" / "extra").mkdir(parents=True)
    (project / "checklist.toml").write_text("")
    assert project_root(project) == project
    assert project_root(project / "checks" / "extra") == project
    assert project_root(tmp_path) == ROOT


def test_a_stage_verdict_from_a_corrupt_report_is_one_line(tmp_path):
    report = tmp_path / "preflight.json"
    cases = {
        b'{"verdict": "go", "blo': "is not a readable report (Unterminated string starting at: line 1 column 19",
        b"\xff\xfe": "is not a readable report ('utf-8' codec can't decode byte 0xff in position 0",
        b"[]": "is not a readable report (list indices must be integers or slices, not str)",
        b'{"verdict": "go"}': "has no 'blocking'",
    }
    for body, expected in cases.items():
        report.write_bytes(body)
        assert _stage_verdict(tmp_path, "preflight").startswith(f"no verdict: {report} {expected}")
    report.write_text('{"verdict": "no-go", "blocking": ["ENV-02", "DB-01"]}')
    assert _stage_verdict(tmp_path, "preflight") == "NO-GO (blocking: ENV-02, DB-01)"


def test_unknown_fault_and_missing_environment_are_usage_errors():
    unknown = golive("demo", "--fault", "moon-landing")
    assert unknown.returncode == 2
    assert "invalid choice: 'moon-landing'" in unknown.stderr
    no_env = golive("run", "preflight")
    assert no_env.returncode == 4
    assert no_env.stderr.strip() == "golive run: no environment: pass --env NAME or set GOLIVE_ENV"


def test_sandbox_up_run_status_down(tmp_path):
    """The lifecycle with a fault switched on from the command line (what `golive demo --fault` does too)."""
    box = tmp_path / "box"
    up = golive("sandbox", "up", "--dir", str(box), "--fault", "hsts-missing")
    assert up.returncode == 0, up.stderr
    try:
        env_file = box / "env.sh"
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        exported = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
        secret = exported["RAZORPAY_KEY_SECRET"].strip("'")
        assert secret not in up.stdout + up.stderr
        assert f"source {env_file}" in up.stdout
        status = golive("sandbox", "status", "--dir", str(box)).stdout
        assert status.startswith("golive sandbox: running (pid ")
        assert "hsts-missing" in status
        environ = clean_environ({k: v.strip("'") for k, v in exported.items()})
        reports = tmp_path / "reports"
        run = golive("run", "preflight", "--env", "sandbox", "--reports", str(reports), "-q", env=environ)
        doc = json.loads((reports / "preflight.json").read_text())
        assert run.returncode == 1, run.stdout[-2000:]
        items = {i["id"]: i for i in doc["items"]}
        assert items["OBS-04"]["outcome"] == "passed"
        assert items["TLS-03"]["outcome"] == "failed"
        assert "no Strict-Transport-Security header" in items["TLS-03"]["reason"]
        assert doc["blocking"] == ["TLS-03"]
    finally:
        down = golive("sandbox", "down", "--dir", str(box))
    assert down.stdout.strip() == "golive sandbox: stopped"
    stopped = golive("sandbox", "status", "--dir", str(box))
    assert (stopped.returncode, stopped.stdout.strip()) == (1, "golive sandbox: not running")


def test_demo_runs_the_four_stages_and_ends_in_go(tmp_path):
    reports = tmp_path / "reports"
    done = golive("demo", "--reports", str(reports), "-n", "0", timeout=300)
    lines = done.stdout.splitlines()
    for stage in ("preflight", "canary", "smoke", "postlaunch"):
        doc = json.loads((reports / f"{stage}.json").read_text())
        unproved = {i["id"]: i["reason"] for i in doc["items"] if i["outcome"] not in ("passed", "attested")}
        assert unproved == {}, (stage, unproved)
        assert (doc["verdict"], doc["blocking"], doc["incomplete"]) == ("go", [], [])
        assert f"  {stage:<11} GO" in lines, (stage, lines)
        assert sorted(p.name for p in reports.glob(f"{stage}.*")) == [
            f"{stage}.html", f"{stage}.json", f"{stage}.sha256", f"{stage}.xml",
        ]  # fmt: skip
    assert lines[-2:] == [f"golive demo: reports in {reports}", "golive demo: GO"], done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]


def test_demo_with_a_fault_is_no_go_at_the_stage_that_shows_it(tmp_path):
    reports = tmp_path / "reports"
    done = golive("demo", "--fault", "canary-unhealthy", "--reports", str(reports), "-n", "0", timeout=300)
    lines = done.stdout.splitlines()
    assert "golive demo: starting the sandbox with faults canary-unhealthy ..." in lines
    assert f"  {'preflight':<11} GO" in lines
    assert f"  {'canary':<11} NO-GO (blocking: OBS-01, CAN-01)" in lines, lines[-8:]
    canary = json.loads((reports / "canary.json").read_text())
    assert {i["id"]: i["outcome"] for i in canary["items"]} == {
        "OBS-01": "failed",
        "OBS-02": "passed",
        "CAN-01": "failed",
    }
    assert (lines[-1], done.returncode) == ("golive demo: NO-GO", 1)


def processes_using(directory: Path) -> list[int]:
    """Pids whose command line names directory (a postmaster is started with -D <directory>/...)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(directory) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_interrupted_demo_stops_the_sandbox(tmp_path):
    environ = clean_environ({"TMPDIR": str(tmp_path)})
    demo = subprocess.Popen([*GOLIVE, "demo", "--reports", str(tmp_path / "r"), "-n", "0"], cwd=ROOT, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        clusters: list[Path] = []
        while not clusters and time.monotonic() < deadline:
            clusters = [
                link.resolve() for link in tmp_path.glob("golive-demo-*/postgres") if (link / "primary").exists()
            ]
            time.sleep(0.02)
        assert clusters, "the demo's sandbox never started"
        (root,) = clusters
        os.kill(demo.pid, signal.SIGTERM)
        code = demo.wait(timeout=60)
        errors = demo.stderr.read()
        assert code == 130, errors
    finally:
        demo.kill()
    assert wait_gone(processes_using(root)) == []
    assert not root.exists(), f"{root} left behind"
    assert list(tmp_path.glob("golive-demo-*")) == []
    assert "golive: interrupted" in errors


def slow_stage(project: Path, reports: Path, **popen) -> subprocess.Popen:
    """`golive run preflight` on a project whose ENV-02 check waits a minute, once that check has started."""
    (project / "checks").mkdir(parents=True)
    (project / "environments").mkdir()
    (project / "environments" / "t.toml").write_text(ENV_TOML)
    (project / "checklist.toml").write_text(CHECKLIST)
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nmarkers = ["preflight", "canary", "smoke", "postlaunch", "item(id)"]\n'
    )
    (project / "checks" / "test_stage.py").write_text(PASSING + SLOW)
    run = subprocess.Popen([*GOLIVE, "run", "preflight", "--env", "t", "--reports", str(reports)], cwd=project,
                           env=clean_environ({}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           **popen)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (project / "started").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (project / "started").exists(), run.communicate(timeout=10)[0]
    return run


def test_golive_run_passes_sigterm_on_and_returns_the_interrupted_exit_code(tmp_path):
    """pytest ends as interrupted (exit 2) and writes its no-go artifacts; golive waits for it, and says 2 too."""
    reports = tmp_path / "reports"
    run = slow_stage(tmp_path / "project", reports)
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=60)[0]
    doc = json.loads((reports / "preflight.json").read_text())
    assert (run.returncode, doc["verdict"]) == (2, "no-go"), output[-3000:]
    assert "pytest ended with exit code 2 (interrupted)" in doc["incomplete"]
    assert (reports / "preflight.sha256").exists()


def test_ctrl_c_lets_golive_run_finish_the_stage_as_interrupted(tmp_path):
    """Ctrl-C reaches every process of the terminal's foreground group: golive itself waits for pytest."""
    reports = tmp_path / "reports"
    run = slow_stage(tmp_path / "project", reports, start_new_session=True)
    os.killpg(run.pid, signal.SIGINT)
    output = run.communicate(timeout=60)[0]
    doc = json.loads((reports / "preflight.json").read_text())
    assert (run.returncode, doc["verdict"]) == (2, "no-go"), output[-3000:]
    assert "pytest ended with exit code 2 (interrupted)" in doc["incomplete"]
    assert "golive preflight on t (not strict), release unreleased: NO-GO" in output


def test_a_demo_interrupted_in_a_stage_keeps_that_stage_no_go_and_stops_the_sandbox(tmp_path):
    """SIGTERM while a stage's checks run: pytest ends that stage as interrupted and writes its no-go artifacts,
    then the demo stops the sandbox and runs no further stage."""
    reports = tmp_path / "r"
    demo = subprocess.Popen([*GOLIVE, "demo", "--reports", str(reports), "-n", "0"], cwd=ROOT,
                            env=clean_environ({"TMPDIR": str(tmp_path)}), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        seen = []
        assert demo.stdout is not None
        for line in demo.stdout:  # the first check's progress: pytest has started and golive's plugin with it
            seen.append(line)
            if line.startswith("checks/"):
                break
        assert "".join(seen[-1:]).startswith("checks/"), "".join(seen)
        demo.send_signal(signal.SIGTERM)
        output = "".join(seen) + demo.communicate(timeout=120)[0]
    finally:
        demo.kill()
    assert demo.returncode == 130, output[-3000:]
    assert "golive: interrupted; the sandbox was stopped" in output
    doc = json.loads((reports / "preflight.json").read_text())
    assert doc["verdict"] == "no-go"
    assert "pytest ended with exit code 2 (interrupted)" in doc["incomplete"]
    assert sorted(p.name for p in reports.iterdir()) == [
        "preflight.html", "preflight.json", "preflight.sha256", "preflight.xml",
    ]  # fmt: skip
    assert list(tmp_path.glob("golive-demo-*")) == []
