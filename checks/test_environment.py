"""1) Environment validation: required variables, their shape, and the other service credentials."""

import pytest

from golive.outcomes import not_verified
from golive.probes.variables import missing_variables, validate_credential, validate_variables


@pytest.mark.preflight
@pytest.mark.item("ENV-01")
def test_required_variables_present(environment, variables, evidence):
    """Every required variable (the seed's seven, plus any the environment adds) is set and not blank."""
    required = environment.variables.required
    missing = missing_variables(variables, required)
    present = [name for name in required if name not in missing]
    evidence.record("required variables", {"present": present, "missing": missing}, {"missing": []}, ok=not missing)
    assert not missing, f"missing or blank: {', '.join(missing)} ({len(present)} of {len(required)} required set)"


@pytest.mark.preflight
@pytest.mark.item("ENV-02")
def test_variables_well_formed(environment, variables, evidence):
    """Each variable has the right shape for this environment: URLs, DSN, key mode, no stray whitespace."""
    findings = validate_variables(variables, environment)
    present = [f for f in findings if variables.present(f.name)]
    for finding in findings:
        evidence.record(
            finding.name, {"value": finding.shown}, ok=finding.problem is None if finding in present else None
        )
    if not present:
        not_verified("none of the required variables is set, so none could be validated (see ENV-01)")
    problems = [finding.problem for finding in findings if finding.problem]
    assert not problems, "; ".join(problems)


@pytest.mark.preflight
@pytest.mark.item("ENV-03")
def test_other_credentials(credential, variables, evidence):
    """Each credential the environment declares (email, storage, CDN keys) is set and well-formed."""
    secret = variables.secret(credential.name)
    assert secret is not None, f"{credential.name} ({credential.purpose}) is not set"
    finding = validate_credential(credential, secret)
    evidence.record(credential.name, {"purpose": credential.purpose, "value": finding.shown}, ok=not finding.problem)
    assert finding.problem is None, finding.problem
