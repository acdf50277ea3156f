"""Outcomes of checklist items, and how a check reports that it could not measure or was not configured."""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

import pytest

NOT_VERIFIED_PREFIX = "not verified: "
ATTESTED_PROP = "golive.attested"
UNDECIDED_PROP = "golive.undecided"


class Outcome(StrEnum):
    PASSED = "passed"  # the target meets the item
    FAILED = "failed"  # the target is wrong
    ERROR = "error"  # the probe could not measure
    NOT_VERIFIED = "not_verified"  # not configured, not allowed, or no check yet: with the reason
    ATTESTED = "attested"  # a person confirmed it, with who and when
    WAIVED = "waived"  # approved exception: approver, justification, ticket, expiry

    @property
    def clears(self) -> bool:
        """True when the outcome lets the go-live proceed."""
        return self in (Outcome.PASSED, Outcome.ATTESTED, Outcome.WAIVED)


# From worst to best: an item proved by several tests takes its worst test's outcome.
SEVERITY: tuple[Outcome, ...] = (
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.NOT_VERIFIED,
    Outcome.WAIVED,
    Outcome.ATTESTED,
    Outcome.PASSED,
)


def worst(outcomes: list[Outcome]) -> Outcome:
    return min(outcomes, key=SEVERITY.index)


class ProbeError(Exception):
    """A probe could not measure (connect error, timeout, an answer of the wrong shape).

    Reported as outcome ``error`` with this one-line message and no traceback.
    """


def not_verified(reason: str) -> NoReturn:
    """End the check as *not verified*, with the reason (a missing setting, a side effect not allowed...)."""
    pytest.skip(NOT_VERIFIED_PREFIX + reason)


def record_attestation(user_properties: list[tuple[str, object]], statements: list[str]) -> None:
    """Mark a check's pass as *attested*: a person confirmed it (who, which role, when)."""
    user_properties.extend((ATTESTED_PROP, statement) for statement in statements)


def inconclusive(user_properties: list[tuple[str, object]], reason: str) -> NoReturn:
    """End the check as *not verified* because its measurement could not decide (an inconclusive canary
    analysis): unlike a missing setting this blocks the go-live in every tier, until a person attests or waives
    the item."""
    user_properties.append((UNDECIDED_PROP, True))
    not_verified(f"inconclusive: {reason}")
