"""4) CI / Release: CI passed for the release commit; the immutable release artifact, built and tagged."""

import pytest

from golive.outcomes import not_verified
from golive.probes.ci import review_pipeline
from golive.release import verify_artifact


@pytest.mark.preflight
@pytest.mark.item("REL-02")
def test_release_artifact_immutable_and_tagged(release_file, environment, registry, golive_run, http, evidence):
    """An annotated git tag on the shipped commit, the artifact pinned by its digest and held by the registry, and
    the app reporting that commit for this version."""
    release = golive_run.release
    review = verify_artifact(release_file, release, environment, registry, http)
    evidence.record(review.subject, review.measured, {"commit": release.commit, "digest": release.digest},
                    ok=review.ok)  # fmt: skip
    assert not review.problems, review.explain()
    if review.unverified:
        not_verified("; ".join(review.unverified))


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
