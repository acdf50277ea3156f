"""The report plugin's last line of defence, proved with checks that try every leak channel on purpose:
assertion introspection, exception messages, captured stdout/stderr/logging, evidence, local variables.
A value the scrubber cannot reach (base64 in captured output) is caught by the final leak scan."""

import base64
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT
from tests.e2e.test_leaks import find_leaks

PLANTED = "PLANTscrubMe0123456789"
ENV_TOML = 'name = "t"\ntier = "staging"\nstrict = false\n[app]\nbase_url = "https://app.invalid"\n'
CONFTEST = """
import pytest
from golive.evidence import Evidence
from golive.plugin import run_state

@pytest.fixture
def variables(pytestconfig):
    return run_state(pytestconfig).variables

@pytest.fixture
def evidence(request):
    return Evidence(request.node.user_properties)
"""
LEAKY_CHECKS = """
import logging, sys
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_assert_compares_the_value(variables):
    secret = variables.secret("RAZORPAY_KEY_SECRET").reveal()
    assert secret == "something else"

@pytest.mark.preflight
@pytest.mark.item("ENV-02")
def test_exception_carries_the_value(variables):
    raw = variables.secret("RAZORPAY_KEY_SECRET").reveal()
    raise RuntimeError(f"bad key {raw}")

@pytest.mark.preflight
@pytest.mark.item("ENV-03")
def test_output_and_evidence_carry_the_value(variables, evidence):
    raw = variables.secret("RAZORPAY_KEY_SECRET").reveal()
    print("stdout", raw)
    print("stderr", raw, file=sys.stderr)
    logging.getLogger("app").warning("log %s", raw)
    evidence.record("key", {"value": raw})
    assert False, "see output"
"""


def make_project(pytester: pytest.Pytester, checks: str) -> None:
    markers = '["preflight", "canary", "smoke", "postlaunch", "item(id)", "side_effect(w)"]'
    pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\nmarkers = {markers}\n")
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "t.toml").write_text(ENV_TOML)
    pytester.makeconftest(CONFTEST)
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "test_leaky.py").write_text(checks)


@pytest.mark.parametrize("extra", [[], ["-n", "2"], ["--tb=long", "-l", "-rA"]], ids=["serial", "xdist", "showlocals"])
def test_every_channel_is_scrubbed(pytester, monkeypatch, extra):
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    monkeypatch.setenv("CI", "true")
    make_project(pytester, LEAKY_CHECKS)
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports", *extra)
    output = result.stdout.str() + result.stderr.str()
    assert "[RAZORPAY_KEY_SECRET ****]" in output or "-n" in extra
    assert find_leaks(output, {"key": PLANTED}) == []
    reports = sorted((pytester.path / "reports").iterdir())
    assert [p.name for p in reports] == ["preflight.html", "preflight.json", "preflight.sha256", "preflight.xml"]
    for path in reports:
        assert find_leaks(path.read_text(errors="replace"), {"key": PLANTED}) == [], path.name


def test_base64_in_captured_output_is_scrubbed(pytester, monkeypatch):
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    encoded = base64.b64encode(f"token={PLANTED}".encode()).decode()
    make_project(
        pytester,
        LEAKY_CHECKS.split("@pytest.mark.preflight")[0]
        + f'''
@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_prints_encoded(variables):
    print("{encoded}")
    assert False
''',
    )
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports", "-rA")
    assert find_leaks(result.stdout.str(), {"key": PLANTED}) == []
    assert "SECRET LEAK" not in result.stdout.str()
    for path in (pytester.path / "reports").iterdir():
        assert find_leaks(path.read_text(errors="replace"), {"key": PLANTED}) == [], path.name


def test_a_leak_the_scrubber_cannot_reach_fails_the_run_and_removes_the_artifacts(pytester, monkeypatch):
    """pytest-html's own extras fixture attaches text after golive's hooks ran: only the leak scan sees it."""
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    make_project(
        pytester,
        LEAKY_CHECKS.split("@pytest.mark.preflight")[0]
        + """
from pytest_html import extras as html_extras

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_attaches_raw_text(variables, extras):
    extras.append(html_extras.text("key=" + variables.secret("RAZORPAY_KEY_SECRET").reveal(), name="dump"))
""",
    )
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports")
    output = result.stdout.str()
    assert result.ret == 1
    assert "golive: SECRET LEAK: the artifacts were removed:" in output
    assert "the value of RAZORPAY_KEY_SECRET appears (base64)" in output
    assert list(Path(pytester.path / "reports").iterdir()) == []


def test_live_logs_and_log_files_are_scrubbed(pytester, monkeypatch):
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    make_project(pytester, LEAKY_CHECKS)
    result = pytester.runpytest_subprocess(
        "-m", "preflight", "--env", "t", "--golive-reports=reports", "--log-cli-level=INFO", "--log-file=run.log"
    )
    assert "log [RAZORPAY_KEY_SECRET ****]" in result.stdout.str()
    assert find_leaks(result.stdout.str(), {"key": PLANTED}) == []
    assert find_leaks((pytester.path / "run.log").read_text(), {"key": PLANTED}) == []


PLANTED_URL = "postgresql://app:PLANTpw0123456789@db.invalid:5432/app"
LOGGED_EXCEPTION = f"""
import logging
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_logs_an_exception(variables):
    url = variables.secret("DATABASE_URL").reveal()
    try:
        raise ConnectionError(f"could not connect to {{url}}")
    except ConnectionError:
        logging.getLogger("app").exception("connect failed")
    logging.getLogger("app").warning("where", stack_info=True)  # {PLANTED}
"""


def test_a_logged_exception_and_stack_are_scrubbed_in_live_logs_and_log_files(pytester, monkeypatch):
    """log.exception() and stack_info=True carry text beside the message: the traceback holds the DATABASE_URL
    the exception names, the stack the source line naming a planted value."""
    monkeypatch.setenv("DATABASE_URL", PLANTED_URL)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    make_project(pytester, LOGGED_EXCEPTION)
    result = pytester.runpytest_subprocess(
        "-m", "preflight", "--env", "t", "--golive-reports=reports", "--log-cli-level=INFO", "--log-file=run.log"
    )
    log_file = (pytester.path / "run.log").read_text()
    for text in (result.stdout.str(), log_file):
        assert "ConnectionError: could not connect to [DATABASE_URL ****]" in text
        assert "# [RAZORPAY_KEY_SECRET ****]" in text
        assert find_leaks(text, {"url": PLANTED_URL, "password": "PLANTpw0123456789", "key": PLANTED}) == []


PROGRESS = """
import pytest

@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_progress(progress, variables):
    progress("canary 1/1 key " + variables.secret("RAZORPAY_KEY_SECRET").reveal())
"""


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_progress_lines_are_scrubbed(pytester, monkeypatch, extra):
    """The canary's live line goes to the terminal (under xdist through the controller's relay file)."""
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", PLANTED)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the project's fixtures package
    make_project(pytester, PROGRESS)
    (pytester.path / "conftest.py").write_text('pytest_plugins = ["fixtures.stages"]\n' + CONFTEST)
    result = pytester.runpytest_subprocess("-m", "preflight", "--env", "t", "--golive-reports=reports", *extra)
    output = result.stdout.str() + result.stderr.str()
    assert "  canary 1/1 key [RAZORPAY_KEY_SECRET ****]" in result.stdout.lines
    assert find_leaks(output, {"key": PLANTED}) == []
