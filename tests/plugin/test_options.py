"""Plugin options that protect the sign-off: no automatic reruns, reports only for real runs."""

from tests.plugin.test_scrubbing import make_project

CHECK = """
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_a():
    pass
"""


def test_reruns_are_refused(pytester):
    make_project(pytester, CHECK)
    pytester.makeconftest(
        # the option as pytest-rerunfailures declares it
        "def pytest_addoption(parser):\n    parser.addoption('--reruns', type=int, default=0)\n"
    )
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--reruns", "2")
    assert result.ret == 4
    assert "golive: checks are never rerun (--reruns): a flaky check is a visible failure" in result.stderr.str()


def test_collect_only_writes_no_report(pytester):
    make_project(pytester, CHECK)
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--collect-only", "--golive-reports=r")
    assert result.ret == 0
    assert not (pytester.path / "r").exists() or list((pytester.path / "r").iterdir()) == []


def test_report_paths_with_variables_are_expanded_and_scanned(pytester, monkeypatch):
    make_project(pytester, CHECK)
    monkeypatch.setenv("RDIR", str(pytester.path / "elsewhere"))
    result = pytester.runpytest_subprocess(
        "-m", "preflight", "--env", "t", "--golive-reports=reports", "--junitxml=$RDIR/junit.xml"
    )
    assert (pytester.path / "elsewhere" / "junit.xml").exists()
    manifest = (pytester.path / "reports" / "preflight.sha256").read_text()
    assert "junit.xml" in manifest
    assert "golive: incomplete run" not in result.stdout.str()


def test_the_artifact_plugins_cannot_be_disabled_for_a_sign_off(pytester):
    make_project(pytester, CHECK)
    for disabled in (["html"], ["junitxml"], ["html", "junitxml"]):
        options = [arg for name in disabled for arg in ("-p", f"no:{name}")]
        result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=r", *options)
        assert result.ret == 4
        drop = " and ".join(f"-p no:{name}" for name in disabled)
        assert result.stderr.str().strip() == (
            f"ERROR: golive: the sign-off artifacts need pytest's html and junitxml plugins: drop {drop}"
        )
    listed = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "-p", "no:html", "--collect-only")
    assert (listed.ret, listed.stderr.str()) == (0, "")  # no artifact: nothing to refuse
