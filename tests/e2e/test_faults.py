"""Every check is proven to fail: each sandbox fault breaks exactly its item, with a message that names what
was measured and what was expected (the fault's ``expect`` phrases), while every other item that has a check
still passes."""

import pytest

from golive.sandbox.faults import FAULTS
from tests.e2e.harness import clean_environ, run_checks
from tests.pending import HEALTHY, IMPLEMENTED

PROVABLE = [name for name, fault in FAULTS.items() if set(fault.items) <= IMPLEMENTED]


def test_every_fault_of_an_implemented_item_says_what_its_message_must_contain():
    assert PROVABLE
    for name in PROVABLE:
        assert FAULTS[name].expect, f"fault {name} declares no expected message"


@pytest.mark.parametrize("fault", PROVABLE)
def test_fault_breaks_exactly_its_item(sandbox, reports, fault):
    spec = FAULTS[fault]
    sandbox.set_faults([fault])
    try:
        run = run_checks(spec.stage, clean_environ(sandbox.environ()), reports)
    finally:
        sandbox.set_faults(())
    outcomes = run.outcomes()
    for item_id in IMPLEMENTED & set(outcomes):
        item = run.item(item_id)
        if item_id in spec.items:
            assert item["outcome"] == "failed", (fault, item)
            for phrase in spec.expect:
                assert phrase in item["reason"], (phrase, item["reason"])
            assert "\n" not in item["reason"]
        else:
            assert item["outcome"] == HEALTHY[item_id], (fault, item_id, item["reason"])
    assert run.code == 1
    assert run.doc["verdict"] == "no-go"
    assert set(spec.items) <= set(run.doc["blocking"])
