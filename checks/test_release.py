"""4) CI / Release: CI passed for the release commit; the immutable release artifact, built and tagged."""

import pytest

from golive.outcomes import ProbeError
from golive.probes.ci import review_pipeline
from golive.release import git_tag, review_artifact


@pytest.mark.preflight
@pytest.mark.item("REL-02")
def test_release_artifact_immutable_and_tagged(release_file, release_repo, golive_run, evidence):
    """An annotated git tag on the shipped commit, and the artifact pinned by its digest."""
    release = golive_run.release
    try:
        tag = git_tag(release_repo, release.tag)
    except OSError as exc:
        raise ProbeError(f"release.repo: {exc}") from None
    review = review_artifact(release_file, release.tag, release.commit, release.digest, tag)
    evidence.record(review.subject, review.measured, {"commit": release.commit}, ok=not review.problems)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("REL-01")
def test_ci_passed_for_the_release_commit(gitlab_api, environment, golive_run, http, evidence):
    """The release commit's CI pipeline succeeded, with its unit and integration suites run and green."""
    release, required = golive_run.release, environment.ci.required_suites
    review = review_pipeline(http, gitlab_api.url, gitlab_api.project, gitlab_api.token, release.tag, release.commit,
                             required, release.pipeline)  # fmt: skip
    pipeline = review.pipeline or {}
    evidence.record(
        f"GitLab {gitlab_api.project} pipeline {pipeline.get('id')}",
        {"status": pipeline.get("status"), "suites": review.suites}, {"status": "success", "suites": required},
        ok=not review.problems,
    )  # fmt: skip
    assert not review.problems, "; ".join(review.problems)
