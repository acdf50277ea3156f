"""The real pipeline: .gitlab-ci.yml run by gitlab-ci-local (shell executor) against the sandbox. Healthy, every
job passes, the manual deploy gates included, in strict mode with every item as on the healthy sandbox, and each
checklist job leaves its sign-off artifacts; with a fault, the pipeline stops at the stage the fault shows in and
nothing after it runs (a preflight fault: no deploy job runs). See tests/localci.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.localci import GITLAB_CI_LOCAL, JOBS, PipelineError, check_tools, expected_stop, run_pipeline
from tests.localci import stopped_where_expected as stopped_at_job
from tests.pending import HEALTHY

CHECKLIST_JOBS = ("preflight", "canary", "smoke", "postlaunch")
ARTIFACTS = ("{stage}.html", "{stage}.json", "{stage}.sha256", "{stage}.xml")
# Secrets the sandbox hands the pipeline: none may show in the pipeline's log.
SECRETS = ("RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET", "SENTRY_AUTH_TOKEN", "PAGERDUTY_ROUTING_KEY",
           "AWS_SECRET_ACCESS_KEY", "CDN_API_TOKEN", "SMOKE_PASSWORD", "GITLAB_API_TOKEN",
           "REGISTRY_TOKEN")  # fmt: skip

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def tools():
    try:
        check_tools()
    except PipelineError as error:
        pytest.fail(f"cannot run the pipeline: {error}", pytrace=False)
    assert GITLAB_CI_LOCAL.exists()


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """One virtualenv for both runs: the jobs' `pip install -e .` then installs the dependencies only once."""
    return tmp_path_factory.mktemp("pipeline") / "venv"


def _report(kept: Path, job: str) -> dict:
    return json.loads((kept / "artifacts" / job / "reports" / f"{job}.json").read_text(encoding="utf-8"))


def _say(capsys, run, what: str) -> None:
    """The pipeline's wall time in the test output, whatever pytest captures."""
    with capsys.disabled():
        print(f"\n{what}: gitlab-ci-local ran the pipeline in {run.seconds:.1f} s (sandbox start and stop excluded)")


def test_healthy_pipeline_runs_every_job(tmp_path, venv, capsys):
    run = run_pipeline(keep=tmp_path / "kept", venv=venv)
    _say(capsys, run, "healthy pipeline")
    assert run.jobs == dict.fromkeys(JOBS, "passed"), run.summary() + "\n" + run.output[-4000:]
    assert run.code == 0
    for job in ("deploy-canary", "deploy"):  # the manual gates ran, through the sandbox branch of the scripts
        assert f"{job} $ ./deploy/" in run.output, job
    assert "deploy/canary.sh: sandbox: the canary instance serves" in run.output
    for stage in CHECKLIST_JOBS:
        assert {name.format(stage=stage) for name in ARTIFACTS} <= {
            Path(p).name for p in run.artifacts[stage] if p.startswith("reports/")
        }, (stage, run.artifacts[stage])
        doc = _report(run.kept, stage)
        assert (doc["stage"], doc["verdict"], doc["strict"]) == (stage, "go", True)
        assert doc["release"]["tag"] == run.environ["GOLIVE_RELEASE_TAG"]
        assert doc["operator"] == "make-pipeline"
        # strict, and every item as on the healthy sandbox: a go can never hide an item not verified
        outcomes = {item["id"]: item["outcome"] for item in doc["items"]}
        assert outcomes == {item: HEALTHY[item] for item in outcomes}, (stage, outcomes)
        assert (doc["blocking"], doc["incomplete"]) == ([], [])
    # Artifacts travel only through `needs` (each job runs in its own copy): the last job carries every report.
    assert {f"reports/{stage}.json" for stage in CHECKLIST_JOBS} <= set(run.artifacts["postlaunch"])
    log = (run.kept / "pipeline.log").read_text(encoding="utf-8")
    for name in SECRETS:
        assert run.environ[name] not in log, f"{name} leaked into the pipeline log"


@pytest.mark.parametrize(
    ("fault", "stage", "item"),
    [
        ("release-signoff-other-digest", "preflight", "TEAM-04"),  # a governance fault: no deploy job ever runs
        ("canary-unhealthy", "canary", "OBS-01"),
    ],
)
def test_faulted_pipeline_stops_at_the_faults_stage(tmp_path, venv, capsys, fault, stage, item):
    run = run_pipeline([fault], keep=tmp_path / "kept", venv=venv)
    _say(capsys, run, f"pipeline with {fault}")
    assert expected_stop([fault]) == stage
    assert stopped_at_job(run, stage), run.summary() + "\n" + run.output[-4000:]
    assert run.code != 0
    doc = _report(run.kept, stage)  # the failed stage still keeps its sign-off artifacts (when: always)
    assert doc["verdict"] == "no-go"
    assert item in doc["blocking"]
