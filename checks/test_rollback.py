"""6) Rollback / Emergency plan: the previous artifact ready to redeploy, incident communication ready."""

import pytest

from golive.outcomes import ProbeError
from golive.release import git_tag, review_communication, review_previous


@pytest.mark.preflight
@pytest.mark.item("RB-03")
def test_incident_communication_ready(release_file, now, attest):
    """An incident lead is named, the audiences listed, and the customer and support templates written."""
    review = review_communication(release_file, now)
    attest(review)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("RB-01")
def test_previous_release_recorded_and_redeployable(release_file, release_repo, golive_run, evidence):
    """The previous stable release (tag and digest) is recorded for this environment and still exists."""
    recorded = release_file.text("previous", "tag")
    try:
        tag = git_tag(release_repo, recorded) if recorded else None
    except OSError as exc:
        raise ProbeError(f"release.repo: {exc}") from None
    review = review_previous(release_file, golive_run.release.tag, tag)
    evidence.record(review.subject, review.measured, ok=not review.problems)
    assert not review.problems, review.explain()
