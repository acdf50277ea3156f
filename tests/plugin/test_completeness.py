"""A run that did not complete is never a go: interrupted, a collection error, a crashed check or worker, or
checks filtered out of the run. Proved in non-strict mode, where not-verified items alone would not block."""

import json
import signal
import subprocess
import sys
import time

import pytest

from golive.report import NO_CHECK_YET
from tests.plugin.test_scrubbing import make_project

PASSING = """
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
@pytest.mark.parametrize("target", ["service", "instance-1"])
def test_health(target):
    pass
"""


# The project's own checklist: two preflight items, so that a run of both checks measures the whole stage.
CHECKLIST = """
[[item]]
id = "ENV-01"
title = "Required variables present"
section = "1. Environment validation"
stages = ["preflight"]
owner = "platform"
proof = "automated"

[[item]]
id = "ENV-02"
title = "Each variable well-formed"
section = "1. Environment validation"
stages = ["preflight"]
owner = "platform"
proof = "automated"
"""
ENV02 = """
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-02")
def test_variables():
    pass
"""


def make_stage(pytester, checks=PASSING):
    """A project whose checklist has two preflight items: ENV-01 (checks/test_leaky.py) and ENV-02."""
    make_project(pytester, checks)
    (pytester.path / "checklist.toml").write_text(CHECKLIST)
    (pytester.path / "checks" / "test_env02.py").write_text(ENV02)


def verdict_of(pytester):
    return json.loads((pytester.path / "reports" / "preflight.json").read_text())


def run(pytester, *args):
    return pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports", *args)


def test_a_complete_passing_run_is_a_go(pytester):
    make_stage(pytester)
    result = run(pytester)
    doc = verdict_of(pytester)
    assert (result.ret, doc["verdict"], doc["incomplete"]) == (0, "go", [])


@pytest.mark.parametrize("leave_out", [["checks/test_leaky.py"], ["--ignore=checks/test_env02.py"]])
def test_an_item_whose_check_was_not_collected_blocks_the_stage(pytester, leave_out):
    """A path argument or --ignore runs part of the stage: never a go, also when not strict."""
    make_stage(pytester)
    result = run(pytester, *leave_out)
    doc = verdict_of(pytester)
    (env02,) = [i for i in doc["items"] if i["id"] == "ENV-02"]
    assert (env02["outcome"], env02["reason"]) == ("not_verified", NO_CHECK_YET)
    assert (result.ret, doc["verdict"], doc["blocking"]) == (1, "no-go", ["ENV-02"])


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_filtered_parametrisation_blocks_the_item(pytester, extra):
    """Named once, also under xdist, where every worker deselects the same checks."""
    make_stage(pytester)
    result = run(pytester, "-k", "not instance", *extra)
    doc = verdict_of(pytester)
    (env01,) = [i for i in doc["items"] if i["id"] == "ENV-01"]
    assert env01["outcome"] == "not_verified"
    assert env01["reason"].endswith(
        "1 of its checks were filtered out of this run: checks/test_leaky.py::test_health[instance-1]"
    )
    assert (result.ret, doc["verdict"], doc["blocking"]) == (1, "no-go", ["ENV-01"])


@pytest.mark.parametrize(
    ("body", "args", "expected"),
    [
        ("raise KeyboardInterrupt", [], "pytest ended with exit code 2 (interrupted)"),
        ("import os; os._exit(3)", ["-n", "2"], "ended without a result"),
    ],
    ids=["interrupted", "crashed-worker"],
)
def test_an_incomplete_run_is_no_go(pytester, body, args, expected):
    make_stage(
        pytester,
        PASSING
        + f"""

@pytest.mark.preflight
@pytest.mark.item("ENV-02")
def test_breaks():
    {body}
""",
    )
    result = run(pytester, *args)
    doc = verdict_of(pytester)
    assert result.ret != 0
    assert doc["verdict"] == "no-go"
    assert any(expected in reason for reason in doc["incomplete"]), doc["incomplete"]
    assert "INTERNALERROR" not in result.stdout.str()


BROKEN = "checks/test_broken.py could not be collected: ModuleNotFoundError: No module named 'golive.no_such_module'"


@pytest.mark.parametrize(
    ("args", "code", "incomplete"),
    [
        ([], 2, [BROKEN, "pytest ended with exit code 2 (interrupted)"]),
        (["--continue-on-collection-errors"], 1, [BROKEN]),
        (["--continue-on-collection-errors", "-n", "2"], 1, [BROKEN]),
    ],
    ids=["stops", "continues", "continues-xdist"],
)
def test_a_check_module_that_does_not_import_makes_the_run_incomplete(pytester, args, code, incomplete):
    """Its items went unmeasured, whatever the others say: the stage is never a go, even when pytest runs on."""
    make_stage(pytester)
    (pytester.path / "checks" / "test_broken.py").write_text("import golive.no_such_module\n")
    result = run(pytester, *args)
    doc = verdict_of(pytester)
    assert (result.ret, doc["verdict"], doc["incomplete"]) == (code, "no-go", incomplete)
    assert f"golive: incomplete run: {BROKEN}" in result.stdout.str()


