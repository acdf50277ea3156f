"""The GitLab API stand-in answers as GitLab does, and golive's REL-01 probe reads it right."""

import httpx
import pytest

from golive.outcomes import ProbeError
from golive.probes.ci import review_pipeline
from golive.sandbox.standins.gitlab_api import PIPELINE_ID, PROJECT_ID, RERUN_PIPELINE_ID, create_gitlab_app
from golive.secrets import Secret
from tests.netutil import http_server, json_answer
from tests.standins.accounts import TIMEOUT, Faults
from tests.standins.conftest import serve

TOKEN = "glpat-standinToken0001"
PROJECT = "acme/web-app"
TAG, COMMIT = "v2.0.0", "a" * 40
REQUIRED = ["unit", "integration"]


@pytest.fixture(scope="module")
def gitlab():
    switch = Faults()
    with serve(create_gitlab_app(TOKEN, PROJECT, TAG, COMMIT, switch)) as base:
        yield base, switch


@pytest.fixture
def http():
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client


def review(http, base, token=TOKEN, project=PROJECT, tag=TAG, commit=COMMIT, running=None):
    return review_pipeline(http, base, project, Secret("GITLAB_API_TOKEN", token), tag, commit, REQUIRED, running)


def test_a_green_pipeline_with_both_suites(gitlab, http):
    base, _ = gitlab
    result = review(http, base)
    assert result.problems == []
    assert result.pipeline["id"] == PIPELINE_ID
    assert result.suites == {
        "unit": {"total_count": 412, "success_count": 412, "skipped_count": 0, "failed_count": 0, "error_count": 0},
        "integration": {"total_count": 57, "success_count": 57, "skipped_count": 0, "failed_count": 0,
                        "error_count": 0},
    }  # fmt: skip
    assert review(http, base, project=str(PROJECT_ID)).problems == []


def test_gitlab_answers_for_bad_auth_and_unknown_things(gitlab, http):
    base, _ = gitlab
    url = f"{base}/api/v4/projects/acme%2Fweb-app/pipelines"
    assert http.get(url).json() == {"message": "401 Unauthorized"}
    assert http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    other = http.get(f"{base}/api/v4/projects/acme%2Fother/pipelines", headers={"PRIVATE-TOKEN": TOKEN})
    assert (other.status_code, other.json()) == (404, {"message": "404 Project Not Found"})
    missing = http.get(f"{url}/1/test_report", headers={"PRIVATE-TOKEN": TOKEN})
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Not found"})
    for path in ("/pipelines", f"/pipelines/{PIPELINE_ID}/test_report"):  # GitLab needs the path as acme%2Fweb-app
        answer = http.get(f"{base}/api/v4/projects/acme/web-app{path}", headers={"PRIVATE-TOKEN": TOKEN})
        assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"}), path
    with pytest.raises(ProbeError, match=r"GitLab API refused GITLAB_API_TOKEN \(HTTP 401\)"):
        review(http, base, token="glpat-wrong")


def test_no_pipeline_for_another_commit(gitlab, http):
    base, _ = gitlab
    assert review(http, base, commit="b" * 40).problems == [f"no CI pipeline for {TAG} at bbbbbbbbbbbb in {PROJECT}"]


def test_failed_pipeline_and_missing_suite(gitlab, http):
    base, switch = gitlab
    switch.active = {"ci-pipeline-failed"}
    try:
        failed = review(http, base).problems
        switch.active = {"ci-suite-missing"}
        missing = review(http, base).problems
    finally:
        switch.active = set()
    assert failed == [
        f"pipeline {PIPELINE_ID} for {TAG} is 'failed', expected 'success'",
        "suite 'unit': 3 failed, 0 errors of 412, expected none",
    ]
    assert missing == [f"pipeline {PIPELINE_ID} has no 'integration' test suite (suites: ['unit'])"]


def test_a_suite_whose_tests_were_all_skipped_proves_nothing(gitlab, http):
    base, switch = gitlab
    switch.active = {"ci-suite-skipped"}
    try:
        result = review(http, base)
    finally:
        switch.active = set()
    assert result.problems == [
        "suite 'integration': no test passed (57 skipped of 57); expected at least one passing test"
    ]
    assert result.suites["integration"] == {"total_count": 57, "success_count": 0, "skipped_count": 57,
                                            "failed_count": 0, "error_count": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("counts", "problem"),
    [({"total_count": 9, "success_count": 0, "skipped_count": 9},
      "suite {name!r}: no test passed (9 skipped of 9); expected at least one passing test"),
     ({"total_count": 9, "success_count": 1, "skipped_count": 8}, None),
     ({"total_count": 0}, "suite {name!r} ran no tests")],
)  # fmt: skip
def test_a_required_suite_needs_a_passing_test(http, counts, problem):
    report = {"test_suites": [{"name": name, **counts} for name in REQUIRED]}

    def handle(method, path, body):
        return json_answer(200, report if path.endswith("/test_report") else [{"id": 7, "status": "success"}])

    with http_server(handle) as base:
        problems = review(http, base).problems
    assert problems == ([] if problem is None else [problem.format(name=name) for name in REQUIRED])


def test_the_pipeline_golive_runs_in_is_not_the_releases_verdict(gitlab, http):
    base, switch = gitlab
    switch.active = {"ci-pipeline-rerun-running"}
    try:
        outside_ci = review(http, base)
        inside_ci = review(http, base, running=str(RERUN_PIPELINE_ID))
    finally:
        switch.active = set()
    assert outside_ci.problems[0] == f"pipeline {RERUN_PIPELINE_ID} for {TAG} is 'running', expected 'success'"
    assert inside_ci.problems == []
    assert inside_ci.pipeline["id"] == PIPELINE_ID
    assert review(http, base, running=str(PIPELINE_ID)).problems == [
        f"no CI pipeline for {TAG} at aaaaaaaaaaaa in {PROJECT} other than the running golive pipeline {PIPELINE_ID}"
    ]


@pytest.mark.parametrize(
    ("listing", "report", "message"),
    [
        ({"message": "odd"}, {}, "listed the pipelines of acme/web-app as dict, not a list"),
        ([{"id": 7, "status": "success"}], ["x"], "test report of pipeline 7 has no test_suites list"),
        ([{"id": 7, "status": "success"}], {"test_suites": [{"name": "unit", "total_count": "many"}]},
         "suite 'unit' total_count is 'many', not a count"),
    ],
)  # fmt: skip
def test_an_api_answer_of_another_shape_is_one_line(http, listing, report, message):
    def handle(method, path, body):
        return json_answer(200, report if path.endswith("/test_report") else listing)

    with http_server(handle) as base, pytest.raises(ProbeError, match=message):
        review(http, base)
