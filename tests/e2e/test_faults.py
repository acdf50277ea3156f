"""Every check is proven to fail: each sandbox fault breaks exactly its item, with a message that names what
was measured and what was expected (the fault's ``expect`` phrases), while every other item that has a check
still passes."""

import pytest

from golive.sandbox.faults import FAULTS
from tests.e2e.harness import clean_environ, run_checks
from tests.pending import HEALTHY, IMPLEMENTED

PROVABLE = [name for name, fault in FAULTS.items() if set(fault.items) <= IMPLEMENTED]
# The faults are dealt into shards, one test class each: `--dist loadscope` sends each class to a worker of its
# own (every worker has its own sandbox), so the fault runs are spread over the workers, not queued on one.
SHARDS = 8


def test_every_fault_of_an_implemented_item_says_what_its_message_must_contain():
    assert PROVABLE
    for name in PROVABLE:
        fault = FAULTS[name]
        for item in fault.items:
            assert fault.phrases(item), f"fault {name} declares no expected message for {item}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.cls is not None and issubclass(metafunc.cls, FaultShard):
        metafunc.parametrize("fault", PROVABLE[metafunc.cls.shard :: SHARDS])


class FaultShard:
    shard = 0

    def test_fault_breaks_exactly_its_item(self, sandbox, reports, fault):
        check_fault(sandbox, reports, fault)


for _shard in range(SHARDS):
    globals()[f"TestFaults{_shard}"] = type(f"TestFaults{_shard}", (FaultShard,), {"shard": _shard})


def check_fault(sandbox, reports, fault):
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
            assert item["outcome"] == spec.outcome(item_id), (fault, item)
            for phrase in spec.phrases(item_id):
                assert phrase in item["reason"], (phrase, item["reason"])
            assert "\n" not in item["reason"]
        else:
            assert item["outcome"] == HEALTHY[item_id], (fault, item_id, item["reason"])
    assert run.code == 1
    assert run.doc["verdict"] == "no-go"
    assert set(spec.items) <= set(run.doc["blocking"])