def test_a_failure_outside_the_checklist_is_never_a_go(pytester):
    """pytest's exit status and the JSON agree: a failing test that proves no item still stops the stage."""
    make_stage(pytester)
    (pytester.path / "test_other.py").write_text(
        "import pytest\n\n@pytest.mark.preflight\ndef test_x():\n    assert 0\n"
    )
    result = run(pytester, "checks", "test_other.py")
    doc = verdict_of(pytester)
    assert [i["outcome"] for i in doc["items"]] == ["passed", "passed"]
    assert (result.ret, doc["verdict"]) == (1, "no-go")
    assert doc["incomplete"] == ["test_other.py::test_x failed (call) without proving a checklist item"]


def test_a_waived_failure_is_a_go_and_exits_0(pytester):
    """The failure pytest counted is the item's, and a valid waiver cleared it: JSON and exit status agree."""
    make_stage(
        pytester, PASSING + "\n\n@pytest.mark.preflight\n@pytest.mark.item('ENV-02')\ndef test_f():\n    assert 0\n"
    )
    releases = pytester.path / "releases"
    releases.mkdir()
    (releases / "unreleased.toml").write_text('[owners]\nplatform = "Arjun Menon"\n')
    (releases / "unreleased.waivers.toml").write_text(
        '[[waiver]]\nitem = "ENV-02"\napprover = "Asha Rao"\njustification = "known"\nticket = "OPS-1"\n'
        "expires = 2999-01-01\n"
    )
    result = run(pytester)
    doc = verdict_of(pytester)
    assert [i["outcome"] for i in doc["items"]] == ["passed", "waived"]
    assert (result.ret, doc["verdict"], doc["incomplete"]) == (0, "go", [])


def test_a_missing_artifact_is_a_no_go_in_the_json_too(pytester):
    """The HTML is gone before golive seals the run (as when it could not be written): the JSON, the closing line
    and the exit status all say no-go."""
    make_stage(pytester)
    (pytester.path / "checks" / "conftest.py").write_text(
        "import pathlib\nimport pytest\n\n\n@pytest.hookimpl(wrapper=True)\ndef pytest_sessionfinish(session):\n"
        "    result = yield\n    pathlib.Path('reports/preflight.html').unlink()\n    return result\n"
    )
    result = run(pytester)
    doc = verdict_of(pytester)
    missing = "artifact reports/preflight.html was not written"
    assert (result.ret, doc["verdict"], doc["incomplete"]) == (1, "no-go", [missing])
    assert f"golive: incomplete run: {missing}" in result.stdout.str()
    assert "golive preflight on t (not strict), release unreleased: NO-GO" in result.stdout.str()


SLOW = """

@pytest.mark.preflight
@pytest.mark.item("ENV-02")
def test_slow():
    import pathlib, time
    pathlib.Path("started").touch()
    time.sleep(60)
"""


def start_slow_run(pytester, *args: str) -> subprocess.Popen:
    """A stage run whose ENV-02 check waits a minute, once the check has started (it touches ./started)."""
    make_stage(pytester, PASSING + SLOW)
    (pytester.path / "checks" / "test_env02.py").unlink()
    command = [sys.executable, "-m", "pytest", "-m", "preflight", "--env", "t", "--golive-reports=reports", *args]
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (pytester.path / "started").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (pytester.path / "started").exists(), process.communicate(timeout=10)[0]
    return process


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_sigterm_ends_the_run_as_interrupted_with_its_no_go_artifacts(pytester, extra):
    process = start_slow_run(pytester, *extra)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    doc = verdict_of(pytester)
    assert (process.returncode, doc["verdict"]) == (2, "no-go"), output[-3000:]
    assert "pytest ended with exit code 2 (interrupted)" in doc["incomplete"]
    assert sorted(p.name for p in (pytester.path / "reports").iterdir()) == [
        "preflight.html", "preflight.json", "preflight.sha256", "preflight.xml",
    ]  # fmt: skip


def test_an_earlier_go_does_not_survive_a_killed_run(pytester):
    """Killed outright (SIGKILL, a lost machine), a run writes nothing: the previous run's go must not stand in."""
    reports = pytester.path / "reports"
    reports.mkdir()
    (reports / "preflight.json").write_text('{"format": "golive.report/1", "verdict": "go"}\n')
    (reports / "preflight.sha256").write_text("0" * 64 + "  preflight.json\n")
    (reports / "canary.json").write_text('{"format": "golive.report/1", "verdict": "go"}\n')
    process = start_slow_run(pytester)
    process.kill()
    process.communicate(timeout=30)
    assert sorted(p.name for p in reports.iterdir()) == ["canary.json"]  # another stage's artifact stays
