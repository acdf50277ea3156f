"""7) Team readiness: training and runbook, access control, emergency contacts, sign-offs.

People prove these items in the release file (releases/<tag>.toml); each check holds their confirmation to
the rules and reports the item as attested, with who and when.
"""

from datetime import timedelta

import pytest

from golive.release import review_access, review_contacts, review_signoffs, review_training


@pytest.mark.preflight
@pytest.mark.item("TEAM-01")
def test_support_training_and_runbook(release_file, release_policy, environment, now, http, attest):
    """A 60-90 minute support walkthrough was held recently and the runbook PDF is published and current."""
    limit = timedelta(days=release_policy.training_max_age_days)
    review = review_training(release_file, environment.name, limit, release_policy.training_minutes, now, http)
    attest(review)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("TEAM-02")
def test_least_privilege_and_two_person_control(release_file, release_policy, now, attest):
    """Least privilege and two-person control for sensitive operations, attested by two different people within
    release.attestation_max_age_days."""
    review = review_access(release_file, now, timedelta(days=release_policy.attestation_max_age_days))
    attest(review)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("TEAM-03")
def test_emergency_contacts(release_file, release_policy, now, attest):
    """Primary/secondary on-call, product owner, release manager and support lead, each reachable, confirmed by a
    named person within release.attestation_max_age_days."""
    review = review_contacts(release_file, now, timedelta(days=release_policy.attestation_max_age_days))
    attest(review)
    assert not review.problems, review.explain()


@pytest.mark.preflight
@pytest.mark.item("TEAM-04")
def test_signoffs(release_file, release_policy, golive_run, now, attest):
    """Engineering lead, product owner, support lead and on-call lead signed off this artifact digest."""
    digest = golive_run.release.digest
    assert digest.startswith("sha256:"), f"no artifact digest to sign off (GOLIVE_RELEASE_DIGEST is {digest!r})"
    limit = timedelta(hours=release_policy.signoff_max_age_hours)
    review = review_signoffs(release_file, digest, release_file.when("release", "built_at"), limit, now)
    attest(review)
    assert not review.problems, review.explain()
