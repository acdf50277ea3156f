"""The sign-off artifact as a release manager attaches it: titled with the release and environment, one row per
check with its item, title, owner and stages, stamped from GitLab's variables when golive's own are not set, and a
metadata table that is an allowlist, never a dump of the CI job's environment (serial and under xdist). Side
effects stay off unless the environment allows them: the checks that write are not verified and nothing is sent."""

import html
import json
import re

import pytest

from tests.e2e.harness import clean_environ, run_checks
from tests.e2e.test_bad_input import env_file

ENV_CHECKS = ("-k", "test_environment")
# What a GitLab job's environment holds that is nobody's business in a release ticket (none is a golive secret,
# so only the allowlist keeps them out).
CI_NOISE = {
    "GITLAB_USER_EMAIL": "planted.person@corp.example",
    "CI_REGISTRY_PASSWORD": "PlantedRegistryPassword42",
    "CI_JOB_TOKEN": "glcbt-PlantedJobToken0000",
    "GIT_URL": "https://deploy:PlantedGitPassword@git.example.com/app.git",
    "CI_COMMIT_AUTHOR": "Planted Author <planted.author@corp.example>",
}
RELEASE = ("GOLIVE_RELEASE_TAG", "GOLIVE_RELEASE_COMMIT", "GOLIVE_RELEASE_DIGEST", "GOLIVE_OPERATOR")


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_the_report_is_titled_itemised_and_never_dumps_the_environment(healthy, reports, workers):
    environ = healthy.environ()
    run = run_checks("preflight", clean_environ({**environ, **CI_NOISE}), reports, *ENV_CHECKS, *workers)
    page = (reports / "preflight.html").read_text(encoding="utf-8")
    title = f"golive preflight: {environ['GOLIVE_RELEASE_TAG']} on sandbox"
    assert f'<title id="head-title">{title}</title>' in page
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    assert blob["title"] == title
    [row] = blob["tests"]["checks/test_environment.py::test_required_variables_present"]
    env01 = run.item("ENV-01")
    assert row["resultsTableRow"][1:6] == [
        '<td class="col-item">ENV-01</td>',
        f'<td class="col-title">{html.escape(env01["title"])}</td>',
        f'<td class="col-owner">{html.escape(env01["owner"])}</td>',
        '<td class="col-stages">preflight</td>',
        '<td class="col-outcome">passed</td>',
    ]
    for artifact in run.artifacts():
        text = artifact.read_text(encoding="utf-8")
        for name, value in CI_NOISE.items():
            assert value not in text, (artifact.name, name)
            assert html.escape(value) not in text, (artifact.name, name)
    metadata = blob["environment"]
    assert set(metadata) == {
        "Environment", "Stage", "Release", "Commit", "Artifact digest", "Run id", "Operator", "Started",
    }  # fmt: skip
    assert metadata["Run id"] == run.doc["run_id"]


def test_the_stamp_falls_back_to_gitlabs_variables(healthy, reports):
    gitlab = {"CI_COMMIT_TAG": "v7.7.7", "CI_COMMIT_SHA": "1f" * 20, "CI_PIPELINE_ID": "4242",
              "GITLAB_USER_LOGIN": "rel.manager"}  # fmt: skip
    run = run_checks("preflight", clean_environ({**healthy.environ(), **gitlab}, drop=RELEASE), reports, *ENV_CHECKS)
    doc = run.doc
    assert doc["release"] == {"tag": "v7.7.7", "commit": "1f" * 20, "digest": "unknown", "pipeline": "4242"}
    assert doc["operator"] == "rel.manager"
    assert "golive preflight on sandbox (strict), release v7.7.7:" in run.output
    junit = (reports / "preflight.xml").read_text(encoding="utf-8")
    assert '<property name="golive.release" value="v7.7.7" />' in junit


def test_golive_env_selects_the_environment_as_env_does(healthy, reports):
    run = run_checks("preflight", clean_environ({**healthy.environ(), "GOLIVE_ENV": "sandbox"}), reports, *ENV_CHECKS,
                     env=None)  # fmt: skip
    assert run.doc["environment"] == "sandbox"
    assert run.outcomes()["ENV-01"] == "passed", run.output[-2000:]


def test_checks_that_write_are_not_verified_and_send_nothing_unless_allowed(healthy, tmp_path, reports):
    env = env_file(tmp_path, **{"[side_effects]\nallowed = true": "[side_effects]\nallowed = false"})
    run = run_checks("preflight", clean_environ(healthy.environ()), reports, env=env)
    writers = {item["id"]: item for item in run.doc["items"] if item["side_effects"]}
    assert {"OBS-04", "OBS-06", "TLS-04", "PAY-03", "PAY-04", "CDN-02"} <= set(writers)
    for item_id, item in writers.items():
        assert item["outcome"] == "not_verified", (item_id, item["reason"])
        assert "side effect not allowed in sandbox (" in item["reason"], (item_id, item["reason"])
        assert "set side_effects.allowed = true in the environment file or pass --allow-side-effects" in item["reason"]
    run_id = run.doc["run_id"]
    assert not [e for e in healthy.store.sentry_events if run_id in json.dumps(e)]
    assert not [a for a in healthy.store.alerts if run_id in json.dumps(a)]
    assert run.doc["verdict"] == "no-go"  # strict: a check that could not run proves nothing

    allowed = run_checks("preflight", clean_environ(healthy.environ()), tmp_path / "allowed", "--allow-side-effects",
                         "-k", "sentry or alert", env=env)  # fmt: skip
    assert (allowed.outcomes()["OBS-04"], allowed.outcomes()["OBS-06"]) == ("passed", "passed"), allowed.output[-2000:]
    assert [e for e in healthy.store.sentry_events if allowed.doc["run_id"] in json.dumps(e)]
