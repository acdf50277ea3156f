"""5) Zero-downtime go-live, pre-launch: stakeholders and on-call notified."""

from datetime import timedelta

import pytest

from golive.release import review_notification


@pytest.mark.preflight
@pytest.mark.item("LIVE-01")
def test_stakeholders_and_on_call_notified(release_file, release_policy, now, attest):
    """Stakeholders and on-call were notified before the launch window, by a named person."""
    limit = timedelta(hours=release_policy.notification_max_age_hours)
    review = review_notification(release_file, limit, now)
    attest(review)
    assert not review.problems, review.explain()
