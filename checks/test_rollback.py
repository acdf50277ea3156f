"""6) Rollback / Emergency plan: the previous artifact ready to redeploy, incident communication ready."""

from datetime import timedelta

import pytest

from golive.outcomes import not_verified
from golive.release import review_communication, verify_previous


@pytest.mark.preflight
@pytest.mark.item("RB-03")
def test_incident_communication_ready(release_file, release_policy, now, attest):
    """An incident lead is named, the audiences listed, and the customer and support templates written, confirmed
    within release.attestation_max_age_days."""
    review = review_communication(release_file, now, timedelta(days=release_policy.attestation_max_age_days))
    attest(review)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("RB-01")
def test_previous_release_recorded_and_redeployable(release_file, environment, registry, golive_run, http, evidence):
    """The previous stable release (tag and digest) is recorded for this environment, is not the release being
    shipped, and still exists: its git tag, and its image in the registry."""
    review = verify_previous(release_file, environment, golive_run.release, registry, http)
    evidence.record(review.subject, review.measured, ok=review.ok)
    assert not review.problems, review.explain()
    if review.unverified:
        not_verified("; ".join(review.unverified))
