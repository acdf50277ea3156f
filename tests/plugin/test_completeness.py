"""A run that did not complete is never a go: interrupted, a collection error, a crashed check or worker, or
checks filtered out of the run. Proved in non-strict mode, where not-verified items alone would not block."""

import json

import pytest

from tests.plugin.test_scrubbing import make_project

PASSING = """
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
@pytest.mark.parametrize("target", ["service", "instance-1"])
def test_health(target):
    pass
"""


def verdict_of(pytester):
    return json.loads((pytester.path / "reports" / "preflight.json").read_text())


def run(pytester, *args):
    return pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports", *args)


def test_a_complete_passing_run_is_a_go(pytester):
    make_project(pytester, PASSING)
    result = run(pytester)
    doc = verdict_of(pytester)
    assert (result.ret, doc["verdict"], doc["incomplete"]) == (0, "go", [])


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_filtered_parametrisation_blocks_the_item(pytester, extra):
    """Named once, also under xdist, where every worker deselects the same checks."""
    make_project(pytester, PASSING)
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
    make_project(
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


def test_a_collection_error_is_no_go(pytester):
    make_project(pytester, PASSING)
    (pytester.path / "checks" / "test_broken.py").write_text("import golive.no_such_module\n")
    result = run(pytester)
    doc = verdict_of(pytester)
    assert result.ret == 2
    assert doc["verdict"] == "no-go"
    assert doc["incomplete"] == ["pytest ended with exit code 2 (interrupted)"]
