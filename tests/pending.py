"""Checklist items still waiting for a check. Remove an id (one per line) when its check lands; the project's
tests then hold that item to passing on the healthy sandbox and failing on each of its faults."""

from golive.checklist import load_checklist

WAITING_FOR_A_CHECK: set[str] = set()

IMPLEMENTED = load_checklist().ids() - WAITING_FOR_A_CHECK
# The outcome each implemented item has on the healthy sandbox: people's confirmations are "attested", and so is
# PAY-02, whose webhook secret the listing does not report (razorpay.webhook_attestation in sandbox.toml).
HEALTHY = {item.id: "attested" if item.proof == "attestation" else "passed" for item in load_checklist().items}
HEALTHY["PAY-02"] = "attested"
