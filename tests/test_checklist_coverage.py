"""The checklist and the suite cannot drift apart: every check names a known item and only that item's
stages, every stage of an item has a check, and the items still waiting for a check are exactly the ones the
later issues build (the list shrinks as they land; an item never silently loses its check)."""

import json
import subprocess
import sys

import pytest

from golive.checklist import load_checklist
from tests.e2e.harness import ROOT, clean_environ
from tests.pending import WAITING_FOR_A_CHECK


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    dump = tmp_path_factory.mktemp("collect") / "checks.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--env=example", "-p", "tests.collect_dump",
         "-p", "no:cacheprovider"],
        cwd=ROOT, env=clean_environ({"GOLIVE_COLLECT_DUMP": str(dump)}), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(dump.read_text())


def test_every_check_names_one_known_item(collected):
    ids = load_checklist().ids()
    for check in collected:
        assert len(check["item"]) == 1, check
        assert check["item"][0] in ids, check


def test_checks_cover_exactly_their_items_stages(collected):
    stages_by_item: dict[str, set[str]] = {}
    for check in collected:
        stages_by_item.setdefault(check["item"][0], set()).update(check["stages"])
    for item in load_checklist().items:
        if item.id in WAITING_FOR_A_CHECK:
            assert item.id not in stages_by_item, f"{item.id} has a check now: remove it from WAITING_FOR_A_CHECK"
        else:
            assert stages_by_item.get(item.id) == set(item.stages), item.id


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_check_naming_an_unknown_item_stops_the_run(pytester, workers):
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nmarkers = ["preflight", "smoke", "item(id)"]\n')
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "t.toml").write_text(
        'name = "t"\ntier = "staging"\n[app]\nbase_url = "https://app.invalid"\n'
    )
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "test_x.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.preflight\n@pytest.mark.item('ENV-99')\ndef test_a(): pass\n\n"
        "@pytest.mark.smoke\n@pytest.mark.item('ENV-01')\ndef test_b(): pass\n\n"
        "@pytest.mark.preflight\ndef test_c(): pass\n"
    )
    result = pytester.runpytest_subprocess("--env", "t", *workers)
    assert result.ret == 4
    errors = result.stderr.str()
    assert "INTERNALERROR" not in errors + result.stdout.str()
    assert "checks/test_x.py::test_a: names item 'ENV-99', which checklist.toml does not list" in errors
    assert "checks/test_x.py::test_b: stage markers ['smoke']; item ENV-01 belongs to ['preflight']" in errors
    assert "checks/test_x.py::test_c: no @pytest.mark.item('ID') naming its checklist item" in errors
    # the sign-off artifact says why the run proves nothing
    doc = json.loads((pytester.path / "reports" / "all.json").read_text())
    assert doc["verdict"] == "no-go"
    assert any("checks and checklist disagree (3 problem(s))" in reason for reason in doc["incomplete"]), doc
